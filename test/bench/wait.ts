/** Readiness helpers: wait for a condition, never for a fixed sleep. */
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options for {@link waitFor}. */
export interface WaitOptions {
  /** What we are waiting for, for the timeout message. */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** Abort early, e.g. when the process we wait on has exited. Return a reason to abort. */
  abortIf?: () => string | undefined;
}

/**
 * Poll `probe` until it returns a value other than `undefined` (or stops throwing), and return
 * that value. The last error is kept for the timeout message.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  opts: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let lastError: unknown;
  for (;;) {
    const abort = opts.abortIf?.();
    if (abort !== undefined) throw new Error(`${opts.what}: ${abort}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 15_000} ms waiting for ${opts.what}${detail}`);
    }
    await sleep(opts.intervalMs ?? 25);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no port from listen(0)'));
        return;
      }
      srv.close(() => {
        resolve(addr.port);
      });
    });
  });
}
