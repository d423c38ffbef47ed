/**
 * The event index against a real influxd (1.6, v1 API, started on loopback by the bench):
 * schema and retention at startup, write → read round trip, idempotent replays, revisions,
 * search filters, cursor pagination under concurrent inserts, pass statistics, and what the
 * caller sees when influxd is down or was wiped.
 */
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Direction, EventKind, PlateColour, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { InfluxEventIndex } from '../../../gateway/src/index/influx-index.ts';
import { eventPoints } from '../../../gateway/src/index/schema.ts';
import { legacyPlateBucket, normalisePlate } from '../../../gateway/src/index/plate.ts';
import { freePort } from '../../bench/wait.ts';
import { asIndexed, countPoints, makeEvent, startTestIndex, ulidFactory, type TestIndex } from './helpers.ts';

const HOUR = 3_600_000;
/** Enum values this build does not know (as a newer edge could send). */
const UNKNOWN_DIRECTION = 9 as unknown as Direction;
const UNKNOWN_COLOUR = 42 as unknown as PlateColour;
const DAY = 24 * HOUR;

let t: TestIndex;
const plateOf = (e: Event): string => (e.detail?.$case === 'plate' ? e.detail.value.text : '');
beforeAll(async () => {
  t = await startTestIndex();
});
afterAll(async () => {
  await t.stop();
});

/** Every page of a search, following cursors. */
async function allPages(
  index: InfluxEventIndex,
  q: Parameters<InfluxEventIndex['search']>[0],
): Promise<{ events: Event[]; pages: number }> {
  const events: Event[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await index.search({ ...q, ...(cursor === undefined ? {} : { cursor }) });
    events.push(...page.events);
    cursor = page.nextCursor;
    pages++;
    expect(pages).toBeLessThan(1000);
  } while (cursor !== undefined);
  return { events, pages };
}

describe('schema', () => {
  it('creates the database and one retention policy per kind, and alters them to the configuration', async () => {
    expect(await t.index.retention()).toEqual([
      {
        kind: EventKind.EVENT_KIND_FACE,
        retentionPolicy: 'face',
        durationMs: 30 * DAY,
        shardGroupDurationMs: DAY,
      },
      {
        kind: EventKind.EVENT_KIND_PLATE,
        retentionPolicy: 'plate',
        durationMs: 30 * DAY,
        shardGroupDurationMs: DAY,
      },
    ]);
    const altered = await t.open({ retentionDays: { face: 7, plate: 90 }, shardDurationHours: 48 });
    expect(await altered.retention()).toEqual([
      {
        kind: EventKind.EVENT_KIND_FACE,
        retentionPolicy: 'face',
        durationMs: 7 * DAY,
        shardGroupDurationMs: 2 * DAY,
      },
      {
        kind: EventKind.EVENT_KIND_PLATE,
        retentionPolicy: 'plate',
        durationMs: 90 * DAY,
        shardGroupDurationMs: 2 * DAY,
      },
    ]);
    // Back to the defaults; opening twice changes nothing.
    await t.open();
    await t.index.ensureSchema();
    expect((await t.index.retention()).map((r) => r.durationMs)).toEqual([30 * DAY, 30 * DAY]);
    const rps = await t.influxd.query('SHOW RETENTION POLICIES ON "sharpeyes_test"');
    expect(rps[0]?.values.map((v) => v[0]).sort()).toEqual(['autogen', 'face', 'plate']);
  });

  it('caps the shard length at the retention', async () => {
    const idx = await t.open({
      database: 'sharpeyes_short',
      retentionDays: { face: 1, plate: 1 },
      shardDurationHours: 168,
    });
    expect((await idx.retention()).map((r) => r.shardGroupDurationMs)).toEqual([DAY, DAY]);
  });
});

