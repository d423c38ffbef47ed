/**
 * The event index on InfluxDB (v1 HTTP API): {@link EventIndex} for ingest and
 * {@link EventSearch} for the APIs. Schema in schema.ts and docs/decisions.md (decision 10).
 *
 * - `ensureSchema()` (run by `open`) creates the database and one retention policy per kind, and
 *   alters a policy whose duration or shard length differs from the configuration. influxd itself
 *   deletes expired data: its retention service drops shard groups that ended before
 *   now − duration (checked every 30 min by default).
 * - `write()` sends one `/write` per retention policy and resolves after influxd answered 204.
 * - `search()` pages newest first with cursors; an exact plate reads one `plate_lookup_16k` bucket
 *   (and its bucket of the legacy `plate_lookup` while that holds events),
 *   a wildcard regex-scans plates over a bounded window.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { GatewayError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { decodeCursor, encodeCursor, type CursorPosition } from './cursor.ts';
import { InfluxMissingError, InfluxV1Client, type InfluxSeries, type InfluxValue } from './influx-client.ts';
import {
  areaSearchStatement,
  fetchEventsStatement,
  fetchLookupStatement,
  refSpan,
  locateEventStatement,
  locateSearchStatement,
  passStatsStatement,
  quoteIdent,
  searchPlan,
  searchStatement,
  type EventPointRef,
  type IndexLayout,
  type PageRange,
  type Statement,
} from './influxql.ts';
import { normalisePlate, plateBucket } from './plate.ts';
import {
  AREA_MEASUREMENT,
  areaRowToEvent,
  eventKindOf,
  eventPoints,
  indexedKind,
  INDEXED_KINDS,
  indexProblem,
  isAreaTag,
  LEGACY_PLATE_LOOKUP_MEASUREMENT,
  LOOKUP_BUCKET_FIELD,
  PLATE_LOOKUP_MEASUREMENT,
  pointTimeNs,
  rowToEvent,
  type IndexedKind,
} from './schema.ts';
import { msToNs, NS_PER_MS, rfc3339ToNs, ulidTimeMs } from './time.ts';
import type {
  AreaDirectory,
  CallOptions,
  EventIndex,
  EventSearch,
  EventSearchPage,
  EventSearchQuery,
  IndexedEvent,
  PassStatsQuery,
  PassStatsRow,
  RetentionInfo,
} from './types.ts';
import {
  validateEventId,
  validateSearch,
  validateStats,
  type SearchLimits,
  type ValidSearch,
} from './validate.ts';

/** Options of {@link InfluxEventIndex}. */
export interface InfluxEventIndexOptions {
  /** Base URL of influxd's HTTP API. */
  url: string;
  /** Database name ([A-Za-z_][A-Za-z0-9_]*). */
  database: string;
  /** Retention per kind, in days. */
  retentionDays: Readonly<Record<IndexedKind, number>>;
  /** Retention policy names per kind. Default `face`, `plate`. */
  retentionPolicyNames?: Readonly<Record<IndexedKind, string>>;
  /** Shard group length in hours (capped at the retention). Default 24. */
  shardDurationHours?: number;
  /** Deadline of one request, ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Most queries sent to influxd at once, the rest queued in order; 0 = no limit. Default 0. */
  maxConcurrentQueries?: number;
  /** Longest search/statistics range, days. Default 31. */
  maxSearchRangeDays?: number;
  /** Longest wildcard-plate range, hours. Default 168 (7 days). */
  wildcardMaxRangeHours?: number;
  /** Default page size. Default 100. */
  defaultPageSize?: number;
  /** Largest page size. Default 1000. */
  maxPageSize?: number;
  /** getEvent's window either side of a ULID's time when the event is not at that ms. Default 1 h. */
  eventIdTimeSlackMs?: number;
  /**
   * Where cameras are: with it, every event written also goes to its camera's district series
   * (`area_events`), and a search of whole districts reads those while they are complete.
   */
  areas?: AreaDirectory;
  logger?: Logger;
  /** Where the index's metrics are registered. Default: nowhere. */
  registry?: Registry;
}

/** A result row decoded, with its point time. */
interface Row {
  event: Event;
  timeNs: bigint;
}

/**
 * Longest time span of located plate points fetched from their `plate_lookup_16k` buckets, ns (1 h):
 * the bucket series are read over the whole span, so a longer one (a sparse search whose hits lie
 * days apart) is fetched by `events` series and clusters of time instead.
 */
const LOOKUP_FETCH_MAX_SPAN_NS = 3_600n * 1_000_000_000n;

/** The `plate_lookup_16k` bucket of a plate text, as the `lookup_bucket` integer. */
function bucketOf(text: string): number {
  return Number(plateBucket(normalisePlate(text)));
}

/** Most series a search may scan while reading whole rows (see {@link readsWholeRows}). */
const WHOLE_ROW_SERIES = 16;

