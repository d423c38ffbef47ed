/**
 * The in-process live event bus. Ingest calls {@link LiveEventBus.publish} for each event after it
 * is persisted (index and evidence); the REST live stream (SSE) and gRPC StreamEvents subscribe.
 *
 * Every published event gets the next sequence number of this process (`seq`, from 1) and is kept,
 * protobuf-encoded, in a ring of the last `ringEvents` events. A stream's cursor names an epoch
 * (random per process) and a seq, so a client that reconnects to the same gateway process within
 * the ring resumes exactly where it left off — whatever the events' own times (edges deliver
 * late and out of order) — and a subscription can start at any seq still in the ring: the ring
 * and the live feed are one sequence, read in one synchronous step, so there is no gap and no
 * duplicate between them.
 *
 * Subscribers never slow ingest down: publish only appends to each subscriber's bounded queue. A
 * subscriber whose queue overflows (a client that reads too slowly) is marked overflowed and told
 * so; it is ended with RESOURCE_EXHAUSTED and resumes from its last cursor.
 */
import { randomBytes } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import type { IndexedEvent } from '../index/types.ts';
import { silentLogger, type Logger } from '../log.ts';

/** One event on the bus. */
export interface LiveItem {
  /** Position on the bus (1, 2, 3, … per process). */
  seq: number;
  /** The event (shared by every subscriber: never mutate it). */
  event: IndexedEvent;
}

/** Options of {@link LiveEventBus}. */
export interface LiveEventBusOptions {
  /** Events kept for resumption (default 100 000, ~40 MB: stored encoded, without evidence bytes). */
  ringEvents?: number;
  logger?: Logger;
  /** Where the bus's metrics are registered. Default: nowhere. */
  registry?: Registry;
}

/** Options of {@link LiveEventBus.subscribe}. */
export interface SubscribeOptions {
  /**
   * Start after this seq: events with a higher seq still in the ring come first. Default: the
   * current head (only events published from now on). Must be ≥ `oldest − 1`, else the
   * subscription cannot be exact: {@link LiveEventBus.subscribe} returns undefined.
   */
  afterSeq?: number;
  /** Only events this accepts are queued (the rest are skipped at publish, cheaply). */
  accept?: (event: IndexedEvent) => boolean;
  /** Most events waiting; one more and the subscription is overflowed. Default 10 000. */
  maxQueued?: number;
}

/**
 * The protobuf encoding of events the bus hands out, so a transport can send the same bytes to
 * every subscriber instead of encoding the event once per subscriber (see grpc/server.ts).
 */
const ENCODED = new WeakMap<IndexedEvent, Uint8Array>();

/** The protobuf encoding of an event the bus handed out (undefined for any other object). */
export function encodedEvent(event: IndexedEvent): Uint8Array | undefined {
  return ENCODED.get(event);
}

/** Ring slot. */
interface Slot {
  seq: number;
  eventId: string;
  revision: number;
  bytes: Uint8Array;
}

/** A subscriber's view of the bus: a queue of events it accepts, backlog from the ring first. */
export class LiveSubscription {
  #queue: LiveItem[] = [];
  #head = 0;
  /** Next backlog seq to read from the ring, and the last one (inclusive). */
  #backlogNext: number;
  readonly #backlogEnd: number;
  #overflowed = false;
  #closed = false;
  #waiter: (() => void) | undefined;
  /** Highest seq this subscription has seen published (queued or skipped by `accept`). */
  #seen: number;

  /** @internal Made by {@link LiveEventBus.subscribe}. */
  constructor(
    private readonly bus: LiveEventBus,
    afterSeq: number,
    private readonly accept: ((event: IndexedEvent) => boolean) | undefined,
    private readonly maxQueued: number,
  ) {
    this.#backlogNext = afterSeq + 1;
    this.#backlogEnd = bus.head;
    this.#seen = bus.head;
  }