describe('write and read back', () => {
  it('returns the event as written (without evidence bytes), found by id', async () => {
    const plate = makeEvent({ siteId: 'rt-site', cameraId: 'rt-cam', plate: '沪B9C8D7' });
    const face = makeEvent({
      siteId: 'rt-site',
      cameraId: 'rt-cam',
      kind: 'face',
      direction: Direction.DIRECTION_OUT,
    });
    const bare = makeEvent({
      siteId: 'rt-site',
      cameraId: 'rt-cam',
      evidence: false,
      direction: Direction.DIRECTION_UNSPECIFIED,
    });
    await t.index.write([plate, face, bare]);
    expect(await t.index.getEvent(plate.eventId)).toEqual(asIndexed(plate));
    expect(await t.index.getEvent(face.eventId)).toEqual(asIndexed(face));
    expect(await t.index.getEvent(bare.eventId)).toEqual(asIndexed(bare));
    expect(await t.index.getEvent(ulidFactory(99)(Date.now()))).toBeUndefined();
  });

  it('stores what a newer or odd edge sends, as sent: unknown enums, non-plate text, no first-seen time', async () => {
    const now = Date.now() - 30 * 60_000;
    const odd = [
      makeEvent({ siteId: 'odd', direction: UNKNOWN_DIRECTION }),
      makeEvent({ siteId: 'odd', plate: '京A1"2;3\\' }),
      makeEvent({ siteId: 'odd', plate: '' }),
      makeEvent({ siteId: 'odd', colour: UNKNOWN_COLOUR }),
      { ...makeEvent({ siteId: 'odd', firstSeenMs: now }), firstSeenMs: 0 },
    ];
    await t.index.write(odd);
    for (const e of odd) expect(await t.index.getEvent(e.eventId)).toEqual(asIndexed(e));
    const stats = await t.index.passStats({
      fromMs: now - HOUR,
      toMs: now + HOUR,
      intervalMs: 2 * HOUR,
      siteIds: ['odd'],
    });
    expect(stats.reduce((n, r) => n + r.other, 0)).toBe(1);
    // Text that is not a plate is stored but never matches a plate search.
    const page = await t.index.search({ fromMs: now - HOUR, toMs: now + HOUR, siteIds: ['odd'] });
    expect(page.events).toHaveLength(5);
  });

  it('finds a plate by its normalised text, and returns the text as the edge sent it', async () => {
    const e = makeEvent({ plate: '粤b·d1234 5' });
    await t.index.write([e]);
    const got = await t.index.getEvent(e.eventId);
    expect(got?.detail).toMatchObject({ $case: 'plate', value: { text: '粤b·d1234 5' } });
    const page = await t.index.search({ fromMs: e.firstSeenMs, toMs: e.firstSeenMs + 1, plate: '粤bd12345' });
    expect(page.events.map((x) => x.eventId)).toEqual([e.eventId]);
  });

  it('refuses an event that cannot be indexed, naming it, and writes nothing of the batch', async () => {
    const good = makeEvent({ cameraId: 'refuse-cam' });
    const bad = makeEvent({ cameraId: 'refuse-cam', confidence: Number.NaN });
    await expect(t.index.write([good, bad])).rejects.toSatisfy(
      (err: unknown) =>
        isGatewayError(err, 'GATEWAY_ERR_INGEST_INVALID') && err.message.includes(bad.eventId),
    );
    expect(await t.index.getEvent(good.eventId)).toBeUndefined();
  });
});

