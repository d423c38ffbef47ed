/**
 * The durable event spool: every event is on disk (fsynced) before it is sent, and leaves the
 * spool only when the broker has acknowledged the MQTT message that carried it.
 *
 * - **Segments.** Append-only files `seg-<first seq>.log` under the spool directory, framed by
 *   {@link encodeRecord} (length, crc32, seq, flags, protobuf `Event`). The active segment rolls
 *   over at `segmentBytes`. A torn or corrupt tail found at open is truncated, counted and logged.
 * - **Group commit.** `publish()` resolves once its record is written and fsynced. Records that
 *   arrive while an fsync runs are written together and share the next fsync.
 * - **Acknowledgement.** `ack(seqs)` marks records done; a segment whose records are all done is
 *   deleted. "Every seq below W is done" is persisted in `ack` (written atomically, at most every
 *   `ackFlushMs`), so a restart resends at most the records acknowledged since the last write.
 * - **Bounded.** The bound is `maxBytes`, or less when the disk is fuller: the spool's own bytes
 *   plus the disk's free space minus a reserve of one segment (for rewrites), sampled at most
 *   every second. When an append would pass the bound, space is made, down to 90% of it:
 *   acknowledged leftovers are compacted away (no loss); then the context JPEGs of the oldest
 *   events are dropped (the evidence crop stays); then the oldest whole events are evicted.
 *   Each drop is counted and logged at warn. A full disk (ENOSPC) frees the same way (deleting
 *   a whole segment if a rewrite cannot get space) and retries once; if the write still fails,
 *   the publish rejects with EDGE_ERR_SPOOL_DISK_FULL, counted among the evicted events.
 * - **Sending.** The sender `take()`s the oldest unsent records (batches of up to N events / M
 *   bytes), `ack()`s or, after a reconnect, `rewind()`s so every unacknowledged record is sent
 *   again in order.
 */
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { EdgeError } from '../errors.ts';
import type { EventSink } from '../events/sink.ts';
import type { Logger } from '../log.ts';
import {
  FLAG_HAS_CONTEXT,
  RECORD_HEADER_BYTES,
  SEGMENT_MAGIC,
  decodeAckState,
  decodeRecordAt,
  encodeAckState,
  encodeRecord,
} from './framing.ts';
import { errnoCode, nodeSpoolFs, type SpoolFile, type SpoolFs } from './fs.ts';

/** Options of {@link openSpool}. */
export interface SpoolOptions {
  /** The spool directory (created if missing). Nothing else may write in it. */
  dir: string;
  /** Upper bound of the segment files' total size, bytes. */
  maxBytes: number;
  /** Roll the active segment over past this size, bytes. */
  segmentBytes: number;
  /** Persist the acknowledged position at most this often, ms. Default 1000. */
  ackFlushMs?: number;
  logger: Logger;
  /** Prometheus registry for the spool's metrics. Default: a private one. */
  registry?: Registry;
  /** File-system operations (tests inject faults). Default: node:fs. */
  fs?: SpoolFs;
}

/** Figures of the spool. */
export interface SpoolStats {
  /** Events on disk not yet acknowledged by the broker. */
  events: number;
  /** Total size of the segment files, bytes. */
  bytes: number;
  /** Unacknowledged events not handed to the sender since the last rewind (the replay backlog). */
  unsent: number;
  /** Events lost for lack of space since open: evicted whole, or refused (disk full, too large). */
  evicted: number;
  /** Context JPEGs dropped to make room (their events are kept and sent). */
  contextsDropped: number;
  /** Events acknowledged since open. */
  acked: number;
  /** Segment files. */
  segments: number;
  /** Bytes cut off torn or corrupt segment tails at open. */
  truncatedBytes: number;
}

/** Records handed to the sender. */
export interface SpoolBatch {
  /** Sequence numbers, oldest first: give them back to {@link Spool.ack}. */
  seqs: number[];
  /** The protobuf `Event` bytes of each record. */
  payloads: Buffer[];
  /** Sum of the payload sizes. */
  bytes: number;
}

/** Free space down to this share of the bound when full, so eviction is not paid per append. */
const LOW_WATER = 0.9;

/** How long a free-disk-space sample is trusted. */
const DISK_SAMPLE_MS = 1000;

const SEGMENT_RE = /^seg-(\d{16})\.log$/;

type RecordState = 'unsent' | 'inflight' | 'done';

interface Segment {
  name: string;
  path: string;
  /** File size. */
  bytes: number;
  /** Records written to this segment, in order (done ones included until rewritten). */
  refs: RecordRef[];
  /** Records not done. */
  live: number;
  /** Live records still carrying a context JPEG. */
  withContext: number;
  /** Open handle: the active segment's 'a+' handle, or a cached read handle. */
  file?: SpoolFile;
  active: boolean;
  deleted: boolean;
  /** A failed append could not be truncated away: write no more here. */
  broken: boolean;
}