/**
 * Whether a search reads whole rows at once, or locates its rows first and fetches them after.
 * influxd decodes a whole TSM block (up to 1 000 values) of every selected column for each series
 * it touches, and the long `detail` column is most of the bytes, so a query over many series (a
 * wildcard's regex over every camera, a district's cameras merged newest first) only locates —
 * series tags, time and a small integer column — and then fetches the rows found, by series and
 * time range (one request; see {@link fetchEventsStatement}), decoding `detail` only for series
 * with hits. An exact plate reads its `plate_lookup_16k` bucket whole (one series per shard), and so
 * does a search of a few cameras.
 */
function readsWholeRows(q: ValidSearch): boolean {
  const plan = searchPlan(q).kind;
  if (plan === 'plate-exact') return true;
  if (plan === 'plate-wildcard') return false;
  return q.cameraIds !== undefined && q.cameraIds.length * q.kinds.length <= WHOLE_ROW_SERIES;
}

/** A search result: an event and its point time. */
interface Hit {
  timeNs: bigint;
  eventId: string;
  event: Event;
}

function refKey(kind: IndexedKind, site: string, camera: string, timeNs: bigint): string {
  return `${kind}/${site}/${camera}/${timeNs}`;
}

/** Rows beyond the page size fetched per round (a few revisions of one event share a time). */
const FETCH_SLACK = 16;
/** Most rows read at one instant when a whole page shares a time (never in practice). */
const INSTANT_FETCH = 10_000;
/** Most points of one event id read by getEvent. */
const MAX_LOCATED = 64;
/**
 * Most windows of one search call (a full window consumes at least one instant, a short one
 * grows the next); the last reads everything left.
 */
const MAX_ROUNDS = 64;
/** How much longer each window is than the previous one when that came back short. */
const WINDOW_GROWTH = 4n;

/** How many event ids the stale-revision check remembers. */
const WRITTEN_REVISIONS_KEPT = 200_000;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/**
 * How long after {@link AreaDirectory.areaCopiesSinceMs} the district copies are first read: a
 * point's time is its edge's clock, which may run ahead of the gateway's, and a write whose
 * districts were resolved just before a camera moved may still be on its way.
 */
const AREA_COPY_SLACK_MS = HOUR_MS;

/** How often the index asks whether the legacy plate lookup still holds events. */
const LEGACY_CHECK_MS = HOUR_MS;

/** The InfluxDB event index. */
export class InfluxEventIndex implements EventIndex, EventSearch {
  private readonly client: InfluxV1Client;
  private readonly layout: IndexLayout;
  private readonly limits: SearchLimits;
  private readonly retentionHours: Readonly<Record<IndexedKind, number>>;
  private readonly shardHours: Readonly<Record<IndexedKind, number>>;
  private readonly slackMs: number;
  private readonly areas: AreaDirectory | undefined;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof createMetrics>;
  private schemaRepair: Promise<void> | undefined;
  /** Event id → the write in progress for it (per-event write order). */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Event id → highest revision written by this process, most recent last. */
  private readonly written = new LruMap<string, number>(WRITTEN_REVISIONS_KEPT);
  /** First-window sizes of searches, by shape. */
  private readonly windows = new WindowSizer();
  /** Whether the legacy plate lookup holds events, as last asked (see {@link legacyLookup}). */
  private legacy: { atMs: number; present: Promise<boolean> } | undefined;

  constructor(opts: InfluxEventIndexOptions) {
    const names = opts.retentionPolicyNames ?? { face: 'face', plate: 'plate' };
    for (const n of [opts.database, names.face, names.plate]) quoteIdent(n);
    if (names.face === names.plate) throw new RangeError('face and plate need different retention policies');
    this.layout = { database: opts.database, retentionPolicies: { ...names } };
    const shard = opts.shardDurationHours ?? 24;
    const hours = (k: IndexedKind): number => {
      const days = opts.retentionDays[k];
      if (!Number.isSafeInteger(days) || days < 1)
        throw new RangeError(`retention of ${k} must be a whole number of days >= 1`);
      return days * 24;
    };
    this.retentionHours = { face: hours('face'), plate: hours('plate') };
    this.shardHours = {
      face: Math.min(shard, this.retentionHours.face),
      plate: Math.min(shard, this.retentionHours.plate),
    };
    this.client = new InfluxV1Client({
      url: opts.url,
      timeoutMs: opts.requestTimeoutMs ?? 10_000,
      ...(opts.maxConcurrentQueries === undefined ? {} : { maxConcurrentQueries: opts.maxConcurrentQueries }),
    });
    this.limits = {
      maxRangeMs: (opts.maxSearchRangeDays ?? 31) * DAY_MS,
      wildcardMaxRangeMs: (opts.wildcardMaxRangeHours ?? 168) * HOUR_MS,
      defaultPageSize: opts.defaultPageSize ?? 100,
      maxPageSize: opts.maxPageSize ?? 1000,
    };
    this.slackMs = opts.eventIdTimeSlackMs ?? HOUR_MS;
    this.areas = opts.areas;
    this.log = (opts.logger ?? silentLogger()).child({ module: 'index' });
    this.metrics = createMetrics(opts.registry);
  }

  /** Create the index and its schema (database, retention policies). */
  static async open(opts: InfluxEventIndexOptions): Promise<InfluxEventIndex> {
    const index = new InfluxEventIndex(opts);
    await index.ensureSchema();
    return index;
  }

