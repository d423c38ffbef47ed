/**
 * Injection-proof queries, against a real influxd: hostile strings (quotes, backslashes, regex
 * metacharacters, `/`, newlines, NUL, InfluxQL fragments, `; DROP DATABASE x`, `' OR '1'='1`, bound
 * parameter names) and hostile types are thrown at EVERY filter of search, getEvent and pass
 * statistics. Each call either is refused with a clean validation error (GATEWAY_ERR_QUERY_INVALID
 * naming a field) or answers with rows that really match the filter — never another error, never
 * an extra row. Afterwards the databases (ours and a canary `x`) and every point are still there.
 *
 * A second table bypasses validation and hands the same strings straight to the statement
 * builder, to show that binding and escaping alone keep them out of the query text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Direction, EventKind, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { GatewayError } from '../../../gateway/src/errors.ts';
import { encodeCursor } from '../../../gateway/src/index/cursor.ts';
import { InfluxV1Client } from '../../../gateway/src/index/influx-client.ts';
import {
  fetchEventsStatement,
  locateEventStatement,
  passStatsStatement,
  searchStatement,
  type Statement,
} from '../../../gateway/src/index/influxql.ts';
import { normalisePlate } from '../../../gateway/src/index/plate.ts';
import type { EventSearchQuery, PassStatsQuery } from '../../../gateway/src/index/types.ts';
import { QueryValidationError, type ValidSearch } from '../../../gateway/src/index/validate.ts';
import { countPoints, makeEvent, startTestIndex, ulidFactory, type TestIndex } from './helpers.ts';

const HOUR = 3_600_000;

/** Strings an attacker would try. */
const HOSTILE: readonly string[] = [
  "'",
  '"',
  '\\',
  '\\\\',
  "\\'",
  '\\"',
  '/',
  '//',
  '/.*/',
  '\n',
  '\r\n',
  '\u0000',
  'a\u0000b',
  '; DROP DATABASE x',
  "'; DROP DATABASE x; --",
  '"; DROP DATABASE "x"; --',
  "' OR '1'='1",
  '" OR "1"="1',
  "京A12345' OR '1'='1",
  '京A12345" OR plate =~ /.*/ --',
  ') OR (1=1',
  'time > 0',
  'SELECT * FROM events',
  '$p0',
  '$p1',
  "$p0' OR '",
  '.*',
  '^.*$',
  '(a|b)',
  '[',
  ']',
  '{1,2}',
  '$',
  '^',
  '|',
  '+',
  '*',
  '?',
  '**',
  '京A1?3*',
  '京A*',
  '.',
  '..',
  '../../etc/passwd',
  '-',
  '_',
  '%27%20OR%201=1',
  '京A12345\nevents,site=x event_id="y" 1',
  '＊',
  '？',
  '京Ａ１２３４５',
  '\u202e京A12345',
  '🚗',
  'x'.repeat(10_000),
];

/** Non-string values for fields that take numbers, lists or enums. */
const HOSTILE_VALUES: readonly unknown[] = [
  ...HOSTILE.slice(0, 20),
  Number.NaN,
  Number.POSITIVE_INFINITY,
  -1,
  1e30,
  0.5,
  {},
  [],
  [1, 2],
  true,
  { regex: '.*' },
  { identifier: 'x' },
  '1; DROP DATABASE x',
];

const SITES = ['inj-a', 'inj-b', 'inj-c'];
let t: TestIndex;
const population: Event[] = [];
let fromMs = 0;
let toMs = 0;

beforeAll(async () => {
  t = await startTestIndex();
  await t.influxd.createDatabase('x');
  await t.influxd.write('canary value=1i 1000000000', 'x');
  fromMs = Date.now() - 2 * HOUR;
  toMs = fromMs + HOUR;
  const ids = ulidFactory(77);
  for (let i = 0; i < 60; i++) {
    const firstSeenMs = fromMs + i * 60_000;
    population.push(
      makeEvent({
        eventId: ids(firstSeenMs),
        firstSeenMs,
        siteId: SITES[i % 3],
        cameraId: `${SITES[i % 3] ?? ''}-cam`,
        kind: i % 6 === 5 ? 'face' : 'plate',
        plate: ['京A12345', '京A1B3C5', '沪C00000', '京A12395'][i % 4],
        direction: i % 2 === 0 ? Direction.DIRECTION_IN : Direction.DIRECTION_OUT,
        confidence: (i % 10) / 10,
      }),
    );
  }
  await t.index.write(population);
});

afterAll(async () => {
  await t.stop();
});

const plateOf = (e: Event): string => (e.detail?.$case === 'plate' ? e.detail.value.text : '');

