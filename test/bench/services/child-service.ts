/**
 * What the child-process services (influxd, Mosquitto, the RTSP server) share: spawning through
 * `spawnManaged` while keeping the tail of their output in memory, and turning a failed start
 * into one error that says why (exit status + last log lines) after stopping what was started.
 */
import type { Readable } from 'node:stream';
import { spawnManaged, type ManagedChild, type ManagedSpawnOptions } from '../lifetime.ts';
import { BENCH_ERROR_CODES, BenchServiceError } from './errors.ts';

const TAIL_BYTES = 16 * 1024;
const TAIL_LINES = 25;
/** How long a failed start waits for the child's pipes to drain before reporting. */
const DRAIN_WAIT_MS = 2000;

/** The last bytes a child wrote on stdout and stderr, interleaved as they arrived. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  /** Start keeping what `stream` emits (in addition to any other listener). */
  follow(stream: Readable | null): void {
    stream?.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      while (this.bytes > TAIL_BYTES && this.chunks.length > 1) {
        this.bytes -= this.chunks.shift()?.length ?? 0;
      }
    });
  }

  /** The last `maxLines` lines, for an error message. */
  text(maxLines = TAIL_LINES): string {
    const lines = Buffer.concat(this.chunks).toString('utf8').split('\n');
    return lines
      .slice(-maxLines - 1)
      .join('\n')
      .trimEnd();
  }
}

/** A managed child with its output tail. */
export interface ServiceProcess {
  readonly child: ManagedChild;
  readonly output: OutputTail;
  /** Resolves when the child has exited and its stdout/stderr pipes are closed. */
  readonly closed: Promise<void>;
}

/** `spawnManaged`, plus an in-memory tail of the child's output. */
export function spawnService(
  command: string,
  args: readonly string[],
  opts: ManagedSpawnOptions,
): ServiceProcess {
  const child = spawnManaged(command, args, opts);
  const output = new OutputTail();
  output.follow(child.process.stdout);
  output.follow(child.process.stderr);
  const closed = new Promise<void>((resolve) => {
    child.process.once('close', () => {
      resolve();
    });
  });
  return { child, output, closed };
}

/** For `waitFor`'s `abortIf`: a reason once the child has exited. */
export function exitedReason(svc: ServiceProcess): string | undefined {
  if (svc.child.running()) return undefined;
  const { exitCode, signalCode } = svc.child.process;
  return `${svc.child.name} exited (${signalCode ?? `code ${String(exitCode)}`})`;
}

/**
 * Wait for readiness; on failure stop the child (and run `cleanup`), then throw a
 * START_FAILED error carrying the child's last output lines.
 */
export async function readyOrExplain<T>(
  svc: ServiceProcess,
  ready: () => Promise<T>,
  cleanup: () => void,
): Promise<T> {
  try {
    return await ready();
  } catch (err) {
    await svc.child.stop();
    // Output written just before the exit may still be in the pipe: let it drain (bounded).
    await Promise.race([svc.closed, new Promise((resolve) => setTimeout(resolve, DRAIN_WAIT_MS))]);
    cleanup();
    const why = err instanceof Error ? err.message : String(err);
    throw new BenchServiceError(
      BENCH_ERROR_CODES.START_FAILED,
      `${svc.child.name} did not start: ${why}\n--- last output ---\n${svc.output.text()}`,
      { cause: err },
    );
  }
}

/**
 * Run `start` again (with fresh ports) when it failed because a port picked by `freePort()` was
 * taken in the meantime by another process; that race is real when test files run in parallel.
 */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const clash = err instanceof Error && /address already in use/i.test(err.message);
      if (!clash || attempt >= attempts) throw err;
    }
  }
}
