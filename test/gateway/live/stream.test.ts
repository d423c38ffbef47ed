/**
 * Resumable event streams against the real InfluxDB index (influxd from the bench harness) and
 * the real live bus: replay then live with no gap and no duplicate at the seam, resumption from a
 * cursor (in the ring, in the middle of a replay, from another gateway process), checkpoints, and
 * the slow-reader limit. Every assertion counts event ids: each expected id exactly once.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { InfluxEventIndex } from '../../../gateway/src/index/influx-index.ts';
import { QueryValidationError } from '../../../gateway/src/index/validate.ts';
import { LiveEventBus } from '../../../gateway/src/live/bus.ts';
import { decodeStreamCursor } from '../../../gateway/src/live/cursor.ts';
import {
  eventMatcher,
  filterFingerprint,
  filterToSearch,
  validateEventFilter,
} from '../../../gateway/src/live/filter.ts';
import {
  runEventStream,
  type EventStreamOptions,
  type StreamMessage,
} from '../../../gateway/src/live/stream.ts';
import { silentLogger } from '../../../gateway/src/log.ts';
import { startInfluxd, type InfluxdHandle } from '../../bench/services/index.ts';
import { makeEvent, ulidFactory } from '../index/helpers.ts';

const MIN = 60_000;

let influxd: InfluxdHandle;
let dbCount = 0;

beforeAll(async () => {
  influxd = await startInfluxd({ indexVersion: 'tsi1' });
});
afterAll(async () => {
  await influxd.stop();
});

interface World {
  index: InfluxEventIndex;
  bus: LiveEventBus;
  ids: (t: number) => string;
  t0: number;
  /** Persist (index) and, unless `publish` is false, announce on the bus. */
  add(minutesAgo: number, opts?: { publish?: boolean; cameraId?: string }): Promise<Event>;
  opts(
    over?: Partial<EventStreamOptions>,
    filter?: Parameters<typeof validateEventFilter>[0],
  ): EventStreamOptions;
}

async function world(ringEvents = 10_000): Promise<World> {
  const index = await InfluxEventIndex.open({
    url: influxd.url,
    database: `live_stream_${++dbCount}`,
    retentionDays: { face: 30, plate: 30 },
  });
  const bus = new LiveEventBus({ ringEvents });
  const ids = ulidFactory(dbCount * 7919);
  const t0 = Date.now();
  return {
    index,
    bus,
    ids,
    t0,
    async add(minutesAgo, o = {}) {
      const firstSeenMs = t0 - Math.round(minutesAgo * MIN);
      const e = makeEvent({ eventId: ids(firstSeenMs), firstSeenMs, cameraId: o.cameraId ?? 'cam-a1' });
      await index.write([e]);
      if (o.publish !== false) bus.publish(e);
      return e;
    },
    opts(over = {}, filterInput = {}) {
      const filter = validateEventFilter(filterInput);
      return {
        bus,
        search: index,
        searchFilter: filterToSearch(filter),
        matches: eventMatcher(filter, {}, () => undefined),
        filterKey: filterFingerprint(filter, undefined),
        start: {},
        limits: { heartbeatMs: 300, replayWindowEvents: 8 },
        log: silentLogger(),
        ...over,
      };
    },
  };
}

/** Run a stream until `until(messages)` is true (checked after each message, which may act first). */
async function run(
  opts: EventStreamOptions,
  until: (messages: StreamMessage[]) => boolean,
  onMessage?: (m: StreamMessage, all: StreamMessage[]) => Promise<void> | void,
): Promise<{ messages: StreamMessage[]; err?: unknown }> {
  const ac = new AbortController();
  const messages: StreamMessage[] = [];
  const guard = setTimeout(() => {
    ac.abort();
  }, 30_000);
  try {
    await runEventStream(
      opts,
      {
        async send(m) {
          messages.push(m);
          await onMessage?.(m, messages);
          if (until(messages)) ac.abort();
        },
      },
      ac.signal,
    );
    return { messages };
  } catch (err) {
    return { messages, err };
  } finally {
    clearTimeout(guard);
  }
}

const idsOf = (ms: StreamMessage[]): string[] =>
  ms.flatMap((m) => (m.event === undefined ? [] : [m.event.eventId]));
const lastCursor = (ms: StreamMessage[]): string => ms[ms.length - 1]?.cursor ?? '';

function expectExactlyOnce(got: string[], expected: string[]): void {
  expect(new Set(got).size, 'duplicates delivered').toBe(got.length);
  expect([...got].sort()).toEqual([...expected].sort());
}

