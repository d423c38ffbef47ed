/**
 * Helpers of the deploy/ tests: small strict parsers of what deploy/ ships (Dockerfiles, systemd
 * units, Mosquitto configs, the compose file through the `yaml` package), a static import scanner
 * that lists what a program loads, and a runner for the programs' entrypoints on this host.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseYamlText } from 'yaml';
import { spawnManaged, type ManagedChild } from '../bench/lifetime.ts';
import { waitFor } from '../bench/wait.ts';

/** The repository root. */
export const REPO = resolve(import.meta.dirname, '..', '..');
/** Where the images put the repository's files (their WORKDIR). */
export const IMAGE_ROOT = '/opt/sharpeyes';

// --- Dockerfiles ------------------------------------------------------------------------------

/** One Dockerfile instruction, continuation lines joined. */
export interface DockerInstruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

/** A build stage: its FROM and the instructions up to the next FROM. */
export interface DockerStage {
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: readonly DockerInstruction[];
}

/** Parse a Dockerfile into instructions (comments and parser directives dropped). */
export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  const lines = text.split('\n');
  let pending: { keyword: string; parts: string[]; line: number } | undefined;
  for (const [i, raw] of lines.entries()) {
    const trimmed = raw.trim();
    if (pending === undefined) {
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      const m = /^([A-Za-z]+)\s*(.*)$/.exec(trimmed);
      if (m === null) throw new Error(`line ${i + 1}: not an instruction: ${trimmed}`);
      pending = { keyword: (m[1] ?? '').toUpperCase(), parts: [], line: i + 1 };
      const rest = m[2] ?? '';
      if (!rest.endsWith('\\')) {
        out.push({ keyword: pending.keyword, args: rest, line: pending.line });
        pending = undefined;
      } else {
        pending.parts.push(rest.slice(0, -1).trim());
      }
      continue;
    }
    // Inside a continuation, comment lines are skipped (BuildKit's rule).
    if (trimmed.startsWith('#')) continue;
    if (trimmed.endsWith('\\')) {
      pending.parts.push(trimmed.slice(0, -1).trim());
    } else {
      pending.parts.push(trimmed);
      out.push({ keyword: pending.keyword, args: pending.parts.join(' ').trim(), line: pending.line });
      pending = undefined;
    }
  }
  if (pending !== undefined) throw new Error(`line ${pending.line}: continuation runs off the end`);
  return out;
}

/** Split instructions into stages (ARGs before the first FROM are dropped). */
export function dockerStages(instructions: readonly DockerInstruction[]): DockerStage[] {
  const stages: { name: string | undefined; base: string; instructions: DockerInstruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m === null) throw new Error(`line ${ins.line}: bad FROM ${ins.args}`);
      stages.push({ name: m[2], base: m[1] ?? '', instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return stages;
}

/** The value of an exec-form (JSON array) argument; throws on shell form. */
export function execForm(args: string): string[] {
  const v: unknown = JSON.parse(args);
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string')) {
    throw new Error(`not an exec-form array of strings: ${args}`);
  }
  return v;
}

/** The HEALTHCHECK's options and command (exec form after CMD). */
export function healthcheck(args: string): { options: Record<string, string>; command: string[] } {
  const m = /^((?:--[a-z-]+=\S+\s+)*)CMD\s+(\[.*\])$/.exec(args);
  if (m === null) throw new Error(`HEALTHCHECK is not "[--opt=v…] CMD [exec form]": ${args}`);
  const options: Record<string, string> = {};
  for (const o of (m[1] ?? '').trim().split(/\s+/).filter(Boolean)) {
    const [k, v] = o.replace(/^--/, '').split('=');
    if (k !== undefined && v !== undefined) options[k] = v;
  }
  return { options, command: execForm(m[2] ?? '') };
}

/** `COPY [--from=x] [--chown=…] src… dest` → its parts. */
export function copyArgs(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--') === true) {
    const flag = words.shift() ?? '';
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const dest = words.pop();
  if (dest === undefined || words.length === 0)
    throw new Error(`COPY needs sources and a destination: ${args}`);
  return { from, sources: words, dest };
}

/** `.dockerignore` patterns (comments and blanks dropped). */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Whether a context-relative path is excluded by the (simple, `**`-prefix only) patterns. */
export function dockerignored(path: string, patterns: readonly string[]): boolean {
  const segs = path.split('/');
  return patterns.some((p) => {
    if (p.startsWith('**/')) {
      const name = p.slice(3);
      return segs.some(
        (s, i) =>
          s === name ||
          segs
            .slice(0, i + 1)
            .join('/')
            .endsWith(`/${name}`),
      );
    }
    return path === p || path.startsWith(`${p}/`);
  });
}

// --- systemd units -------------------------------------------------------------------------

/** A unit file: section → key → values (repeated keys keep every value, in order). */
export type UnitFile = Record<string, Record<string, string[]>>;

export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = {};
  let section: Record<string, string[]> | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[([A-Za-z]+)\]$/.exec(line);
    if (sec !== null) {
      section = unit[sec[1] ?? ''] ??= {};
      continue;
    }
    if (line.endsWith('\\')) throw new Error(`line ${i + 1}: continuation lines are not used in our units`);
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (kv === null || section === undefined)
      throw new Error(`line ${i + 1}: not key=value in a section: ${line}`);
    (section[kv[1] ?? ''] ??= []).push(kv[2] ?? '');
  }
  return unit;
}

