/**
 * One live event stream (gRPC StreamEvents, the REST SSE stream): optional replay from the index,
 * then live events from the bus, with a cursor on every message.
 *
 * How a stream starts:
 * - no cursor, no time: live from now;
 * - `fromMs`: replay every event first seen at or after it (clamped to the retention), in
 *   ascending (point time, event id) order, then live;
 * - a cursor of this gateway process whose bus position is still in the ring: exact — the ring
 *   from that position (after finishing the replay the cursor was in, if it was), then live;
 * - any other cursor (another process, a restart, or older than the ring): replay from the index
 *   after the cursor's high-water mark, then live. Limitation: an event that reached the gateway
 *   while the client was away with a first-seen time *before* the client's high-water mark (a
 *   late edge) is not replayed on this path; resume from a time (`fromMs`) a little earlier and
 *   dedupe by event id to cover it.
 *
 * The seam between replay and live, with no gap and no duplicate: the stream notes the bus head
 * (`startSeq`) BEFORE it queries the index. Every event published up to it is already in the
 * index (ingest persists, then publishes), so the replay finds it; every event published after it
 * is in the ring, read after the replay. An event can be in both; the replay remembers what it
 * sent that the ring also holds (exactly, by the bus's id → seq map) or may still receive (for
 * `seamGraceMs`: stored before the query, published just after), and the ring catch-up skips
 * those. Cursors point past skipped duplicates, and what is left to skip is kept under the
 * stream's token for a while (the bus's ResumeMemoryStore), so a resume skips them too. The
 * replay does not buffer live events: if it outlasts the ring, it runs another round from its
 * high-water mark (events arriving late meanwhile are then subject to the limitation above).
 */
import { GatewayError } from '../errors.ts';
import { pointTimeNs } from '../index/schema.ts';
import { NS_PER_MS } from '../index/time.ts';
import type { EventSearch, EventSearchQuery, IndexedEvent } from '../index/types.ts';
import { QueryValidationError } from '../index/validate.ts';
import type { Logger } from '../log.ts';
import { randomBytes } from 'node:crypto';
import type { LiveEventBus, LiveItem, LiveSubscription, ResumeMemory } from './bus.ts';
import { comparePosition, streamCursorEncoder, type StreamPosition } from './cursor.ts';

/** Bounds and pacing of streams. */
export interface StreamLimits {
  /** Live events queued per stream before it is ended as too slow (default 10 000). */
  maxQueued: number;
  /** A checkpoint (cursor only, also a keepalive) after this long without a message (default 15 s). */
  heartbeatMs: number;
  /** The replay runs up to now + this (events may carry times ahead of the clock; default 1 day). */
  futureSkewMs: number;
  /** Events per index query while replaying (default 500; at most the index's page size). */
  replayWindowEvents: number;
  /** Longest time span of one replay query (default 24 h). */
  replayMaxSpanMs: number;
  /** How long an event sent by the replay is remembered against its late publication (default 10 s). */
  seamGraceMs: number;
  /** Most replayed events remembered at once (default 200 000). */
  maxRemembered: number;
}

/** Defaults of {@link StreamLimits}. */
export const DEFAULT_STREAM_LIMITS: StreamLimits = Object.freeze({
  maxQueued: 10_000,
  heartbeatMs: 15_000,
  futureSkewMs: 86_400_000,
  replayWindowEvents: 500,
  replayMaxSpanMs: 86_400_000,
  seamGraceMs: 10_000,
  maxRemembered: 200_000,
});

/** One message of a stream. */
export interface StreamMessage {
  /** Absent in a checkpoint. */
  event?: IndexedEvent;
  /** Position after this message. */
  cursor: string;
  /** Sent while replaying from the index. */
  replay: boolean;
}

/**
 * Where a stream's messages go. `send` returns a promise only when the transport is full (flow
 * control): the stream waits for it before sending more. Returning nothing means "sent, go on"
 * (no promise per message on the fast path: fan-out sends tens of thousands per second).
 */
export interface StreamSink {
  send(message: StreamMessage): Promise<void> | undefined;
  /**
   * Optional: several live events ready together in one message, `cursor` after the last (a
   * transport that can batch, e.g. gRPC with `max_batch`). Same flow-control contract as `send`.
   */
  sendBatch?(events: IndexedEvent[], cursor: string): Promise<void> | undefined;
}

