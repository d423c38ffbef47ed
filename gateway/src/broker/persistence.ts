/**
 * Aedes persistence on LevelDB, with a lean outgoing queue.
 *
 * aedes-persistence-level keeps everything (subscriptions, retained messages, wills, QoS2
 * incoming state) well, and is used as is for all of that. Its outgoing queue — every QoS1
 * message for every persistent session, i.e. every event on its way to ingest — costs seven
 * LevelDB operations per message (a put on enqueue; a get and two puts when sent; a get and two
 * deletes when acknowledged), each a separate native call with msgpack of the whole payload. In
 * the gateway that capped the broker at ~3,000 messages/s on two cores.
 *
 * The outgoing queue here:
 * - enqueue: one put per subscriber, of a compact encoding (JSON header + raw payload);
 * - sent: nothing on disk — the packet id → key map is in memory. After a restart the queue is
 *   resent under new packet ids (Aedes's QoSPacket assigns one when the stored packet has none),
 *   which rebuilds the map;
 * - acknowledged: one delete;
 * - every write of a tick (and of the time the previous batch took) goes to LevelDB as ONE
 *   batch — group commit — optionally fsynced (`sync`), so durability against power loss costs
 *   one fsync per batch, not per message.
 * A delete lost to a crash means a message stored and acknowledged by ingest comes again after
 * restart: ingest writes are idempotent. QoS2 delivery to subscribers is not offered (the broker
 * grants at most QoS1), so no PUBREL state needs keeping.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { Level } from 'level';

/** The stock async persistence (aedes-persistence-level's AsyncLevelPersistence), untyped. */
type Stock = Record<string, (...args: unknown[]) => unknown>;

const requireCjs = createRequire(import.meta.url);
const StockPersistence = requireCjs('aedes-persistence-level/asyncPersistence.js') as new (
  db: Level,
) => Stock;

/** The packet fields Aedes hands to the outgoing methods. */
interface OutPacket {
  cmd?: string;
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain?: boolean;
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
}

interface Sub {
  clientId: string;
}

interface ClientRef {
  id: string;
}

type BatchOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

/** The two LevelDB calls used here, typed for buffer values. */
interface QueueDb {
  batch(ops: BatchOp[], opts: { valueEncoding: 'buffer'; sync: boolean }): Promise<void>;
  values(range: { gte: string; lt: string; valueEncoding: 'buffer' }): AsyncIterable<Buffer>;
}

const PREFIX = 'og:';

function clientPrefix(clientId: string): string {
  return `${PREFIX}${encodeURIComponent(clientId)}:`;
}

function keyOf(clientId: string, brokerId: string, counter: number): string {
  return `${clientPrefix(clientId)}${brokerId}:${String(counter).padStart(16, '0')}`;
}

/** [u32 header length][header JSON][payload] */
export function encodeOutgoing(p: OutPacket): Buffer {
  const header = Buffer.from(
    JSON.stringify({ t: p.topic, q: p.qos, r: p.retain === true, b: p.brokerId, c: p.brokerCounter }),
    'utf8',
  );
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(header.length, 0);
  return Buffer.concat([head, header, payload]);
}

export function decodeOutgoing(buf: Buffer): OutPacket {
  const n = buf.readUInt32BE(0);
  const h = JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as {
    t: string;
    q: number;
    r: boolean;
    b: string;
    c: number;
  };
  return {
    cmd: 'publish',
    topic: h.t,
    qos: h.q,
    retain: h.r,
    brokerId: h.b,
    brokerCounter: h.c,
    payload: buf.subarray(4 + n),
  };
}

/** Writes of one tick (or of the previous batch's duration) in one LevelDB batch. */
class GroupCommit {
  #ops: BatchOp[] = [];
  #waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  #running = false;
  #scheduled = false;

  constructor(
    private readonly db: QueueDb,
    private readonly sync: boolean,
  ) {}

  write(ops: BatchOp[]): Promise<void> {
    for (const op of ops) this.#ops.push(op);
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#schedule();
    return done;
  }

