/**
 * The per-district copies of events (`area_events`, decision 10) against a real influxd and a
 * real registry (SQLite): a search of whole districts reads them and answers exactly what reading
 * `events` answers, page by page; it reads `events` instead for part of a district, while the
 * copies are not complete, and after a camera joins or leaves a district — where the copies
 * would answer wrongly, which the last test shows by forcing them.
 */
import { Registry as MetricsRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Direction, EventKind, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import type { InfluxEventIndex } from '../../../gateway/src/index/influx-index.ts';
import { AREA_MEASUREMENT, eventPoints, isAreaTag } from '../../../gateway/src/index/schema.ts';
import type { EventSearchQuery } from '../../../gateway/src/index/types.ts';
import { Registry } from '../../../gateway/src/registry/registry.ts';
import { openTestDb, type TestDb } from '../registry/helpers.ts';
import { makeEvent, startTestIndex, ulidFactory, type TestIndex } from './helpers.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Cameras per district: more series than a search reads whole (16), so it locates or reads copies. */
const PER_DISTRICT = 20;

let t: TestIndex;
let db: TestDb;
let registry: Registry;
let metrics: MetricsRegistry;
/** The index as the gateway wires it (copies written, read when complete). */
let withCopies: InfluxEventIndex;
/** The same data read the way an index without copies does. */
let plain: InfluxEventIndex;
const start = Date.now() - 6 * DAY;
const written: Event[] = [];

const camerasOf = (district: string): string[] => registry.cameraIdsInScope({ district });
const areaWindows = async (): Promise<number> =>
  (await metrics.getSingleMetric('sharpeyes_gateway_index_area_windows_total')?.get())?.values[0]?.value ?? 0;

/** Every page of a search, following cursors. */
async function allPages(index: InfluxEventIndex, q: EventSearchQuery): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 500; pages++) {
    const page = await index.search({ ...q, ...(cursor === undefined ? {} : { cursor }) });
    ids.push(...page.events.map((e) => e.eventId));
    cursor = page.nextCursor;
    if (cursor === undefined) return ids;
  }
  throw new Error('too many pages');
}

/** What both indexes answer to `q`, and how many windows read the copies meanwhile. */
async function both(q: EventSearchQuery): Promise<{ copies: string[]; events: string[]; areaReads: number }> {
  const before = await areaWindows();
  const copies = await allPages(withCopies, q);
  const areaReads = (await areaWindows()) - before;
  return { copies, events: await allPages(plain, q), areaReads };
}

beforeAll(async () => {
  t = await startTestIndex();
  db = openTestDb('area-copies');
  registry = new Registry(db.db, db.audit);
  for (const district of ['North', 'South']) {
    await registry.sites.create('system', { siteId: `s-${district}`, name: district, place: { district } });
    for (let i = 0; i < PER_DISTRICT; i++) {
      registry.cameras.create('system', {
        cameraId: `${district}-${i}`,
        siteId: `s-${district}`,
        code: `${district}-${i}`,
        name: `${district} ${i}`,
        place: { district, street: `st-${i % 3}` },
        category: 'road_checkpoint',
        identity: { serialNumber: `SN-${district}-${i}` },
      });
    }
  }
  metrics = new MetricsRegistry();
  withCopies = await t.open({ areas: registry, registry: metrics });
  plain = await t.open();
  const ids = ulidFactory(91);
  // 5 days of events, two every 18 minutes, on every camera (and one camera nobody registered).
  for (let i = 0; i < 800; i++) {
    const district = i % 2 === 0 ? 'North' : 'South';
    const ms = start + Math.floor(i / 2) * 18 * 60_000 + (i % 7 === 0 ? 0 : (i % 5) * 60_000);
    written.push(
      makeEvent({
        eventId: ids(ms),
        firstSeenMs: ms,
        siteId: `s-${district}`,
        cameraId: i % 97 === 0 ? 'stray-cam' : `${district}-${Math.floor(i / 2) % PER_DISTRICT}`,
        kind: i % 3 === 0 ? 'face' : 'plate',
        plate: `京B${String(10_000 + (i % 50))}`,
        confidence: 0.5 + (i % 10) / 20,
        direction: [Direction.DIRECTION_IN, Direction.DIRECTION_OUT, Direction.DIRECTION_UNKNOWN][i % 3],
      }),
    );
  }
  await withCopies.write(written);
  // Complete since before the first event (as if the gateway had run with copies all along).
  registry.areaCopies.declare(start - DAY);
});

