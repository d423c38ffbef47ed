/**
 * The durable spool on a real file system: durability across reopen (with and without a clean
 * close), group commit, torn and corrupt tails, acknowledgement and its persistence, order and
 * rewind, batch sizing, eviction order when full, and failures of the disk (ENOSPC, EIO — these
 * two through an injected file system, see FullDiskFs: a real full disk needs a size-limited mount
 * an unprivileged test cannot make).
 */
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { isEdgeError } from '../../../edge-agent/src/errors.ts';
import { silentLogger } from '../../../edge-agent/src/log.ts';
import { openSpool, type Spool, type SpoolOptions } from '../../../edge-agent/src/spool/index.ts';
import { RECORD_HEADER_BYTES, SEGMENT_MAGIC } from '../../../edge-agent/src/spool/framing.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';
import { FullDiskFs, eventBytes, makeEvent, type TestEventOptions } from './fixtures.ts';

const MiB = 1024 * 1024;

describe('spool', () => {
  let tmp: TempDir;
  let dir: string;
  const open: Spool[] = [];

  beforeEach(() => {
    tmp = makeTempDir('spool');
    dir = join(tmp.path, 'spool');
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    tmp.remove();
  });

  async function spool(over: Partial<SpoolOptions> = {}): Promise<Spool> {
    const s = await openSpool({
      dir,
      maxBytes: 64 * MiB,
      segmentBytes: 4 * MiB,
      ackFlushMs: 10,
      logger: silentLogger(),
      ...over,
    });
    open.push(s);
    return s;
  }

  async function publishAll(s: Spool, from: number, to: number, opts?: TestEventOptions): Promise<void> {
    const ps: Promise<void>[] = [];
    for (let i = from; i < to; i++) ps.push(s.publish(makeEvent(i, opts)));
    await Promise.all(ps);
  }

  /** Take everything unsent; the events decoded, in order. */
  async function drain(s: Spool): Promise<{ seqs: number[]; events: Event[] }> {
    const seqs: number[] = [];
    const events: Event[] = [];
    for (;;) {
      const b = await s.take(1000, Number.POSITIVE_INFINITY);
      if (b === undefined) return { seqs, events };
      seqs.push(...b.seqs);
      events.push(...b.payloads.map((p) => Event.decode(p)));
    }
  }

  const ids = (events: readonly Event[]): string[] => events.map((e) => e.eventId);
  const range = (from: number, to: number, opts?: TestEventOptions): string[] =>
    Array.from({ length: to - from }, (_, k) => makeEvent(from + k, opts).eventId);
  const segmentFiles = (): string[] =>
    readdirSync(dir).filter((n) => n.startsWith('seg-') && n.endsWith('.log'));

  async function close(s: Spool): Promise<void> {
    await s.close();
    open.splice(open.indexOf(s), 1);
  }

  it('keeps every published event across a reopen, byte for byte and in order', async () => {
    const s = await spool();
    await publishAll(s, 0, 50);
    expect(s.stats()).toMatchObject({ events: 50, unsent: 50, evicted: 0 });
    await close(s);

    const again = await spool();
    expect(again.stats()).toMatchObject({ events: 50, unsent: 50 });
    const { events } = await drain(again);
    expect(events.map((e) => eventBytes(e))).toEqual(range(0, 50).map((_, i) => eventBytes(makeEvent(i))));
  });

  it('keeps them without a clean close (what a crash leaves)', async () => {
    const s = await spool();
    await publishAll(s, 0, 20);
    // No close: a second spool reads what the first fsynced.
    const other = await spool();
    expect(ids((await drain(other)).events)).toEqual(range(0, 20));
  });

  it('group-commits: publishes arriving during an fsync share the next one', async () => {
    const fs = new FullDiskFs(1024 * MiB);
    const s = await spool({ fs });
    await publishAll(s, 0, 200);
    // One fsync for the new segment's header, one for the first event, one for the 199 that
    // queued up behind it.
    expect(fs.syncs).toBeLessThanOrEqual(4);
    expect(s.stats().events).toBe(200);
  });

  it('truncates a torn tail at open, counts it, and keeps what precedes it', async () => {
    const s = await spool();
    await publishAll(s, 0, 10);
    await close(s);
    const [seg] = segmentFiles();
    if (seg === undefined) throw new Error('no segment');
    const path = join(dir, seg);
    const size = statSync(path).size;
    // Half of an 11th record: a write cut by a power loss.
    const next = readFileSync(path).subarray(SEGMENT_MAGIC.length, SEGMENT_MAGIC.length + 100);
    appendFileSync(path, next.subarray(0, 60));

    const again = await spool();
    expect(again.stats()).toMatchObject({ events: 10, truncatedBytes: 60 });
    expect(statSync(path).size).toBe(size);
    expect(ids((await drain(again)).events)).toEqual(range(0, 10));
  });

  it('truncates at a corrupt record (bad crc) and keeps the other segments', async () => {
    const s = await spool({ segmentBytes: 64 * 1024 });
    // ~1.2 KB records: several segments.
    for (let i = 0; i < 150; i++) await s.publish(makeEvent(i, { jpegBytes: 800, contextBytes: 300 }));
    await close(s);
    const files = segmentFiles().sort();
    expect(files.length).toBeGreaterThan(2);
    const first = join(dir, files[0] ?? '');
    const buf = readFileSync(first);
    const recordSize = buf.readUInt32LE(SEGMENT_MAGIC.length) + RECORD_HEADER_BYTES;
    // Damage the payload of the 5th record.
    const at = SEGMENT_MAGIC.length + 4 * recordSize + RECORD_HEADER_BYTES + 10;
    buf[at] = (buf[at] ?? 0) ^ 0xff;
    writeFileSync(first, buf);
    const inFirst = (buf.length - SEGMENT_MAGIC.length) / recordSize;

    const again = await spool({ segmentBytes: 64 * 1024 });
    const { events } = await drain(again);
    // Records 0–3 of the first segment, then every record of the later segments.
    expect(ids(events)).toEqual([...range(0, 4), ...range(inFirst, 150)]);
    expect(again.stats().truncatedBytes).toBe((inFirst - 4) * recordSize);
  });

  it('sets aside a segment file that is not ours instead of failing to start', async () => {
    const s = await spool();
    await publishAll(s, 0, 3);
    await close(s);
    writeFileSync(join(dir, 'seg-9999999999999999.log'), 'not a spool segment at all');
    const again = await spool();
    expect(ids((await drain(again)).events)).toEqual(range(0, 3));
    expect(existsSync(join(dir, 'seg-9999999999999999.log.corrupt'))).toBe(true);
  });

  it('removes acknowledged records, deletes emptied segments, and remembers acks across a restart', async () => {
    const s = await spool({ segmentBytes: 64 * 1024 });
    for (let i = 0; i < 100; i++) await s.publish(makeEvent(i, { jpegBytes: 1500, contextBytes: 500 }));
    const before = segmentFiles().length;
    expect(before).toBeGreaterThan(2);
    const { seqs } = await drain(s);
    s.ack(seqs.slice(0, 60));
    expect(s.stats()).toMatchObject({ events: 40, acked: 60 });
    await close(s);
    expect(segmentFiles().length).toBeLessThan(before);

    const again = await spool({ segmentBytes: 64 * 1024 });
    expect(ids((await drain(again)).events)).toEqual(range(60, 100, { jpegBytes: 1500, contextBytes: 500 }));
  });

  it('acknowledging everything leaves no record to resend', async () => {
    const s = await spool();
    await publishAll(s, 0, 25);
    const { seqs } = await drain(s);
    s.ack(seqs);
    await close(s);
    const again = await spool();
    expect(again.stats().events).toBe(0);
    expect(await again.take(10, 1e9)).toBeUndefined();
    // New events continue after the old ones (sequence numbers never go back).
    await publishAll(again, 25, 30);
    expect(ids((await drain(again)).events)).toEqual(range(25, 30));
  });

  it('an unreadable ack state means resending everything, never skipping', async () => {
    const s = await spool();
    await publishAll(s, 0, 10);
    const { seqs } = await drain(s);
    s.ack(seqs.slice(0, 5));
    await close(s);
    writeFileSync(join(dir, 'ack'), 'garbage');
    const again = await spool();
    // The acked records are gone only if their segment was deleted; here it was not, so all 10
    // come back: duplicates, which the gateway absorbs, rather than a loss.
    expect(ids((await drain(again)).events)).toEqual(range(0, 10));
  });

  it('hands out records in order; a rewind hands out the unacknowledged ones again', async () => {
    const s = await spool();
    await publishAll(s, 0, 12);
    const a = await s.take(5, 1e9);
    const b = await s.take(5, 1e9);
    expect(a?.seqs).toHaveLength(5);
    expect(b?.seqs).toHaveLength(5);
    s.ack(a?.seqs ?? []);
    expect(s.unsent()).toBe(2);
    s.rewind();
    expect(s.unsent()).toBe(7);
    expect(ids((await drain(s)).events)).toEqual(range(5, 12));
  });

  it('sizes batches by events and by bytes; one larger event goes alone', async () => {
    const s = await spool();
    for (let i = 0; i < 10; i++) await s.publish(makeEvent(i, { jpegBytes: 1000, contextBytes: 0 }));
    await s.publish(makeEvent(10, { jpegBytes: 20_000, contextBytes: 0 }));
    const size = eventBytes(makeEvent(0, { jpegBytes: 1000, contextBytes: 0 })).length;

    expect((await s.take(3, 1e9))?.seqs).toHaveLength(3);
    const byBytes = await s.take(100, size * 4 + 10);
    expect(byBytes?.seqs).toHaveLength(4);
    expect(byBytes?.bytes).toBeLessThanOrEqual(size * 4 + 10);
    expect((await s.take(3, 1e9))?.seqs).toHaveLength(3);
    const big = await s.take(100, 1000);
    expect(big?.seqs).toHaveLength(1);
    expect(big?.bytes).toBeGreaterThan(20_000);
  });

  it('when full, drops the oldest context JPEGs first, then the oldest events, counting each', async () => {
    const registry = new Registry();
    const opts = { maxBytes: MiB, segmentBytes: 64 * 1024, registry };
    const s = await spool(opts);
    const ev = { jpegBytes: 4000, contextBytes: 8000 };
    // ~12.2 KB per event: 100 events are ~1.2 MiB, past the bound.
    for (let i = 0; i < 100; i++) {
      await s.publish(makeEvent(i, ev));
      expect(s.stats().bytes).toBeLessThanOrEqual(MiB);
    }
    const phase1 = s.stats();
    expect(phase1.contextsDropped).toBeGreaterThan(0);
    expect(phase1.evicted).toBe(0);
    expect(phase1.events).toBe(100);
    const first = await drain(s);
    expect(ids(first.events)).toEqual(range(0, 100, ev));
    // Stripped events are the oldest ones, and keep their evidence crop.
    const stripped = first.events.findIndex((e) => (e.evidence?.contextJpeg.length ?? 0) > 0);
    expect(stripped).toBe(phase1.contextsDropped);
    for (const e of first.events.slice(0, stripped)) {
      expect(e.evidence?.contextJpeg.length).toBe(0);
      expect(e.evidence?.contextSha256).toBe('');
      expect(e.evidence?.jpeg.length).toBe(4000);
    }
    s.rewind();

    // Now only whole events can go: the oldest.
    for (let i = 100; i < 300; i++) {
      await s.publish(makeEvent(i, ev));
      expect(s.stats().bytes).toBeLessThanOrEqual(MiB);
    }
    const phase2 = s.stats();
    expect(phase2.evicted).toBeGreaterThan(0);
    expect(phase2.events + phase2.evicted).toBe(300);
    const kept = ids((await drain(s)).events);
    expect(kept).toEqual(range(phase2.evicted, 300, ev));

    const metric = async (name: string): Promise<Record<string, number>> => {
      const m = await registry.getSingleMetric(name)?.get();
      return Object.fromEntries((m?.values ?? []).map((v) => [String(v.labels.what ?? ''), v.value]));
    };
    expect(await metric('sharpeyes_edge_spool_evicted_total')).toEqual({
      context_jpeg: phase2.contextsDropped,
      event: phase2.evicted,
    });

    // What survived is still there after a restart.
    await close(s);
    const again = await spool({ ...opts, registry: new Registry() });
    expect(ids((await drain(again)).events)).toEqual(kept);
  });

  it('refuses an event larger than the spool may hold', async () => {
    const s = await spool({ maxBytes: MiB, segmentBytes: 64 * 1024 });
    const err: unknown = await s.publish(makeEvent(0, { jpegBytes: MiB })).catch((e: unknown) => e);
    expect(isEdgeError(err, 'EDGE_ERR_SPOOL_TOO_LARGE')).toBe(true);
    expect(s.stats()).toMatchObject({ events: 0, evicted: 1 });
  });

  it('a disk fuller than max_bytes bounds the spool: context JPEGs go first, nothing is refused', async () => {
    // The disk (600 KB) is smaller than the spool's own bound (1 MiB); its free space is known.
    const fs = new FullDiskFs(600 * 1024);
    const s = await spool({ fs, maxBytes: MiB, segmentBytes: 64 * 1024 });
    const ev = { jpegBytes: 3000, contextBytes: 3000 };
    for (let i = 0; i < 150; i++) await s.publish(makeEvent(i, ev));
    const st = s.stats();
    expect(fs.used()).toBeLessThanOrEqual(600 * 1024);
    expect(st.contextsDropped).toBeGreaterThan(0);
    expect(st.events + st.evicted).toBe(150);
    const kept = ids((await drain(s)).events);
    expect(kept).toEqual(range(st.evicted, 150, ev));
  });

  it('disk full (ENOSPC) unforeseen: frees the oldest data and goes on; when nothing can be freed, refuses with a clear code', async () => {
    // The disk (300 KB) is smaller than the spool's own bound (1 MiB), and its free space is
    // not visible (as when another program fills it between two samples): only ENOSPC tells.
    const fs = new FullDiskFs(300 * 1024);
    fs.hideFreeSpace = true;
    const s = await spool({ fs, maxBytes: MiB, segmentBytes: 64 * 1024 });
    const ev = { jpegBytes: 3000, contextBytes: 3000 };
    const results: boolean[] = [];
    for (let i = 0; i < 200; i++) {
      results.push(
        await s.publish(makeEvent(i, ev)).then(
          () => true,
          () => false,
        ),
      );
    }
    const st = s.stats();
    expect(fs.used()).toBeLessThanOrEqual(300 * 1024);
    // Space was made by dropping the oldest data, so new events kept being accepted.
    expect(st.contextsDropped + st.evicted).toBeGreaterThan(0);
    expect(results.slice(150).every(Boolean)).toBe(true);
    const kept = ids((await drain(s)).events);
    expect(kept.length).toBe(st.events);
    expect(kept.at(-1)).toBe(makeEvent(199, ev).eventId);

    // A disk filled by something else: nothing of ours left to free.
    const tiny = new FullDiskFs(40);
    const t = await spool({ fs: tiny, dir: join(tmp.path, 'tiny'), maxBytes: MiB, segmentBytes: 64 * 1024 });
    const err: unknown = await t.publish(makeEvent(0)).catch((e: unknown) => e);
    expect(isEdgeError(err, 'EDGE_ERR_SPOOL_DISK_FULL')).toBe(true);
    expect(t.stats()).toMatchObject({ events: 0, evicted: 1 });
    // Space comes back: the spool works again, nothing crashed.
    tiny.capacityBytes = MiB;
    await t.publish(makeEvent(1));
    expect(ids((await drain(t)).events)).toEqual(range(1, 2));
  });

  it('a failed fsync (EIO) refuses those events, cuts them off the file, and the next ones go through', async () => {
    const fs = new FullDiskFs(1024 * MiB);
    const s = await spool({ fs });
    await s.publish(makeEvent(0));
    fs.failSyncs = 1;
    const err: unknown = await s.publish(makeEvent(1)).catch((e: unknown) => e);
    expect(isEdgeError(err, 'EDGE_ERR_SPOOL_WRITE')).toBe(true);
    await s.publish(makeEvent(2));
    expect(s.stats()).toMatchObject({ events: 2, evicted: 1 });
    await close(s);
    const again = await spool();
    expect(ids((await drain(again)).events)).toEqual([makeEvent(0).eventId, makeEvent(2).eventId]);
  });

  it('rejects publishes after close', async () => {
    const s = await spool();
    await close(s);
    const err: unknown = await s.publish(makeEvent(0)).catch((e: unknown) => e);
    expect(isEdgeError(err, 'EDGE_ERR_SPOOL_CLOSED')).toBe(true);
  });
});
