/**
 * Pumps the spool into the events topic over the current MQTT connection: oldest first, a
 * bounded number of messages in flight, records acknowledged in the spool on the broker's PUBACK.
 *
 * At most `inflightMax` messages and `inflightMaxBytes` event bytes are unacknowledged at a time.
 * A message carries one event, unless more events wait than the in-flight window has room for
 * (after a reconnect, or when events come faster than the broker acknowledges them): then it
 * carries a batch of up to `batchMaxEvents` events and `batchMaxBytes` bytes. So live traffic
 * goes one event per message, and a backlog replays in batches.
 *
 * After a reconnect (`attach`), everything handed out but not acknowledged is sent again, in
 * order: the gateway is idempotent by event id and revision, so a few duplicates are harmless.
 */
import { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { encodePayload, topic } from '../../../proto/topics.ts';
import type { Logger } from '../log.ts';
import type { Spool, SpoolBatch } from '../spool/index.ts';
import type { MqttConnection } from './mqtt-adapter.ts';

/** Delay before trying again after the spool could not be read. */
const RETRY_MS = 1000;

/** Options of {@link SpoolSender}. */
export interface SenderOptions {
  spool: Spool;
  siteId: string;
  /** Messages published and not yet acknowledged, at most. */
  inflightMax: number;
  /** Event bytes published and not yet acknowledged, at most (one message always may go). */
  inflightMaxBytes: number;
  /** Events per message when backlogged, at most. */
  batchMaxEvents: number;
  /** Event bytes per message when backlogged, at most (a single larger event goes alone). */
  batchMaxBytes: number;
  logger: Logger;
  /** Called when the broker acknowledged a message of `events` events. */
  onAcked?: (events: number) => void;
}

/** Figures of the sender. */
export interface SenderStats {
  inflight: number;
  inflightBytes: number;
  messagesSent: number;
  eventsSent: number;
  batchesSent: number;
}

/** Sends spooled events while a connection is attached. */
export class SpoolSender {
  private conn: MqttConnection | undefined;
  private generation = 0;
  private inflight = 0;
  private inflightBytes = 0;
  private pumping = false;
  private wanted = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private needRewind = false;
  private stopped = false;
  private readonly topic: string;
  private readonly log: Logger;
  private readonly offAppend: () => void;
  private readonly counts = { messagesSent: 0, eventsSent: 0, batchesSent: 0 };
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly opts: SenderOptions) {
    this.topic = topic.events(opts.siteId);
    this.log = opts.logger.child({ module: 'sender' });
    this.offAppend = opts.spool.onAppend(() => {
      this.kick();
    });
  }

  /** Start sending on a new connection: unacknowledged records are replayed first. */
  attach(conn: MqttConnection): void {
    this.generation += 1;
    this.conn = conn;
    this.inflight = 0;
    this.inflightBytes = 0;
    this.needRewind = true;
    this.kick();
  }

  /** The connection is gone: stop sending (what was in flight is replayed on the next attach). */
  detach(): void {
    this.generation += 1;
    this.conn = undefined;
    this.inflight = 0;
    this.inflightBytes = 0;
    this.notifyDrained();
  }

  /** Stop for good: no more takes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.offAppend();
  }

  /** Wait until nothing is in flight (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inflight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.drainWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  stats(): SenderStats {
    return { inflight: this.inflight, inflightBytes: this.inflightBytes, ...this.counts };
  }

  private notifyDrained(): void {
    if (this.inflight > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private kick(): void {
    // `wanted` closes the gap between the loop deciding to stop and `pumping` going false.
    this.wanted = true;
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    void (async () => {
      try {
        while (this.wanted && !this.stopped) {
          this.wanted = false;
          await this.pump();
        }
      } catch (err) {
        // A read error of the spool: the records stay unsent; try again in a moment.
        this.log.warn({ err }, 'sending from the spool failed; retrying');
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, RETRY_MS);
        this.retryTimer.unref();
      } finally {
        this.pumping = false;
      }
    })();
  }

  /** The one loop that takes from the spool (so a rewind never races a take). */
  private async pump(): Promise<void> {
    const { spool, inflightMax } = this.opts;
    for (;;) {
      if (this.stopped) return;
      if (this.needRewind) {
        spool.rewind();
        this.needRewind = false;
      }
      const conn = this.conn;
      if (conn === undefined || !conn.isOpen()) return;
      const free = inflightMax - this.inflight;
      const freeBytes = this.opts.inflightMaxBytes - this.inflightBytes;
      if (free <= 0 || (freeBytes <= 0 && this.inflight > 0) || spool.unsent() === 0) return;
      const backlogged = spool.unsent() > free;
      const gen = this.generation;
      const batch = backlogged
        ? await spool.take(
            this.opts.batchMaxEvents,
            Math.min(this.opts.batchMaxBytes, Math.max(1, freeBytes)),
          )
        : await spool.take(1, Number.POSITIVE_INFINITY);
      if (batch === undefined) return;
      // A reconnect while reading: the records are replayed after the rewind the attach asked for.
      if (gen !== this.generation) continue;
      this.send(conn, gen, batch);
    }
  }

  private send(conn: MqttConnection, gen: number, batch: SpoolBatch): void {
    const events: Event[] = [];
    const seqs: number[] = [];
    const bad: number[] = [];
    batch.payloads.forEach((payload, i) => {
      const seq = batch.seqs[i];
      if (seq === undefined) return;
      try {
        events.push(Event.decode(payload));
        seqs.push(seq);
      } catch (err) {
        this.log.error({ err, seq }, 'spooled event does not decode');
        bad.push(seq);
      }
    });
    if (bad.length > 0) this.opts.spool.discard(bad, 'does not decode as an Event');
    if (events.length === 0) return;
    const payload = encodePayload('events', { events });
    const bytes = batch.bytes;
    this.inflight += 1;
    this.inflightBytes += bytes;
    this.counts.messagesSent += 1;
    this.counts.eventsSent += events.length;
    if (events.length > 1) this.counts.batchesSent += 1;
    conn.publish(this.topic, payload, { qos: 1, retain: false }).then(
      () => {
        // The broker has these events, whichever connection carried them.
        this.opts.spool.ack(seqs);
        this.opts.onAcked?.(events.length);
        if (gen === this.generation) {
          this.inflight -= 1;
          this.inflightBytes -= bytes;
          this.notifyDrained();
          this.kick();
        }
      },
      (err: unknown) => {
        // The connection closed before the PUBACK: the link reattaches and the records are replayed.
        this.log.debug(
          { err, events: events.length },
          'events not acknowledged before the connection closed',
        );
        if (gen === this.generation) {
          this.inflight -= 1;
          this.inflightBytes -= bytes;
          this.notifyDrained();
        }
      },
    );
  }
}
