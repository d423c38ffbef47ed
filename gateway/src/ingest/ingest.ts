/**
 * Gateway ingest: MQTT → validate → evidence store → event index → PUBACK.
 *
 * - Events topics (QoS1, persistent session): each message is decoded and validated
 *   (validate.ts); a message or event that fails is rejected, counted by reason, the first one
 *   logged with its topic (then at most one line per 10 s), and acknowledged so it is not
 *   redelivered forever. Valid events join a batch (batch-window.ts); a batch stores its
 *   evidence (deduplicated by sha256; with a batch evidence store in one `putMany` call
 *   and one durability barrier, else `put` by `put` with bounded concurrency), then writes its
 *   events to the index, and only then are its messages acknowledged, in arrival order.
 * - Transient store failures (InfluxDB down or slow, a full disk) are retried with capped
 *   exponential backoff and jitter, for as long as it takes. Meanwhile the window fills and the
 *   MQTT pump stops reading: the broker queues (on disk) instead of the gateway buffering.
 * - Permanent refusals (influxd answers 4xx, an event the index cannot represent) are narrowed
 *   to the message that causes them, which is rejected and acknowledged; the rest is stored.
 * - Status topics (agent, camera status, discovered) update the in-memory {@link SiteState} and
 *   are acknowledged at once.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { filter, parseTopic } from '../../../proto/topics.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { isBatchEvidenceStore } from '../evidence/dir-store.ts';
import type { EventIndex, EvidenceStore, IndexedEvent } from '../index/types.ts';
import { LogRateLimiter, type Logger } from '../log.ts';
import { BatchWindow, type WindowItem, type WindowStats } from './batch-window.ts';
import { MqttSubscriber, type InboundMessage } from './mqtt-subscriber.ts';
import { SiteState } from './site-state.ts';
import {
  DEFAULT_LIMITS,
  validateEventsPayload,
  type EvidenceBlob,
  type ValidationLimits,
} from './validate.ts';

/** Where and how ingest connects. */
export interface IngestMqttOptions {
  url: string;
  clientId: string;
  username: string;
  password: string;
  /** PEM CA for mqtts. */
  ca?: Buffer;
  keepaliveS: number;
  reconnectPeriodMs: number;
  connectTimeoutMs: number;
  /** 5 for MQTT 5 (shared subscriptions, scale-out); default 4. See MqttSubscriberOptions. */
  protocolVersion?: 4 | 5;
  /** MQTT 5 session expiry, s. See MqttSubscriberOptions. */
  sessionExpiryS?: number;
}

/** Batching and back-off. */
export interface IngestTuning {
  /** A batch is written when it holds this many events… */
  batchMaxEvents: number;
  /** …or this many bytes of evidence… */
  batchMaxBytes: number;
  /** …or its first message is this old, ms. */
  batchMaxDelayMs: number;
  /** Batches being stored at once; when all are busy and the next is full, reading stops. */
  maxInFlightBatches: number;
  /** Evidence files written at once within a batch. */
  evidenceConcurrency: number;
  /** First retry delay after a transient store failure, ms (doubles, with jitter)… */
  retryInitialMs: number;
  /** …up to this. */
  retryMaxMs: number;
  /** On stop, how long to wait for batches in flight before abandoning them (they stay unacked). */
  stopTimeoutMs: number;
  /** A message held unacknowledged this long is a stall, warned about once (checked every ≤ 10 s). */
  stallWarnMs: number;
}

/** Defaults of {@link IngestTuning}. */
export const DEFAULT_TUNING: IngestTuning = {
  batchMaxEvents: 5000,
  batchMaxBytes: 16 * 1024 * 1024,
  batchMaxDelayMs: 50,
  maxInFlightBatches: 4,
  evidenceConcurrency: 32,
  retryInitialMs: 200,
  retryMaxMs: 10_000,
  stopTimeoutMs: 10_000,
  stallWarnMs: 60_000,
};

/** Options of {@link Ingest}. */
export interface IngestOptions {
  mqtt: IngestMqttOptions;
  index: EventIndex;
  evidence: EvidenceStore;
  /** Where status topics go; default: a new store. */
  siteState?: SiteState;
  /**
   * What to subscribe. Default: every site's events and status topics (role all). An ingest
   * worker (scale-out) gives its shared subscription to the events alone.
   */
  subscriptions?: readonly { filter: string; qos: 0 | 1 }[];
  tuning?: Partial<IngestTuning>;
  limits?: Partial<ValidationLimits>;
  /**
   * Extra per-event check, e.g. the index's own `indexProblem`: an event it objects to is
   * rejected alone instead of failing its whole batch at the index.
   */
  eventProblem?: (event: IndexedEvent) => string | undefined;
  /**
   * Called with each message's events once they are durably stored (evidence and index), before
   * the message is acknowledged: the live stream, alert matching, ingest statistics. Must not
   * block; an exception is logged and does not affect the acknowledgement.
   */
  onStored?: (events: readonly IndexedEvent[], receivedMs: number) => void;
  registry?: Registry;
  logger: Logger;
}