  /** The database and retention policy names in use. */
  get names(): IndexLayout {
    return this.layout;
  }

  /**
   * Create the database and the retention policy of each kind; alter a policy whose duration or
   * shard length differs from the configuration. Idempotent. Shortening a retention deletes
   * older events at influxd's next retention check: logged as a warning.
   */
  async ensureSchema(): Promise<void> {
    const db = quoteIdent(this.layout.database);
    await this.client.query(`CREATE DATABASE ${db}`);
    const existing = await this.retentionPolicies();
    for (const kind of INDEXED_KINDS) {
      const name = this.layout.retentionPolicies[kind];
      const wantMs = this.retentionHours[kind] * HOUR_MS;
      const wantShardMs = this.shardHours[kind] * HOUR_MS;
      const spec = `DURATION ${this.retentionHours[kind]}h REPLICATION 1 SHARD DURATION ${this.shardHours[kind]}h`;
      const have = existing.get(name);
      if (have === undefined) {
        await this.client.query(`CREATE RETENTION POLICY ${quoteIdent(name)} ON ${db} ${spec}`);
        this.log.info({ kind, retention_policy: name, duration_ms: wantMs }, 'retention policy created');
      } else if (have.durationMs !== wantMs || have.shardGroupDurationMs !== wantShardMs) {
        await this.client.query(
          `ALTER RETENTION POLICY ${quoteIdent(name)} ON ${db} DURATION ${this.retentionHours[kind]}h SHARD DURATION ${this.shardHours[kind]}h`,
        );
        const fields = {
          kind,
          retention_policy: name,
          old_duration_ms: have.durationMs,
          duration_ms: wantMs,
          shard_duration_ms: wantShardMs,
        };
        if (wantMs < have.durationMs) {
          this.log.warn(
            fields,
            'retention shortened: older events will be deleted at the next retention check',
          );
        } else {
          this.log.info(fields, 'retention policy altered');
        }
      }
    }
  }

  /**
   * Write `events` (see {@link EventIndex.write}). Revisions of one event share one point, the
   * last write winning, so a lower revision must never be written after a higher one:
   * - within one call an event id keeps only its highest revision;
   * - a call touching an event id that an earlier call is still writing waits for that write;
   * - a revision lower than one this process already wrote (kept for the last 200 000 event
   *   ids) is skipped as stale (`sharpeyes_gateway_index_stale_revisions_total`).
   * Points older than their retention are dropped by influxd; that is counted
   * (`sharpeyes_gateway_index_points_beyond_retention_total`), not an error.
   */
  async write(events: readonly IndexedEvent[]): Promise<void> {
    if (events.length === 0) return;
    for (const e of events) {
      const problem = indexProblem(e);
      if (problem !== undefined) {
        throw new GatewayError(
          'GATEWAY_ERR_INGEST_INVALID',
          `event ${JSON.stringify(e.eventId.slice(0, 80))}: ${problem}`,
        );
      }
    }
    const latest = new Map<string, IndexedEvent>();
    for (const e of events) {
      const prev = latest.get(e.eventId);
      if (prev === undefined || e.revision >= prev.revision) latest.set(e.eventId, e);
    }
    const earlier = new Set<Promise<void>>();
    for (const id of latest.keys()) {
      const p = this.inflight.get(id);
      if (p !== undefined) earlier.add(p);
    }
    const run = (async () => {
      await Promise.all(earlier);
      await this.writeLatest([...latest.values()]);
    })();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    for (const id of latest.keys()) this.inflight.set(id, settled);
    try {
      await run;
    } finally {
      for (const id of latest.keys()) if (this.inflight.get(id) === settled) this.inflight.delete(id);
    }
  }

  private async writeLatest(candidates: readonly IndexedEvent[]): Promise<void> {
    const events = candidates.filter((e) => {
      const written = this.written.get(e.eventId);
      if (written === undefined || e.revision >= written) return true;
      this.metrics.staleRevisions.inc();
      this.log.debug({ event_id: e.eventId, revision: e.revision, written }, 'stale revision skipped');
      return false;
    });
    const byKind = new Map<IndexedKind, { lines: string[]; events: number }>();
    for (const e of events) {
      const { kind, lines } = eventPoints(e, this.areas?.districtOf(e.cameraId));
      const batch = byKind.get(kind) ?? { lines: [], events: 0 };
      batch.lines.push(...lines);
      batch.events++;
      byKind.set(kind, batch);
    }
    if (byKind.size === 0) return;
    const end = this.metrics.writeSeconds.startTimer();
    try {
      await Promise.all([...byKind].map(([kind, b]) => this.writeKind(kind, b.lines)));
      for (const [kind, b] of byKind) this.metrics.eventsWritten.inc({ kind }, b.events);
    } catch (err) {
      this.metrics.writeErrors.inc({ code: err instanceof GatewayError ? err.code : 'unknown' });
      throw err;
    } finally {
      end();
    }
    for (const e of events) this.written.set(e.eventId, e.revision);
  }