/** Where a stream starts. */
export interface StreamStart {
  /** A decoded cursor (wins over `fromMs`). */
  cursor?: StreamPosition;
  /** Replay from this time (epoch ms, inclusive). */
  fromMs?: number;
}

/** Options of {@link runEventStream}. */
export interface EventStreamOptions {
  bus: LiveEventBus;
  search: EventSearch;
  /** The filter as search fields (kinds, plate, …; camera ids already restricted to the caller's area). */
  searchFilter: Omit<EventSearchQuery, 'fromMs' | 'toMs' | 'limit' | 'cursor'>;
  /** The same filter (and area scope) as a predicate on live events. */
  matches: (event: IndexedEvent) => boolean;
  /** Key of the filter (cursors are bound to it): see filterFingerprint. */
  filterKey: string;
  start: StreamStart;
  /** Most live events per message when the sink can batch (default 1: no batching). */
  maxBatch?: number;
  limits?: Partial<StreamLimits>;
  log: Logger;
  now?: () => number;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** The longest retention of any kind (events older cannot exist), cached per search instance. */
const retentionCache = new WeakMap<EventSearch, { atMs: number; maxMs: number }>();

async function maxRetentionMs(search: EventSearch, nowMs: number): Promise<number> {
  const c = retentionCache.get(search);
  if (c !== undefined && nowMs - c.atMs < 600_000) return c.maxMs;
  const list = await search.retention();
  const maxMs = list.reduce((m, r) => Math.max(m, r.durationMs + r.shardGroupDurationMs), 0);
  retentionCache.set(search, { atMs: nowMs, maxMs });
  return maxMs;
}

/**
 * Stored events in ascending (point time, event id) order from `from` (exclusive unless
 * `inclusive`) up to `endMs`, queried in windows that adapt to the event rate.
 */
async function* replayFromIndex(
  search: EventSearch,
  base: EventStreamOptions['searchFilter'],
  from: { ns: bigint; id: string; inclusive: boolean },
  endMs: number,
  limits: StreamLimits,
  signal: AbortSignal,
): AsyncGenerator<IndexedEvent | { windowEndMs: number }> {
  const target = limits.replayWindowEvents;
  let maxSpan = limits.replayMaxSpanMs;
  const query = (fromMs: number, toMs: number, cursor?: string) =>
    search.search({ ...base, fromMs, toMs, limit: target, ...(cursor !== undefined ? { cursor } : {}) });
  /** All events of [a, b), ascending. */
  const windowAsc = async (a: number, b: number): Promise<IndexedEvent[]> => {
    const page = await query(a, b);
    if (page.nextCursor === undefined) return page.events.reverse();
    if (b - a >= 2) {
      const mid = Math.floor((a + b) / 2);
      const left = await windowAsc(a, mid);
      const right = await windowAsc(mid, b);
      return left.concat(right);
    }
    // More than `target` events in one millisecond: page through them.
    const all = [...page.events];
    let cursor: string | undefined = page.nextCursor;
    while (cursor !== undefined && !signal.aborted) {
      const next = await query(a, b, cursor);
      all.push(...next.events);
      cursor = next.nextCursor;
    }
    return all.reverse();
  };
  let a = Number(from.ns / NS_PER_MS);
  let span = Math.min(maxSpan, 600_000);
  while (a < endMs && !signal.aborted) {
    const b = Math.min(a + span, endMs);
    let events: IndexedEvent[];
    try {
      events = await windowAsc(a, b);
    } catch (err) {
      // A configured range limit narrower than our window (wildcards): narrow and retry.
      if (
        err instanceof QueryValidationError &&
        (err.field === 'to_ms' || err.field === 'plate_pattern') &&
        span > 60_000
      ) {
        maxSpan = Math.max(60_000, Math.floor(span / 2));
        span = maxSpan;
        continue;
      }
      throw err;
    }
    for (const e of events) {
      const c = comparePosition(pointTimeNs(e), e.eventId, from.ns, from.id);
      if (c < 0 || (c === 0 && !from.inclusive)) continue;
      yield e;
    }
    yield { windowEndMs: b };
    if (events.length < target / 4) span = Math.min(span * 2, maxSpan);
    else if (events.length > target) span = Math.max(1000, Math.floor(span / 2));
    a = b;
  }
}

/** What the replay sent that the ring catch-up must skip (see the module comment). */
class SeamMemory {
  /** Sent by the replay, and in the ring after startSeq at that bus seq. */
  readonly exact = new Map<string, { revision: number; seq: number }>();
  /** Sent by the replay, not (yet) published after startSeq: watched for `graceMs`. */
  readonly #grace = new Map<string, { revision: number; untilMs: number }>();
  #maxSeq = 0;

