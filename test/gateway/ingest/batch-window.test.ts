/** The batch window: batching rules, bounded admission, in-order settling, closing. */
import { afterEach, describe, expect, it } from 'vitest';
import { BatchWindow } from '../../../gateway/src/ingest/batch-window.ts';

interface It {
  id: number;
  events: number;
  bytes: number;
}

const item = (id: number, events = 1, bytes = 0): It => ({ id, events, bytes });
const windows: BatchWindow<It>[] = [];
afterEach(async () => {
  for (const w of windows.splice(0)) await w.close(0);
});

/** A window whose persist calls wait until the test resolves them. */
function harness(
  opts: {
    maxEvents?: number;
    maxBytes?: number;
    maxDelayMs?: number;
    maxInFlight?: number;
    maxItems?: number;
  } = {},
) {
  const calls: {
    items: readonly It[];
    resolve: () => void;
    reject: (e: Error) => void;
    signal: AbortSignal;
  }[] = [];
  const settled: number[] = [];
  const dropped: number[] = [];
  const w = new BatchWindow<It>({
    maxEvents: opts.maxEvents ?? 3,
    maxBytes: opts.maxBytes ?? 1e9,
    maxDelayMs: opts.maxDelayMs ?? 10_000,
    maxInFlight: opts.maxInFlight ?? 2,
    ...(opts.maxItems !== undefined && { maxItems: opts.maxItems }),
    persist: (items, signal) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ items, resolve, reject, signal });
      }),
    settled: (i) => settled.push(i.id),
    dropped: (items) => dropped.push(...items.map((i) => i.id)),
  });
  windows.push(w);
  return { w, calls, settled, dropped };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('BatchWindow', () => {
  it('starts a batch when it is full, and settles items in admission order', async () => {
    const { w, calls, settled } = harness();
    for (let i = 1; i <= 6; i++) await w.admit(item(i));
    expect(calls.map((c) => c.items.map((i) => i.id))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    calls[1]?.resolve();
    await tick();
    expect(settled).toEqual([]); // the second batch waits for the first
    calls[0]?.resolve();
    await tick();
    expect(settled).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('starts a batch by bytes, and by age', async () => {
    const { w, calls } = harness({ maxBytes: 100, maxDelayMs: 30 });
    await w.admit(item(1, 1, 150));
    expect(calls).toHaveLength(1);
    await w.admit(item(2));
    expect(calls).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(calls.map((c) => c.items.map((i) => i.id))).toEqual([[1], [2]]);
  });

  it('makes admission wait while every slot is busy and the next batch is full', async () => {
    const { w, calls } = harness({ maxInFlight: 1 });
    for (let i = 1; i <= 6; i++) await w.admit(item(i)); // batch [1,2,3] running, [4,5,6] pending & full
    let admitted = false;
    const seventh = w.admit(item(7)).then(() => {
      admitted = true;
    });
    await tick();
    expect(admitted).toBe(false);
    expect(w.stats()).toMatchObject({ pendingItems: 3, inFlightBatches: 1, inFlightItems: 3 });
    calls[0]?.resolve();
    await seventh;
    expect(calls.map((c) => c.items.map((i) => i.id))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(w.oldest()?.id).toBe(4);
  });

  it('holds at most maxItems items (MQTT packet ids are 16-bit)', async () => {
    const { w, calls } = harness({ maxEvents: 100, maxItems: 4, maxDelayMs: 5 });
    for (let i = 1; i <= 4; i++) await w.admit(item(i));
    let admitted = false;
    const fifth = w.admit(item(5)).then(() => {
      admitted = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(admitted).toBe(false);
    calls[0]?.resolve();
    await fifth;
    expect(w.stats().pendingItems + w.stats().inFlightItems).toBe(1);
  });

  it('on close, stores what is pending and waits; then abandons what is still running', async () => {
    const { w, calls, settled, dropped } = harness({ maxEvents: 10 });
    await w.admit(item(1));
    await w.admit(item(2));
    const closing = w.close(50);
    await tick();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.signal.aborted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(calls[0]?.signal.aborted).toBe(true);
    calls[0]?.reject(new Error('aborted'));
    await closing;
    expect(settled).toEqual([]);
    expect(dropped).toEqual([1, 2]);
    await expect(w.admit(item(3))).rejects.toThrow(/closing/);
  });

  it('releases a waiting admission when closed', async () => {
    const { w } = harness({ maxInFlight: 1 });
    for (let i = 1; i <= 6; i++) await w.admit(item(i));
    const outcome = expect(w.admit(item(7))).rejects.toThrow(/closing/);
    await tick();
    await w.close(0);
    await outcome;
  });
});