  private async writeKind(kind: IndexedKind, lines: string[]): Promise<void> {
    const body = lines.join('\n');
    const rp = this.layout.retentionPolicies[kind];
    let outcome;
    try {
      outcome = await this.client.write(this.layout.database, rp, body);
    } catch (err) {
      if (!(err instanceof InfluxMissingError)) throw err;
      // The database or policy is gone (influxd replaced or wiped): recreate it, then retry once.
      this.log.warn({ kind, err: err.message }, 'index schema missing in influxd; recreating it');
      this.schemaRepair ??= this.ensureSchema().finally(() => {
        this.schemaRepair = undefined;
      });
      await this.schemaRepair;
      outcome = await this.client.write(this.layout.database, rp, body);
    }
    if (outcome.beyondRetention > 0) {
      this.metrics.beyondRetention.inc({ kind }, outcome.beyondRetention);
      this.log.warn(
        { kind, points: outcome.beyondRetention },
        'points older than the retention policy were not stored',
      );
    }
  }

  /** One page of a search (see {@link EventSearch.search}). */
  async search(query: EventSearchQuery, opts: CallOptions = {}): Promise<EventSearchPage> {
    const q = validateSearch(query, this.limits);
    if (q.empty) return { events: [] };
    const plan = searchPlan(q).kind;
    const end = this.metrics.querySeconds.startTimer({ query: plan });
    try {
      return await this.page(q, this.call(opts));
    } finally {
      end();
    }
  }

  /**
   * One page, newest first, walked in time windows: a page needs only `limit + 1` hits, and
   * influxd's cost grows with the span (shards, blocks) a statement covers, so the first window
   * is as short as the expected density allows (see {@link WindowSizer}) and each window that
   * comes back short is followed by an older one `WINDOW_GROWTH` times as long, down to the
   * search's `from`. A window that fills up (`fetch` rows) ends at its oldest instant, which the
   * next window reads again (or whole, when the window was that instant alone), so a page never
   * splits an instant.
   */
  private async page(q: ValidSearch, call: CallQueries): Promise<EventSearchPage> {
    let upperNs = msToNs(q.toMs) - 1n;
    let after: CursorPosition | undefined;
    if (q.cursor !== undefined) {
      after = decodeCursor(q.cursor, q);
      upperNs = after.timeNs;
    }
    const lowerNs = msToNs(q.fromMs);
    const fetch = q.limit + 1 + FETCH_SLACK;
    const shape = this.windows.shapeOf(q);
    let windowNs = this.windows.initial(shape, q.limit + 1, upperNs - lowerNs + 1n);
    const found: Hit[] = [];
    let scannedNs = 0n;
    let scannedHits = 0;
    for (let round = 0; round < MAX_ROUNDS && upperNs >= lowerNs && found.length <= q.limit; round++) {
      // The last round reads whatever is left, so a search always ends.
      const lastRound = round === MAX_ROUNDS - 1;
      const winLowerNs = lastRound || upperNs - lowerNs < windowNs ? lowerNs : upperNs - windowNs + 1n;
      let hits = await this.hits(call, q, { lowerNs: winLowerNs, upperNs }, fetch);
      let nextUpper: bigint;
      if (hits.length < fetch) {
        // The window is complete: go on below it with a longer one.
        scannedNs += upperNs - winLowerNs + 1n;
        scannedHits += hits.length;
        nextUpper = winLowerNs - 1n;
        windowNs *= WINDOW_GROWTH;
      } else {
        // The window's oldest instant may continue beyond this batch: leave it for the next
        // round, unless the batch is that instant alone — then read the whole instant now.
        const lastNs = hits.reduce((m, h) => (h.timeNs < m ? h.timeNs : m), upperNs);
        const before = hits.filter((h) => h.timeNs > lastNs);
        scannedNs += upperNs - lastNs;
        scannedHits += before.length;
        if (before.length > 0) {
          hits = before;
          nextUpper = lastNs;
        } else {
          hits = await this.hits(call, q, { lowerNs: lastNs, upperNs: lastNs }, INSTANT_FETCH);
          nextUpper = lastNs - 1n;
        }
      }
      const cut = after;
      if (cut !== undefined) {
        hits = hits.filter((h) => !(h.timeNs === cut.timeNs && h.eventId >= cut.eventId));
        after = undefined;
      }
      found.push(...latestRevisions(hits));
      upperNs = nextUpper;
    }
    this.windows.observe(shape, scannedHits, scannedNs);
    const exhausted = upperNs < lowerNs;
    const pageHits = found.slice(0, q.limit);
    const last = pageHits.at(-1);
    const more = found.length > q.limit || (!exhausted && last !== undefined);
    const page: EventSearchPage = { events: pageHits.map((h) => h.event) };
    if (more && last !== undefined) {
      page.nextCursor = encodeCursor({ timeNs: last.timeNs, eventId: last.eventId }, q);
    }
    return page;
  }

