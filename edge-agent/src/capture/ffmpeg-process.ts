/**
 * One ffmpeg child process, so that none outlives the agent:
 * - it runs in its own process group (`detached`: setsid), and is signalled as a group;
 * - it is spawned behind `setpriv --pdeathsig SIGKILL` (util-linux), so the kernel SIGKILLs it
 *   when the thread that spawned it dies — the agent's main thread, i.e. the agent, even when
 *   the agent is SIGKILLed. (Spawned from a worker thread, it would die with that worker.) The
 *   small window between fork and prctl is covered by the next guard;
 * - its stdout is our pipe: once the agent is gone, ffmpeg's next frame write fails with EPIPE and
 *   ffmpeg exits (a stalled stream writes nothing, which is why the pdeathsig guard matters);
 * - `stop()` asks politely first: `q` on stdin (ffmpeg's own graceful stop), then SIGTERM to the
 *   group, then SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';

/** How an ffmpeg process ended. */
export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (missing binary…). */
  spawnError: Error | null;
}

/** A running (or finished) ffmpeg. */
export interface FfmpegProcess {
  /** Pid, also the process group id; null if the spawn failed. */
  readonly pid: number | null;
  /** Resolves once the process has exited and its pipes are closed. Never rejects. */
  readonly closed: Promise<FfmpegExit>;
  /** Whether the process has exited. */
  exited(): boolean;
  /** `q` on stdin, SIGTERM to the group after `graceMs`, SIGKILL after another `graceMs`. */
  stop(graceMs: number): Promise<FfmpegExit>;
  /** SIGTERM to the group now, SIGKILL after `graceMs` (for a stalled or failed run). */
  kill(graceMs: number): Promise<FfmpegExit>;
}

/** What {@link spawnFfmpeg} needs. */
export interface SpawnFfmpegOptions {
  command: string;
  args: readonly string[];
  onStdout: (chunk: Buffer) => void;
  onStderr: (text: string) => void;
}

/** Start ffmpeg in its own process group, all three stdio streams piped. */
export function spawnFfmpeg(opts: SpawnFfmpegOptions): FfmpegProcess {
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, AV_LOG_FORCE_NOCOLOR: '1' },
    });
  } catch (err) {
    // spawn throws synchronously for bad arguments (e.g. a NUL byte in a path).
    const spawnError = err instanceof Error ? err : new Error(String(err));
    const closed = Promise.resolve<FfmpegExit>({ code: null, signal: null, spawnError });
    return { pid: null, closed, exited: () => true, stop: () => closed, kill: () => closed };
  }

  const pid = child.pid ?? null;
  let exitInfo: FfmpegExit | undefined;
  let resolveClosed: (exit: FfmpegExit) => void = () => undefined;
  const closed = new Promise<FfmpegExit>((resolve) => {
    resolveClosed = resolve;
  });
  child.once('error', (err) => {
    // 'error' is a failed spawn (or a failed kill, which signalGroup avoids); 'close' may not follow.
    exitInfo ??= { code: null, signal: null, spawnError: err };
    resolveClosed(exitInfo);
  });
  child.once('exit', (code, signal) => {
    exitInfo ??= { code, signal, spawnError: null };
    // ffmpeg has no children of its own; anything left in the group is a stray: kill it.
    if (pid !== null) signalGroup(pid, 'SIGKILL');
  });
  child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
    exitInfo ??= { code, signal, spawnError: null };
    resolveClosed(exitInfo);
  });
  // Writing `q` to an ffmpeg that has just died must not raise an unhandled EPIPE.
  child.stdin?.on('error', () => undefined);
  child.stdout?.on('data', opts.onStdout);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', opts.onStderr);

  const escalate = async (first: 'q' | 'SIGTERM', graceMs: number): Promise<FfmpegExit> => {
    if (exitInfo !== undefined || pid === null) return closed;
    const timers: NodeJS.Timeout[] = [];
    if (first === 'q') {
      if (child.stdin?.writable === true) child.stdin.end('q');
      timers.push(
        setTimeout(() => {
          signalGroup(pid, 'SIGTERM');
        }, graceMs),
      );
      timers.push(
        setTimeout(() => {
          signalGroup(pid, 'SIGKILL');
        }, 2 * graceMs),
      );
    } else {
      signalGroup(pid, 'SIGTERM');
      timers.push(
        setTimeout(() => {
          signalGroup(pid, 'SIGKILL');
        }, graceMs),
      );
    }
    try {
      return await closed;
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  };

  return {
    pid,
    closed,
    exited: () => exitInfo !== undefined,
    stop: (graceMs) => escalate('q', graceMs),
    kill: (graceMs) => escalate('SIGTERM', graceMs),
  };
}

/** Signal a whole process group; a group that is already gone is what we want. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

let setprivLookup: { path: string | null } | undefined;
let warnedNoSetpriv = false;

/**
 * The setpriv binary (util-linux ≥ 2.33 has `--pdeathsig`), looked up on PATH once per process.
 * When it is missing, ffmpeg is spawned without the pdeathsig guard, and a warning is logged once.
 */
export function findSetpriv(logger: Logger): string | null {
  setprivLookup ??= { path: findExecutable('setpriv') };
  if (setprivLookup.path === null && !warnedNoSetpriv) {
    warnedNoSetpriv = true;
    logger.warn(
      { module: 'capture' },
      'setpriv not found: ffmpeg runs without a parent-death signal; it may outlive an agent that is killed while a stream is stalled',
    );
  }
  return setprivLookup.path;
}

function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/bin'].filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory (or not executable): try the next one.
      continue;
    }
  }
  return null;
}
