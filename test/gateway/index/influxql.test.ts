/** InfluxQL statement building (pure): identifiers quoted from a strict set, every value bound. */
import { describe, expect, it } from 'vitest';
import { legacyPlateBucket, plateBucket } from '../../../gateway/src/index/plate.ts';
import { nsToRfc3339 } from '../../../gateway/src/index/time.ts';
import {
  fetchEventsStatement,
  fetchLookupStatement,
  locateEventStatement,
  locateSearchStatement,
  passStatsStatement,
  quoteIdent,
  searchStatement,
} from '../../../gateway/src/index/influxql.ts';
import type { ValidSearch } from '../../../gateway/src/index/validate.ts';

const layout = { database: 'sharpeyes', retentionPolicies: { face: 'face', plate: 'plate' } };
const base: ValidSearch = {
  fromMs: 1_794_000_000_000,
  toMs: 1_794_003_600_000,
  kinds: ['face', 'plate'],
  limit: 10,
  empty: false,
};
const upperNs = 1_794_003_599_999_999_999n;
const COLUMNS = '"event_id", "confidence", "direction", "plate", "detail", "site", "camera"';

describe('quoteIdent', () => {
  it.each(['sharpeyes', 'face', 'plate_lookup', '_x', 'A1'])('quotes %j', (name) => {
    expect(quoteIdent(name)).toBe(`"${name}"`);
  });
  it.each(['', '1abc', 'a"b', 'a\\b', 'a b', 'a.b', 'a-b', 'a;b', 'x'.repeat(65), '京', 'a\nb', '$p0'])(
    'refuses %j',
    (name) => {
      expect(() => quoteIdent(name)).toThrow(RangeError);
    },
  );
});

