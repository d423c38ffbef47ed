/**
 * Run a command inside a fresh, private network namespace whose only interface is `lo`, set up
 * for multicast (`lo` up + multicast, route 239.0.0.0/8 via lo). This is where WS-Discovery
 * multicast may be used: with no other interface, no datagram can reach a real network.
 *
 * As root: `unshare -n`. Otherwise `unshare -rn` (a user namespace maps us to root inside). If
 * neither works, {@link NetnsUnavailableError} says why ("cannot create network namespace: …")
 * so tests can skip with that reason. The interface list is checked inside the namespace before
 * the command runs (the command never starts if anything but `lo` exists) and returned to the
 * caller as proof. The child is started with spawnManaged, so it is reaped even if we die.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { makeTempDir, spawnManaged, type ManagedChild } from '../bench/lifetime.ts';
import { NetnsUnavailableError, SimError } from './onvif/errors.ts';

/** How the namespace is created. */
export type NetnsMode = 'root' | 'userns';

/** Whether namespaces work here, and how. */
export type NetnsSupport = { ok: true; mode: NetnsMode } | { ok: false; reason: string };

/** Options of {@link runInNetns}. */
export interface NetnsRunOptions {
  /** Name for messages and the reaper. Default: the command's basename. */
  name?: string;
  cwd?: string;
  /** Environment of the command; `SHARPEYES_NETNS=1` is added. Default: ours. */
  env?: NodeJS.ProcessEnv;
  /** Kill the command (its whole process group) after this long. Default 120 000. */
  timeoutMs?: number;
  /** Also append the command's stdout/stderr to this file. */
  logFile?: string;
}

/** What happened inside the namespace. */
export interface NetnsRunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Interfaces of the namespace as `ip -o link show` listed them before the command ran: `['lo']`. */
  interfaces: string[];
  mode: NetnsMode;
}

/** Exit status of the setup script when the namespace has an interface other than lo. */
const NOT_ISOLATED_EXIT = 97;

/**
 * Set up lo, record the interface list, refuse to run unless lo is alone, then exec the command.
 * $1 = ip binary, $2 = report file, rest = command.
 */
const SETUP_SCRIPT = `set -eu
ip="$1"; report="$2"; shift 2
"$ip" link set lo up
"$ip" link set lo multicast on
"$ip" route add 239.0.0.0/8 dev lo
"$ip" -o link show > "$report.tmp"
mv "$report.tmp" "$report"
if grep -qvE '^[0-9]+: lo:' "$report"; then
  echo "netns: interfaces other than lo present; refusing to run" >&2
  exit ${NOT_ISOLATED_EXIT}
fi
export SHARPEYES_NETNS=1
exec "$@"
`;

function findExecutable(candidates: readonly string[]): string | undefined {
  return candidates.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      // Not there or not executable: try the next candidate.
      return false;
    }
  });
}

const UNSHARE = findExecutable(['/usr/bin/unshare', '/bin/unshare']);
const IP = findExecutable(['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']);

function unshareArgs(mode: NetnsMode): string[] {
  return mode === 'root' ? ['-n'] : ['-r', '-n'];
}

/** Parse `ip -o link show` output into interface names (`eth0@if12` → `eth0`). */
export function parseIpLinkNames(text: string): string[] {
  return text
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((n): n is string => n !== undefined);
}