  constructor(
    private readonly bus: LiveEventBus,
    private startSeq: number,
    private readonly graceMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  /** Restart against a new startSeq (another replay round): old ring positions are gone. */
  reset(startSeq: number): void {
    this.startSeq = startSeq;
    this.exact.clear();
    this.#grace.clear();
    this.#maxSeq = 0;
  }

  load(m: ResumeMemory): void {
    for (const [id, e] of m.sent) this.#setExact(id, e.revision, e.seq);
  }

  #setExact(id: string, revision: number, seq: number): void {
    this.exact.set(id, { revision, seq });
    if (seq > this.#maxSeq) this.#maxSeq = seq;
  }

  /** The replay sent `e`. */
  sent(e: IndexedEvent): void {
    const seq = this.bus.recentSeq(e.eventId);
    if (seq !== undefined && seq > this.startSeq) {
      this.#setExact(e.eventId, e.revision, seq);
      return;
    }
    const published = seq === undefined ? undefined : this.bus.slot(seq)?.revision;
    if (published !== undefined && published >= e.revision) return; // published before startSeq
    this.#grace.delete(e.eventId);
    this.#grace.set(e.eventId, { revision: e.revision, untilMs: this.now() + this.graceMs });
    if (this.#grace.size > this.maxEntries) {
      const oldest = this.#grace.keys().next();
      if (oldest.done !== true) this.#grace.delete(oldest.value);
    }
  }

  /** Whether the ring event `e` was already sent by the replay. */
  covers(e: IndexedEvent): boolean {
    const x = this.exact.get(e.eventId);
    if (x !== undefined && x.revision >= e.revision) return true;
    this.prune();
    const g = this.#grace.get(e.eventId);
    return g !== undefined && g.revision >= e.revision;
  }

  /** Expire grace entries; one published after startSeq meanwhile becomes exact. */
  prune(force = false): void {
    const now = this.now();
    for (const [id, g] of this.#grace) {
      if (!force && g.untilMs > now) break;
      this.#grace.delete(id);
      const seq = this.bus.recentSeq(id);
      if (seq !== undefined && seq > this.startSeq && (this.bus.slot(seq)?.revision ?? -1) <= g.revision) {
        this.#setExact(id, g.revision, seq);
      }
    }
  }

  /** Forget exact entries at or before bus position `seq` (already passed). */
  passed(seq: number): void {
    if (this.exact.size === 0) return;
    for (const [id, x] of this.exact) if (x.seq <= seq) this.exact.delete(id);
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.#grace.size === 0;
  }

  /** Highest exact seq ever noted (for the cursor's fallback hint). */
  get maxSeq(): number {
    return this.exact.size === 0 ? 0 : this.#maxSeq;
  }

  snapshot(): ResumeMemory {
    return { sent: new Map(this.exact) };
  }
}

/** How far behind the replay's start a replay checkpoint may move the high-water mark. */
const CHECKPOINT_LAG_MS = 300_000;

/**
 * Run one stream until `signal` aborts (the client went away, the server stops). Resolves with
 * the number of events sent. Rejects with GatewayError GATEWAY_ERR_RESOURCE_EXHAUSTED when the
 * client reads too slowly (its queue overflowed: it should resume from its last cursor), or with
 * the index's error when the replay cannot query it.
 */
export async function runEventStream(
  o: EventStreamOptions,
  sink: StreamSink,
  signal: AbortSignal,
): Promise<number> {
  const limits: StreamLimits = { ...DEFAULT_STREAM_LIMITS, ...o.limits };
  const now = o.now ?? Date.now;
  const { bus } = o;
  const c = o.start.cursor;
  const token = c?.token ?? randomBytes(9).toString('base64url');
  let replayFrom: { ns: bigint; id: string; inclusive: boolean } | undefined;
  let startSeq = bus.head;
  let hwNs = 0n;
  let hwId = '';
  const memory = new SeamMemory(bus, startSeq, limits.seamGraceMs, limits.maxRemembered, now);
  /** Resuming without the memory a cursor relied on: skip ring events it might have covered. */
  const fallback: { conservative?: { maxSeq: number; hwNs: bigint; hwId: string } } = {};
  if (c !== undefined) {
    hwNs = c.hwNs;
    hwId = c.hwId;
    const inRing = c.epoch === bus.epoch && c.seq >= bus.oldest - 1 && c.seq <= bus.head;
    if (inRing) {
      startSeq = c.seq;
      memory.reset(startSeq);
      const kept = bus.resumeMemory.take(c.token);
      if (kept !== undefined) memory.load(kept);
      else if (c.memorySeq > c.seq)
        fallback.conservative = { maxSeq: c.memorySeq, hwNs: c.hwNs, hwId: c.hwId };
      if (c.phase === 'replay') replayFrom = { ns: c.hwNs, id: c.hwId, inclusive: false };
    } else {
      replayFrom = { ns: c.hwNs, id: c.hwId, inclusive: false };
    }
  } else if (o.start.fromMs !== undefined) {
    replayFrom = { ns: BigInt(o.start.fromMs) * NS_PER_MS, id: '', inclusive: true };
  }
  if (replayFrom !== undefined) {
    // Nothing older than the longest retention exists: do not walk empty years.
    const oldestMs = now() - (await maxRetentionMs(o.search, now()));
    const oldestNs = BigInt(Math.max(0, oldestMs)) * NS_PER_MS;
    if (replayFrom.ns < oldestNs) replayFrom = { ns: oldestNs, id: '', inclusive: true };
  }

  let phase: 'replay' | 'live' = replayFrom !== undefined ? 'replay' : 'live';
  let seq = startSeq;
  let sent = 0;
  let lastSentMs = now();
  let sub: LiveSubscription | undefined;

  const encodeCursor = streamCursorEncoder(o.filterKey);
  const cursor = (): string =>
    encodeCursor({
      epoch: bus.epoch,
      seq: phase === 'live' ? seq : startSeq,
      phase,
      hwNs,
      hwId,
      token,
      memorySeq: Math.max(memory.maxSeq, fallback.conservative?.maxSeq ?? 0),
    });
  const raise = (ns: bigint, id: string): void => {
    if (comparePosition(ns, id, hwNs, hwId) > 0) {
      hwNs = ns;
      hwId = id;
    }
  };
  const emit = async (event: IndexedEvent | undefined): Promise<void> => {
    lastSentMs = now();
    const full = sink.send({
      ...(event !== undefined ? { event } : {}),
      cursor: cursor(),
      replay: phase === 'replay',
    });
    if (event !== undefined) sent += 1;
    if (full !== undefined) await full;
  };
  // A function, so the checks after each await read the signal afresh.
  const stopped = (): boolean => signal.aborted;
  const duplicate = (item: LiveItem): boolean => {
    if (memory.covers(item.event)) return true;
    const c2 = fallback.conservative;
    if (c2 !== undefined && item.seq <= c2.maxSeq) {
      return comparePosition(pointTimeNs(item.event), item.event.eventId, c2.hwNs, c2.hwId) <= 0;
    }
    return false;
  };

  try {
    // Replay rounds, then subscribe to the ring from startSeq.
    for (let round = 0; ; round++) {
      if (replayFrom !== undefined) {
        phase = 'replay';
        const t0 = now();
        const endMs = t0 + limits.futureSkewMs;
        for await (const step of replayFromIndex(
          o.search,
          o.searchFilter,
          replayFrom,
          endMs,
          limits,
          signal,
        )) {
          if (stopped()) return sent;
          if ('windowEndMs' in step) {
            if (now() - lastSentMs >= limits.heartbeatMs) {
              // Let an idle client's cursor follow the replay (never near the present, see below).
              raise(BigInt(Math.min(step.windowEndMs, t0 - CHECKPOINT_LAG_MS)) * NS_PER_MS, '');
              await emit(undefined);
            }
            continue;
          }
          if (!o.matches(step)) continue;
          raise(pointTimeNs(step), step.eventId);
          memory.sent(step);
          await emit(step);
        }
        if (stopped()) return sent;
      }
      sub = bus.subscribe({ afterSeq: startSeq, accept: o.matches, maxQueued: limits.maxQueued });
      if (sub !== undefined) break;
      // The ring moved past startSeq while replaying: another round from the high-water mark.
      if (round >= 4) {
        throw new GatewayError(
          'GATEWAY_ERR_RESOURCE_EXHAUSTED',
          'the replay cannot catch up with the live events; resume from the last cursor later',
        );
      }
      o.log.warn(
        { round, start_seq: startSeq, oldest: bus.oldest },
        'replay outlasted the live ring; replaying again',
      );
      startSeq = bus.head;
      memory.reset(startSeq);
      delete fallback.conservative;
      replayFrom = { ns: hwNs, id: hwId, inclusive: false };
    }
    phase = 'live';
    seq = startSeq;
    memory.prune();

    for (;;) {
      if (stopped()) return sent;
      const batch: LiveItem[] = [];
      for (let item = sub.next(); item !== undefined; item = batch.length < 1000 ? sub.next() : undefined) {
        batch.push(item);
      }
      if (sub.overflowed) {
        throw new GatewayError(
          'GATEWAY_ERR_RESOURCE_EXHAUSTED',
          `the stream fell more than ${limits.maxQueued} events behind; resume from the last cursor`,
        );
      }
      if (batch.length > 0) {
        const keep: LiveItem[] = [];
        let skippedDuplicate = false;
        for (const item of batch) {
          if ((!memory.empty || fallback.conservative !== undefined) && duplicate(item))
            skippedDuplicate = true;
          else keep.push(item);
        }
        const lastSeq = batch[batch.length - 1]?.seq ?? seq;
        const maxBatch = Math.min(1000, Math.max(1, o.maxBatch ?? 1));
        if (sink.sendBatch !== undefined && maxBatch > 1 && keep.length > 1) {
          for (let i = 0; i < keep.length; i += maxBatch) {
            const chunk = keep.slice(i, i + maxBatch);
            for (const item of chunk) raise(pointTimeNs(item.event), item.event.eventId);
            // The cursor points past the duplicates skipped behind the chunk, up to the next one sent.
            seq = (keep[i + maxBatch]?.seq ?? lastSeq + 1) - 1;
            lastSentMs = now();
            const full = sink.sendBatch(
              chunk.map((item) => item.event),
              cursor(),
            );
            sent += chunk.length;
            if (full !== undefined) await full;
            if (stopped()) return sent;
          }
          keep.length = 0;
        }
        for (const [i, item] of keep.entries()) {
          // The cursor points past the duplicates skipped behind this event, up to the next one sent.
          seq = (keep[i + 1]?.seq ?? lastSeq + 1) - 1;
          raise(pointTimeNs(item.event), item.event.eventId);
          // Inline rather than emit(): no promise per event while the transport has room.
          lastSentMs = now();
          const full = sink.send({ event: item.event, cursor: cursor(), replay: false });
          sent += 1;
          if (full !== undefined) await full;
          if (stopped()) return sent;
        }
        seq = lastSeq;
        memory.passed(seq);
        if (fallback.conservative !== undefined && seq >= fallback.conservative.maxSeq)
          delete fallback.conservative;
        if (keep.length === 0 && skippedDuplicate) await emit(undefined);
        continue;
      }
      // Idle: everything published so far was considered.
      seq = Math.max(seq, sub.seenSeq);
      memory.passed(seq);
      const wait = limits.heartbeatMs - (now() - lastSentMs);
      if (wait <= 0) {
        // A checkpoint even when nothing moved: it also tells the client the stream is alive.
        await emit(undefined);
        continue;
      }
      const ac = new AbortController();
      const onAbort = (): void => {
        ac.abort();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await Promise.race([sub.wait(ac.signal), sleep(wait, ac.signal)]);
      } finally {
        signal.removeEventListener('abort', onAbort);
        ac.abort();
      }
    }
  } finally {
    sub?.close();
    memory.prune(true);
    if (phase === 'live') memory.passed(seq);
    if (memory.exact.size > 0) bus.resumeMemory.put(token, memory.snapshot());
    o.log.debug({ sent, phase }, 'event stream ended');
  }
}