/** The population filtered by a reference implementation of the search semantics. */
function reference(q: EventSearchQuery): Set<string> {
  const plate = typeof q.plate === 'string' && q.plate !== '' ? normalisePlate(q.plate) : undefined;
  const pattern =
    typeof q.platePattern === 'string' && q.platePattern !== '' ? normalisePlate(q.platePattern) : undefined;
  const patternRe =
    pattern === undefined
      ? undefined
      : new RegExp(
          `^${Array.from(pattern, (c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'))).join('')}$`,
          'u',
        );
  return new Set(
    population
      .filter((e) => (q.siteIds === undefined ? true : q.siteIds.includes(e.siteId)))
      .filter((e) => (q.cameraIds === undefined ? true : q.cameraIds.includes(e.cameraId)))
      .filter((e) => (q.kinds === undefined ? true : q.kinds.includes(e.kind)))
      .filter((e) => (q.direction === undefined ? true : e.direction === q.direction))
      .filter((e) => (q.minConfidence === undefined ? true : e.confidence >= q.minConfidence))
      .filter((e) => (plate === undefined ? true : plateOf(e) === plate))
      .filter((e) => (patternRe === undefined ? true : patternRe.test(plateOf(e))))
      .map((e) => e.eventId),
  );
}

/** Outcome of one hostile call: refused cleanly, or answered with only matching rows. */
type Outcome = 'refused' | 'answered';

async function expectSafe(
  call: () => Promise<readonly Event[] | undefined>,
  allowed: () => Set<string>,
): Promise<Outcome> {
  let events: readonly Event[] | undefined;
  try {
    events = await call();
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(QueryValidationError);
    expect((err as GatewayError).code).toBe('GATEWAY_ERR_QUERY_INVALID');
    expect((err as QueryValidationError).field).toMatch(/^[a-z_]+(\[\d+\])?$/);
    return 'refused';
  }
  // Answered: the value was valid, so the reference can interpret it.
  const ok = allowed();
  for (const e of events ?? []) expect(ok.has(e.eventId), `unexpected row ${e.eventId}`).toBe(true);
  return 'answered';
}

/** Every search filter, each given a hostile value. */
function searchCases(v: unknown): Array<[string, EventSearchQuery]> {
  const base = { fromMs, toMs, limit: 1000 };
  const any = v as never;
  return [
    ['site_ids', { ...base, siteIds: [any] }],
    ['site_ids (list)', { ...base, siteIds: any }],
    ['camera_ids', { ...base, cameraIds: ['inj-a-cam', any] }],
    ['camera_ids (list)', { ...base, cameraIds: any }],
    ['kinds', { ...base, kinds: [any] }],
    ['kinds (list)', { ...base, kinds: any }],
    ['direction', { ...base, direction: any }],
    ['plate', { ...base, plate: any }],
    ['plate + site', { ...base, plate: any, siteIds: ['inj-a'] }],
    ['plate_pattern', { ...base, platePattern: any }],
    ['min_confidence', { ...base, minConfidence: any }],
    ['limit', { ...base, limit: any }],
    ['cursor', { ...base, cursor: any }],
    ['from_ms', { ...base, fromMs: any }],
    ['to_ms', { ...base, toMs: any }],
  ];
}