async function collect(child: ManagedChild): Promise<{ stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.process.stdout?.on('data', (c: Buffer) => out.push(c));
  child.process.stderr?.on('data', (c: Buffer) => err.push(c));
  // 'close' comes after the stdio streams have ended, unlike 'exit'.
  // Called in the tick the child was spawned in, so 'close' cannot have fired yet.
  await new Promise<void>((resolve) => {
    child.process.once('close', () => {
      resolve();
    });
  });
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

async function runWithMode(
  mode: NetnsMode,
  command: string,
  args: readonly string[],
  opts: NetnsRunOptions,
): Promise<NetnsRunResult> {
  if (UNSHARE === undefined) throw new NetnsUnavailableError('unshare (util-linux) not found');
  if (IP === undefined) throw new NetnsUnavailableError('ip (iproute2) not found');
  const dir = makeTempDir('netns');
  const report = join(dir.path, 'interfaces');
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const child = spawnManaged(
    UNSHARE,
    [...unshareArgs(mode), '--', '/bin/sh', '-c', SETUP_SCRIPT, 'netns-setup', IP, report, command, ...args],
    {
      name: opts.name ?? `netns:${command.split('/').pop() ?? command}`,
      env: { ...(opts.env ?? process.env), SHARPEYES_NETNS: '1' },
      pipeStdout: true,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.logFile !== undefined ? { logFile: opts.logFile } : {}),
    },
  );
  const deadline = { passed: false };
  const timer = setTimeout(() => {
    deadline.passed = true;
    void child.stop();
  }, timeoutMs);
  try {
    const [output, exit] = await Promise.all([collect(child), child.exited]);
    if (deadline.passed) {
      throw new SimError(
        'SIM_ERR_NETNS_TIMEOUT',
        `${command} did not finish within ${timeoutMs} ms in the network namespace\nstdout:\n${output.stdout}\nstderr:\n${output.stderr}`,
      );
    }
    if (!existsSync(report)) {
      const detail = output.stderr.trim() || `unshare exited with ${exit.code ?? exit.signal ?? '?'}`;
      throw new NetnsUnavailableError(`${mode === 'root' ? 'unshare -n' : 'unshare -rn'}: ${detail}`);
    }
    const interfaces = parseIpLinkNames(readFileSync(report, 'utf8'));
    if (interfaces.length !== 1 || interfaces[0] !== 'lo') {
      throw new SimError(
        'SIM_ERR_NETNS_SETUP',
        `network namespace is not isolated (interfaces: ${interfaces.join(', ')}); the command was not run`,
      );
    }
    return { exitCode: exit.code, signal: exit.signal, ...output, interfaces, mode };
  } finally {
    clearTimeout(timer);
    await child.stop();
    dir.remove();
  }
}

let support: Promise<NetnsSupport> | undefined;

/**
 * Whether a private network namespace can be made here (tried once, cached): root → `unshare -n`,
 * then `unshare -rn`. The reason is meant for a test's skip message.
 */
export async function probeNetnsSupport(): Promise<NetnsSupport> {
  support ??= (async (): Promise<NetnsSupport> => {
    const modes: NetnsMode[] = process.getuid?.() === 0 ? ['root', 'userns'] : ['userns'];
    const reasons: string[] = [];
    for (const mode of modes) {
      try {
        const r = await runWithMode(mode, '/bin/true', [], { name: 'netns-probe', timeoutMs: 15_000 });
        if (r.exitCode === 0) return { ok: true, mode };
        reasons.push(`${mode}: exit ${r.exitCode ?? r.signal ?? '?'}`);
      } catch (err) {
        reasons.push(
          err instanceof Error ? err.message.replace(/^cannot create network namespace: /, '') : String(err),
        );
      }
    }
    return { ok: false, reason: `cannot create network namespace: ${reasons.join('; ')}` };
  })();
  return support;
}

/**
 * Run `command args` in a fresh network namespace (see the module comment). Resolves with the
 * command's exit status and output whatever its exit code; rejects with
 * {@link NetnsUnavailableError} when no namespace can be made, or a SimError when the namespace
 * is not isolated (the command is then not run) or the command times out.
 */
export async function runInNetns(
  command: string,
  args: readonly string[],
  opts: NetnsRunOptions = {},
): Promise<NetnsRunResult> {
  const s = await probeNetnsSupport();
  if (!s.ok) throw new NetnsUnavailableError(s.reason.replace(/^cannot create network namespace: /, ''));
  return runWithMode(s.mode, command, args, opts);
}