  /**
   * One page query's hits, whole events (see {@link readsWholeRows}): read at once, or located
   * (series tags, time, plate bucket) and then fetched — plates located within
   * {@link LOOKUP_FETCH_MAX_SPAN_NS} of each other from their small `plate_lookup_16k` bucket series,
   * the rest by `events` series and time — in one more round of requests.
   */
  private async hits(call: CallQueries, q: ValidSearch, range: PageRange, fetch: number): Promise<Hit[]> {
    const districts = this.wholeDistricts(q, range);
    if (districts !== undefined) {
      this.metrics.areaWindows.inc();
      const rows = await this.rows(call, areaSearchStatement(this.layout, q, range, fetch, districts));
      return rows.map((r) => ({ timeNs: r.timeNs, eventId: r.event.eventId, event: r.event }));
    }
    if (readsWholeRows(q)) {
      const legacy = searchPlan(q).kind === 'plate-exact' && (await this.legacyLookup());
      let rows = await this.rows(call, searchStatement(this.layout, q, range, fetch, legacy));
      // Two statements (the lookups, legacy and current), each its newest `fetch`: the newest
      // `fetch` of both are among them.
      if (legacy)
        rows = rows.sort((a, b) => (a.timeNs > b.timeNs ? -1 : a.timeNs < b.timeNs ? 1 : 0)).slice(0, fetch);
      return rows.map((r) => ({ timeNs: r.timeNs, eventId: r.event.eventId, event: r.event }));
    }
    const [series = []] = await call.query(locateSearchStatement(this.layout, q, range, fetch));
    const refs: EventPointRef[] = [];
    for (const s of series) {
      for (const row of seriesRows(s)) {
        const kind = row.kind;
        if ((kind !== 'face' && kind !== 'plate') || typeof row.time !== 'string') {
          throw new GatewayError('GATEWAY_ERR_INDEX_QUERY', 'a located point has no kind or time');
        }
        const bucket = row[LOOKUP_BUCKET_FIELD];
        refs.push({
          kind,
          site: String(row.site),
          camera: String(row.camera),
          timeNs: rfc3339ToNs(row.time),
          ...(kind === 'plate' && typeof bucket === 'number' ? { bucket } : {}),
        });
      }
    }
    if (refs.length === 0) return [];
    const fetched = await this.fetchLocated(call, refs);
    // A point retention deleted between locating and fetching is simply gone; points a fetch
    // range returned that were not located (filtered out by the search) are dropped.
    return refs.flatMap((ref) => {
      const e = fetched.get(refKey(ref.kind, ref.site, ref.camera, ref.timeNs));
      return e === undefined ? [] : [{ timeNs: ref.timeNs, eventId: e.eventId, event: e }];
    });
  }

  /**
   * The districts whose `area_events` series answer a page query over `range`, or undefined to
   * read `events`: an index that writes copies, an `events` plan over more cameras than
   * {@link readsWholeRows} reads at once, cameras that are exactly every camera of one or more
   * districts now, and a window that starts {@link AREA_COPY_SLACK_MS} after the copies became
   * complete — since then no camera joined or left a district, so each district's series holds
   * the events of its cameras and nothing else.
   */
  private wholeDistricts(q: ValidSearch, range: PageRange): string[] | undefined {
    const areas = this.areas;
    if (areas === undefined || q.cameraIds === undefined || readsWholeRows(q)) return undefined;
    const since = areas.areaCopiesSinceMs();
    if (since === undefined || (range.lowerNs ?? msToNs(q.fromMs)) < msToNs(since + AREA_COPY_SLACK_MS))
      return undefined;
    const counts = new Map<string, number>();
    for (const id of new Set(q.cameraIds)) {
      const district = areas.districtOf(id);
      if (district === undefined || !isAreaTag(district)) return undefined;
      counts.set(district, (counts.get(district) ?? 0) + 1);
    }
    for (const [district, n] of counts) if (areas.cameraCountOf(district) !== n) return undefined;
    return [...counts.keys()];
  }

  /** The located points' events by {@link refKey}: see {@link hits}. */
  private async fetchLocated(call: CallQueries, refs: readonly EventPointRef[]): Promise<Map<string, Event>> {
    const fetched = new Map<string, Event>();
    const keep = (rows: readonly Row[]): void => {
      for (const r of rows) {
        const e = r.event;
        const key = refKey(indexedKind(e.kind) ?? 'plate', e.siteId, e.cameraId, r.timeNs);
        // An earlier revision that read another plate keeps its lookup point in that plate's
        // bucket, which may be among those read: the highest revision is the event.
        const had = fetched.get(key);
        if (had === undefined || had.revision < e.revision) fetched.set(key, e);
      }
    };
    const count = (from: string, asked: readonly EventPointRef[]): void => {
      const n = asked.filter((r) => fetched.has(refKey(r.kind, r.site, r.camera, r.timeNs))).length;
      if (n > 0) this.metrics.locatedFetched.inc({ from }, n);
    };
    let lookup = refs.filter((r) => r.bucket !== undefined);
    const span = refSpan(lookup);
    if (span.hi - span.lo > LOOKUP_FETCH_MAX_SPAN_NS) lookup = [];
    const rest = lookup.length === 0 ? refs : refs.filter((r) => r.bucket === undefined);
    const [fromLookup, fromEvents] = await Promise.all([
      lookup.length === 0 ? [] : this.rows(call, fetchLookupStatement(this.layout, lookup)),
      rest.length === 0 ? [] : this.rows(call, fetchEventsStatement(this.layout, rest)),
    ]);
    keep(fromLookup);
    // A plate point without its lookup twin (a partial write, or two plates of one bucket at
    // the same nanosecond, the later overwriting the earlier) is read from `events` after all —
    // and so is one whose twin read here is another revision's (a plate of another bucket).
    const missing = lookup.filter((r) => {
      const key = refKey(r.kind, r.site, r.camera, r.timeNs);
      const e = fetched.get(key);
      if (e !== undefined && e.detail?.$case === 'plate' && bucketOf(e.detail.value.text) === r.bucket)
        return false;
      fetched.delete(key);
      return true;
    });
    count('plate_lookup', lookup);
    keep(fromEvents);
    if (missing.length > 0) keep(await this.rows(call, fetchEventsStatement(this.layout, missing)));
    count('events', [...rest, ...missing]);
    return fetched;
  }