describe('event streams (real influxd, live bus)', () => {
  it('live only: sends what is published after it starts, with cursors', async () => {
    const w = await world();
    await w.add(5); // before the stream: not sent
    const later: Event[] = [];
    const r = await run(
      w.opts(),
      (ms) => idsOf(ms).length >= 2,
      async (_m, all) => {
        // The first message is an idle checkpoint; publish after it.
        if (all.length === 1) for (let i = 0; i < 2; i++) later.push(await w.add(1 - i / 10));
      },
    );
    expect(r.err).toBeUndefined();
    expect(r.messages[0]?.event).toBeUndefined();
    expect(r.messages.every((m) => !m.replay && m.cursor.length > 0)).toBe(true);
    expect(idsOf(r.messages)).toEqual(later.map((e) => e.eventId));
  }, 60_000);

  it('replays from a time then goes live: no gap, no duplicate at the seam', async () => {
    const w = await world();
    const expected: string[] = [];
    for (let m = 25; m >= 6; m--) expected.push((await w.add(m)).eventId); // stored and announced
    const inFlight: Event[] = [];
    for (let m = 5; m >= 1; m--) inFlight.push(await w.add(m, { publish: false })); // stored, not yet announced
    expected.push(...inFlight.map((e) => e.eventId));
    let sentinel = '';
    const r = await run(
      w.opts({ start: { fromMs: w.t0 - 30 * MIN } }),
      (ms) => idsOf(ms).includes(sentinel),
      async (m, all) => {
        const n = idsOf(all).length;
        if (m.event === undefined) return;
        if (n === 3) {
          // During the replay: one event into a window already read (only the ring has it) and
          // one into a window still to come (the replay finds it AND the ring has it).
          expected.push((await w.add(28)).eventId);
          expected.push((await w.add(0.5)).eventId);
        }
        if (n === 27) {
          // The replay already sent the in-flight events: now they are announced (late).
          w.bus.publish(...inFlight);
          for (const x of [0.4, 0.3]) expected.push((await w.add(x)).eventId);
          const s = await w.add(0.1);
          sentinel = s.eventId;
          expected.push(sentinel);
        }
      },
    );
    expect(r.err).toBeUndefined();
    expectExactlyOnce(idsOf(r.messages), expected);
    expect(r.messages.some((m) => m.replay)).toBe(true);
    expect(r.messages.some((m) => !m.replay && m.event !== undefined)).toBe(true);
  }, 60_000);

  it('resumes from a live cursor in the ring exactly (disconnect, publish, reconnect)', async () => {
    const w = await world();
    const sent: string[] = [];
    const first = await run(
      w.opts(),
      (ms) => idsOf(ms).length >= 4,
      async (_m, all) => {
        if (all.length === 1) for (let i = 0; i < 5; i++) sent.push((await w.add(3 - i / 10)).eventId);
      },
    );
    // The stream started before the first add: all five were published while it ran; it kept 4.
    for (let i = 0; i < 6; i++) sent.push((await w.add(2 - i / 10)).eventId); // while disconnected
    const cursor = lastCursor(first.messages);
    expect(decodeStreamCursor(cursor, w.opts().filterKey).phase).toBe('live');
    let sentinel = '';
    const second = await run(
      w.opts({ start: { cursor: decodeStreamCursor(cursor, w.opts().filterKey) } }),
      (ms) => idsOf(ms).includes(sentinel),
      async (_m, all) => {
        if (all.length === 1) {
          sentinel = (await w.add(1)).eventId;
          sent.push(sentinel);
        }
      },
    );
    expect(second.err).toBeUndefined();
    expectExactlyOnce([...idsOf(first.messages), ...idsOf(second.messages)], sent);
  }, 60_000);

  it('resumes from a cursor taken in the middle of a replay', async () => {
    const w = await world();
    const expected: string[] = [];
    for (let m = 40; m >= 1; m--) expected.push((await w.add(m)).eventId);
    const first = await run(w.opts({ start: { fromMs: w.t0 - 45 * MIN } }), (ms) => idsOf(ms).length >= 13);
    expect(first.messages.every((m) => m.replay)).toBe(true);
    expected.push((await w.add(0.5)).eventId); // arrives while the client is away
    const start = { cursor: decodeStreamCursor(lastCursor(first.messages), w.opts().filterKey) };
    expect(start.cursor.phase).toBe('replay');
    let sentinel = '';
    const second = await run(
      w.opts({ start }),
      (ms) => idsOf(ms).includes(sentinel),
      async (m, all) => {
        if (!m.replay && sentinel === '' && all.length > 0) {
          sentinel = (await w.add(0.1)).eventId;
          expected.push(sentinel);
        }
      },
    );
    expect(second.err).toBeUndefined();
    expectExactlyOnce([...idsOf(first.messages), ...idsOf(second.messages)], expected);
  }, 60_000);

  it('resumes on another gateway process (other epoch) from the index after the high-water mark', async () => {
    const w = await world();
    const expected: string[] = [];
    for (let m = 10; m >= 6; m--) expected.push((await w.add(m)).eventId);
    const first = await run(w.opts({ start: { fromMs: w.t0 - 15 * MIN } }), (ms) => idsOf(ms).length >= 5);
    for (let m = 5; m >= 2; m--) expected.push((await w.add(m)).eventId);
    const restarted = new LiveEventBus(); // a new process: the old ring is gone
    const key = w.opts().filterKey;
    let sentinel = '';
    const second = await run(
      w.opts({ bus: restarted, start: { cursor: decodeStreamCursor(lastCursor(first.messages), key) } }),
      (ms) => idsOf(ms).includes(sentinel),
      async (m) => {
        if (!m.replay && sentinel === '') {
          const e = await w.add(1, { publish: false });
          restarted.publish(e);
          sentinel = e.eventId;
          expected.push(sentinel);
        }
      },
    );
    expect(second.err).toBeUndefined();
    expectExactlyOnce([...idsOf(first.messages), ...idsOf(second.messages)], expected);
  }, 60_000);

  it('keeps cursors moving with checkpoints while nothing matches, and resumes from one', async () => {
    const w = await world();
    const opts = w.opts({}, { cameraIds: ['cam-a2'] });
    const seqOf = (m: StreamMessage): number => decodeStreamCursor(m.cursor, opts.filterKey).seq;
    const startSeq = w.bus.head;
    const first = await run(
      opts,
      (ms) => ms.some((m) => seqOf(m) >= startSeq + 2),
      async (_m, all) => {
        if (all.length === 1) for (let i = 0; i < 2; i++) await w.add(1, { cameraId: 'cam-a1' });
      },
    );
    expect(first.err).toBeUndefined();
    expect(first.messages.every((m) => m.event === undefined)).toBe(true);
    const matching = await w.add(0.5, { cameraId: 'cam-a2' });
    const second = await run(
      { ...opts, start: { cursor: decodeStreamCursor(lastCursor(first.messages), opts.filterKey) } },
      (ms) => idsOf(ms).length >= 1,
    );
    expect(idsOf(second.messages)).toEqual([matching.eventId]);
  }, 60_000);

  it('refuses a cursor of a stream with another filter', async () => {
    const w = await world();
    const r = await run(w.opts(), (ms) => ms.length >= 1);
    const other = w.opts({}, { cameraIds: ['cam-a1'] });
    let caught: unknown;
    try {
      decodeStreamCursor(lastCursor(r.messages), other.filterKey);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(QueryValidationError);
    expect((caught as QueryValidationError).field).toBe('resume_cursor');
  }, 60_000);

  it('ends a stream that reads too slowly with RESOURCE_EXHAUSTED', async () => {
    const w = await world();
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    const ac = new AbortController();
    const p = runEventStream(
      { ...w.opts(), limits: { maxQueued: 5, heartbeatMs: 60_000 } },
      {
        async send() {
          await blocked;
        },
      },
      ac.signal,
    );
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 10; i++) await w.add(1 - i / 100);
    release();
    let caught: unknown;
    try {
      await p;
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_RESOURCE_EXHAUSTED')).toBe(true);
  }, 60_000);

  it('runs another replay round when the replay outlasts the ring, still without duplicates', async () => {
    const w = await world(4);
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const expected: string[] = [];
    for (let m = 20; m >= 11; m--) expected.push((await w.add(m)).eventId);
    let sentinel = '';
    const r = await run(
      w.opts({ start: { fromMs: w.t0 - 25 * MIN }, log }),
      (ms) => idsOf(ms).includes(sentinel),
      async (m, all) => {
        if (m.replay && idsOf(all).length === 2) {
          // More than the ring holds, all newer than the replay position (so the next round finds them).
          for (let i = 0; i < 8; i++) expected.push((await w.add(9 - i)).eventId);
        }
        if (!m.replay && sentinel === '') {
          sentinel = (await w.add(0.2)).eventId;
          expected.push(sentinel);
        }
      },
    );
    expect(r.err).toBeUndefined();
    expectExactlyOnce(idsOf(r.messages), expected);
    expect(warnings.some((l) => l.includes('replaying again'))).toBe(true);
  }, 60_000);
});
