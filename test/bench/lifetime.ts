/**
 * Lifetime of everything the bench starts: child processes and temp directories.
 *
 * Guarantees, even when the test process is killed midway (SIGKILL included):
 * - every child runs in its own process group, so its own children (a shell, a python
 *   GStreamer server, an ffmpeg) go with it;
 * - a detached reaper (reaper.mjs) learns each group and temp dir; when our end of its stdin
 *   pipe closes — which the kernel does however we die — it kills the groups and removes the
 *   dirs;
 * - normal teardown (`stop()` / `remove()`) does the same work in-process and tells the reaper
 *   to forget it.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REAPER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'reaper.mjs');

/** Prefix of every temp dir the bench makes, so strays are easy to find and to test for. */
export const TEMP_PREFIX = 'sharpeyes-bench-';

let reaper: ChildProcess | undefined;

function tellReaper(line: string): void {
  if (reaper === undefined) {
    reaper = spawn(process.execPath, [REAPER_PATH], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    reaper.unref();
    // The pipe must not keep our event loop alive, and an EPIPE (reaper gone) must not crash us.
    const stdin = reaper.stdin;
    if (stdin !== null) {
      (stdin as unknown as { unref?: () => void }).unref?.();
      stdin.on('error', () => undefined);
    }
  }
  reaper.stdin?.write(`${line}\n`);
}

/** How a managed child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options for {@link spawnManaged}. */
export interface ManagedSpawnOptions {
  /** Short name for messages, e.g. `influxd`. */
  name: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Append the child's stdout and stderr to this file (for post-mortem on failure). */
  logFile?: string;
  /** Keep stdout as a readable pipe (e.g. raw frames) instead of logging it. */
  pipeStdout?: boolean;
  /** Give the child a stdin pipe. */
  pipeStdin?: boolean;
  /** Signal that asks the child to stop; SIGKILL follows after `stopTimeoutMs`. */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
}

/** A child process in its own process group, cleaned up by `stop()` or by the reaper. */
export interface ManagedChild {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves once, when the child has exited. */
  readonly exited: Promise<ChildExit>;
  /** Whether the child is still running. */
  running(): boolean;
  /** Stop the whole process group: stop signal, then SIGKILL after the timeout. Idempotent. */
  stop(): Promise<ChildExit>;
}

/** Spawn `command` in a new process group, registered with the reaper. */
export function spawnManaged(
  command: string,
  args: readonly string[],
  opts: ManagedSpawnOptions,
): ManagedChild {
  const log = opts.logFile === undefined ? undefined : createWriteStream(opts.logFile, { flags: 'a' });
  const spawnOpts: SpawnOptions = {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: [opts.pipeStdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  };
  const child = spawn(command, args, spawnOpts);
  if (child.pid === undefined) {
    // spawn failures (ENOENT) are reported through 'error', emitted on the next tick: without a
    // listener that event would crash the process, so swallow it and throw here instead.
    child.once('error', () => undefined);
    log?.end();
    throw new Error(`${opts.name}: could not start ${command}`);
  }
  const pid = child.pid;
  tellReaper(`pgid ${pid}`);

  if (opts.pipeStdout !== true) {
    child.stdout?.on('data', (chunk: Buffer) => log?.write(chunk));
  }
  child.stderr?.on('data', (chunk: Buffer) => log?.write(chunk));
  // Output can still arrive after 'exit' (the pipes drain later); writing to an ended stream
  // would emit an unhandled 'error', so the log ends on 'close', when the pipes are done.
  child.once('close', () => log?.end());

  let exitInfo: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('error', () => {
      // 'exit' may never come after a spawn error.
      exitInfo ??= { code: null, signal: null };
      resolve(exitInfo);
    });
    child.once('exit', (code, signal) => {
      exitInfo ??= { code, signal };
      resolve(exitInfo);
    });
  }).then((info) => {
    // Leftover members of the group (a grandchild) are killed with their leader.
    signalGroup(pid, 'SIGKILL');
    tellReaper(`unpgid ${pid}`);
    return info;
  });

  let stopping: Promise<ChildExit> | undefined;
  const stop = (): Promise<ChildExit> => {
    stopping ??= (async () => {
      if (exitInfo === undefined) {
        signalGroup(pid, opts.stopSignal ?? 'SIGTERM');
        const timer = setTimeout(() => {
          signalGroup(pid, 'SIGKILL');
        }, opts.stopTimeoutMs ?? 3000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    })();
    return stopping;
  };

  return {
    name: opts.name,
    pid,
    process: child,
    exited,
    running: () => exitInfo === undefined,
    stop,
  };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    // ESRCH: the group is already gone, which is the state we want.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** A temp directory, removed by `remove()` or by the reaper if we die first. */
export interface TempDir {
  readonly path: string;
  remove(): void;
}

/** Make a temp directory under the OS temp dir, named `sharpeyes-bench-<purpose>-XXXXXX`. */
export function makeTempDir(purpose: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${purpose}-`));
  tellReaper(`dir ${path}`);
  let removed = false;
  return {
    path,
    remove() {
      if (removed) return;
      removed = true;
      rmSync(path, { recursive: true, force: true, maxRetries: 3 });
      tellReaper(`undir ${path}`);
    },
  };
}