interface RecordRef {
  seq: number;
  seg: Segment;
  /** Offset of the record (header) in its segment. */
  offset: number;
  /** Whole record size, header included. */
  size: number;
  flags: number;
  state: RecordState;
}

interface Pending {
  seq: number;
  frame: Buffer;
  flags: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A tiny FIFO mutex for the spool's maintenance (rewrites, deletions, reads). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.log`;
}

/** The event without its context JPEG (and its hash, which would name a blob that is gone). */
function stripContext(payload: Buffer): Buffer {
  const event = Event.decode(payload);
  if (event.evidence !== undefined) {
    event.evidence = { ...event.evidence, contextJpeg: Buffer.alloc(0), contextSha256: '' };
  }
  const bytes = Event.encode(event).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Logs at most once per interval, counting what was held back. */
class Throttle {
  private lastMs = 0;
  private held = 0;

  constructor(private readonly intervalMs: number) {}

  /** The number of held-back occurrences to report now, or undefined to stay quiet. */
  pass(): number | undefined {
    const now = Date.now();
    if (now - this.lastMs < this.intervalMs) {
      this.held += 1;
      return undefined;
    }
    this.lastMs = now;
    const held = this.held;
    this.held = 0;
    return held;
  }
}

/** Open (or create) the spool in `opts.dir`, recovering what a crash left. */
export async function openSpool(opts: SpoolOptions): Promise<Spool> {
  const spool = new Spool(opts);
  await spool.recover();
  return spool;
}

/** The durable spool. Build it with {@link openSpool}. */
export class Spool implements EventSink {
  private readonly fs: SpoolFs;
  private readonly log: Logger;
  private readonly lock = new Mutex();
  private segments: Segment[] = [];
  private active: Segment | undefined;
  /** Every record not yet trimmed, in seq order; refs before `head` are done. */
  private refs: RecordRef[] = [];
  private head = 0;
  /** No unsent record lies before this index. */
  private cursor = 0;
  private nextSeq = 0;
  /** Every seq below this is committed or refused (never still pending). */
  private writtenBelow = 0;
  private totalBytes = 0;
  private liveCount = 0;
  private unsentCount = 0;
  private pending: Pending[] = [];
  private writing: Promise<void> | undefined;
  private closed = false;
  private ackDirty = false;
  private ackTimer: NodeJS.Timeout | undefined;
  private ackWriting: Promise<void> | undefined;
  private persistedAckedBelow = 0;
  private readonly listeners = new Set<() => void>();
  private readonly counts = { evicted: 0, contextsDropped: 0, acked: 0, truncatedBytes: 0 };
  private readonly diskFullLog = new Throttle(10_000);
  private readonly diskBoundLog = new Throttle(60_000);
  /** The last free-space sample: the bound it implies and when it was taken. */
  private disk: { boundBytes: number; atMs: number } | undefined;
  private readonly metrics: {
    appended: Counter;
    acked: Counter;
    evicted: Counter<'what'>;
    refused: Counter<'reason'>;
    writeErrors: Counter<'code'>;
    truncated: Counter;
    fsync: Histogram;
  };

  /** Use {@link openSpool}. */
  constructor(private readonly opts: SpoolOptions) {
    this.fs = opts.fs ?? nodeSpoolFs;
    this.log = opts.logger.child({ module: 'spool' });
    const registers = [opts.registry ?? new Registry()];
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read by the gauges' collect()
    const spool = this;
    new Gauge({
      name: 'sharpeyes_edge_spool_events',
      help: 'Events in the spool not yet acknowledged by the broker.',
      registers,
      collect() {
        this.set(spool.liveCount);
      },
    });
    new Gauge({
      name: 'sharpeyes_edge_spool_bytes',
      help: 'Size of the spool segment files, bytes.',
      registers,
      collect() {
        this.set(spool.totalBytes);
      },
    });
    new Gauge({
      name: 'sharpeyes_edge_spool_replay_backlog',
      help: 'Unacknowledged events not yet sent since the last (re)connect.',
      registers,
      collect() {
        this.set(spool.unsentCount);
      },
    });
    this.metrics = {
      appended: new Counter({
        name: 'sharpeyes_edge_spool_appended_total',
        help: 'Events written to the spool.',
        registers,
      }),
      acked: new Counter({
        name: 'sharpeyes_edge_spool_acked_total',
        help: 'Events removed from the spool after the broker acknowledged them.',
        registers,
      }),
      evicted: new Counter({
        name: 'sharpeyes_edge_spool_evicted_total',
        help: 'Dropped for lack of space: what="context_jpeg" (the event is kept) or what="event".',
        labelNames: ['what'],
        registers,
      }),
      refused: new Counter({
        name: 'sharpeyes_edge_spool_refused_total',
        help: 'Events the spool could not store, by reason (disk_full, too_large, write_error).',
        labelNames: ['reason'],
        registers,
      }),
      writeErrors: new Counter({
        name: 'sharpeyes_edge_spool_write_errors_total',
        help: 'Failed writes or fsyncs of the spool, by errno code.',
        labelNames: ['code'],
        registers,
      }),
      truncated: new Counter({
        name: 'sharpeyes_edge_spool_truncated_bytes_total',
        help: 'Bytes of torn or corrupt segment tails cut off at open.',
        registers,
      }),
      fsync: new Histogram({
        name: 'sharpeyes_edge_spool_fsync_seconds',
        help: 'Duration of one group-commit fsync.',
        buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
        registers,
      }),
    };
  }

  // ── EventSink ────────────────────────────────────────────────────────────

  /** Store `event` durably; resolves once it is fsynced. See the module comment for failures. */
  publish(event: Event): Promise<void> {
    if (this.closed) return Promise.reject(new EdgeError('EDGE_ERR_SPOOL_CLOSED', this.opts.dir));
    const encoded = Event.encode(event).finish();
    const payload = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    if (RECORD_HEADER_BYTES + payload.length + SEGMENT_MAGIC.length > this.opts.maxBytes * LOW_WATER) {
      this.counts.evicted += 1;
      this.metrics.refused.inc({ reason: 'too_large' });
      this.log.warn(
        { event_id: event.eventId, bytes: payload.length },
        'event larger than the spool refused',
      );
      return Promise.reject(
        new EdgeError(
          'EDGE_ERR_SPOOL_TOO_LARGE',
          `${payload.length} bytes, spool max_bytes ${this.opts.maxBytes}`,
        ),
      );
    }
    const flags = (event.evidence?.contextJpeg.length ?? 0) > 0 ? FLAG_HAS_CONTEXT : 0;
    const seq = this.nextSeq++;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ seq, flags, frame: encodeRecord(seq, flags, payload), resolve, reject });
      this.writing ??= this.writeLoop();
    });
  }

  /** Write what is pending, persist the ack state, close the files. Later publishes reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing;
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    await this.flushAckState();
    await this.lock.run(async () => {
      for (const seg of this.segments) await this.closeFile(seg);
    });
    this.listeners.clear();
  }

  // ── Sender side ──────────────────────────────────────────────────────────

  /** Figures for metrics and the agent status. */
  stats(): SpoolStats {
    return {
      events: this.liveCount,
      bytes: this.totalBytes,
      unsent: this.unsentCount,
      evicted: this.counts.evicted,
      contextsDropped: this.counts.contextsDropped,
      acked: this.counts.acked,
      segments: this.segments.length,
      truncatedBytes: this.counts.truncatedBytes,
    };
  }

  /** Unacknowledged events not handed out since the last rewind. */
  unsent(): number {
    return this.unsentCount;
  }

  /** Call `listener` after each commit of new records. Returns the unsubscribe function. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Hand out the oldest unsent records: at most `maxEvents`, and at most `maxBytes` of payload
   * unless the first record alone is larger. Undefined when nothing is unsent.
   */
  take(maxEvents: number, maxBytes: number): Promise<SpoolBatch | undefined> {
    return this.lock.run(async () => {
      while (this.cursor < this.refs.length && this.refs[this.cursor]?.state !== 'unsent') this.cursor += 1;
      const picked: RecordRef[] = [];
      let bytes = 0;
      for (let i = this.cursor; i < this.refs.length && picked.length < maxEvents; i++) {
        const ref = this.refs[i];
        if (ref === undefined || ref.state !== 'unsent') continue;
        const size = ref.size - RECORD_HEADER_BYTES;
        if (picked.length > 0 && bytes + size > maxBytes) break;
        picked.push(ref);
        bytes += size;
        this.cursor = i + 1;
      }
      if (picked.length === 0) return undefined;
      for (const ref of picked) ref.state = 'inflight';
      this.unsentCount -= picked.length;
      try {
        return { seqs: picked.map((r) => r.seq), payloads: await this.readPayloads(picked), bytes };
      } catch (err) {
        // Unreadable now (an I/O error): give them back so the next take tries again.
        for (const ref of picked) {
          if (ref.state === 'inflight') {
            ref.state = 'unsent';
            this.unsentCount += 1;
          }
        }
        this.cursor = this.head;
        throw err;
      }
    });
  }

  /** Every record handed out but not acknowledged becomes unsent again (after a reconnect). */
  rewind(): void {
    for (let i = this.head; i < this.refs.length; i++) {
      const ref = this.refs[i];
      if (ref?.state === 'inflight') {
        ref.state = 'unsent';
        this.unsentCount += 1;
      }
    }
    this.cursor = this.head;
  }

  /** The broker acknowledged these records: they leave the spool. Unknown seqs are ignored. */
  ack(seqs: readonly number[]): void {
    const emptied = new Set<Segment>();
    for (const seq of seqs) {
      const ref = this.find(seq);
      if (ref === undefined || ref.state === 'done') continue;
      this.markDone(ref);
      this.counts.acked += 1;
      this.metrics.acked.inc();
      if (ref.seg.live === 0 && !ref.seg.active) emptied.add(ref.seg);
    }
    this.trimHead();
    for (const seg of emptied) {
      this.lock
        .run(() => this.deleteSegment(seg))
        .catch((err: unknown) => {
          this.log.warn({ err, segment: seg.name }, 'acknowledged segment not deleted; retried at next open');
        });
    }
    this.ackDirty = true;
    if (this.ackTimer === undefined && !this.closed) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        this.flushAckState().catch((err: unknown) => {
          this.log.warn({ err }, 'ack state not written; retried with the next acknowledgement');
        });
      }, this.opts.ackFlushMs ?? 1000);
      this.ackTimer.unref();
    }
  }

  /**
   * Drop records that cannot be sent (their bytes do not decode as an Event: a bug, not a disk
   * fault, since the crc matched). Counted as evicted.
   */
  discard(seqs: readonly number[], reason: string): void {
    for (const seq of seqs) {
      const ref = this.find(seq);
      if (ref === undefined || ref.state === 'done') continue;
      this.markDone(ref);
      this.counts.evicted += 1;
      this.metrics.evicted.inc({ what: 'event' });
      this.log.error({ seq, reason }, 'spooled record discarded');
    }
    this.trimHead();
  }

  // ── Recovery ─────────────────────────────────────────────────────────────

  /** Read what is on disk. Called once by {@link openSpool}. */
  async recover(): Promise<void> {
    const { dir } = this.opts;
    let names: string[];
    try {
      await this.fs.mkdir(dir);
      names = await this.fs.readdir(dir);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_SPOOL_OPEN', `${dir}: ${String(err)}`, { cause: err });
    }
    for (const name of names.filter((n) => n.endsWith('.tmp'))) {
      await this.fs.unlink(join(dir, name));
    }
    let ackedBelow = 0;
    if (names.includes('ack')) {
      const state = decodeAckState(await this.fs.readFile(join(dir, 'ack')));
      if (state === undefined) {
        this.log.warn('spool ack state unreadable: every record on disk will be sent again');
      } else {
        ackedBelow = state;
      }
    }
    this.persistedAckedBelow = ackedBelow;

    let lastSeq = -1;
    for (const name of names.filter((n) => SEGMENT_RE.test(n)).sort()) {
      const path = join(dir, name);
      const buf = await this.fs.readFile(path);
      if (buf.length < SEGMENT_MAGIC.length || !buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)) {
        if (buf.length <= SEGMENT_MAGIC.length && SEGMENT_MAGIC.subarray(0, buf.length).equals(buf)) {
          // Created but its header never made it to disk: it held nothing.
          await this.fs.unlink(path);
          continue;
        }
        this.counts.truncatedBytes += buf.length;
        this.metrics.truncated.inc(buf.length);
        this.log.error(
          { segment: name, bytes: buf.length },
          'spool segment is not ours; set aside as .corrupt',
        );
        await this.fs.rename(path, `${path}.corrupt`);
        continue;
      }
      const seg: Segment = {
        name,
        path,
        bytes: buf.length,
        refs: [],
        live: 0,
        withContext: 0,
        active: false,
        deleted: false,
        broken: false,
      };
      let offset = SEGMENT_MAGIC.length;
      for (;;) {
        const r = decodeRecordAt(buf, offset);
        if (r.kind === 'end') break;
        let problem: string | undefined;
        if (r.kind !== 'record') problem = `${r.kind}: ${r.reason}`;
        else if (r.seq <= lastSeq) problem = `corrupt: sequence ${r.seq} after ${lastSeq}`;
        if (problem !== undefined || r.kind !== 'record') {
          const cut = buf.length - offset;
          this.counts.truncatedBytes += cut;
          this.metrics.truncated.inc(cut);
          this.log.warn({ segment: name, offset, bytes: cut, problem }, 'spool segment tail truncated');
          const file = await this.fs.open(path, 'r+');
          try {
            await file.truncate(offset);
            await file.sync();
          } finally {
            await file.close();
          }
          seg.bytes = offset;
          break;
        }
        lastSeq = r.seq;
        if (r.seq >= ackedBelow) {
          seg.refs.push({
            seq: r.seq,
            seg,
            offset,
            size: r.next - offset,
            flags: r.flags,
            state: 'unsent',
          });
          seg.live += 1;
          if ((r.flags & FLAG_HAS_CONTEXT) !== 0) seg.withContext += 1;
        }
        offset = r.next;
      }
      if (seg.live === 0) {
        await this.fs.unlink(path);
        continue;
      }
      this.segments.push(seg);
      this.refs.push(...seg.refs);
      this.totalBytes += seg.bytes;
      this.liveCount += seg.live;
    }
    this.unsentCount = this.liveCount;
    this.nextSeq = Math.max(ackedBelow, lastSeq + 1);
    this.writtenBelow = this.nextSeq;
    this.log.info(
      {
        dir,
        events: this.liveCount,
        bytes: this.totalBytes,
        segments: this.segments.length,
        truncated_bytes: this.counts.truncatedBytes,
      },
      'spool opened',
    );
  }

  // ── Appending ────────────────────────────────────────────────────────────

  private async writeLoop(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      let error: unknown;
      try {
        await this.commit(group);
      } catch (err) {
        error = err ?? new Error('commit failed');
      }
      const last = group[group.length - 1];
      if (last !== undefined) this.writtenBelow = last.seq + 1;
      if (error === undefined) {
        for (const p of group) p.resolve();
        for (const listener of this.listeners) listener();
      } else {
        for (const p of group) p.reject(error);
      }
    }
    this.writing = undefined;
  }

  /** Write and fsync one group; all of it or (truncated back) none of it. */
  private async commit(group: Pending[]): Promise<void> {
    const data =
      group.length === 1 ? (group[0]?.frame ?? Buffer.alloc(0)) : Buffer.concat(group.map((p) => p.frame));
    const firstSeq = group[0]?.seq ?? this.nextSeq;
    let freedForDiskFull = false;
    for (;;) {
      let seg: Segment | undefined;
      let writing = false;
      try {
        seg = await this.lock.run(async () => {
          await this.sampleDisk(freedForDiskFull);
          await this.makeRoom(data.length);
          const cur = this.active;
          const full =
            cur !== undefined && cur.bytes + data.length > this.opts.segmentBytes && cur.refs.length > 0;
          return cur === undefined || cur.broken || full ? this.roll(firstSeq) : cur;
        });
        const file = seg.file;
        if (file === undefined) throw new EdgeError('EDGE_ERR_SPOOL_WRITE', `${seg.name} is not open`);
        writing = true;
        let done = 0;
        while (done < data.length) {
          const { bytesWritten } = await file.write(data, done, data.length - done, null);
          done += bytesWritten;
        }
        const t0 = performance.now();
        await file.sync();
        this.metrics.fsync.observe((performance.now() - t0) / 1000);
      } catch (err) {
        const code = errnoCode(err) ?? 'unknown';
        this.metrics.writeErrors.inc({ code });
        if (writing && seg !== undefined) await this.truncateBack(seg);
        if (code === 'ENOSPC' && !freedForDiskFull) {
          freedForDiskFull = true;
          const freed = await this.lock
            .run(() => this.freeForDiskFull(data.length))
            .catch((freeErr: unknown) => {
              this.log.warn({ err: freeErr }, 'disk full: freeing spool space failed');
              return false;
            });
          if (freed) continue;
        }
        this.counts.evicted += group.length;
        const diskFull = code === 'ENOSPC';
        this.metrics.refused.inc({ reason: diskFull ? 'disk_full' : 'write_error' }, group.length);
        const held = this.diskFullLog.pass();
        if (held !== undefined) {
          this.log.warn(
            { err, code, events: group.length, held_back_messages: held },
            diskFull ? 'disk full: events refused by the spool' : 'spool write failed: events refused',
          );
        }
        throw new EdgeError(
          diskFull ? 'EDGE_ERR_SPOOL_DISK_FULL' : 'EDGE_ERR_SPOOL_WRITE',
          `${seg?.name ?? this.opts.dir}: ${code}`,
          { cause: err },
        );
      }
      let offset = seg.bytes;
      for (const p of group) {
        const ref: RecordRef = {
          seq: p.seq,
          seg,
          offset,
          size: p.frame.length,
          flags: p.flags,
          state: 'unsent',
        };
        offset += p.frame.length;
        seg.refs.push(ref);
        this.refs.push(ref);
        seg.live += 1;
        if ((p.flags & FLAG_HAS_CONTEXT) !== 0) seg.withContext += 1;
      }
      this.totalBytes += data.length;
      seg.bytes += data.length;
      this.liveCount += group.length;
      this.unsentCount += group.length;
      this.metrics.appended.inc(group.length);
      return;
    }
  }

  /** Cut a failed append off the active segment; if that fails too, write no more there. */
  private async truncateBack(seg: Segment): Promise<void> {
    try {
      await seg.file?.truncate(seg.bytes);
    } catch (err) {
      // The partial record stays; appending after it would hide later records behind a bad
      // crc at the next open, so the next append rolls over to a new segment instead.
      seg.broken = true;
      this.log.warn({ err, segment: seg.name }, 'failed append not truncated; rolling over');
    }
  }

  /** Seal the active segment (if any) and start a new one. Under the lock. */
  private async roll(firstSeq: number): Promise<Segment> {
    const old = this.active;
    if (old !== undefined) await this.seal(old);
    const name = segmentName(firstSeq);
    const path = join(this.opts.dir, name);
    const file = await this.fs.open(path, 'a+');
    try {
      await file.write(SEGMENT_MAGIC, 0, SEGMENT_MAGIC.length, null);
      await file.sync();
      await this.fs.syncDir(this.opts.dir);
    } catch (err) {
      await file.close().catch(() => undefined);
      await this.fs.unlink(path).catch(() => undefined);
      throw new EdgeError(
        errnoCode(err) === 'ENOSPC' ? 'EDGE_ERR_SPOOL_DISK_FULL' : 'EDGE_ERR_SPOOL_WRITE',
        `${name}: ${String(err)}`,
        { cause: err },
      );
    }
    const seg: Segment = {
      name,
      path,
      bytes: SEGMENT_MAGIC.length,
      refs: [],
      live: 0,
      withContext: 0,
      file,
      active: true,
      deleted: false,
      broken: false,
    };
    this.segments.push(seg);
    this.totalBytes += seg.bytes;
    this.active = seg;
    return seg;
  }

  /** The active segment becomes an ordinary (immutable) one. Under the lock. */
  private async seal(seg: Segment): Promise<void> {
    seg.active = false;
    if (this.active === seg) this.active = undefined;
    if (seg.live === 0) await this.deleteSegment(seg);
  }

  // ── Making room ──────────────────────────────────────────────────────────

  /**
   * Sample the free disk space (at most every DISK_SAMPLE_MS, or now when `force`): the spool may
   * hold what it has plus what is free, minus one segment kept free for rewrites.
   */
  private async sampleDisk(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && this.disk !== undefined && now - this.disk.atMs < DISK_SAMPLE_MS) return;
    try {
      const free = await this.fs.freeBytes(this.opts.dir);
      const reserve = this.opts.segmentBytes + 64 * 1024;
      this.disk = { boundBytes: Math.max(0, this.totalBytes + free - reserve), atMs: now };
    } catch (err) {
      // Without a sample the configured bound applies; ENOSPC is still handled when it comes.
      this.log.debug({ err }, 'free disk space not sampled');
      this.disk = undefined;
    }
  }

  /** The bound in force: max_bytes, or less when the disk is fuller. */
  private boundBytes(): number {
    return Math.min(this.opts.maxBytes, this.disk?.boundBytes ?? Number.POSITIVE_INFINITY);
  }

  /** Ensure `need` more bytes fit under the bound, freeing down to the low-water mark. Under the lock. */
  private async makeRoom(need: number): Promise<void> {
    const maxBytes = this.boundBytes();
    if (maxBytes < this.opts.maxBytes) {
      const held = this.diskBoundLog.pass();
      if (held !== undefined && this.totalBytes + need > maxBytes * LOW_WATER) {
        this.log.warn(
          { bound_bytes: maxBytes, max_bytes: this.opts.maxBytes, spool_bytes: this.totalBytes },
          'disk nearly full: the spool is bounded by the free space',
        );
      }
    }
    // A roll adds a segment header.
    const overhead = SEGMENT_MAGIC.length;
    if (this.totalBytes + need + overhead <= maxBytes) return;
    const target = Math.floor(maxBytes * LOW_WATER) - need - overhead;
    const before = {
      bytes: this.totalBytes,
      evicted: this.counts.evicted,
      contexts: this.counts.contextsDropped,
    };

    // 1. Acknowledged leftovers: compacting them away loses nothing.
    for (const seg of [...this.segments]) {
      if (this.totalBytes <= target) break;
      if (seg.refs.length > seg.live) await this.rewrite(seg, () => 'keep');
    }
    // 2. Context JPEGs of the oldest events.
    for (const seg of [...this.segments]) {
      if (this.totalBytes <= target) break;
      if (seg.withContext > 0) await this.rewrite(seg, () => 'strip');
    }
    // 3. The oldest whole events.
    while (this.totalBytes > target) {
      const seg = this.segments.find((s) => s.live > 0);
      if (seg === undefined) break;
      let excess = this.totalBytes - target;
      const drop = new Set<RecordRef>();
      for (const ref of seg.refs) {
        if (ref.state === 'done') continue;
        if (excess <= 0) break;
        drop.add(ref);
        excess -= ref.size;
      }
      await this.rewrite(seg, (ref) => (drop.has(ref) ? 'drop' : 'keep'));
    }
    const evicted = this.counts.evicted - before.evicted;
    const contexts = this.counts.contextsDropped - before.contexts;
    if (evicted > 0 || contexts > 0) {
      this.log.warn(
        {
          evicted_events: evicted,
          dropped_context_jpegs: contexts,
          freed_bytes: before.bytes - this.totalBytes,
          spool_bytes: this.totalBytes,
          max_bytes: maxBytes,
        },
        'spool full: oldest data dropped',
      );
    }
  }

  /**
   * The disk is full (ENOSPC): free about one segment's worth, the same way as when the spool
   * is full, except that a rewrite which itself hits ENOSPC falls back to deleting the oldest
   * segment whole. Under the lock. Returns whether anything was freed.
   */
  private async freeForDiskFull(need: number): Promise<boolean> {
    const before = this.totalBytes;
    const target = Math.max(0, this.totalBytes - Math.max(need, this.opts.segmentBytes));
    const evictedBefore = this.counts.evicted;
    const contextsBefore = this.counts.contextsDropped;
    for (const mode of ['keep', 'strip'] as const) {
      for (const seg of [...this.segments]) {
        if (this.totalBytes <= target) break;
        const worth = mode === 'keep' ? seg.refs.length > seg.live : seg.withContext > 0;
        if (!worth) continue;
        try {
          await this.rewrite(seg, () => mode);
        } catch (err) {
          // No room even for the rewrite: fall through to deleting whole segments.
          if (errnoCode(err) !== 'ENOSPC') throw err;
          break;
        }
      }
    }
    while (this.totalBytes > target) {
      const seg = this.segments.find((s) => s.live > 0 || !s.active);
      if (seg === undefined) break;
      if (seg.active) await this.seal(seg);
      const lost = seg.live;
      for (const ref of seg.refs) {
        if (ref.state !== 'done') {
          this.markDone(ref);
          this.counts.evicted += 1;
        }
      }
      this.metrics.evicted.inc({ what: 'event' }, lost);
      await this.deleteSegment(seg);
      this.trimHead();
    }
    const freed = before - this.totalBytes;
    this.log.warn(
      {
        freed_bytes: freed,
        evicted_events: this.counts.evicted - evictedBefore,
        dropped_context_jpegs: this.counts.contextsDropped - contextsBefore,
      },
      'disk full: spool freed space',
    );
    return freed > 0;
  }

  /**
   * Rewrite a segment keeping, stripping (the context JPEG) or dropping each live record (done
   * ones always go), through a temp file renamed over it. Under the lock.
   */
  private async rewrite(seg: Segment, decide: (ref: RecordRef) => 'keep' | 'strip' | 'drop'): Promise<void> {
    if (seg.deleted) return;
    if (seg.active) {
      await this.seal(seg);
      // Sealing deletes a segment left without live records.
      if (seg.live === 0) return;
    }
    const buf = await this.readRange(seg, 0, seg.bytes);
    const parts: Buffer[] = [SEGMENT_MAGIC];
    const kept: { ref: RecordRef; offset: number; size: number; flags: number }[] = [];
    const dropped: RecordRef[] = [];
    let stripped = 0;
    let offset = SEGMENT_MAGIC.length;
    for (const ref of seg.refs) {
      if (ref.state === 'done') continue;
      const decision = decide(ref);
      if (decision === 'drop') {
        dropped.push(ref);
        continue;
      }
      let frame = buf.subarray(ref.offset, ref.offset + ref.size);
      let flags = ref.flags;
      if (decision === 'strip' && (flags & FLAG_HAS_CONTEXT) !== 0) {
        flags &= ~FLAG_HAS_CONTEXT;
        frame = encodeRecord(ref.seq, flags, stripContext(frame.subarray(RECORD_HEADER_BYTES)));
        stripped += 1;
      }
      parts.push(frame);
      kept.push({ ref, offset, size: frame.length, flags });
      offset += frame.length;
    }
    if (kept.length === 0) {
      for (const ref of dropped) this.evict(ref);
      await this.deleteSegment(seg);
      this.trimHead();
      return;
    }
    const tmp = `${seg.path}.tmp`;
    const data = Buffer.concat(parts);
    const file = await this.fs.open(tmp, 'w');
    try {
      await file.write(data, 0, data.length, 0);
      await file.sync();
    } catch (err) {
      await file.close().catch(() => undefined);
      await this.fs.unlink(tmp).catch(() => undefined);
      throw err;
    } finally {
      await file.close().catch(() => undefined);
    }
    await this.closeFile(seg);
    await this.fs.rename(tmp, seg.path);
    await this.fs.syncDir(this.opts.dir);
    for (const ref of dropped) this.evict(ref);
    for (const k of kept) {
      k.ref.offset = k.offset;
      k.ref.size = k.size;
      k.ref.flags = k.flags;
    }
    seg.refs = kept.map((k) => k.ref);
    seg.withContext -= stripped;
    this.counts.contextsDropped += stripped;
    if (stripped > 0) this.metrics.evicted.inc({ what: 'context_jpeg' }, stripped);
    this.totalBytes += data.length - seg.bytes;
    seg.bytes = data.length;
    this.trimHead();
  }

  private evict(ref: RecordRef): void {
    if (ref.state === 'done') return;
    this.markDone(ref);
    this.counts.evicted += 1;
    this.metrics.evicted.inc({ what: 'event' });
  }

  // ── Bookkeeping ──────────────────────────────────────────────────────────

  private markDone(ref: RecordRef): void {
    if (ref.state === 'unsent') this.unsentCount -= 1;
    ref.state = 'done';
    this.liveCount -= 1;
    ref.seg.live -= 1;
    if ((ref.flags & FLAG_HAS_CONTEXT) !== 0) ref.seg.withContext -= 1;
  }

  /** Drop done refs from the front of the queue. */
  private trimHead(): void {
    while (this.head < this.refs.length && this.refs[this.head]?.state === 'done') this.head += 1;
    if (this.head > 4096 && this.head * 2 > this.refs.length) {
      this.refs = this.refs.slice(this.head);
      this.cursor = Math.max(0, this.cursor - this.head);
      this.head = 0;
    }
    if (this.cursor < this.head) this.cursor = this.head;
  }

  /** The ref of `seq`, by binary search over the live part of the queue. */
  private find(seq: number): RecordRef | undefined {
    let lo = this.head;
    let hi = this.refs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const ref = this.refs[mid];
      if (ref === undefined) return undefined;
      if (ref.seq === seq) return ref;
      if (ref.seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Every seq below the returned one is acknowledged, evicted or refused. */
  private ackedBelow(): number {
    for (let i = this.head; i < this.refs.length; i++) {
      const ref = this.refs[i];
      if (ref !== undefined && ref.state !== 'done') return ref.seq;
    }
    return this.writtenBelow;
  }

  private async flushAckState(): Promise<void> {
    while (this.ackWriting !== undefined) await this.ackWriting;
    if (!this.ackDirty) return;
    this.ackDirty = false;
    const below = this.ackedBelow();
    if (below === this.persistedAckedBelow) return;
    this.ackWriting = (async () => {
      const path = join(this.opts.dir, 'ack');
      const tmp = `${path}.tmp`;
      const file = await this.fs.open(tmp, 'w');
      try {
        const data = encodeAckState(below);
        await file.write(data, 0, data.length, 0);
        await file.sync();
      } finally {
        await file.close();
      }
      // No directory fsync: after a power loss the old state may come back, which only means
      // resending what was acknowledged since; never that an unacknowledged record is skipped.
      await this.fs.rename(tmp, path);
      this.persistedAckedBelow = below;
    })();
    try {
      await this.ackWriting;
    } catch (err) {
      this.ackDirty = true;
      throw err;
    } finally {
      this.ackWriting = undefined;
    }
  }

  // ── Files ────────────────────────────────────────────────────────────────

  private async deleteSegment(seg: Segment): Promise<void> {
    if (seg.deleted || seg.active) return;
    seg.deleted = true;
    await this.closeFile(seg);
    this.segments = this.segments.filter((s) => s !== seg);
    this.totalBytes -= seg.bytes;
    try {
      await this.fs.unlink(seg.path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }

  private async closeFile(seg: Segment): Promise<void> {
    const file = seg.file;
    seg.file = undefined;
    if (seg === this.active) this.active = undefined;
    await file?.close();
  }

  /** Read `length` bytes at `position` of a segment. Under the lock. */
  private async readRange(seg: Segment, position: number, length: number): Promise<Buffer> {
    if (seg.file === undefined) {
      // One cached read handle for sealed segments: replay reads the oldest segment over and over.
      for (const other of this.segments) {
        if (other !== seg && !other.active && other.file !== undefined) await this.closeFile(other);
      }
      seg.file = await this.fs.open(seg.path, 'r');
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await seg.file.read(buf, done, length - done, position + done);
      if (bytesRead === 0) throw new EdgeError('EDGE_ERR_SPOOL_WRITE', `${seg.name}: unexpected end of file`);
      done += bytesRead;
    }
    return buf;
  }

  /** The payloads of `refs` (in order), one read per contiguous run. Under the lock. */
  private async readPayloads(refs: readonly RecordRef[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    let i = 0;
    while (i < refs.length) {
      const first = refs[i];
      if (first === undefined) break;
      let j = i + 1;
      let end = first.offset + first.size;
      while (j < refs.length) {
        const r = refs[j];
        if (r === undefined || r.seg !== first.seg || r.offset !== end) break;
        end += r.size;
        j += 1;
      }
      const buf = await this.readRange(first.seg, first.offset, end - first.offset);
      for (let k = i; k < j; k++) {
        const r = refs[k];
        if (r === undefined) continue;
        const at = r.offset - first.offset;
        out.push(buf.subarray(at + RECORD_HEADER_BYTES, at + r.size));
      }
      i = j;
    }
    return out;
  }
}