  /** The event `eventId` at its highest revision (see {@link EventSearch.getEvent}). */
  async getEvent(eventId: string, opts: CallOptions = {}): Promise<IndexedEvent | undefined> {
    const id = validateEventId(eventId);
    const call = this.call(opts);
    const end = this.metrics.querySeconds.startTimer({ query: 'get' });
    try {
      const idMs = ulidTimeMs(id);
      // [from, to, whether only the time is matched (cheap: no event id column is decoded)].
      const windows: Array<[bigint, bigint, boolean]> = [];
      if (idMs !== undefined) {
        // Our edge makes the id at first sight, so the point time is exactly known: find the
        // points at that nanosecond (usually one) and check their ids. Another edge's ids may be
        // made a little later or earlier than the pass: then look around by id.
        const exact = pointTimeNs({ eventId: id, firstSeenMs: idMs, timeMs: idMs });
        windows.push([exact, exact, true]);
        windows.push([msToNs(Math.max(0, idMs - this.slackMs)), msToNs(idMs + this.slackMs + 1) - 1n, false]);
      } else {
        // Not a ULID: no time hint, so look through everything retention may still hold.
        const keepMs =
          Math.max(...INDEXED_KINDS.map((k) => this.retentionHours[k] + this.shardHours[k])) * HOUR_MS;
        const now = Date.now();
        windows.push([msToNs(Math.max(0, now - keepMs)), msToNs(now + DAY_MS), false]);
      }
      for (const [from, to, timeOnly] of windows) {
        const located = await call.query(
          locateEventStatement(this.layout, timeOnly ? undefined : id, from, to),
        );
        const refs: EventPointRef[] = [];
        for (const s of located[0] ?? []) {
          const kind = s.tags?.kind;
          if (kind !== 'face' && kind !== 'plate') continue;
          for (const row of seriesRows(s)) {
            refs.push({
              kind,
              site: s.tags?.site ?? '',
              camera: s.tags?.camera ?? '',
              timeNs: rfc3339ToNs(String(row.time)),
            });
          }
        }
        if (refs.length === 0) continue;
        // Revisions share one point; more than one only if an edge changed an event's pass time.
        const st = fetchEventsStatement(this.layout, refs.slice(0, MAX_LOCATED));
        const best = latestRevisions((await this.rows(call, st)).filter((r) => r.event.eventId === id))[0];
        if (best !== undefined) return best.event;
      }
      return undefined;
    } finally {
      end();
    }
  }

  /** Counts per camera per interval (see {@link EventSearch.passStats}). */
  async passStats(query: PassStatsQuery, opts: CallOptions = {}): Promise<PassStatsRow[]> {
    const q = validateStats(query, this.limits);
    if (q.empty) return [];
    const end = this.metrics.querySeconds.startTimer({ query: 'stats' });
    try {
      const results = await this.call(opts).query(passStatsStatement(this.layout, q));
      const out: PassStatsRow[] = [];
      q.kinds.forEach((kind, i) => {
        for (const series of results[i] ?? []) {
          for (const row of seriesRows(series)) {
            const total = numberOf(row.total);
            const inCount = numberOf(row.n_in);
            const outCount = numberOf(row.n_out);
            out.push({
              siteId: series.tags?.site ?? '',
              cameraId: series.tags?.camera ?? '',
              kind: eventKindOf(kind),
              startMs: Number(rfc3339ToNs(String(row.time)) / NS_PER_MS),
              total,
              in: inCount,
              out: outCount,
              other: total - inCount - outCount,
            });
          }
        }
      });
      out.sort(
        (a, b) =>
          a.startMs - b.startMs || cmp(a.siteId, b.siteId) || cmp(a.cameraId, b.cameraId) || a.kind - b.kind,
      );
      return out;
    } finally {
      end();
    }
  }

  /** The retention policies of each kind as influxd has them. */
  async retention(): Promise<RetentionInfo[]> {
    const existing = await this.retentionPolicies();
    return INDEXED_KINDS.flatMap((kind) => {
      const name = this.layout.retentionPolicies[kind];
      const rp = existing.get(name);
      return rp === undefined ? [] : [{ kind: eventKindOf(kind), retentionPolicy: name, ...rp }];
    });
  }