afterAll(async () => {
  try {
    await t.stop();
  } finally {
    db.close();
  }
});

describe('district copies', () => {
  const range = (): { fromMs: number; toMs: number } => ({ fromMs: start - HOUR, toMs: Date.now() });

  it('answer a search of whole districts exactly as `events` does, page by page, with every filter', async () => {
    const north = camerasOf('North');
    expect(north).toHaveLength(PER_DISTRICT);
    const queries: EventSearchQuery[] = [
      { ...range(), cameraIds: north, limit: 7 },
      { ...range(), cameraIds: north, limit: 100 },
      { ...range(), cameraIds: [...north, ...camerasOf('South')], limit: 13 },
      { ...range(), cameraIds: north, kinds: [EventKind.EVENT_KIND_PLATE], limit: 9 },
      { ...range(), cameraIds: north, direction: Direction.DIRECTION_OUT, minConfidence: 0.7, limit: 5 },
      { ...range(), cameraIds: north, siteIds: ['s-North'], limit: 11 },
      { ...range(), cameraIds: north, siteIds: ['s-South'], limit: 11 },
    ];
    for (const q of queries) {
      const r = await both(q);
      expect(r.copies).toEqual(r.events);
      expect(r.areaReads).toBeGreaterThan(0);
    }
    const all = await both({ ...range(), cameraIds: north, limit: 1000 });
    const want = written.filter((e) => e.cameraId.startsWith('North-')).map((e) => e.eventId);
    expect([...all.copies].sort()).toEqual([...want].sort());
    expect(all.copies.length).toBeGreaterThan(300);
  });

  it('are not read for part of a district, or while they are not complete', async () => {
    const partOfNorth = camerasOf('North').slice(1);
    const part = await both({ ...range(), cameraIds: partOfNorth, limit: 17 });
    expect(part.copies).toEqual(part.events);
    expect(part.areaReads).toBe(0);
    // A gateway whose events ingest workers store (role api) ends them.
    registry.areaCopies.end();
    expect(registry.areaCopiesSinceMs()).toBeUndefined();
    const ended = await both({ ...range(), cameraIds: camerasOf('North'), limit: 17 });
    expect(ended.copies).toEqual(ended.events);
    expect(ended.areaReads).toBe(0);
    // Complete again from now: only windows from an hour on would read them, so none here.
    registry.areaCopies.begin();
    expect(registry.areaCopiesSinceMs()).toBeGreaterThan(Date.now() - 60_000);
    const begun = await both({ ...range(), cameraIds: camerasOf('North'), limit: 17 });
    expect(begun.copies).toEqual(begun.events);
    expect(begun.areaReads).toBe(0);
    registry.areaCopies.declare(start - DAY);
  });

  it('are not read after a camera changed district, where they would answer wrongly', async () => {
    const before = Date.now();
    registry.cameras.update('system', 'North-0', { place: { district: 'South', street: 'st-0' } });
    // The move made the copies complete only from now on.
    expect(registry.areaCopiesSinceMs()).toBeGreaterThanOrEqual(before);
    const south = camerasOf('South');
    expect(south).toContain('North-0');
    const moved = await both({ ...range(), cameraIds: south, limit: 19 });
    expect(moved.areaReads).toBe(0);
    expect(moved.copies).toEqual(moved.events);
    expect(
      moved.copies.filter((id) => written.find((e) => e.eventId === id)?.cameraId === 'North-0').length,
    ).toBe(written.filter((e) => e.cameraId === 'North-0').length);
    // Forced complete from before the move, the copies miss the moved camera's earlier events
    // (filed under North) — what the guard above prevents.
    registry.areaCopies.declare(start - DAY);
    const forced = await both({ ...range(), cameraIds: south, limit: 19 });
    expect(forced.areaReads).toBeGreaterThan(0);
    expect(forced.copies.length).toBeLessThan(forced.events.length);
    // An event written after the move is filed under its new district.
    const later = makeEvent({ siteId: 's-North', cameraId: 'North-0', firstSeenMs: Date.now() - 1000 });
    await withCopies.write([later]);
    const filed = await t.influxd.query(
      `SELECT "camera", "detail" FROM "sharpeyes_test"."plate"."${AREA_MEASUREMENT}" WHERE time >= now() - 1m GROUP BY "district"`,
      'sharpeyes_test',
    );
    expect(filed.map((s) => [s.tags?.district, s.values.map((v) => v[1])])).toEqual([['South', ['North-0']]]);
  });

  it('a district that cannot be a tag gets no copies', () => {
    expect(isAreaTag('North')).toBe(true);
    expect(isAreaTag('东城区')).toBe(true);
    for (const bad of ['', 'a\\b', 'line\nbreak', 'x'.repeat(201), 'tab\there'])
      expect(isAreaTag(bad)).toBe(false);
    const e = makeEvent({ cameraId: 'c1' });
    expect(eventPoints(e, 'a\\b').lines).toEqual(eventPoints(e).lines);
    expect(
      eventPoints(e, 'North').lines.filter((l) => l.startsWith(`${AREA_MEASUREMENT},district=North `)),
    ).toHaveLength(1);
  });

  it('the registry moves their start on each registration or change of district, and only then', async () => {
    const own = openTestDb('area-copies-clock');
    try {
      const r = new Registry(own.db, own.audit, { now: own.clock.now });
      expect(r.areaCopiesSinceMs()).toBeUndefined();
      r.areaCopies.moved(); // not complete: stays so
      expect(r.areaCopiesSinceMs()).toBeUndefined();
      r.areaCopies.begin();
      const t0 = own.clock.t;
      expect(r.areaCopiesSinceMs()).toBe(t0);
      own.clock.advance(HOUR);
      r.areaCopies.begin(); // already complete: unchanged
      expect(r.areaCopiesSinceMs()).toBe(t0);
      await r.sites.create('system', { siteId: 'sx', name: 'x', place: { district: 'X' } });
      expect(r.areaCopiesSinceMs()).toBe(t0);
      r.cameras.create('system', {
        cameraId: 'cx',
        siteId: 'sx',
        code: 'cx',
        name: 'cx',
        place: { district: 'X' },
        category: 'other',
        identity: { serialNumber: 'SN-cx' },
      });
      expect(r.areaCopiesSinceMs()).toBe(t0 + HOUR);
      own.clock.advance(HOUR);
      r.cameras.update('system', 'cx', { name: 'renamed', place: { district: 'X', street: 'new street' } });
      expect(r.areaCopiesSinceMs()).toBe(t0 + HOUR);
      r.cameras.update('system', 'cx', { place: { district: 'Y' } });
      expect(r.areaCopiesSinceMs()).toBe(t0 + 2 * HOUR);
      expect(r.districtOf('cx')).toBe('Y');
      expect(r.cameraCountOf('Y')).toBe(1);
      expect(r.cameraCountOf('X')).toBe(0);
      expect(r.districtOf('nobody')).toBeUndefined();
      // A move rolled back leaves the start where it was (the cached instant is read again).
      own.clock.advance(HOUR);
      expect(() =>
        own.db.transaction(() => {
          r.areaCopies.moved();
          expect(r.areaCopiesSinceMs()).toBe(t0 + 3 * HOUR);
          throw new Error('rolled back');
        }),
      ).toThrow('rolled back');
      expect(r.areaCopiesSinceMs()).toBe(t0 + 2 * HOUR);
      // Persisted: a reopened registry reads the same start.
      own.reopen();
      expect(new Registry(own.db, own.audit, { now: own.clock.now }).areaCopiesSinceMs()).toBe(t0 + 2 * HOUR);
    } finally {
      own.close();
    }
  });
});