/** A message admitted to the window. */
interface Item extends WindowItem {
  readonly message: InboundMessage;
  readonly topic: string;
  readonly list: IndexedEvent[];
  readonly evidence: EvidenceBlob[];
  readonly receivedMs: number;
  /** Set when a store refused it permanently: acknowledged as rejected. */
  refused?: string;
}

/** Rough in-memory size of a decoded event without evidence, for batch accounting. */
const EVENT_OVERHEAD_BYTES = 512;

function createMetrics(registry: Registry | undefined) {
  const registers = registry === undefined ? [] : [registry];
  return {
    messages: new Counter({
      name: 'sharpeyes_gateway_ingest_messages_total',
      help: 'MQTT messages received, by topic kind.',
      labelNames: ['kind'],
      registers,
    }),
    eventsReceived: new Counter({
      name: 'sharpeyes_gateway_ingest_events_received_total',
      help: 'Events received in decodable event messages.',
      registers,
    }),
    rejectedMessages: new Counter({
      name: 'sharpeyes_gateway_ingest_rejected_messages_total',
      help: 'Messages rejected whole (acknowledged, not stored), by reason.',
      labelNames: ['reason'],
      registers,
    }),
    rejectedEvents: new Counter({
      name: 'sharpeyes_gateway_ingest_rejected_events_total',
      help: 'Events rejected (acknowledged, not stored), by reason.',
      labelNames: ['reason'],
      registers,
    }),
    written: new Counter({
      name: 'sharpeyes_gateway_ingest_events_written_total',
      help: 'Events stored (evidence and index) and acknowledged.',
      registers,
    }),
    writeSeconds: new Histogram({
      name: 'sharpeyes_gateway_ingest_write_seconds',
      help: 'Time to store one batch, by stage (evidence, index), retries included.',
      labelNames: ['stage'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    retries: new Counter({
      name: 'sharpeyes_gateway_ingest_store_retries_total',
      help: 'Transient store failures retried, by stage.',
      labelNames: ['stage'],
      registers,
    }),
    storeUp: new Gauge({
      name: 'sharpeyes_gateway_ingest_store_up',
      help: '1 when the last store attempt of the stage succeeded, 0 while it is failing.',
      labelNames: ['stage'],
      registers,
    }),
    statusRejected: new Counter({
      name: 'sharpeyes_gateway_ingest_status_rejected_total',
      help: 'Status messages (agent, camera, discovered) rejected, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    connected: new Gauge({
      name: 'sharpeyes_gateway_ingest_connected',
      help: '1 while the ingest client is connected to the broker.',
      registers,
    }),
  };
}

/** The counters of an ingest, for tests and the bench. */
export interface IngestCounts {
  messages: number;
  eventsReceived: number;
  eventsWritten: number;
  rejectedMessages: number;
  rejectedEvents: number;
}

/** The ingest service. */
export class Ingest {
  readonly siteState: SiteState;
  readonly #o: IngestOptions;
  readonly #t: IngestTuning;
  readonly #limits: ValidationLimits;
  readonly #log: Logger;
  readonly #m: ReturnType<typeof createMetrics>;
  readonly #window: BatchWindow<Item>;
  readonly #subscriber: MqttSubscriber;
  readonly #rejectLog = new LogRateLimiter(10_000);
  readonly #retryLog = { index: new LogRateLimiter(30_000), evidence: new LogRateLimiter(30_000) };
  readonly #counts: IngestCounts = {
    messages: 0,
    eventsReceived: 0,
    eventsWritten: 0,
    rejectedMessages: 0,
    rejectedEvents: 0,
  };
  #stopping: Promise<void> | undefined;
  readonly #up = { index: true, evidence: true };
  /** Batches being stored: the stage each is in, since when (for the stall warning). */
  readonly #storing = new Map<object, { stage: 'evidence' | 'index'; sinceMs: number; events: number }>();
  #stallTimer: NodeJS.Timeout | undefined;
  #stalled = false;

  constructor(opts: IngestOptions) {
    this.#o = opts;
    this.#t = { ...DEFAULT_TUNING, ...opts.tuning };
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#log = opts.logger.child({ module: 'ingest' });
    this.#m = createMetrics(opts.registry);
    this.siteState = opts.siteState ?? new SiteState();
    this.#m.storeUp.set({ stage: 'index' }, 1);
    this.#m.storeUp.set({ stage: 'evidence' }, 1);
    this.#window = new BatchWindow<Item>({
      maxEvents: this.#t.batchMaxEvents,
      maxBytes: this.#t.batchMaxBytes,
      maxDelayMs: this.#t.batchMaxDelayMs,
      maxInFlight: this.#t.maxInFlightBatches,
      persist: (items, signal) => this.#persist(items, signal),
      settled: (item) => {
        this.#settle(item);
      },
      dropped: (items, err) => {
        this.#log.info(
          { messages: items.length, err },
          'batch abandoned unacknowledged; the broker will redeliver it',
        );
      },
    });
    const registers = opts.registry === undefined ? [] : [opts.registry];
    const window = this.#window;
    new Gauge({
      name: 'sharpeyes_gateway_ingest_inflight_messages',
      help: 'Event messages admitted and not yet acknowledged.',
      registers,
      collect() {
        const s = window.stats();
        this.set(s.pendingItems + s.inFlightItems);
      },
    });
    new Gauge({
      name: 'sharpeyes_gateway_ingest_inflight_batches',
      help: 'Batches being stored.',
      registers,
      collect() {
        this.set(window.stats().inFlightBatches);
      },
    });
    new Gauge({
      name: 'sharpeyes_gateway_ingest_held_bytes',
      help: 'Evidence bytes held in memory until stored.',
      registers,
      collect() {
        this.set(window.stats().heldBytes);
      },
    });
    new Gauge({
      name: 'sharpeyes_gateway_ingest_lag_seconds',
      help: 'Age of the oldest event message admitted and not yet acknowledged (0 when none).',
      registers,
      collect() {
        const oldest = window.oldest();
        this.set(oldest === undefined ? 0 : Math.max(0, Date.now() - oldest.receivedMs) / 1000);
      },
    });

    this.#subscriber = new MqttSubscriber({
      ...opts.mqtt,
      subscriptions: opts.subscriptions ?? [
        { filter: filter.events, qos: 1 },
        { filter: filter.agent, qos: 1 },
        { filter: filter.cameraStatus, qos: 1 },
        { filter: filter.discovered, qos: 1 },
      ],
      onMessage: (message) => this.#onMessage(message),
      onConnection: (up) => {
        this.#m.connected.set(up ? 1 : 0);
      },
      logger: opts.logger,
    });
  }

  /** Connect and subscribe (see {@link MqttSubscriber.start}). */
  async start(timeoutMs?: number): Promise<void> {
    await this.#subscriber.start(timeoutMs);
    this.#stallTimer = setInterval(
      () => {
        this.#checkStall();
      },
      Math.min(10_000, this.#t.stallWarnMs / 2),
    );
    this.#stallTimer.unref();
    this.#log.info({ url: this.#o.mqtt.url, client_id: this.#o.mqtt.clientId }, 'ingest running');
  }

  /**
   * Warn once when the oldest unacknowledged message has been held past `stallWarnMs` (the broker
   * then stops delivering: its in-flight window is full), saying where it is held; info when it
   * clears. Stores being retried warn on their own; this catches a store call that never returns.
   */
  #checkStall(): void {
    const oldest = this.#window.oldest();
    const ageMs = oldest === undefined ? 0 : Date.now() - oldest.receivedMs;
    if (ageMs < this.#t.stallWarnMs) {
      if (this.#stalled) this.#log.info('ingest moving again');
      this.#stalled = false;
      return;
    }
    if (this.#stalled) return;
    this.#stalled = true;
    const now = Date.now();
    this.#log.warn(
      {
        oldest_held_s: Math.round(ageMs / 1000),
        window: this.#window.stats(),
        storing: [...this.#storing.values()].map((b) => ({
          stage: b.stage,
          for_s: Math.round((now - b.sinceMs) / 1000),
          events: b.events,
        })),
        stores_up: this.storesUp(),
        connected: this.connected,
      },
      'ingest stalled: a message has been held unacknowledged too long',
    );
  }

  /** Stop reading, store and acknowledge what is in flight (bounded wait), disconnect. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#stallTimer);
      await this.#window.close(this.#t.stopTimeoutMs);
      await this.#subscriber.stop();
      this.#log.info(this.counts(), 'ingest stopped');
    })();
    return this.#stopping;
  }

  /** Counters since start. */
  counts(): IngestCounts {
    return { ...this.#counts };
  }

  /** What the window holds. */
  windowStats(): WindowStats {
    return this.#window.stats();
  }

  /** Whether the last attempt of each store succeeded (false while it is being retried). */
  storesUp(): { index: boolean; evidence: boolean } {
    return { ...this.#up };
  }

  /** Whether the MQTT client is connected. */
  get connected(): boolean {
    return this.#subscriber.connected;
  }

  /**
   * Publish QoS1 on ingest's own connection, ahead of any acknowledgement sent later (see
   * MqttSubscriber.publish): an ingest worker announces what it stored from `onStored`.
   */
  publish(topicName: string, payload: Buffer): Promise<void> {
    return this.#subscriber.publish(topicName, payload);
  }

  #onMessage(message: InboundMessage): Promise<void> | undefined {
    this.#counts.messages += 1;
    const parsed = parseTopic(message.topic);
    this.#m.messages.inc({ kind: parsed?.kind ?? 'unknown' });
    if (parsed === undefined || parsed.kind === 'config') {
      this.#rejectMessage(message, 'bad_topic', 'not a topic ingest reads');
      return undefined;
    }
    if (parsed.kind !== 'events') {
      const reason = this.siteState.apply(parsed, message.payload);
      if (reason !== undefined) {
        this.#m.statusRejected.inc({ reason });
        this.#logReject(message.topic, reason, 'status payload rejected');
      }
      message.ack();
      return undefined;
    }
    const v = validateEventsPayload(message.topic, message.payload, this.#limits);
    if (!v.ok) {
      this.#rejectMessage(message, v.reason, v.detail);
      return undefined;
    }
    this.#counts.eventsReceived += v.events.length + v.rejected.length;
    this.#m.eventsReceived.inc(v.events.length + v.rejected.length);
    const events: IndexedEvent[] = [];
    for (const e of v.events) {
      const problem = this.#o.eventProblem?.(e);
      if (problem === undefined) events.push(e);
      else v.rejected.push({ reason: 'bad_value', eventId: e.eventId, detail: problem });
    }
    for (const r of v.rejected) {
      this.#m.rejectedEvents.inc({ reason: r.reason });
      this.#counts.rejectedEvents += 1;
      this.#logReject(message.topic, r.reason, r.detail, r.eventId);
    }
    if (events.length === 0) {
      message.ack();
      return undefined;
    }
    const evidenceIds = new Set<string>();
    for (const e of events) {
      if (e.evidence?.sha256) evidenceIds.add(e.evidence.sha256);
      if (e.evidence?.contextSha256) evidenceIds.add(e.evidence.contextSha256);
    }
    const item: Item = {
      message,
      topic: message.topic,
      list: events,
      // Only the evidence of events that passed every check is stored.
      evidence: v.evidence.filter((b) => evidenceIds.has(b.sha256)),
      receivedMs: Date.now(),
      events: events.length,
      bytes: v.bytes + events.length * EVENT_OVERHEAD_BYTES,
    };
    return this.#window.admit(item);
  }

  #rejectMessage(message: InboundMessage, reason: string, detail: string): void {
    this.#counts.rejectedMessages += 1;
    this.#m.rejectedMessages.inc({ reason });
    this.#logReject(message.topic, reason, detail);
    message.ack();
  }

  #logReject(topic: string, reason: string, detail: string, eventId?: string): void {
    const gate = this.#rejectLog.take();
    if (!gate.pass) return;
    this.#log.warn(
      { topic, reason, detail, event_id: eventId, suppressed_since_last: gate.suppressed },
      'payload rejected',
    );
  }

  #settle(item: Item): void {
    if (item.refused !== undefined) {
      this.#counts.rejectedEvents += item.list.length;
      this.#m.rejectedEvents.inc({ reason: item.refused }, item.list.length);
    } else {
      this.#counts.eventsWritten += item.list.length;
      this.#m.written.inc(item.list.length);
      try {
        this.#o.onStored?.(item.list, item.receivedMs);
      } catch (err) {
        this.#log.error({ err, topic: item.topic }, 'a stored-events listener failed');
      }
    }
    item.message.ack();
  }

  async #persist(items: readonly Item[], signal: AbortSignal): Promise<void> {
    const token = {};
    const events = items.reduce((n, i) => n + i.events, 0);
    try {
      this.#storing.set(token, { stage: 'evidence', sinceMs: Date.now(), events });
      await this.#storeEvidence(items, signal);
      this.#storing.set(token, { stage: 'index', sinceMs: Date.now(), events });
      await this.#writeIndex(
        items.filter((i) => i.refused === undefined),
        signal,
      );
    } finally {
      this.#storing.delete(token);
    }
  }

  async #storeEvidence(items: readonly Item[], signal: AbortSignal): Promise<void> {
    const blobs = new Map<string, { blob: EvidenceBlob; owners: Item[] }>();
    for (const item of items) {
      for (const blob of item.evidence) {
        const entry = blobs.get(blob.sha256);
        if (entry === undefined) blobs.set(blob.sha256, { blob, owners: [item] });
        else entry.owners.push(item);
      }
    }
    if (blobs.size === 0) return;
    const queue = [...blobs.values()];
    const end = this.#m.writeSeconds.startTimer({ stage: 'evidence' });
    const store = this.#o.evidence;
    if (isBatchEvidenceStore(store)) {
      // One call and one durability barrier for the whole batch; validation hashed every blob.
      const puts = queue.map(({ blob }) => ({ bytes: blob.bytes, sha256: blob.sha256 }));
      const result = await this.#retry(
        'evidence',
        () => store.putMany(puts, { hashesVerified: true }),
        signal,
      );
      for (const { index, error } of result.refused) {
        for (const owner of queue[index]?.owners ?? []) this.#refuse(owner, 'evidence_refused', error);
      }
      end();
      return;
    }
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const { blob, owners } = next;
        try {
          await this.#retry('evidence', () => this.#o.evidence.put(blob.bytes, blob.sha256), signal);
        } catch (err) {
          if (!isPermanent(err)) throw err;
          for (const owner of owners) this.#refuse(owner, 'evidence_refused', err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#t.evidenceConcurrency, queue.length) }, worker));
    end();
  }

  async #writeIndex(items: readonly Item[], signal: AbortSignal): Promise<void> {
    if (items.length === 0) return;
    const end = this.#m.writeSeconds.startTimer({ stage: 'index' });
    try {
      await this.#retry('index', () => this.#o.index.write(items.flatMap((i) => i.list)), signal);
    } catch (err) {
      if (!isPermanent(err)) throw err;
      // Narrow the refusal down to the messages that cause it; store the others.
      if (items.length === 1) this.#refuse(items[0] as Item, 'index_refused', err);
      else {
        const half = Math.ceil(items.length / 2);
        await this.#writeIndex(items.slice(0, half), signal);
        await this.#writeIndex(items.slice(half), signal);
      }
    } finally {
      end();
    }
  }

  #refuse(item: Item, reason: string, err: unknown): void {
    if (item.refused !== undefined) return;
    item.refused = reason;
    this.#log.error(
      { topic: item.topic, reason, events: item.list.length, err },
      'store refused a message permanently; it is acknowledged and not stored',
    );
  }

  /** Run `fn` until it succeeds, a permanent error, or `signal` aborts; back off between tries. */
  async #retry<T>(stage: 'index' | 'evidence', fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    let delay = this.#t.retryInitialMs;
    let failures = 0;
    for (;;) {
      if (signal.aborted) throw new GatewayError('GATEWAY_ERR_INGEST_STOPPED', `${stage} write abandoned`);
      try {
        const result = await fn();
        if (failures > 0) this.#log.info({ stage, failures }, 'store recovered');
        this.#m.storeUp.set({ stage }, 1);
        this.#up[stage] = true;
        return result;
      } catch (err) {
        if (isPermanent(err)) throw err;
        failures += 1;
        this.#m.retries.inc({ stage });
        this.#m.storeUp.set({ stage }, 0);
        this.#up[stage] = false;
        const gate = this.#retryLog[stage].take();
        if (gate.pass) this.#log.warn({ stage, err, retry_in_ms: delay, failures }, 'store failed; retrying');
        await sleep(delay * (0.5 + Math.random() / 2), signal);
        delay = Math.min(delay * 2, this.#t.retryMaxMs);
      }
    }
  }
}

/** Refusals that retrying cannot fix: the data itself is not acceptable to the store. */
function isPermanent(err: unknown): boolean {
  return isGatewayError(
    err,
    'GATEWAY_ERR_INDEX_WRITE',
    'GATEWAY_ERR_INGEST_INVALID',
    'GATEWAY_ERR_EVIDENCE_HASH',
    'GATEWAY_ERR_EVIDENCE_ID',
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
