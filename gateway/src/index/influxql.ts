/**
 * InfluxQL statements of the index, built as text with placeholders plus bound parameters. No
 * user-supplied value is ever part of the text: values (ids, plate, times, confidence) are bound
 * as string/number parameters, the wildcard's regular expression as a typed regex parameter
 * (`{"regex": …}`), the interval as a duration parameter. The only identifiers in the text are
 * the configured database and retention-policy names and our measurement/field names, checked
 * and quoted by {@link quoteIdent}. The page size is a validated integer. Pure functions.
 */
import type { InfluxParam } from './influx-client.ts';
import { legacyPlateBucket, plateBucket, wildcardToRegex } from './plate.ts';
import {
  AREA_MEASUREMENT,
  EVENTS_MEASUREMENT,
  LEGACY_PLATE_LOOKUP_MEASUREMENT,
  LOOKUP_BUCKET_FIELD,
  PLATE_LOOKUP_MEASUREMENT,
  RESULT_COLUMNS,
  type IndexedKind,
} from './schema.ts';
import { msToNs, nsToRfc3339 } from './time.ts';
import type { ValidSearch, ValidStats } from './validate.ts';

/** Statement text and its bound parameters. */
export interface Statement {
  text: string;
  params: Record<string, InfluxParam>;
}

/** Names of identifiers the index writes into statements (config and schema names only). */
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * `"name"` for a database, retention policy, measurement, field or tag name. Only
 * `[A-Za-z_][A-Za-z0-9_]{0,63}` is accepted, so nothing inside the quotes can end them or
 * continue the statement; anything else throws (a configuration or programming error).
 */