describe('hostile input at every filter', () => {
  it('search: refused cleanly or answered with only matching rows', async () => {
    const outcomes = new Map<string, Set<Outcome>>();
    for (const v of [...HOSTILE, ...HOSTILE_VALUES]) {
      for (const [field, q] of searchCases(v)) {
        const outcome = await expectSafe(
          async () => (await t.index.search(q)).events,
          () => reference(q),
        );
        outcomes.set(field, (outcomes.get(field) ?? new Set()).add(outcome));
      }
    }
    // Some hostile-looking values are legitimate (`..` is a valid id, `京Ａ１２３４５` normalises to a
    // plate): those reached influxd as bound parameters and matched only what they should.
    expect(outcomes.get('site_ids')).toEqual(new Set(['refused', 'answered']));
    expect(outcomes.get('plate')).toEqual(new Set(['refused', 'answered']));
    expect(outcomes.get('plate_pattern')).toEqual(new Set(['refused', 'answered']));
  });

  it('search: forged cursors are refused', async () => {
    const valid: ValidSearch = { fromMs, toMs, kinds: ['face', 'plate'], limit: 1000, empty: false };
    const forged = [
      ...HOSTILE.map((s) => Buffer.from(s).toString('base64url')),
      Buffer.from(JSON.stringify({ v: 1, t: "1' OR '1'='1", i: 'x', f: 'y' })).toString('base64url'),
      Buffer.from(
        JSON.stringify({ v: 1, t: String(BigInt(fromMs) * 1_000_000n), i: "x' OR '1'='1", f: 'y' }),
      ).toString('base64url'),
      encodeCursor({ timeNs: BigInt(toMs) * 1_000_000n + 5n, eventId: 'x' }, valid),
      encodeCursor({ timeNs: BigInt(fromMs) * 1_000_000n, eventId: 'x' }, { ...valid, siteIds: ['inj-a'] }),
    ];
    for (const cursor of forged) {
      await expect(t.index.search({ fromMs, toMs, cursor })).rejects.toMatchObject({
        code: 'GATEWAY_ERR_QUERY_INVALID',
        field: 'cursor',
      });
    }
  });

  it('getEvent: refused cleanly or answered with nothing', async () => {
    for (const v of [...HOSTILE, ...HOSTILE_VALUES]) {
      await expectSafe(
        async () => {
          const e = await t.index.getEvent(v as string);
          return e === undefined ? [] : [e];
        },
        () => new Set(),
      );
    }
  });

  it('passStats: refused cleanly or answered with only matching counts', async () => {
    const total = population.length;
    for (const v of [...HOSTILE, ...HOSTILE_VALUES]) {
      const base = { fromMs, toMs, intervalMs: HOUR };
      const any = v as never;
      const cases: PassStatsQuery[] = [
        { ...base, siteIds: [any] },
        { ...base, siteIds: any },
        { ...base, cameraIds: [any] },
        { ...base, kinds: [any] },
        { ...base, timeZone: any },
        { ...base, intervalMs: any },
        { ...base, fromMs: any },
        { ...base, toMs: any },
      ];
      for (const q of cases) {
        try {
          const rows = await t.index.passStats(q);
          const sum = rows.reduce((n, r) => n + r.total, 0);
          expect(rows.every((r) => SITES.includes(r.siteId))).toBe(true);
          expect(sum).toBeLessThanOrEqual(total);
        } catch (err) {
          expect(err, String(err)).toBeInstanceOf(QueryValidationError);
        }
      }
    }
  });

  it('left every database and point in place', async () => {
    const dbs = (await t.influxd.query('SHOW DATABASES'))[0]?.values.map((r) => r[0]);
    expect(dbs).toEqual(expect.arrayContaining(['sharpeyes_test', 'x']));
    expect((await t.influxd.query('SELECT * FROM canary', 'x'))[0]?.values).toHaveLength(1);
    const faces = population.filter((e) => e.kind === EventKind.EVENT_KIND_FACE).length;
    expect(await countPoints(t.influxd, 'plate', 'events')).toBe(population.length - faces);
    expect(await countPoints(t.influxd, 'plate', 'plate_lookup_16k')).toBe(population.length - faces);
    expect(await countPoints(t.influxd, 'face', 'events')).toBe(faces);
  });
});

describe('binding alone, validation bypassed', () => {
  it('hostile values bound into statements match nothing and change nothing', async () => {
    const client = new InfluxV1Client({ url: t.influxd.url, timeoutMs: 10_000 });
    const layout = t.index.names;
    const upperNs = BigInt(toMs) * 1_000_000n;
    const base: ValidSearch = { fromMs, toMs, kinds: ['face', 'plate'], limit: 10, empty: false };
    const statements = (v: string): Statement[] => [
      searchStatement(layout, { ...base, siteIds: [v] }, { upperNs }, 100),
      searchStatement(layout, { ...base, cameraIds: [v] }, { upperNs }, 100),
      searchStatement(layout, { ...base, direction: v }, { upperNs }, 100),
      searchStatement(layout, { ...base, plate: v }, { upperNs }, 100),
      searchStatement(layout, { ...base, platePattern: v }, { upperNs }, 100),
      locateEventStatement(layout, v, 0n, upperNs),
      fetchEventsStatement(layout, [{ kind: 'plate', site: v, camera: v, timeNs: 1n }]),
      passStatsStatement(layout, {
        fromMs,
        toMs,
        intervalMinutes: 60,
        kinds: ['plate'],
        siteIds: [v],
        empty: false,
      }),
    ];
    const benign = statements('benign');
    for (const v of HOSTILE) {
      for (const [i, st] of statements(v).entries()) {
        // The value never reaches the statement text: it is the same as for a benign value.
        expect(st.text).toBe(benign[i]?.text);
        const results = await client.query(st.text, { db: layout.database, params: st.params });
        const rows = results.flat().flatMap((s) => s.values);
        // Wildcards (`*`, `?`) are a pattern's syntax, so those may match; everything else is
        // literal (regex metacharacters escaped) and matches no stored value.
        if (i === 4 && /[*?＊？]/.test(v)) continue;
        expect(rows, `${JSON.stringify(v)} → ${st.text}`).toEqual([]);
      }
    }
    expect((await t.influxd.query('SHOW DATABASES'))[0]?.values.map((r) => r[0])).toEqual(
      expect.arrayContaining(['sharpeyes_test', 'x']),
    );
  });
});
