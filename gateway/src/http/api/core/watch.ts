/**
 * A small bounded queue between a notification source (camera status, alert changes) and one
 * stream's transport: sending waits for the transport (flow control); a stream that falls more
 * than `maxQueued` behind ends with GATEWAY_ERR_RESOURCE_EXHAUSTED.
 */
import { GatewayError } from '../../../errors.ts';

/** Run a watch: `subscribe` feeds `push`; items are sent one by one until `signal` aborts. */
export async function runWatch<T>(opts: {
  /** Items to send first (a snapshot), before anything pushed. */
  initial?: readonly T[];
  subscribe: (push: (item: T) => void) => () => void;
  send: (item: T) => Promise<void> | undefined;
  signal: AbortSignal;
  maxQueued: number;
  /** Items with the same key replace each other while queued (latest wins), e.g. a camera's status. */
  keyOf?: (item: T) => string;
}): Promise<number> {
  const queue: T[] = [...(opts.initial ?? [])];
  const keyed = new Map<string, T>();
  const order: string[] = [];
  const state = { overflow: false };
  let wake: (() => void) | undefined;
  const unsubscribe = opts.subscribe((item) => {
    if (opts.keyOf !== undefined) {
      const k = opts.keyOf(item);
      if (!keyed.has(k)) order.push(k);
      keyed.set(k, item);
      if (keyed.size > opts.maxQueued) state.overflow = true;
    } else {
      queue.push(item);
      if (queue.length > opts.maxQueued) state.overflow = true;
    }
    const w = wake;
    wake = undefined;
    w?.();
  });
  let sent = 0;
  try {
    for (;;) {
      if (opts.signal.aborted) return sent;
      if (state.overflow) {
        throw new GatewayError(
          'GATEWAY_ERR_RESOURCE_EXHAUSTED',
          `the watch fell more than ${opts.maxQueued} items behind`,
        );
      }
      let item: T | undefined;
      if (queue.length > 0) item = queue.shift();
      else if (order.length > 0) {
        const k = order.shift() as string;
        item = keyed.get(k);
        keyed.delete(k);
      }
      if (item !== undefined) {
        const full = opts.send(item);
        if (full !== undefined) await full;
        sent += 1;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          opts.signal.removeEventListener('abort', done);
          resolve();
        };
        wake = done;
        opts.signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    unsubscribe();
  }
}