describe('searchStatement', () => {
  it('reads events of every kind searched, newest first, with all filters bound', () => {
    const st = searchStatement(
      layout,
      { ...base, siteIds: ['s1', 's2'], cameraIds: ['c1'], direction: 'in', minConfidence: 0.5 },
      { upperNs },
      27,
    );
    expect(st.text).toBe(
      `SELECT ${COLUMNS}, "kind" FROM "sharpeyes"."face"."events", "sharpeyes"."plate"."events"` +
        ' WHERE time >= $p0 AND time <= $p1 AND ("site" = $p2 OR "site" = $p3) AND ("camera" = $p4)' +
        ' AND "direction" = $p5 AND "confidence" >= $p6 ORDER BY time DESC LIMIT 27',
    );
    expect(st.params).toEqual({
      p0: '2026-11-06T21:20:00.000000000Z',
      p1: '2026-11-06T22:19:59.999999999Z',
      p2: 's1',
      p3: 's2',
      p4: 'c1',
      p5: 'in',
      p6: 0.5,
    });
  });

  it('an exact plate reads one bucket of plate_lookup_16k by its tag and filters the rows outside (and the legacy lookup when asked)', () => {
    const q = { ...base, kinds: ['plate' as const], plate: '京A12345' };
    const st = searchStatement(layout, q, { upperNs, lowerNs: 5n }, 11);
    expect(st.text).toBe(
      'SELECT "detail" FROM (SELECT "detail", "plate" FROM "sharpeyes"."plate"."plate_lookup_16k"' +
        ' WHERE time >= $p0 AND time <= $p1 AND "bucket" = $p3) WHERE "plate" = $p2 ORDER BY time DESC LIMIT 11',
    );
    expect(st.params).toEqual({
      p0: '1970-01-01T00:00:00.000000005Z',
      p1: nsToRfc3339(upperNs),
      p2: '京A12345',
      p3: plateBucket('京A12345'),
    });
    const both = searchStatement(layout, q, { upperNs, lowerNs: 5n }, 11, true);
    expect(both.text).toBe(
      `${st.text}; SELECT "detail" FROM (SELECT "detail", "plate" FROM "sharpeyes"."plate"."plate_lookup"` +
        ' WHERE time >= $p4 AND time <= $p5 AND "bucket" = $p7) WHERE "plate" = $p6 ORDER BY time DESC LIMIT 11',
    );
    expect(both.params).toMatchObject({
      p3: plateBucket('京A12345'),
      p6: '京A12345',
      p7: legacyPlateBucket('京A12345'),
    });
    // Filters on the lookup's fields are read inside and applied outside with the plate.
    const filtered = searchStatement(
      layout,
      { ...q, siteIds: ['s1'], cameraIds: ['c1', 'c2'], direction: 'out', minConfidence: 0.5 },
      { upperNs },
      11,
    );
    expect(filtered.text).toBe(
      'SELECT "detail" FROM (SELECT "detail", "plate", "site", "camera", "direction", "confidence"' +
        ' FROM "sharpeyes"."plate"."plate_lookup_16k" WHERE time >= $p0 AND time <= $p1 AND "bucket" = $p8)' +
        ' WHERE "plate" = $p2 AND ("site" = $p3) AND ("camera" = $p4 OR "camera" = $p5) AND "direction" = $p6' +
        ' AND "confidence" >= $p7 ORDER BY time DESC LIMIT 11',
    );
  });

  it('a wildcard binds its escaped regex as a typed regex parameter', () => {
    const st = searchStatement(
      layout,
      { ...base, kinds: ['plate'], platePattern: '京A1?3*' },
      { upperNs },
      11,
    );
    expect(st.text).toBe(
      `SELECT ${COLUMNS}, "kind" FROM "sharpeyes"."plate"."events" WHERE time >= $p0 AND time <= $p1` +
        ' AND "plate" =~ $p2 ORDER BY time DESC LIMIT 11',
    );
    // The trailing `.*$` is dropped: the same plates match, and RE2 stops at the last literal.
    expect(st.params.p2).toEqual({ regex: '^京A1.3' });
  });

  it('a locating query reads only the series tags and two small integer columns', () => {
    const st = locateSearchStatement(
      layout,
      { ...base, kinds: ['plate'], platePattern: '京A*' },
      { upperNs },
      5,
    );
    expect(st.text).toBe(
      'SELECT "dir_in", "lookup_bucket", "site", "camera", "kind" FROM "sharpeyes"."plate"."events"' +
        ' WHERE time >= $p0 AND time <= $p1' +
        ' AND "plate" =~ $p2 ORDER BY time DESC LIMIT 5',
    );
    expect(() => locateSearchStatement(layout, { ...base, plate: '京A12345' }, { upperNs }, 5)).toThrow(
      RangeError,
    );
  });

  it('refuses a bad fetch size and a configured name that is not an identifier', () => {
    expect(() => searchStatement(layout, base, { upperNs }, 0)).toThrow(RangeError);
    expect(() =>
      searchStatement({ ...layout, database: 'a"; DROP DATABASE x' }, base, { upperNs }, 5),
    ).toThrow(RangeError);
  });
});