  /** influxd answers `/ping`. */
  async ping(): Promise<void> {
    await this.client.ping();
  }

  private async retentionPolicies(): Promise<
    Map<string, { durationMs: number; shardGroupDurationMs: number }>
  > {
    const [series = []] = await this.client.query(
      `SHOW RETENTION POLICIES ON ${quoteIdent(this.layout.database)}`,
    );
    const out = new Map<string, { durationMs: number; shardGroupDurationMs: number }>();
    for (const s of series) {
      for (const row of seriesRows(s)) {
        out.set(String(row.name), {
          durationMs: goDurationMs(String(row.duration)),
          shardGroupDurationMs: goDurationMs(String(row.shardGroupDuration)),
        });
      }
    }
    return out;
  }

  /**
   * Whether the legacy `plate_lookup` measurement (4 096 buckets) still holds events, so exact
   * plate searches read it too: asked of influxd's index at most once an hour (retention empties
   * it within a retention period of the upgrade).
   */
  private async legacyLookup(): Promise<boolean> {
    const now = Date.now();
    if (this.legacy === undefined || now - this.legacy.atMs > LEGACY_CHECK_MS) {
      const atMs = now;
      const present = this.client
        .query(
          `SHOW MEASUREMENTS ON ${quoteIdent(this.layout.database)} WITH MEASUREMENT = ${quoteIdent(LEGACY_PLATE_LOOKUP_MEASUREMENT)}`,
        )
        .then(([series = []]) => series.some((x) => x.values.length > 0));
      this.legacy = { atMs, present };
      // A failed check is asked again by the next search.
      present.catch(() => {
        if (this.legacy?.atMs === atMs) this.legacy = undefined;
      });
    }
    return this.legacy.present;
  }

  /** The queries of one API call (see {@link CallQueries}). */
  private call(opts: CallOptions): CallQueries {
    return new CallQueries(this.client, this.layout.database, opts.signal);
  }