  #schedule(): void {
    if (this.#running || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#running || this.#ops.length === 0) return;
    this.#running = true;
    const ops = this.#ops;
    const waiters = this.#waiters;
    this.#ops = [];
    this.#waiters = [];
    try {
      await this.db.batch(ops, { valueEncoding: 'buffer', sync: this.sync });
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err);
    } finally {
      this.#running = false;
      if (this.#ops.length > 0) this.#schedule();
    }
  }
}

/** Options of {@link createLeanLevelPersistence}. */
export interface LeanPersistenceOptions {
  /** fsync each outgoing-queue batch (power-loss durable). */
  sync: boolean;
}

/**
 * The persistence object for `Aedes.createBroker({ persistence })`: stock methods for all but
 * the outgoing queue.
 */
export function createLeanLevelPersistence(db: Level, opts: LeanPersistenceOptions): object {
  const stock = new StockPersistence(db);
  const queueDb = db as unknown as QueueDb;
  const commit = new GroupCommit(queueDb, opts.sync);
  /** client id → packet id → queue key, for the messages sent and not yet acknowledged. */
  const sent = new Map<string, Map<number, string>>();
  const sentOf = (clientId: string): Map<number, string> => {
    let m = sent.get(clientId);
    if (m === undefined) {
      m = new Map();
      sent.set(clientId, m);
    }
    return m;
  };

  const lean = {
    async setup(broker: unknown): Promise<void> {
      await (stock.setup as (b: unknown) => Promise<void>).call(stock, broker);
    },
    async outgoingEnqueue(sub: Sub, packet: OutPacket): Promise<void> {
      await lean.outgoingEnqueueCombi([sub], packet);
    },
    async outgoingEnqueueCombi(subs: Sub[] | undefined, packet: OutPacket): Promise<void> {
      if (subs === undefined || subs.length === 0) return;
      const value = encodeOutgoing(packet);
      await commit.write(
        subs.map((s) => ({
          type: 'put',
          key: keyOf(s.clientId, packet.brokerId ?? '', packet.brokerCounter ?? 0),
          value,
        })),
      );
    },
    outgoingUpdate(client: ClientRef, packet: OutPacket): Promise<void> {
      const ids = sentOf(client.id);
      if (packet.brokerId !== undefined && packet.messageId !== undefined) {
        ids.set(packet.messageId, keyOf(client.id, packet.brokerId, packet.brokerCounter ?? 0));
        return Promise.resolve();
      }
      // A packet without broker data (a QoS2 PUBREL): never sent, as subscriptions are QoS ≤ 1.
      if (packet.messageId === undefined || !ids.has(packet.messageId))
        return Promise.reject(new Error('no such packet'));
      return Promise.resolve();
    },
    async outgoingClearMessageId(
      client: ClientRef,
      packet: { messageId?: number },
    ): Promise<OutPacket | undefined> {
      const ids = sent.get(client.id);
      const id = packet.messageId;
      const key = id === undefined ? undefined : ids?.get(id);
      if (key === undefined || id === undefined || ids === undefined) return undefined;
      ids.delete(id);
      if (ids.size === 0) sent.delete(client.id);
      await commit.write([{ type: 'del', key }]);
      return { cmd: 'publish', topic: '', payload: Buffer.alloc(0), qos: 1, messageId: id };
    },
    outgoingStream(client: ClientRef): Readable {
      const prefix = clientPrefix(client.id);
      const values = queueDb.values({ gte: prefix, lt: `${prefix.slice(0, -1)};`, valueEncoding: 'buffer' });
      return Readable.from(
        (async function* () {
          for await (const v of values) yield decodeOutgoing(v);
        })(),
      );
    },
  };

  return new Proxy(lean, {
    get(target, prop, receiver) {
      if (Object.prototype.hasOwnProperty.call(target, prop))
        return Reflect.get(target, prop, receiver) as unknown;
      const value = stock[prop as string];
      return typeof value === 'function' ? value.bind(stock) : value;
    },
    has(target, prop) {
      return Object.prototype.hasOwnProperty.call(target, prop) || prop in stock;
    },
  });
}