/** An Exec*= line as argv ("-"/"+"/"@"/"!" prefixes refused: our units use none). */
export function unitCommand(value: string): string[] {
  if (/^[-+@!:]/.test(value)) throw new Error(`unexpected Exec prefix in ${value}`);
  if (/["'\\$%]/.test(value))
    throw new Error(`quotes, escapes and specifiers are not used in our units: ${value}`);
  return value.split(/\s+/).filter(Boolean);
}

// --- Mosquitto config ----------------------------------------------------------------------

/** Mosquitto config lines as [option, value], comments dropped. */
export function mosquittoOptions(text: string): [string, string][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const i = l.indexOf(' ');
      return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1).trim()];
    });
}

// --- YAML ----------------------------------------------------------------------------------

/**
 * Parse YAML with the `yaml` package (a dependency of vite and @fastify/swagger, not our own:
 * if it ever leaves node_modules, the compose test fails at import and says so). Strict: duplicate
 * keys and anything that is not plain data are errors.
 */
export function parseYaml(text: string): unknown {
  const v: unknown = parseYamlText(text, { uniqueKeys: true, strict: true, prettyErrors: true, merge: true });
  return v;
}

/** A plain object, or throw naming `what`. */
export function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} is not a mapping`);
  return v as Record<string, unknown>;
}

/** A list of strings, or throw naming `what`. */
export function strList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    throw new Error(`${what} is not a list of strings`);
  return v;
}

// --- what a program loads ------------------------------------------------------------------

const RELATIVE_IMPORT_RES = [
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /(?:^|[\s;])import\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
  /new URL\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g,
];
const BARE_IMPORT_RES = [
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"./][^'"]*)['"]/g,
  /(?:^|[\s;])import\s*['"]([^'"./][^'"]*)['"]/g,
  /import\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g,
  /require(?:Cjs)?\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g,
  /createRequire\(import\.meta\.url\)\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g,
];

/** Files a program loads, from its entries (repo-relative), and the npm packages they import. */
export interface ProgramFiles {
  readonly files: Set<string>;
  readonly packages: Set<string>;
}

/**
 * Follow static relative imports (and `new URL('./x', import.meta.url)`, and
 * `join(import.meta.dirname, '..', …)` paths) from `entries`. A static scan: it sees what the
 * source names literally, which is how this codebase loads everything.
 */
export function programFiles(entries: readonly string[]): ProgramFiles {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = entries.map((e) => join(REPO, e));
  while (queue.length > 0) {
    const abs = queue.pop() ?? '';
    const rel = relative(REPO, abs);
    if (files.has(rel) || !existsSync(abs)) continue;
    if (statSync(abs).isDirectory()) {
      files.add(rel);
      continue;
    }
    files.add(rel);
    if (!/\.(m?[jt]s|tsx)$/.test(abs)) continue;
    const text = readFileSync(abs, 'utf8');
    for (const re of RELATIVE_IMPORT_RES) {
      for (const m of text.matchAll(re)) queue.push(resolve(dirname(abs), m[1] ?? ''));
    }
    for (const m of text.matchAll(/join\(\s*import\.meta\.dirname((?:\s*,\s*'[^']+')+)\s*\)/g)) {
      const parts = [...(m[1] ?? '').matchAll(/'([^']+)'/g)].map((p) => p[1] ?? '');
      queue.push(resolve(dirname(abs), ...parts));
    }
    for (const re of BARE_IMPORT_RES) {
      for (const m of text.matchAll(re)) {
        const spec = m[1] ?? '';
        if (spec.startsWith('node:')) continue;
        const parts = spec.split('/');
        packages.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec));
      }
    }
  }
  return { files, packages };
}

interface LockPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** Every installed package `roots` need at run time, from package-lock.json (hoisted layout). */
export function packageClosure(roots: Iterable<string>): Set<string> {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockPackage>;
  };
  const seen = new Set<string>();
  const queue: [string, string][] = [...roots].map((r) => [r, '']);
  while (queue.length > 0) {
    const [name, from] = queue.pop() ?? ['', ''];
    // Node's lookup: nested under the requiring package first, then hoisted.
    const nested = from === '' ? undefined : `${from}/node_modules/${name}`;
    const key = nested !== undefined && nested in lock.packages ? nested : `node_modules/${name}`;
    const entry = lock.packages[key];
    if (entry === undefined || seen.has(key)) continue;
    seen.add(key);
    for (const deps of [entry.dependencies, entry.optionalDependencies, entry.peerDependencies]) {
      for (const dep of Object.keys(deps ?? {})) queue.push([dep, key]);
    }
  }
  return new Set([...seen].map((k) => k.replace(/^.*node_modules\//, '')));
}

// --- running the programs ------------------------------------------------------------------

/** A program started from an entrypoint, with its log. */
export interface RunningProgram {
  readonly child: ManagedChild;
  readonly logFile: string;
  log(): string;
}

export function startProgram(
  argv: readonly string[],
  opts: { name: string; logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): RunningProgram {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const child = spawnManaged(cmd, args, {
    name: opts.name,
    logFile: opts.logFile,
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, ...opts.env },
    stopTimeoutMs: 20_000,
  });
  return {
    child,
    logFile: opts.logFile,
    log: () => (existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8') : ''),
  };
}

/** Wait for a pino line with `msg` and return it parsed. */
export async function waitForLogLine(
  p: RunningProgram,
  msg: string,
  timeoutMs = 90_000,
): Promise<Record<string, unknown>> {
  return waitFor(
    () => {
      for (const line of p.log().split('\n')) {
        if (!line.startsWith('{')) continue;
        const v = JSON.parse(line) as Record<string, unknown>;
        if (v.msg === msg) return v;
      }
      return undefined;
    },
    {
      what: `${p.child.name} to log "${msg}"`,
      timeoutMs,
      intervalMs: 100,
      abortIf: () => (p.child.running() ? undefined : `exited early; log:\n${p.log().slice(-3000)}`),
    },
  );
}

/** Run a command to completion; returns its exit code and output (never throws on exit code). */
export function runCommand(
  argv: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): { code: number; stdout: string; stderr: string } {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  try {
    const stdout = execFileSync(cmd, args, {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, ...opts.env },
      input: opts.input ?? '',
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 120_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string; message: string };
    if (typeof e.status !== 'number') throw err;
    return { code: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Replace the image's paths in argv by where they are on this host. */
export function hostArgv(argv: readonly string[], map: Readonly<Record<string, string>>): string[] {
  const entries = Object.entries(map).sort((a, b) => b[0].length - a[0].length);
  return argv.map((a) => {
    for (const [from, to] of entries) {
      if (a === from || a.startsWith(`${from}/`)) return to + a.slice(from.length);
      if (a.includes(from)) return a.replace(from, to);
    }
    return a;
  });
}

/** Whether a command exists on PATH. */
export function onPath(cmd: string): string | undefined {
  const r = runCommand(['sh', '-c', `command -v ${cmd}`]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}