export function quoteIdent(name: string): string {
  if (!IDENT.test(name)) throw new RangeError(`not an allowed InfluxQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** Where each kind lives. */
export interface IndexLayout {
  database: string;
  retentionPolicies: Readonly<Record<IndexedKind, string>>;
}

function source(layout: IndexLayout, kind: IndexedKind, measurement: string): string {
  return `${quoteIdent(layout.database)}.${quoteIdent(layout.retentionPolicies[kind])}.${quoteIdent(measurement)}`;
}

/** Collects bound parameters under generated names ($p0, $p1, …). */
class Params {
  readonly values: Record<string, InfluxParam> = {};
  private n = 0;

  bind(value: InfluxParam): string {
    const name = `p${this.n++}`;
    this.values[name] = value;
    return `$${name}`;
  }
}

/** `("col" = $a OR "col" = $b …)` for a non-empty list. */
function anyOf(col: string, values: readonly string[], params: Params): string {
  return `(${values.map((v) => `${quoteIdent(col)} = ${params.bind(v)}`).join(' OR ')})`;
}

/** Time bounds of one page query, ns, inclusive. */
export interface PageRange {
  /** Newest time to read. */
  upperNs: bigint;
  /** Oldest time to read; default the search's from_ms. */
  lowerNs?: bigint;
}

/**
 * The regex a wildcard search binds: {@link wildcardToRegex}, without a trailing `.*$` — after
 * the last literal, "any run then the end" holds for every stored plate (normalised plates have
 * no line breaks, the only character `.` does not match), and RE2 then stops at the last literal
 * instead of running to the end of each of the hundreds of thousands of plates it tests.
 */
export function plateRegex(pattern: string): string {
  const re = wildcardToRegex(pattern);
  return re.endsWith('.*$') ? re.slice(0, -3) : re;
}

/** Which measurement(s) a search reads. */
export type SearchPlan =
  | { kind: 'plate-exact'; measurement: typeof PLATE_LOOKUP_MEASUREMENT }
  | { kind: 'plate-wildcard'; measurement: typeof EVENTS_MEASUREMENT }
  | { kind: 'events'; measurement: typeof EVENTS_MEASUREMENT };

/** The plan of a validated search. */
export function searchPlan(q: ValidSearch): SearchPlan {
  if (q.plate !== undefined) return { kind: 'plate-exact', measurement: PLATE_LOOKUP_MEASUREMENT };
  if (q.platePattern !== undefined) return { kind: 'plate-wildcard', measurement: EVENTS_MEASUREMENT };
  return { kind: 'events', measurement: EVENTS_MEASUREMENT };
}

/**
 * One page query of a search: rows with time in [lower, upper], newest first, at most `fetch`.
 * An exact plate reads `plate_lookup_16k` in its bucket's series only — and, with `legacyLookup`,
 * the legacy `plate_lookup` in its bucket there too, by a second statement (the caller merges the
 * two answers); a wildcard reads the plate policy's `events` with a regex on `plate`; anything
 * else reads `events` of each kind searched.
 */
export function searchStatement(
  layout: IndexLayout,
  q: ValidSearch,
  range: PageRange,
  fetch: number,
  legacyLookup = false,
): Statement {
  return pageStatement(layout, q, range, fetch, legacyLookup ? 'whole+legacy' : 'whole');
}

/**
 * Like {@link searchStatement}, but selecting only the series tags (site, camera, kind) and the
 * small integers `dir_in` (every point has it: a field must be selected, and this one decodes for
 * almost nothing, unlike the event id or `detail` strings) and `lookup_bucket` (plates): where the
 * points are, to be read whole with {@link fetchLookupStatement} or {@link fetchEventsStatement}.
 * Not for an exact plate (its bucket is read whole).
 */
export function locateSearchStatement(
  layout: IndexLayout,
  q: ValidSearch,
  range: PageRange,
  fetch: number,
): Statement {
  if (searchPlan(q).kind === 'plate-exact') throw new RangeError('an exact plate search reads whole rows');
  return pageStatement(layout, q, range, fetch, 'locate');
}

function pageStatement(
  layout: IndexLayout,
  q: ValidSearch,
  range: PageRange,
  fetch: number,
  select: 'whole' | 'whole+legacy' | 'locate',
): Statement {
  if (!Number.isSafeInteger(fetch) || fetch < 1) throw new RangeError(`bad fetch size ${fetch}`);
  const plan = searchPlan(q);
  const params = new Params();
  const statement = (measurement: string, bucket: string | undefined): string => {
    const time = [
      `time >= ${params.bind(nsToRfc3339(range.lowerNs ?? msToNs(q.fromMs)))}`,
      `time <= ${params.bind(nsToRfc3339(range.upperNs))}`,
    ];
    // Conditions on fields, and the fields they read.
    const where: string[] = [];
    const read = new Set<string>();
    const cond = (field: string, text: string): void => {
      where.push(text);
      read.add(field);
    };
    if (bucket !== undefined && q.plate !== undefined)
      cond('plate', `${quoteIdent('plate')} = ${params.bind(q.plate)}`);
    if (plan.kind === 'plate-wildcard' && q.platePattern !== undefined)
      cond('plate', `${quoteIdent('plate')} =~ ${params.bind({ regex: plateRegex(q.platePattern) })}`);
    if (q.siteIds !== undefined) cond('site', anyOf('site', q.siteIds, params));
    if (q.cameraIds !== undefined) cond('camera', anyOf('camera', q.cameraIds, params));
    if (q.direction !== undefined)
      cond('direction', `${quoteIdent('direction')} = ${params.bind(q.direction)}`);
    if (q.minConfidence !== undefined)
      cond('confidence', `${quoteIdent('confidence')} >= ${params.bind(q.minConfidence)}`);

    const kinds: readonly IndexedKind[] = plan.kind === 'events' ? q.kinds : ['plate'];
    const from = kinds.map((k) => source(layout, k, measurement)).join(', ');
    const order = `ORDER BY time DESC LIMIT ${fetch}`;
    if (bucket === undefined) {
      const columns = (
        select === 'locate'
          ? ['dir_in', LOOKUP_BUCKET_FIELD, 'site', 'camera', 'kind']
          : [...RESULT_COLUMNS, 'kind']
      )
        .map(quoteIdent)
        .join(', ');
      return `SELECT ${columns} FROM ${from} WHERE ${[...time, ...where].join(' AND ')} ${order}`;
    }
    // An exact plate: the inner query selects the bucket's series by its tag alone and the outer
    // one filters the rows. influxd 1.6 evaluates a condition on a field next to a tag condition
    // by walking every series of the measurement in each shard (16 384 buckets: 10–15 ms of
    // influxd CPU for 30 days of 10M events); rows streamed out of a subquery are filtered as they
    // come (~4–5 ms).
    const inner = `SELECT ${['detail', ...read].map(quoteIdent).join(', ')} FROM ${from} WHERE ${[...time, `${quoteIdent('bucket')} = ${params.bind(bucket)}`].join(' AND ')}`;
    return `SELECT ${quoteIdent('detail')} FROM (${inner}) WHERE ${where.join(' AND ')} ${order}`;
  };
  if (plan.kind !== 'plate-exact' || q.plate === undefined)
    return { text: statement(plan.measurement, undefined), params: params.values };
  const statements = [statement(plan.measurement, plateBucket(q.plate))];
  if (select === 'whole+legacy')
    statements.push(statement(LEGACY_PLATE_LOOKUP_MEASUREMENT, legacyPlateBucket(q.plate)));
  return { text: statements.join('; '), params: params.values };
}

/**
 * One page query of a search of whole districts (`events` plan, the cameras being exactly those
 * of `districts`): the `area_events` series of those districts, each kind searched, whole rows
 * (`detail` holds the whole event), newest first, at most `fetch`. The filters are conditions on
 * the copies' fields; the caller decides whether the copies are complete for `range`.
 */
export function areaSearchStatement(
  layout: IndexLayout,
  q: ValidSearch,
  range: PageRange,
  fetch: number,
  districts: readonly string[],
): Statement {
  if (!Number.isSafeInteger(fetch) || fetch < 1) throw new RangeError(`bad fetch size ${fetch}`);
  if (searchPlan(q).kind !== 'events' || districts.length === 0)
    throw new RangeError('an area search reads the events plan of at least one district');
  const params = new Params();
  const where = [
    `time >= ${params.bind(nsToRfc3339(range.lowerNs ?? msToNs(q.fromMs)))}`,
    `time <= ${params.bind(nsToRfc3339(range.upperNs))}`,
    anyOf('district', districts, params),
  ];
  if (q.siteIds !== undefined) where.push(anyOf('site', q.siteIds, params));
  if (q.direction !== undefined) where.push(`${quoteIdent('direction')} = ${params.bind(q.direction)}`);
  if (q.minConfidence !== undefined)
    where.push(`${quoteIdent('confidence')} >= ${params.bind(q.minConfidence)}`);
  const from = q.kinds.map((k) => source(layout, k, AREA_MEASUREMENT)).join(', ');
  return {
    text: `SELECT ${quoteIdent('detail')} FROM ${from} WHERE ${where.join(' AND ')} ORDER BY time DESC LIMIT ${fetch}`,
    params: params.values,
  };
}

/**
 * Where event `eventId` is within [fromNs, toNs]: its series (site, camera, kind) and point
 * times, reading only the `event_id` column. With `eventId` undefined: every point in the window,
 * reading only the small integer `dir_in` column — for a window of one nanosecond, where the
 * caller checks the ids of the few points found.
 */
export function locateEventStatement(
  layout: IndexLayout,
  eventId: string | undefined,
  fromNs: bigint,
  toNs: bigint,
): Statement {
  const params = new Params();
  const from = (['face', 'plate'] as const).map((k) => source(layout, k, EVENTS_MEASUREMENT)).join(', ');
  const where = [
    ...(eventId === undefined ? [] : [`${quoteIdent('event_id')} = ${params.bind(eventId)}`]),
    `time >= ${params.bind(nsToRfc3339(fromNs))}`,
    `time <= ${params.bind(nsToRfc3339(toNs))}`,
  ];
  const column = quoteIdent(eventId === undefined ? 'dir_in' : 'event_id');
  const text =
    `SELECT ${column} FROM ${from} WHERE ${where.join(' AND ')}` +
    ` GROUP BY ${quoteIdent('site')}, ${quoteIdent('camera')}, ${quoteIdent('kind')}`;
  return { text, params: params.values };
}

/** A point of the `events` measurement: its series and time. */
export interface EventPointRef {
  kind: IndexedKind;
  site: string;
  camera: string;
  timeNs: bigint;
  /** A plate point's `plate_lookup_16k` bucket, when the point has one (`lookup_bucket`). */
  bucket?: number;
}

/** The oldest and newest point time of `refs` (0n, 0n when empty). */
export function refSpan(refs: readonly EventPointRef[]): { lo: bigint; hi: bigint } {
  let lo = refs[0]?.timeNs ?? 0n;
  let hi = lo;
  for (const r of refs) {
    if (r.timeNs < lo) lo = r.timeNs;
    if (r.timeNs > hi) hi = r.timeNs;
  }
  return { lo, hi };
}

/**
 * The `detail` column of the `plate_lookup_16k` points of the given plate events, in one
 * statement: the buckets of the points, over the time range that holds them all. A bucket holds
 * ~1/16 384 of the plates, so each of its series has a small block per shard, while a camera's
 * `events` series decodes a block of up to 1 000 points of each column read — for a page located over many
 * cameras within a short span, this reads a small fraction of what {@link fetchEventsStatement}
 * would. The range also returns other plates' points of those buckets: the caller keeps only the
 * points it asked for. `refs` must all have a bucket.
 */
export function fetchLookupStatement(layout: IndexLayout, refs: readonly EventPointRef[]): Statement {
  const params = new Params();
  const buckets = [...new Set(refs.map((r) => r.bucket))].map((b) => {
    if (b === undefined || !Number.isSafeInteger(b))
      throw new RangeError('a lookup fetch needs every bucket');
    return String(b);
  });
  if (buckets.length === 0) throw new RangeError('nothing to fetch');
  const { lo, hi } = refSpan(refs);
  const text =
    `SELECT ${quoteIdent('detail')} FROM ${source(layout, 'plate', PLATE_LOOKUP_MEASUREMENT)}` +
    ` WHERE time >= ${params.bind(nsToRfc3339(lo))} AND time <= ${params.bind(nsToRfc3339(hi))}` +
    ` AND ${anyOf('bucket', buckets, params)}`;
  return { text, params: params.values };
}

/** Points of one kind within this span (ns) are fetched by one time-range statement. */
const FETCH_WINDOW_NS = 600_000_000_000n;

/**
 * Every column of the given `events` points, in one request. influxd decodes a whole TSM block
 * (up to 1 000 points of a column) to return any point of it, so points that lie close together
 * (within 10 min) are read by one statement over their time range and series rather than one
 * statement each — a page located over a few cameras then costs one block read per camera, and a
 * district's faces (a few minutes of ten cameras) one statement instead of ten (~1 ms of influxd
 * CPU less). A range may return points that are not asked for (not located, or filtered out by
 * the search): the caller keeps only the points it asked for.
 */
export function fetchEventsStatement(layout: IndexLayout, refs: readonly EventPointRef[]): Statement {
  const params = new Params();
  const columns = [...RESULT_COLUMNS, 'kind'].map(quoteIdent).join(', ');
  const statements: string[] = [];
  for (const kind of ['face', 'plate'] as const) {
    const mine = refs
      .filter((r) => r.kind === kind)
      .sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
    for (let i = 0; i < mine.length;) {
      const lo = mine[i]?.timeNs ?? 0n;
      let j = i;
      while (j + 1 < mine.length && (mine[j + 1]?.timeNs ?? lo) - lo <= FETCH_WINDOW_NS) j++;
      const group = mine.slice(i, j + 1);
      const hi = group.at(-1)?.timeNs ?? lo;
      const series = new Map(group.map((r) => [JSON.stringify([r.site, r.camera]), r]));
      const one = [...series.values()].map(
        (r) =>
          `${quoteIdent('site')} = ${params.bind(r.site)} AND ${quoteIdent('camera')} = ${params.bind(r.camera)}`,
      );
      const which = one.length === 1 ? (one[0] ?? '') : `(${one.map((x) => `(${x})`).join(' OR ')})`;
      const time =
        lo === hi
          ? `time = ${params.bind(nsToRfc3339(lo))}`
          : `time >= ${params.bind(nsToRfc3339(lo))} AND time <= ${params.bind(nsToRfc3339(hi))}`;
      statements.push(
        `SELECT ${columns} FROM ${source(layout, kind, EVENTS_MEASUREMENT)} WHERE ${which} AND ${time}`,
      );
      i = j + 1;
    }
  }
  return { text: statements.join('; '), params: params.values };
}

/**
 * Pass statistics, one statement per kind (same parameters): per interval, site and camera,
 * COUNT(dir_in) = passes (every point has the 0/1 integer; counting it is far cheaper than
 * counting a string column), SUM(dir_in) = in, SUM(dir_out) = out. Reads no plate text.
 */
export function passStatsStatement(layout: IndexLayout, q: ValidStats): Statement {
  const params = new Params();
  const where = [
    `time >= ${params.bind(nsToRfc3339(msToNs(q.fromMs)))}`,
    `time < ${params.bind(nsToRfc3339(msToNs(q.toMs)))}`,
  ];
  if (q.siteIds !== undefined) where.push(anyOf('site', q.siteIds, params));
  if (q.cameraIds !== undefined) where.push(anyOf('camera', q.cameraIds, params));
  const interval = params.bind({ duration: `${q.intervalMinutes}m` });
  const tz = q.timeZone === undefined ? '' : ` tz(${params.bind(q.timeZone)})`;
  const statements = q.kinds.map(
    (k) =>
      `SELECT COUNT(${quoteIdent('dir_in')}) AS ${quoteIdent('total')}, SUM(${quoteIdent('dir_in')}) AS ${quoteIdent('n_in')},` +
      ` SUM(${quoteIdent('dir_out')}) AS ${quoteIdent('n_out')} FROM ${source(layout, k, EVENTS_MEASUREMENT)}` +
      ` WHERE ${where.join(' AND ')} GROUP BY time(${interval}), ${quoteIdent('site')}, ${quoteIdent('camera')} fill(none)${tz}`,
  );
  return { text: statements.join('; '), params: params.values };
}