  /** Run a search statement and decode its rows. */
  private async rows(call: CallQueries, st: Statement): Promise<Row[]> {
    const results = await call.query(st);
    const rows: Row[] = [];
    for (const s of results.flat()) {
      for (const row of seriesRows(s)) {
        try {
          const timeNs = rfc3339ToNs(String(row.time));
          if (s.name === AREA_MEASUREMENT) {
            rows.push({ event: areaRowToEvent(row), timeNs });
            continue;
          }
          let kind: IndexedKind;
          if (s.name === PLATE_LOOKUP_MEASUREMENT || s.name === LEGACY_PLATE_LOOKUP_MEASUREMENT)
            kind = 'plate';
          else if (row.kind === 'face' || row.kind === 'plate') kind = row.kind;
          else throw new RangeError('row without a kind');
          rows.push({ event: rowToEvent(row, kind), timeNs });
        } catch (err) {
          throw new GatewayError(
            'GATEWAY_ERR_INDEX_QUERY',
            `a stored point cannot be read back (event ${JSON.stringify(row.event_id)}): ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
    }
    return rows;
  }
}

/**
 * The index queries of one API call: sent with the caller's cancellation, and each after the
 * first as continuing work, which influxd's query slots serve before the first query of a new
 * call — so a search that has started is finished before new ones start, and its few queries
 * wait in line about once, not once each.
 */
class CallQueries {
  private started = false;

  constructor(
    private readonly client: InfluxV1Client,
    private readonly database: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  query(st: Statement): Promise<InfluxSeries[][]> {
    const continuing = this.started;
    this.started = true;
    return this.client.query(st.text, {
      db: this.database,
      params: st.params,
      continuing,
      ...(this.signal === undefined ? {} : { signal: this.signal }),
    });
  }
}

/** Shortest first window, ns (1 s). */
const MIN_WINDOW_NS = 1_000_000_000n;
/** First window of a search shape never seen: 1 h. */
const DEFAULT_WINDOW_NS = 3_600n * 1_000_000_000n;
/** How many hits a first window aims at, relative to what the page needs (margin for variance). */
const WINDOW_MARGIN = 1.5;
/** Weight of the newest observation in a shape's density. */
const DENSITY_WEIGHT = 0.3;
/** Most search shapes whose density is remembered. */
const SHAPES_KEPT = 256;

/**
 * Sizes a search's first time window from the hit density (hits per ns) that searches of the
 * same shape (plan, kinds, number of cameras and sites, filters) found recently, so that the first
 * window usually holds a page: a busy area's newest 100 events lie in its last few minutes, a
 * quiet camera's take days. Only a cost estimate: results never depend on it.
 */
class WindowSizer {
  private readonly density = new LruMap<string, number>(SHAPES_KEPT);

  shapeOf(q: ValidSearch): string {
    const size = (xs: readonly string[] | undefined): string =>
      xs === undefined ? '*' : String(Math.ceil(Math.log2(xs.length + 1)));
    return [
      searchPlan(q).kind,
      q.kinds.join('+'),
      size(q.cameraIds),
      size(q.siteIds),
      q.direction === undefined ? '' : 'd',
      q.minConfidence === undefined ? '' : 'c',
    ].join('|');
  }

  /** The first window for `need` hits of shape `shape` in a range of `rangeNs`. */
  initial(shape: string, need: number, rangeNs: bigint): bigint {
    // An exact plate reads one bucket series per shard whatever the window, and most plates
    // need the whole range to fill a page: one statement over it costs least (measured).
    if (shape.startsWith('plate-exact')) return rangeNs;
    const d = this.density.get(shape);
    let w: bigint;
    if (d === undefined) {
      w = DEFAULT_WINDOW_NS;
    } else if (d <= 0) {
      w = rangeNs;
    } else {
      const ns = (need * WINDOW_MARGIN) / d;
      w = ns >= Number(rangeNs) ? rangeNs : BigInt(Math.ceil(ns));
    }
    return w < MIN_WINDOW_NS ? MIN_WINDOW_NS : w;
  }

  /** Record what a search found: `hits` in `spanNs` of time read completely. */
  observe(shape: string, hits: number, spanNs: bigint): void {
    if (spanNs <= 0n) return;
    const d = hits / Number(spanNs);
    const prev = this.density.get(shape);
    this.density.set(shape, prev === undefined ? d : prev + DENSITY_WEIGHT * (d - prev));
  }
}

/** A Map that forgets its least recently set keys beyond `max` entries. */
class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
  }
}

/**
 * One entry per (time, event id) — the highest revision where the event is known — ordered newest
 * first, then by event id descending.
 */
function latestRevisions<T extends { timeNs: bigint; eventId?: string; event?: Event }>(
  items: readonly T[],
): T[] {
  const idOf = (x: T): string => x.event?.eventId ?? x.eventId ?? '';
  const best = new Map<string, T>();
  for (const x of items) {
    const key = `${x.timeNs}/${idOf(x)}`;
    const prev = best.get(key);
    if (prev === undefined || (x.event?.revision ?? 0) > (prev.event?.revision ?? 0)) best.set(key, x);
  }
  return [...best.values()].sort((a, b) =>
    a.timeNs === b.timeNs ? cmp(idOf(b), idOf(a)) : a.timeNs > b.timeNs ? -1 : 1,
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function seriesRows(series: InfluxSeries): Array<Record<string, InfluxValue>> {
  return series.values.map((values) => {
    const row: Record<string, InfluxValue> = {};
    series.columns.forEach((col, i) => {
      row[col] = values[i] ?? null;
    });
    return row;
  });
}

function numberOf(v: InfluxValue | undefined): number {
  return typeof v === 'number' ? v : 0;
}

/** Parse a Go duration as influxd prints it (`720h0m0s`, `0s`, `1h30m0s`) to ms. */
export function goDurationMs(text: string): number {
  const units: Record<string, number> = {
    h: HOUR_MS,
    m: 60_000,
    s: 1000,
    ms: 1,
    us: 1e-3,
    µs: 1e-3,
    ns: 1e-6,
  };
  let ms = 0;
  let matched = '';
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) {
    ms += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
    matched += m[0];
  }
  if (matched !== text)
    throw new GatewayError(
      'GATEWAY_ERR_INDEX_QUERY',
      `unexpected duration from influxd: ${JSON.stringify(text)}`,
    );
  return Math.round(ms);
}

function createMetrics(registry: Registry | undefined) {
  const registers = registry === undefined ? [] : [registry];
  return {
    writeSeconds: new Histogram({
      name: 'sharpeyes_gateway_index_write_seconds',
      help: 'Time of one index write (all its /write requests), seconds.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    eventsWritten: new Counter({
      name: 'sharpeyes_gateway_index_events_written_total',
      help: 'Events written to the index (a replay counts again).',
      labelNames: ['kind'],
      registers,
    }),
    writeErrors: new Counter({
      name: 'sharpeyes_gateway_index_write_errors_total',
      help: 'Index writes that failed, by error code.',
      labelNames: ['code'],
      registers,
    }),
    beyondRetention: new Counter({
      name: 'sharpeyes_gateway_index_points_beyond_retention_total',
      help: 'Points influxd dropped because they are older than their retention policy.',
      labelNames: ['kind'],
      registers,
    }),
    staleRevisions: new Counter({
      name: 'sharpeyes_gateway_index_stale_revisions_total',
      help: 'Event revisions not written because a higher revision of the event was written before.',
      registers,
    }),
    areaWindows: new Counter({
      name: 'sharpeyes_gateway_index_area_windows_total',
      help: 'Search windows read from the per-district copies (area_events) instead of events.',
      registers,
    }),
    locatedFetched: new Counter({
      name: 'sharpeyes_gateway_index_located_fetched_total',
      help: 'Events a search located and then fetched, by where they were read (plate_lookup, events).',
      labelNames: ['from'],
      registers,
    }),
    querySeconds: new Histogram({
      name: 'sharpeyes_gateway_index_query_seconds',
      help: 'Time of index queries by type (events, plate-exact, plate-wildcard, get, stats), seconds.',
      labelNames: ['query'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
  };
}
