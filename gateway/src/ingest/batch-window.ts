/**
 * Batches across messages with a bounded window of batches in flight, and hands items back in
 * admission order once their batch is stored (so acknowledgements go out in the order messages
 * arrived, as MQTT 3.1.1 §4.6 asks).
 *
 * - A batch starts when it holds `maxEvents` events or `maxBytes` bytes, or its first item is
 *   `maxDelayMs` old.
 * - At most `maxInFlight` batches are being stored at once. When they all are and the pending
 *   batch is full, `admit` waits: the caller (the MQTT pump) stops reading, which is the
 *   back-pressure. Memory is therefore bounded by about (maxInFlight + 1) × (maxBytes + one
 *   message).
 * - `persist` is expected to retry transient failures itself and to reject only when told to
 *   stop (its signal aborted); a rejected batch's items are dropped unacknowledged, so the broker
 *   delivers them again.
 */
import { GatewayError } from '../errors.ts';

/** How long `close` waits for store calls still running after it aborted them. */
const ABORT_GRACE_MS = 1000;

/** What the window needs to know of an item. */
export interface WindowItem {
  /** Events it carries (0 is fine). */
  readonly events: number;
  /** Bytes it holds in memory. */
  readonly bytes: number;
}

/** Options of {@link BatchWindow}. */
export interface BatchWindowOptions<T extends WindowItem> {
  maxEvents: number;
  maxBytes: number;
  maxDelayMs: number;
  maxInFlight: number;
  /**
   * Most items held (pending + in flight). MQTT packet ids are 16-bit: far fewer than 65,535
   * unacknowledged messages must be outstanding, or a broker could reuse an id still held here.
   * Default 50,000.
   */
  maxItems?: number;
  /** Store one batch durably. */
  persist(items: readonly T[], signal: AbortSignal): Promise<void>;
  /** An item's batch is stored, and so is every earlier item's. */
  settled(item: T): void;
  /** A batch was not stored (persist rejected): its items are dropped unacknowledged. */
  dropped?(items: readonly T[], err: unknown): void;
}

interface Batch<T> {
  readonly items: T[];
  readonly events: number;
  state: 'running' | 'stored' | 'dropped';
  readonly finished: Promise<void>;
}

/** Counts of what is held. */
export interface WindowStats {
  pendingItems: number;
  pendingEvents: number;
  inFlightBatches: number;
  inFlightItems: number;
  inFlightEvents: number;
  heldBytes: number;
}

/** The window. */
export class BatchWindow<T extends WindowItem> {
  readonly #o: BatchWindowOptions<T>;
  #pending: T[] = [];
  #pendingEvents = 0;
  #pendingBytes = 0;
  #pendingSinceMs = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight: Batch<T>[] = [];
  #inFlightBytes = 0;
  #waiters: (() => void)[] = [];
  #closed = false;
  readonly #abort = new AbortController();
  readonly #maxItems: number;

  constructor(opts: BatchWindowOptions<T>) {
    if (opts.maxInFlight < 1 || opts.maxEvents < 1 || opts.maxBytes < 1)
      throw new RangeError('window limits must be ≥ 1');
    this.#o = opts;
    this.#maxItems = opts.maxItems ?? 50_000;
  }

  /** What is held now. */
  stats(): WindowStats {
    let items = 0;
    let events = 0;
    for (const b of this.#inFlight) {
      items += b.items.length;
      events += b.events;
    }
    return {
      pendingItems: this.#pending.length,
      pendingEvents: this.#pendingEvents,
      inFlightBatches: this.#inFlight.length,
      inFlightItems: items,
      inFlightEvents: events,
      heldBytes: this.#pendingBytes + this.#inFlightBytes,
    };
  }

  /** The earliest admitted item not yet settled or dropped. */
  oldest(): T | undefined {
    return this.#inFlight[0]?.items[0] ?? this.#pending[0];
  }

  /**
   * Take `item` into the pending batch, first waiting for room when the window is full.
   * Rejects (GATEWAY_ERR_INGEST_STOPPED) once the window is closing.
   */
  async admit(item: T): Promise<void> {
    while (
      !this.#closed &&
      ((this.#full() && this.#inFlight.length >= this.#o.maxInFlight) || this.#held() >= this.#maxItems)
    ) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (this.#closed) throw new GatewayError('GATEWAY_ERR_INGEST_STOPPED', 'the ingest window is closing');
    if (this.#full()) this.#launch();
    if (this.#pending.length === 0) {
      this.#pendingSinceMs = Date.now();
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#maybeLaunch();
      }, this.#o.maxDelayMs);
    }
    this.#pending.push(item);
    this.#pendingEvents += item.events;
    this.#pendingBytes += item.bytes;
    if (this.#full()) this.#maybeLaunch();
  }

  /**
   * Stop admitting; store what is pending and wait for the batches in flight, at most
   * `timeoutMs`, then abort what is left (it stays unacknowledged).
   */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    this.#wake();
    if (this.#pending.length > 0) this.#launch();
    const all = Promise.all(this.#inFlight.map((b) => b.finished));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([all, timedOut]);
    clearTimeout(timer);
    // Retry loops end at once; a store call already running cannot be cancelled, and is not
    // waited for beyond a short grace: its messages stay unacknowledged, so they come again.
    this.#abort.abort(new GatewayError('GATEWAY_ERR_INGEST_STOPPED'));
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ABORT_GRACE_MS);
    });
    await Promise.race([all, grace]);
    clearTimeout(timer);
  }

  #held(): number {
    let n = this.#pending.length;
    for (const b of this.#inFlight) n += b.items.length;
    return n;
  }

  #full(): boolean {
    return this.#pendingEvents >= this.#o.maxEvents || this.#pendingBytes >= this.#o.maxBytes;
  }

  #due(): boolean {
    return (
      this.#pending.length > 0 && (this.#full() || Date.now() - this.#pendingSinceMs >= this.#o.maxDelayMs)
    );
  }

  #maybeLaunch(): void {
    if (this.#due() && this.#inFlight.length < this.#o.maxInFlight) this.#launch();
  }

  #launch(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const items = this.#pending;
    const bytes = this.#pendingBytes;
    const events = this.#pendingEvents;
    this.#pending = [];
    this.#pendingEvents = 0;
    this.#pendingBytes = 0;
    this.#inFlightBytes += bytes;
    let persisted: Promise<void>;
    try {
      persisted = this.#o.persist(items, this.#abort.signal);
    } catch (err) {
      persisted = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const batch: Batch<T> = {
      items,
      events,
      state: 'running',
      finished: persisted
        .then(
          () => {
            batch.state = 'stored';
          },
          (err: unknown) => {
            batch.state = 'dropped';
            this.#o.dropped?.(items, err);
          },
        )
        .then(() => {
          this.#inFlightBytes -= bytes;
          this.#advance();
        }),
    };
    this.#inFlight.push(batch);
  }

  /** Settle finished batches at the head, in order; start the next batch; wake admissions. */
  #advance(): void {
    while (this.#inFlight.length > 0 && (this.#inFlight[0] as Batch<T>).state !== 'running') {
      const head = this.#inFlight.shift() as Batch<T>;
      if (head.state === 'stored') for (const item of head.items) this.#o.settled(item);
    }
    if (!this.#closed) this.#maybeLaunch();
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