describe('other statements', () => {
  it('getEvent locates the id in both kinds reading one column, then fetches the points found', () => {
    const st = locateEventStatement(layout, 'evt-1', 0n, 10n);
    expect(st.text).toBe(
      'SELECT "event_id" FROM "sharpeyes"."face"."events", "sharpeyes"."plate"."events"' +
        ' WHERE "event_id" = $p0 AND time >= $p1 AND time <= $p2 GROUP BY "site", "camera", "kind"',
    );
    expect(st.params).toEqual({
      p0: 'evt-1',
      p1: '1970-01-01T00:00:00.000000000Z',
      p2: '1970-01-01T00:00:00.000000010Z',
    });
    // At an exact nanosecond, any point is a candidate: read the small integer column only.
    expect(locateEventStatement(layout, undefined, 5n, 5n).text).toBe(
      'SELECT "dir_in" FROM "sharpeyes"."face"."events", "sharpeyes"."plate"."events"' +
        ' WHERE time >= $p0 AND time <= $p1 GROUP BY "site", "camera", "kind"',
    );
    const fetch = fetchEventsStatement(layout, [
      { kind: 'plate', site: 's1', camera: 'c1', timeNs: 5n },
      { kind: 'face', site: 's2', camera: 'c2', timeNs: 6n },
    ]);
    expect(fetch.text).toBe(
      `SELECT ${COLUMNS}, "kind" FROM "sharpeyes"."face"."events" WHERE "site" = $p0 AND "camera" = $p1 AND time = $p2; ` +
        `SELECT ${COLUMNS}, "kind" FROM "sharpeyes"."plate"."events" WHERE "site" = $p3 AND "camera" = $p4 AND time = $p5`,
    );
    expect(fetch.params).toMatchObject({
      p0: 's2',
      p1: 'c2',
      p2: '1970-01-01T00:00:00.000000006Z',
      p3: 's1',
    });
  });

  it('fetch: points of a kind within 10 minutes share one statement over their series and time range', () => {
    const min = 60_000_000_000n;
    const fetch = fetchEventsStatement(layout, [
      { kind: 'plate', site: 's1', camera: 'c1', timeNs: 3n * min },
      { kind: 'face', site: 's1', camera: 'c1', timeNs: 2n * min },
      { kind: 'plate', site: 's1', camera: 'c1', timeNs: 1n * min },
      { kind: 'plate', site: 's1', camera: 'c1', timeNs: 3n * min },
      { kind: 'plate', site: 's2', camera: 'c9', timeNs: 8n * min },
      { kind: 'plate', site: 's1', camera: 'c1', timeNs: 60n * min },
    ]);
    expect(fetch.text).toBe(
      `SELECT ${COLUMNS}, "kind" FROM "sharpeyes"."face"."events" WHERE "site" = $p0 AND "camera" = $p1 AND time = $p2; ` +
        `SELECT ${COLUMNS}, "kind" FROM "sharpeyes"."plate"."events" WHERE (("site" = $p3 AND "camera" = $p4) OR ("site" = $p5 AND "camera" = $p6)) AND time >= $p7 AND time <= $p8; ` +
        `SELECT ${COLUMNS}, "kind" FROM "sharpeyes"."plate"."events" WHERE "site" = $p9 AND "camera" = $p10 AND time = $p11`,
    );
    expect(fetch.params).toMatchObject({
      p2: '1970-01-01T00:02:00.000000000Z',
      p3: 's1',
      p4: 'c1',
      p5: 's2',
      p6: 'c9',
      p7: '1970-01-01T00:01:00.000000000Z',
      p8: '1970-01-01T00:08:00.000000000Z',
      p11: '1970-01-01T01:00:00.000000000Z',
    });
  });

  it("lookup fetch: the located plates' buckets over the span that holds them, detail only", () => {
    const fetch = fetchLookupStatement(layout, [
      { kind: 'plate', site: 's1', camera: 'c1', timeNs: 9n, bucket: 17 },
      { kind: 'plate', site: 's2', camera: 'c2', timeNs: 3n, bucket: 4095 },
      { kind: 'plate', site: 's1', camera: 'c3', timeNs: 5n, bucket: 17 },
    ]);
    expect(fetch.text).toBe(
      'SELECT "detail" FROM "sharpeyes"."plate"."plate_lookup_16k" WHERE time >= $p0 AND time <= $p1' +
        ' AND ("bucket" = $p2 OR "bucket" = $p3)',
    );
    // Bucket tag values are strings: bound as such, or they would match nothing.
    expect(fetch.params).toEqual({
      p0: '1970-01-01T00:00:00.000000003Z',
      p1: '1970-01-01T00:00:00.000000009Z',
      p2: '17',
      p3: '4095',
    });
    expect(() =>
      fetchLookupStatement(layout, [{ kind: 'plate', site: 's', camera: 'c', timeNs: 1n }]),
    ).toThrow(RangeError);
    expect(() => fetchLookupStatement(layout, [])).toThrow(RangeError);
  });

  it('pass statistics: one statement per kind, interval and zone bound', () => {
    const st = passStatsStatement(layout, {
      fromMs: 0,
      toMs: 3_600_000,
      intervalMinutes: 15,
      kinds: ['face', 'plate'],
      cameraIds: ['c1'],
      timeZone: 'Asia/Shanghai',
      empty: false,
    });
    const one = (rp: string): string =>
      `SELECT COUNT("dir_in") AS "total", SUM("dir_in") AS "n_in", SUM("dir_out") AS "n_out" FROM "sharpeyes"."${rp}"."events"` +
      ' WHERE time >= $p0 AND time < $p1 AND ("camera" = $p2) GROUP BY time($p3), "site", "camera" fill(none) tz($p4)';
    expect(st.text).toBe(`${one('face')}; ${one('plate')}`);
    expect(st.params).toMatchObject({ p2: 'c1', p3: { duration: '15m' }, p4: 'Asia/Shanghai' });
  });
});