describe('idempotency', () => {
  it('a replayed batch writes the same points: no duplicates in either measurement', async () => {
    const base = Date.now() - 2 * HOUR;
    const ids = ulidFactory(3);
    const cams = ['idem-a', 'idem-b'];
    // Several events first seen in the same millisecond by one camera: distinct points.
    const events = Array.from({ length: 60 }, (_, i) =>
      makeEvent({
        eventId: ids(base + Math.floor(i / 4)),
        firstSeenMs: base + Math.floor(i / 4),
        cameraId: cams[i % 2],
        siteId: 'idem',
        kind: i % 5 === 0 ? 'face' : 'plate',
        plate: `京A${String(10000 + i)}`,
      }),
    );
    const before = {
      plate: await countPoints(t.influxd, 'plate', 'events'),
      lookup: await countPoints(t.influxd, 'plate', 'plate_lookup_16k'),
      face: await countPoints(t.influxd, 'face', 'events'),
    };
    await t.index.write(events);
    await t.index.write(events);
    await t.index.write(events.slice(10, 30));
    await Promise.all([t.index.write(events.slice(0, 20)), t.index.write(events.slice(15, 60))]);
    const faces = events.filter((e) => e.kind === EventKind.EVENT_KIND_FACE).length;
    expect({
      plate: (await countPoints(t.influxd, 'plate', 'events')) - before.plate,
      lookup: (await countPoints(t.influxd, 'plate', 'plate_lookup_16k')) - before.lookup,
      face: (await countPoints(t.influxd, 'face', 'events')) - before.face,
    }).toEqual({ plate: 60 - faces, lookup: 60 - faces, face: faces });
    const found = await allPages(t.index, { fromMs: base, toMs: base + 60_000, siteIds: ['idem'], limit: 7 });
    expect(found.events.map((e) => e.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
  });

  it('keeps the highest revision, whatever order revisions arrive in', async () => {
    const id = ulidFactory(5)(Date.now() - HOUR);
    const firstSeenMs = Date.now() - HOUR;
    const rev = (revision: number, direction: Direction, plate: string): Event =>
      makeEvent({
        eventId: id,
        firstSeenMs,
        cameraId: 'rev-cam',
        revision,
        direction,
        plate,
        confidence: 0.5 + revision / 10,
      });
    const r0 = rev(0, Direction.DIRECTION_UNKNOWN, '京A11111');
    const r1 = rev(1, Direction.DIRECTION_IN, '京A11111');
    const r2 = rev(2, Direction.DIRECTION_OUT, '京A11111');
    await t.index.write([r1, r0]); // within one call: r1 wins
    expect((await t.index.getEvent(id))?.revision).toBe(1);
    await Promise.all([t.index.write([r2]), t.index.write([r0])]); // concurrent: r0 is stale
    expect(await t.index.getEvent(id)).toEqual(asIndexed(r2));
    await t.index.write([r1]); // a late replay of an older revision
    expect(await t.index.getEvent(id)).toEqual(asIndexed(r2));
    const page = await t.index.search({ fromMs: firstSeenMs, toMs: firstSeenMs + 1, cameraIds: ['rev-cam'] });
    expect(page.events).toEqual([asIndexed(r2)]);
    const stats = await t.index.passStats({
      fromMs: firstSeenMs,
      toMs: firstSeenMs + 1,
      intervalMs: 60_000,
      cameraIds: ['rev-cam'],
    });
    expect(stats.map((s) => [s.total, s.in, s.out])).toEqual([[1, 0, 1]]);
  });

  it('an exact-plate search finds a corrected read by its new text; the event shows its latest revision', async () => {
    const firstSeenMs = Date.now() - 3 * HOUR;
    const id = ulidFactory(11)(firstSeenMs);
    const r0 = makeEvent({ eventId: id, firstSeenMs, cameraId: 'fix-cam', plate: '苏E5O0O1' });
    const r1 = makeEvent({ eventId: id, firstSeenMs, cameraId: 'fix-cam', plate: '苏E50001', revision: 1 });
    await t.index.write([r0]);
    await t.index.write([r1]);
    const range = { fromMs: firstSeenMs, toMs: firstSeenMs + 1 };
    expect((await t.index.search({ ...range, plate: '苏E50001' })).events).toEqual([asIndexed(r1)]);
    expect((await t.index.search({ ...range, platePattern: '苏E5*' })).events).toEqual([asIndexed(r1)]);
    // The earlier read stays findable by its own text (documented in decisions.md).
    expect((await t.index.search({ ...range, plate: '苏E5O0O1' })).events.map((e) => e.revision)).toEqual([
      0,
    ]);
  });
});

describe('search', () => {
  // A fixed population in its own time window: 3 sites × 2 cameras, plates and faces.
  const base = Date.now() - 5 * DAY;
  const ids = ulidFactory(21);
  const population: Event[] = [];
  for (let i = 0; i < 240; i++) {
    const firstSeenMs = base + i * 60_000;
    const site = `s-${i % 3}`;
    population.push(
      makeEvent({
        eventId: ids(firstSeenMs),
        firstSeenMs,
        siteId: site,
        cameraId: `${site}-cam-${i % 2}`,
        kind: i % 4 === 3 ? 'face' : 'plate',
        plate: i % 10 === 0 ? '京A1B3C5' : `京${'ABC'[i % 3] ?? 'A'}${String(12000 + i)}`,
        direction: [Direction.DIRECTION_IN, Direction.DIRECTION_OUT, Direction.DIRECTION_UNKNOWN][i % 3],
        confidence: (i % 10) / 10,
      }),
    );
  }
  const window = { fromMs: base, toMs: base + 240 * 60_000 };
  const idsOf = (events: readonly Event[]): string[] => events.map((e) => e.eventId);
  /** The population filtered, newest first — what a search must return. */
  const expected = (pred: (e: Event) => boolean): string[] =>
    idsOf(population.filter(pred).sort((a, b) => b.firstSeenMs - a.firstSeenMs));

  beforeAll(async () => {
    // In several batches, as ingest would.
    for (let i = 0; i < population.length; i += 50) await t.index.write(population.slice(i, i + 50));
  });

  it.each([
    ['everything', {}, () => true],
    ['one site', { siteIds: ['s-1'] }, (e: Event) => e.siteId === 's-1'],
    [
      'two cameras',
      { cameraIds: ['s-0-cam-0', 's-2-cam-1'] },
      (e: Event) => ['s-0-cam-0', 's-2-cam-1'].includes(e.cameraId),
    ],
    ['faces', { kinds: [EventKind.EVENT_KIND_FACE] }, (e: Event) => e.kind === EventKind.EVENT_KIND_FACE],
    [
      'plates going out',
      { kinds: [EventKind.EVENT_KIND_PLATE], direction: Direction.DIRECTION_OUT },
      (e: Event) => e.kind === EventKind.EVENT_KIND_PLATE && e.direction === Direction.DIRECTION_OUT,
    ],
    ['confident', { minConfidence: 0.7 }, (e: Event) => e.confidence >= 0.7],
    ['exact plate', { plate: '京A1B3C5' }, (e: Event) => plateOf(e) === '京A1B3C5'],
    [
      'exact plate at one site',
      { plate: '京A1B3C5', siteIds: ['s-0'] },
      (e: Event) => plateOf(e) === '京A1B3C5' && e.siteId === 's-0',
    ],
    ['exact plate, faces only', { plate: '京A1B3C5', kinds: [EventKind.EVENT_KIND_FACE] }, () => false],
    ['wildcard ?', { platePattern: '京B12?1?' }, (e: Event) => /^京B12.1.$/u.test(plateOf(e))],
    ['wildcard *', { platePattern: '京C*9' }, (e: Event) => /^京C.*9$/u.test(plateOf(e))],
    [
      'wildcard, camera, direction',
      { platePattern: '*1*', cameraIds: ['s-1-cam-1'], direction: Direction.DIRECTION_IN },
      (e: Event) =>
        /1/.test(plateOf(e)) && e.cameraId === 's-1-cam-1' && e.direction === Direction.DIRECTION_IN,
    ],
    ['no site', { siteIds: [] }, () => false],
    ['unknown camera', { cameraIds: ['nope'] }, () => false],
  ])('%s', async (_name, filter, pred) => {
    const all = await allPages(t.index, { ...window, ...filter, limit: 13 });
    expect(idsOf(all.events)).toEqual(expected(pred));
    const one = await t.index.search({ ...window, ...filter, limit: 1000 });
    expect(idsOf(one.events)).toEqual(expected(pred));
    expect(one.nextCursor).toBeUndefined();
  });

  it('returns whole events, newest first, and honours the time range bounds (from inclusive, to exclusive)', async () => {
    const e = population[100];
    if (e === undefined) throw new Error('population too small');
    const page = await t.index.search({ fromMs: e.firstSeenMs, toMs: e.firstSeenMs + 60_000 });
    expect(page.events).toEqual([asIndexed(e)]);
    const none = await t.index.search({ fromMs: e.firstSeenMs + 1, toMs: e.firstSeenMs + 60_000 });
    expect(none.events).toEqual([]);
  });

  it('a call whose caller has gone is refused before it queries, and a live signal changes nothing', async () => {
    const gone = AbortSignal.abort();
    const refused = (p: Promise<unknown>): Promise<boolean> =>
      p.then(
        () => false,
        (err: unknown) => isGatewayError(err, 'GATEWAY_ERR_UNAVAILABLE'),
      );
    expect(await refused(t.index.search({ ...window, limit: 5 }, { signal: gone }))).toBe(true);
    expect(await refused(t.index.getEvent(population[0]?.eventId ?? '', { signal: gone }))).toBe(true);
    expect(await refused(t.index.passStats({ ...window, intervalMs: HOUR }, { signal: gone }))).toBe(true);
    const live = new AbortController().signal;
    // A located search: several queries, all carrying the signal.
    const page = await t.index.search({ ...window, siteIds: ['s-1'], limit: 7 }, { signal: live });
    expect(idsOf(page.events)).toEqual(expected((e) => e.siteId === 's-1').slice(0, 7));
  });

  it('pages stay stable while newer and older events are inserted concurrently', async () => {
    const q = { ...window, siteIds: ['s-2'], limit: 9 };
    const seen: string[] = [];
    const olderInserted: Event[] = [];
    let cursor: string | undefined;
    let round = 0;
    do {
      const page = await t.index.search({ ...q, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...idsOf(page.events));
      cursor = page.nextCursor;
      // Between pages: an event newer than everything read so far (before the cursor: never
      // returned), and one near the bottom of the range: returned on a later page if it lies
      // after the cursor (older than the page's last event).
      const newer = makeEvent({
        firstSeenMs: base + 240 * 60_000 - 1 - round,
        siteId: 's-2',
        cameraId: 's-2-cam-9',
      });
      const older = makeEvent({ firstSeenMs: base + 1 + round, siteId: 's-2', cameraId: 's-2-cam-9' });
      await t.index.write([newer, older]);
      const last = page.events.at(-1);
      if (cursor !== undefined && last !== undefined && older.firstSeenMs < last.firstSeenMs)
        olderInserted.push(older);
      round++;
    } while (cursor !== undefined);
    expect(olderInserted.length).toBeGreaterThan(3);
    const want = [...population.filter((e) => e.siteId === 's-2'), ...olderInserted]
      .sort((a, b) => b.firstSeenMs - a.firstSeenMs)
      .map((e) => e.eventId);
    expect(seen).toEqual(want);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('a cursor only continues the search it came from', async () => {
    const page = await t.index.search({ ...window, siteIds: ['s-0'], limit: 5 });
    const cursor = page.nextCursor;
    expect(cursor).toBeDefined();
    await expect(t.index.search({ ...window, siteIds: ['s-1'], limit: 5, cursor })).rejects.toMatchObject({
      code: 'GATEWAY_ERR_QUERY_INVALID',
      field: 'cursor',
    });
    // The page size may change between pages.
    const next = await t.index.search({ ...window, siteIds: ['s-0'], limit: 50, cursor });
    expect(next.events.length).toBeGreaterThan(0);
  });

  it('a wildcard over a longer range than the bound is refused', async () => {
    await expect(
      t.index.search({ fromMs: base, toMs: base + 8 * DAY, platePattern: '京A*' }),
    ).rejects.toMatchObject({
      code: 'GATEWAY_ERR_QUERY_INVALID',
      field: 'plate_pattern',
    });
  });
});

describe('time windows', () => {
  it('pages are complete and in order whatever window sizes the index learnt (bursts, gaps, sparse)', async () => {
    // Bursts of 60 events within a second, hours of nothing, then single events days apart: the
    // index sizes its first window from the density earlier searches of the same shape found, so
    // a dense search followed by sparse ones (and back) exercises full windows, instants read
    // whole, short windows growing over gaps, and the last window reaching `from`.
    const start = Date.now() - 20 * DAY;
    const ids = ulidFactory(41);
    const events: Event[] = [];
    for (let burst = 0; burst < 4; burst++) {
      const at = start + 2 * DAY + burst * 7 * HOUR;
      for (let i = 0; i < 60; i++)
        events.push(
          makeEvent({
            eventId: ids(at + i * 15),
            firstSeenMs: at + i * 15,
            siteId: 'win',
            cameraId: `win-${i % 3}`,
          }),
        );
    }
    for (let d = 0; d < 5; d++) {
      const at = start + 5 * DAY + d * 3 * DAY + 17;
      events.push(makeEvent({ eventId: ids(at), firstSeenMs: at, siteId: 'win', cameraId: 'win-0' }));
    }
    await t.index.write(events);
    const want = (pred: (e: Event) => boolean): string[] =>
      events
        .filter(pred)
        .sort((a, b) => b.firstSeenMs - a.firstSeenMs || (a.eventId < b.eventId ? 1 : -1))
        .map((e) => e.eventId);
    const range = { fromMs: start, toMs: start + 20 * DAY };
    for (let round = 0; round < 3; round++) {
      for (const limit of [3, 50, 300]) {
        const all = await allPages(t.index, { ...range, siteIds: ['win'], limit });
        expect(all.events.map((e) => e.eventId)).toEqual(want(() => true));
        const one = await allPages(t.index, { ...range, cameraIds: ['win-0'], limit });
        expect(one.events.map((e) => e.eventId)).toEqual(want((e) => e.cameraId === 'win-0'));
      }
    }
  });
});

describe('located searches', () => {
  it('fetch located plates from their lookup buckets, and from events when a point has no bucket or no lookup twin', async () => {
    // 24 cameras (more than a whole-row read takes): each fetch path on its own points.
    const start = Date.now() - 9 * DAY;
    const ids = ulidFactory(61);
    const events = Array.from({ length: 96 }, (_, i) =>
      makeEvent({
        eventId: ids(start + i * 10_000),
        firstSeenMs: start + i * 10_000,
        siteId: 'loc',
        cameraId: `loc-${i % 24}`,
        kind: i % 5 === 4 ? 'face' : 'plate',
        plate: `京D${String(10_000 + i)}`,
      }),
    );
    const lines: Record<'face' | 'plate', string[]> = { face: [], plate: [] };
    events.forEach((e, i) => {
      const pts = eventPoints(e);
      const [ev = '', lookup] = pts.lines;
      if (e.kind === EventKind.EVENT_KIND_PLATE && i % 7 === 0) {
        // Written before `events` points named their lookup bucket.
        lines.plate.push(ev.replace(/,lookup_bucket=\d+i/, ''), lookup ?? '');
        expect(lines.plate.at(-2)).not.toContain('lookup_bucket=');
      } else if (e.kind === EventKind.EVENT_KIND_PLATE && i % 11 === 0) {
        lines.plate.push(ev); // the lookup twin never arrived
      } else {
        lines[pts.kind].push(...pts.lines);
      }
    });
    for (const rp of ['face', 'plate'] as const) {
      const res = await fetch(`${t.influxd.url}/write?db=sharpeyes_test&rp=${rp}&precision=ns`, {
        method: 'POST',
        body: lines[rp].join('\n'),
      });
      expect(res.status).toBe(204);
    }
    const registry = new Registry();
    const index = await t.open({ registry });
    const fetchedFrom = async (): Promise<Record<string, number>> =>
      Object.fromEntries(
        (
          (await registry.getSingleMetric('sharpeyes_gateway_index_located_fetched_total')?.get())?.values ??
          []
        ).map((v) => [String(v.labels.from), v.value]),
      );
    const want = events.map((e) => asIndexed(e)).reverse();
    const q = { fromMs: start, toMs: start + 96 * 10_000, siteIds: ['loc'] };
    for (const limit of [5, 17, 96]) {
      const all = await allPages(index, { ...q, limit });
      expect(all.events).toEqual(want);
    }
    const from = await fetchedFrom();
    expect(from.plate_lookup).toBeGreaterThan(0);
    expect(from.events).toBeGreaterThan(0);
    // Hits hours apart (fetched from events when one window holds more than an hour of them).
    const sparse = events.filter((_, i) => i % 40 === 0);
    const spread = sparse.map((e, i) =>
      makeEvent({
        eventId: ids(start + 2 * DAY + i * 2 * HOUR),
        firstSeenMs: start + 2 * DAY + i * 2 * HOUR,
        siteId: 'loc2',
        cameraId: e.cameraId,
        plate: e.detail?.$case === 'plate' ? e.detail.value.text : '京D00000',
      }),
    );
    await index.write(spread);
    const page = await index.search({
      fromMs: start + 2 * DAY,
      toMs: start + 3 * DAY,
      siteIds: ['loc2'],
      limit: 100,
    });
    expect(page.events).toEqual(spread.map((e) => asIndexed(e)).reverse());
  });
});

describe('the legacy plate lookup (4 096 buckets)', () => {
  it('exact plate searches read it too while it holds events; located searches fetch its events from `events`', async () => {
    // Written as the previous schema did: `plate_lookup` tagged by FNV-1a mod 4096, and `events`
    // points naming that bucket in `plate_bucket`. Then the same plate in the current schema.
    const start = Date.now() - 11 * DAY;
    const ids = ulidFactory(71);
    const plate = '京K24680';
    const make = (i: number, site: string): Event =>
      makeEvent({
        eventId: ids(start + i * 60_000),
        firstSeenMs: start + i * 60_000,
        siteId: site,
        cameraId: `${site}-${i % 20}`,
        plate: i % 3 === 0 ? plate : `京K${String(30_000 + i)}`,
      });
    const old = Array.from({ length: 60 }, (_, i) => make(i, 'leg'));
    const legacyLines = old.flatMap((e) =>
      eventPoints(e).lines.map((line) =>
        line
          .replace(/,lookup_bucket=\d+i/, `,plate_bucket=${legacyPlateBucket(normalisePlate(plateOf(e)))}i`)
          .replace(
            /^plate_lookup_16k,bucket=\d+ /,
            `plate_lookup,bucket=${legacyPlateBucket(normalisePlate(plateOf(e)))} `,
          ),
      ),
    );
    expect(legacyLines.filter((l) => l.startsWith('plate_lookup,bucket='))).toHaveLength(60);
    const res = await fetch(`${t.influxd.url}/write?db=sharpeyes_test&rp=plate&precision=ns`, {
      method: 'POST',
      body: legacyLines.join('\n'),
    });
    expect(res.status).toBe(204);
    const recent = Array.from({ length: 60 }, (_, i) => make(60 + i, 'leg'));
    const index = await t.open();
    await index.write(recent);
    const want = (pred: (e: Event) => boolean): Event[] =>
      [...old, ...recent]
        .filter(pred)
        .reverse()
        .map((e) => asIndexed(e));
    const range = { fromMs: start, toMs: start + 120 * 60_000 };
    for (const limit of [7, 100]) {
      expect((await allPages(index, { ...range, plate, limit })).events).toEqual(
        want((e) => plateOf(e) === plate),
      );
      // Located (20 cameras): legacy points have no lookup_bucket, so they come from `events`.
      expect((await allPages(index, { ...range, siteIds: ['leg'], limit })).events).toEqual(want(() => true));
    }
  });
});

describe('located searches and revisions', () => {
  it('a revision whose lookup twin is missing is not replaced by an earlier revision read from another bucket', async () => {
    const firstSeenMs = Date.now() - 13 * DAY;
    const ids = ulidFactory(81);
    const e0 = makeEvent({
      eventId: ids(firstSeenMs),
      firstSeenMs,
      siteId: 'rv',
      cameraId: 'rv-1',
      plate: '京F11111',
    });
    // Another plate of the old reading's bucket, located in the same page: that bucket is read.
    const other = makeEvent({
      eventId: ids(firstSeenMs + 1000),
      firstSeenMs: firstSeenMs + 1000,
      siteId: 'rv',
      cameraId: 'rv-2',
      plate: '京F11111',
    });
    await t.index.write([e0, other]);
    // Revision 1 read another plate; only its events point arrived (no lookup twin).
    const e1 = makeEvent({
      eventId: e0.eventId,
      firstSeenMs,
      siteId: 'rv',
      cameraId: 'rv-1',
      plate: '京G22222',
      revision: 1,
    });
    const [ev1 = ''] = eventPoints(e1).lines;
    const res = await fetch(`${t.influxd.url}/write?db=sharpeyes_test&rp=plate&precision=ns`, {
      method: 'POST',
      body: ev1,
    });
    expect(res.status).toBe(204);
    const page = await t.index.search({ fromMs: firstSeenMs, toMs: firstSeenMs + 2000, siteIds: ['rv'] });
    expect(page.events).toEqual([asIndexed(other), asIndexed(e1)]);
  });
});

describe('events sharing one point time', () => {
  it('pages through many events at the same nanosecond without loss or repetition', async () => {
    // ULIDs whose low 19 bits are equal get the same sub-millisecond part: 30 cameras, one instant.
    const firstSeenMs = Date.now() - 6 * DAY;
    const prefix = ulidFactory(31)(firstSeenMs).slice(0, 10);
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    const events = Array.from({ length: 30 }, (_, i) =>
      makeEvent({
        eventId: `${prefix}${'ABCDEFGHJK'.slice(0, 10)}${alphabet[i] ?? '0'}${i % 2 === 0 ? '0' : 'G'}0000`,
        firstSeenMs,
        siteId: 'tie',
        cameraId: `tie-cam-${i}`,
      }),
    );
    await t.index.write(events);
    const q = { fromMs: firstSeenMs, toMs: firstSeenMs + 1, siteIds: ['tie'] };
    for (const limit of [1, 4, 7, 29, 30, 31]) {
      const all = await allPages(t.index, { ...q, limit });
      expect(all.events.map((e) => e.eventId)).toEqual(
        events
          .map((e) => e.eventId)
          .sort()
          .reverse(),
      );
      expect(all.pages).toBe(Math.max(1, Math.ceil(30 / limit)));
    }
    // getEvent finds each one among the 30 points at its nanosecond.
    for (const e of [events[0], events[7], events[29]]) {
      if (e !== undefined) expect(await t.index.getEvent(e.eventId)).toEqual(asIndexed(e));
    }
    // A few cameras: read as whole rows rather than located and fetched; same pages.
    const few = events.slice(0, 8);
    for (const limit of [1, 3, 8]) {
      const all = await allPages(t.index, {
        ...q,
        cameraIds: few.map((e) => e.cameraId),
        kinds: [EventKind.EVENT_KIND_PLATE],
        limit,
      });
      expect(all.events).toEqual(
        few.sort((a, b) => (a.eventId < b.eventId ? 1 : -1)).map((e) => asIndexed(e)),
      );
    }
  });
});

describe('getEvent', () => {
  it('finds an event whose id time is not its first-seen time (within the slack), and ids that are not ULIDs', async () => {
    const firstSeenMs = Date.now() - 2 * DAY;
    const shifted = makeEvent({ eventId: ulidFactory(41)(firstSeenMs + 20 * 60_000), firstSeenMs });
    const tooFar = makeEvent({ eventId: ulidFactory(42)(firstSeenMs + 2 * HOUR), firstSeenMs });
    const plain = makeEvent({ eventId: 'evt-not-a-ulid.42', firstSeenMs });
    await t.index.write([shifted, tooFar, plain]);
    expect(await t.index.getEvent(shifted.eventId)).toEqual(asIndexed(shifted));
    expect(await t.index.getEvent(tooFar.eventId)).toBeUndefined();
    expect(await t.index.getEvent(plain.eventId)).toEqual(asIndexed(plain));
  });

  it('refuses an id that cannot be an event id', async () => {
    for (const bad of ['', 'a/b', '../x', "x' OR '1'='1", 'x'.repeat(65)]) {
      await expect(t.index.getEvent(bad)).rejects.toMatchObject({
        code: 'GATEWAY_ERR_QUERY_INVALID',
        field: 'event_id',
      });
    }
  });
});

describe('pass statistics', () => {
  it('counts passes per camera per interval by kind and direction', async () => {
    // Intervals align to multiples of their length since the epoch (UTC): start on a 2 h boundary.
    const hour0 = Math.floor((Date.now() - 8 * DAY) / (2 * HOUR)) * 2 * HOUR;
    const spec: Array<[string, 'plate' | 'face', Direction, number]> = [
      ['st-a', 'plate', Direction.DIRECTION_IN, 0],
      ['st-a', 'plate', Direction.DIRECTION_IN, 10],
      ['st-a', 'plate', Direction.DIRECTION_OUT, 20],
      ['st-a', 'plate', Direction.DIRECTION_UNKNOWN, 30],
      ['st-a', 'face', Direction.DIRECTION_IN, 40],
      ['st-a', 'plate', Direction.DIRECTION_OUT, 70],
      ['st-b', 'plate', Direction.DIRECTION_UNSPECIFIED, 5],
      ['st-b', 'plate', Direction.DIRECTION_OUT, 65],
    ];
    await t.index.write(
      spec.map(([cam, kind, direction, minute]) =>
        makeEvent({ siteId: 'stats', cameraId: cam, kind, direction, firstSeenMs: hour0 + minute * 60_000 }),
      ),
    );
    const rows = await t.index.passStats({
      fromMs: hour0,
      toMs: hour0 + 2 * HOUR,
      intervalMs: HOUR,
      siteIds: ['stats'],
    });
    const P = EventKind.EVENT_KIND_PLATE;
    const F = EventKind.EVENT_KIND_FACE;
    expect(rows).toEqual([
      { siteId: 'stats', cameraId: 'st-a', kind: F, startMs: hour0, total: 1, in: 1, out: 0, other: 0 },
      { siteId: 'stats', cameraId: 'st-a', kind: P, startMs: hour0, total: 4, in: 2, out: 1, other: 1 },
      { siteId: 'stats', cameraId: 'st-b', kind: P, startMs: hour0, total: 1, in: 0, out: 0, other: 1 },
      {
        siteId: 'stats',
        cameraId: 'st-a',
        kind: P,
        startMs: hour0 + HOUR,
        total: 1,
        in: 0,
        out: 1,
        other: 0,
      },
      {
        siteId: 'stats',
        cameraId: 'st-b',
        kind: P,
        startMs: hour0 + HOUR,
        total: 1,
        in: 0,
        out: 1,
        other: 0,
      },
    ]);
    const onlyB = await t.index.passStats({
      fromMs: hour0,
      toMs: hour0 + 2 * HOUR,
      intervalMs: 2 * HOUR,
      cameraIds: ['st-b'],
      kinds: [EventKind.EVENT_KIND_PLATE],
    });
    expect(onlyB.map((r) => [r.cameraId, r.total])).toEqual([['st-b', 2]]);
  });

  it('aligns intervals to a time zone', async () => {
    // 2 events: 15:30 and 16:30 UTC on one day = 23:30 and 00:30 the next day in Shanghai.
    const day = Math.floor((Date.now() - 9 * DAY) / DAY) * DAY;
    await t.index.write([
      makeEvent({ siteId: 'tz', cameraId: 'tz-cam', firstSeenMs: day + 15.5 * HOUR }),
      makeEvent({ siteId: 'tz', cameraId: 'tz-cam', firstSeenMs: day + 16.5 * HOUR }),
    ]);
    const q = { fromMs: day, toMs: day + DAY, intervalMs: DAY, siteIds: ['tz'] };
    expect((await t.index.passStats(q)).map((r) => [r.startMs - day, r.total])).toEqual([[0, 2]]);
    expect(
      (await t.index.passStats({ ...q, timeZone: 'Asia/Shanghai' })).map((r) => [r.startMs - day, r.total]),
    ).toEqual([
      [-8 * HOUR, 1],
      [16 * HOUR, 1],
    ]);
  });
});

describe('influxd trouble', () => {
  it('a point older than its retention is dropped by influxd and counted, not an error', async () => {
    const idx = await t.open({ database: 'sharpeyes_old', retentionDays: { face: 1, plate: 1 } });
    const old = makeEvent({ firstSeenMs: Date.now() - 3 * DAY });
    const fresh = makeEvent({ firstSeenMs: Date.now() - HOUR });
    await idx.write([old, fresh]);
    expect(await idx.getEvent(fresh.eventId)).toBeDefined();
    expect(await idx.getEvent(old.eventId)).toBeUndefined();
  });

  it('recreates a wiped database and retention policies on the next write', async () => {
    const idx = await t.open({ database: 'sharpeyes_wiped' });
    await idx.write([makeEvent()]);
    await t.influxd.query('DROP DATABASE "sharpeyes_wiped"');
    const e = makeEvent();
    await idx.write([e]);
    expect(await idx.getEvent(e.eventId)).toEqual(asIndexed(e));
  });

  it('reports GATEWAY_ERR_INDEX_UNAVAILABLE when influxd does not answer', async () => {
    const port = await freePort();
    const idx = new InfluxEventIndex({
      url: `http://127.0.0.1:${port}`,
      database: 'x',
      retentionDays: { face: 30, plate: 30 },
      requestTimeoutMs: 2000,
    });
    await expect(idx.write([makeEvent()])).rejects.toMatchObject({ code: 'GATEWAY_ERR_INDEX_UNAVAILABLE' });
    await expect(idx.search({ fromMs: 0, toMs: DAY })).rejects.toMatchObject({
      code: 'GATEWAY_ERR_INDEX_UNAVAILABLE',
    });
    await expect(idx.ensureSchema()).rejects.toMatchObject({ code: 'GATEWAY_ERR_INDEX_UNAVAILABLE' });
  });
});