  /** @internal Called by the bus for each published event. */
  offer(item: LiveItem): void {
    if (this.#closed || this.#overflowed) return;
    this.#seen = item.seq;
    if (this.accept !== undefined && !this.accept(item.event)) return;
    if (this.#queue.length - this.#head + this.backlogLength >= this.maxQueued) {
      this.#overflowed = true;
      this.bus.noteOverflow();
    } else {
      this.#queue.push(item);
    }
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Backlog events not yet read from the ring. */
  get backlogLength(): number {
    return Math.max(0, this.#backlogEnd - this.#backlogNext + 1);
  }

  /** Events waiting (backlog included, before `accept` is applied to the backlog). */
  get pending(): number {
    return this.#queue.length - this.#head + this.backlogLength;
  }

  /** True once the queue overflowed, or the ring overwrote backlog not yet read: the subscriber fell behind. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** Highest seq published since subscribing, whether queued or skipped (the position when idle). */
  get seenSeq(): number {
    return this.#seen;
  }

  /**
   * The next event, or undefined when none is waiting (or the subscription overflowed: check
   * {@link overflowed}). Backlog from the ring first, then the queue, in seq order.
   */
  next(): LiveItem | undefined {
    if (this.#overflowed || this.#closed) return undefined;
    while (this.#backlogNext <= this.#backlogEnd) {
      const seq = this.#backlogNext++;
      const slot = this.bus.slot(seq);
      if (slot === undefined) {
        // The ring moved past events we had not read yet: we can no longer be exact.
        this.#overflowed = true;
        this.bus.noteOverflow();
        return undefined;
      }
      const event = Event.decode(slot.bytes);
      ENCODED.set(event, slot.bytes);
      if (this.accept === undefined || this.accept(event)) return { seq, event };
    }
    if (this.#head >= this.#queue.length) return undefined;
    const item = this.#queue[this.#head];
    this.#queue[this.#head] = undefined as unknown as LiveItem;
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Resolves when an event is waiting, the subscription overflowed or closed, or `signal` aborts. */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.pending > 0 || this.#overflowed || this.#closed || signal?.aborted === true) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#waiter = undefined;
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
    });
  }

  /** Stop receiving events. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.bus.unsubscribe(this);
    this.#wake();
  }
}

/** The bus. */
export class LiveEventBus {
  /** Random per process: a cursor from another process (or a restart) is not resumable from the ring. */
  readonly epoch: string;
  readonly #ring: (Slot | undefined)[];
  /** Event id → seq of its newest slot in the ring (to drop re-published duplicates). */
  readonly #recent = new Map<string, number>();
  #head = 0;
  readonly #subs = new Set<LiveSubscription>();
  readonly #log: Logger;
  readonly #metrics: ReturnType<typeof createMetrics>;

  constructor(opts: LiveEventBusOptions = {}) {
    const size = opts.ringEvents ?? 100_000;
    if (!Number.isSafeInteger(size) || size < 1)
      throw new RangeError('ringEvents must be a positive integer');
    this.#ring = new Array<Slot | undefined>(size);
    this.epoch = randomBytes(6).toString('base64url');
    this.#log = (opts.logger ?? silentLogger()).child({ module: 'live' });
    this.#metrics = createMetrics(opts.registry, () => this.#subs.size);
  }

  /** The last seq assigned (0 before the first event). */
  get head(): number {
    return this.#head;
  }

  /** The oldest seq still in the ring (head + 1 when the ring is empty). */
  get oldest(): number {
    return Math.max(1, this.#head - this.#ring.length + 1);
  }

  /** Current subscribers. */
  get subscribers(): number {
    return this.#subs.size;
  }

  /** The seq of the newest publication of `eventId` still in the ring, if any. */
  recentSeq(eventId: string): number | undefined {
    return this.#recent.get(eventId);
  }

  /** Memory of streams that ended while deduplicating a replay against the ring (see stream.ts). */
  readonly resumeMemory = new ResumeMemoryStore();

  /** @internal The ring slot of `seq`, or undefined when it is not (or no longer) there. */
  slot(seq: number): Slot | undefined {
    if (seq < 1 || seq > this.#head) return undefined;
    const s = this.#ring[seq % this.#ring.length];
    return s?.seq === seq ? s : undefined;
  }

  /**
   * Announce events that are persisted (index and evidence written). Never throws: a failing
   * subscriber is logged and skipped. Evidence bytes, if still attached, are not kept in the ring.
   * An event whose id was published with the same or a higher revision while it is still in the
   * ring (a broker redelivery that ingest stored again) is dropped as a duplicate. Returns the
   * head seq.
   */
  publish(...events: IndexedEvent[]): number {
    return this.publishAll(events);
  }

  /** {@link publish} for a list (a whole ingest batch, however long). */
  publishAll(events: readonly IndexedEvent[]): number {
    for (const event of events) {
      const prior = this.#recent.get(event.eventId);
      if (prior !== undefined && (this.slot(prior)?.revision ?? -1) >= event.revision) {
        this.#metrics.duplicates.inc();
        continue;
      }
      // Subscribers get the event as the index has it: evidence bytes are fetched on request.
      const stored: IndexedEvent =
        event.evidence !== undefined &&
        (event.evidence.jpeg.length > 0 || event.evidence.contextJpeg.length > 0)
          ? { ...event, evidence: { ...event.evidence, jpeg: Buffer.alloc(0), contextJpeg: Buffer.alloc(0) } }
          : event;
      let bytes: Uint8Array;
      try {
        bytes = Event.encode(stored).finish();
      } catch (err) {
        this.#log.error({ err, event_id: event.eventId }, 'live: an event could not be encoded; skipped');
        continue;
      }
      ENCODED.set(stored, bytes);
      const seq = ++this.#head;
      const at = seq % this.#ring.length;
      const old = this.#ring[at];
      if (old !== undefined && this.#recent.get(old.eventId) === old.seq) this.#recent.delete(old.eventId);
      this.#ring[at] = { seq, eventId: event.eventId, revision: event.revision, bytes };
      this.#recent.set(event.eventId, seq);
      const item: LiveItem = { seq, event: stored };
      for (const sub of this.#subs) {
        try {
          sub.offer(item);
        } catch (err) {
          this.#log.error({ err }, 'live: a subscriber failed');
        }
      }
      this.#metrics.published.inc();
    }
    return this.#head;
  }

  /**
   * Subscribe. Returns undefined when `afterSeq` is older than the ring holds (the caller must
   * replay from the index instead) or newer than the head (a cursor this process never issued).
   */
  subscribe(opts: SubscribeOptions = {}): LiveSubscription | undefined {
    const after = opts.afterSeq ?? this.#head;
    if (!Number.isSafeInteger(after) || after < this.oldest - 1 || after > this.#head) return undefined;
    const sub = new LiveSubscription(this, after, opts.accept, opts.maxQueued ?? 10_000);
    this.#subs.add(sub);
    return sub;
  }

  /** @internal */
  unsubscribe(sub: LiveSubscription): void {
    this.#subs.delete(sub);
  }

  /** @internal */
  noteOverflow(): void {
    this.#metrics.overflows.inc();
  }
}

function createMetrics(registry: Registry | undefined, subscribers: () => number) {
  const registers = registry === undefined ? [] : [registry];
  return {
    published: new Counter({
      name: 'sharpeyes_gateway_live_published_total',
      help: 'Events published on the live bus (after persistence).',
      registers,
    }),
    duplicates: new Counter({
      name: 'sharpeyes_gateway_live_duplicates_total',
      help: 'Events published again with a revision already published (not sent again).',
      registers,
    }),
    overflows: new Counter({
      name: 'sharpeyes_gateway_live_overflows_total',
      help: 'Live subscriptions ended because the client read too slowly.',
      registers,
    }),
    subscribers: new Gauge({
      name: 'sharpeyes_gateway_live_subscribers',
      help: 'Live subscriptions open now.',
      registers,
      collect() {
        this.set(subscribers());
      },
    }),
  };
}

/** What a stream that replayed from the index must remember to resume without duplicates. */
export interface ResumeMemory {
  /** Event id → revision and bus seq of events the replay sent that are also in the ring. */
  readonly sent: ReadonlyMap<string, { revision: number; seq: number }>;
}

/**
 * Resume memories of ended streams, by session token, for `ttlMs` (default 10 min) and at most
 * `max` (default 1000, oldest dropped first).
 */
export class ResumeMemoryStore {
  readonly #map = new Map<string, { memory: ResumeMemory; untilMs: number }>();

  constructor(
    private readonly ttlMs = 600_000,
    private readonly max = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keep `memory` under `token`. */
  put(token: string, memory: ResumeMemory): void {
    this.#prune();
    this.#map.delete(token);
    this.#map.set(token, { memory, untilMs: this.now() + this.ttlMs });
    while (this.#map.size > this.max) {
      const oldest = this.#map.keys().next();
      if (oldest.done === true) break;
      this.#map.delete(oldest.value);
    }
  }

  /** Take (and forget) the memory under `token`. */
  take(token: string): ResumeMemory | undefined {
    this.#prune();
    const m = this.#map.get(token);
    this.#map.delete(token);
    return m?.memory;
  }

  /** Memories kept now. */
  get size(): number {
    return this.#map.size;
  }

  #prune(): void {
    const now = this.now();
    for (const [k, v] of this.#map) if (v.untilMs <= now) this.#map.delete(k);
  }
}
