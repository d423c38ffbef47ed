/**
 * The index schema (decision 10 in docs/decisions.md): how an event becomes InfluxDB points and
 * how a result row becomes an event again. Pure functions.
 *
 * Per kind, one retention policy (`face`, `plate` by default) holds:
 * - `events`: one point per event. Tags `site`, `camera`, `kind` (bounded: one series per camera
 *   and kind). Fields: `event_id`, `confidence`, `direction`, `dir_in`/`dir_out` (0/1, so one
 *   aggregation counts passes per direction), for plates `plate` (normalised text) and
 *   `lookup_bucket` (the integer of its `plate_lookup_16k` bucket, so a search that located a
 *   plate event here can fetch it from that small series), and `detail`: the rest of the event
 *   (revision, times, box, colour, evidence hashes, …), see {@link encodeDetail}. Few, compact
 *   fields on purpose: influxd's write cost is ~8 µs per point plus ~0.027 µs per byte here.
 * - `plate_lookup_16k` (plate policy only): the same event again, tagged only by `bucket` (FNV-1a
 *   of the normalised plate mod 16 384), with the filterable values as fields and the whole event
 *   in `detail`, so an exact plate over any range reads one bucket's series (~1/16 384 of the
 *   plates) instead of every camera's, selects one column, and needs no second lookup.
 * - `area_events` (both policies, when the gateway knows the camera's district): the same event
 *   again, tagged only by `district` (the camera's district when the point was written), fields
 *   `site`, `camera`, `direction`, `confidence` and the whole event in `detail`, so a search of a
 *   whole district reads one series per kind instead of two per camera (decision 10: when these
 *   copies may be read, and when not).
 * - `plate_lookup` (legacy, read only): the same with 4 096 buckets, written before
 *   `plate_lookup_16k`; its `events` points carry `plate_bucket` instead of `lookup_bucket`.
 *   influxd's cost of the `plate = …` condition grows with the points of the bucket it reads, so
 *   the finer buckets made an exact plate over 30 days of 10M events cheaper (decision 10).
 *
 * Point time = pass time (first_seen_ms, else time_ms) in ns + a sub-millisecond part from the
 * event id (the low 19 bits of a ULID's random part, else FNV-1a mod 10^6). A replay or a new
 * revision of an event is the same measurement, tag set and time, so it overwrites the point
 * (influxd keeps one point per series and time, the later write's fields winning) — no
 * duplicates. Two events of one camera first seen in the same millisecond come from the same
 * agent's monotonic ULID factory, whose ids in one ms differ in their lowest bits, so they never
 * share a time.
 */
import { Direction, Event, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { isValidId } from '../../../proto/topics.ts';
import { lineProtocol, type InfluxValue } from './influx-client.ts';
import { fnv1a32, normalisePlate, plateBucket } from './plate.ts';
import { MAX_TIME_MS, NS_PER_MS, isUlid, ulidLowBits } from './time.ts';

/** Measurement of every event (both retention policies). */
export const EVENTS_MEASUREMENT = 'events';
/** Measurement of plate events tagged by plate bucket (plate retention policy). */
export const PLATE_LOOKUP_MEASUREMENT = 'plate_lookup_16k';
/** The earlier plate lookup (4 096 buckets): read while it holds events, never written. */
export const LEGACY_PLATE_LOOKUP_MEASUREMENT = 'plate_lookup';
/** Measurement of events by the district of their camera (both retention policies). */
export const AREA_MEASUREMENT = 'area_events';
/**
 * Whether `district` can tag an `area_events` point: non-empty, at most 200 characters, and no
 * backslash or control character (line protocol cannot carry every text as a tag). Cameras in a
 * district that cannot are never searched through the copies.
 */
export function isAreaTag(district: string): boolean {
  if (district.length === 0 || district.length > 200 || district.includes('\\')) return false;
  for (let i = 0; i < district.length; i++) {
    const c = district.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** The `events` field holding a plate point's `plate_lookup_16k` bucket. */
export const LOOKUP_BUCKET_FIELD = 'lookup_bucket';

/** The kinds the index stores, as tag values and default retention-policy names. */
export type IndexedKind = 'face' | 'plate';
export const INDEXED_KINDS: readonly IndexedKind[] = ['face', 'plate'];

/** How many low bits of a ULID's random part go into the point time. 2^19 < 10^6 ns. */
const ULID_SUB_MS_BITS = 19;

const SHA256_HEX = /^[0-9a-f]{64}$/;

const DIRECTION_NAMES: Readonly<Record<number, string>> = {
  [Direction.DIRECTION_UNSPECIFIED]: 'unspecified',
  [Direction.DIRECTION_IN]: 'in',
  [Direction.DIRECTION_OUT]: 'out',
  [Direction.DIRECTION_UNKNOWN]: 'unknown',
};

/** The `direction` field value of a Direction. */
export function directionName(d: Direction): string | undefined {
  return DIRECTION_NAMES[d];
}

/** The index kind of an EventKind, or undefined for UNSPECIFIED/unknown values. */
export function indexedKind(kind: EventKind): IndexedKind | undefined {
  if (kind === EventKind.EVENT_KIND_FACE) return 'face';
  if (kind === EventKind.EVENT_KIND_PLATE) return 'plate';
  return undefined;
}

/** The EventKind of an index kind. */
export function eventKindOf(kind: IndexedKind): EventKind {
  return kind === 'face' ? EventKind.EVENT_KIND_FACE : EventKind.EVENT_KIND_PLATE;
}

/** The sub-millisecond part (0 … 999 999 ns) of an event's point time. */
export function subMsNs(eventId: string): number {
  return isUlid(eventId) ? (ulidLowBits(eventId, ULID_SUB_MS_BITS) ?? 0) : fnv1a32(eventId) % 1_000_000;
}

/** The pass time of an event, ms: first_seen_ms, or time_ms when first_seen_ms is unset (0). */
export function passTimeMs(event: Pick<Event, 'firstSeenMs' | 'timeMs'>): number {
  return event.firstSeenMs > 0 ? event.firstSeenMs : event.timeMs;
}

/** The point time of an event: its pass time in ns plus the id's sub-millisecond part. */
export function pointTimeNs(event: Pick<Event, 'eventId' | 'firstSeenMs' | 'timeMs'>): bigint {
  return BigInt(passTimeMs(event)) * NS_PER_MS + BigInt(subMsNs(event.eventId));
}

/** Longest plate text the index stores, in code points (ingest allows 32). */
const MAX_STORED_PLATE = 64;

/**
 * Why `event` cannot be indexed, or undefined. Ingest should call this while validating, before
 * acknowledging anything: {@link EventIndex.write} refuses a batch holding such an event. It is
 * deliberately lenient beyond what the index needs to stay correct: unknown enum values (a newer
 * edge) are stored as they come, and plate text that is not a searchable plate (after
 * normalisation) is kept in the event detail, just never found by a plate search.
 */
export function indexProblem(event: Event): string | undefined {
  if (!isValidId(event.eventId)) return 'event_id is not 1-64 characters of [A-Za-z0-9._-]';
  if (!isValidId(event.siteId)) return 'site_id is not 1-64 characters of [A-Za-z0-9._-]';
  if (!isValidId(event.cameraId)) return 'camera_id is not 1-64 characters of [A-Za-z0-9._-]';
  const kind = indexedKind(event.kind);
  if (kind === undefined) return 'kind must be FACE or PLATE';
  for (const [name, ms] of [
    ['first_seen_ms', event.firstSeenMs],
    ['time_ms', event.timeMs],
  ] as const) {
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_TIME_MS)
      return `${name} ${ms} is outside 0..${MAX_TIME_MS}`;
  }
  if (passTimeMs(event) === 0) return 'first_seen_ms and time_ms are both unset';
  if (!Number.isFinite(event.confidence) || event.confidence < 0 || event.confidence > 1) {
    return 'confidence must be within 0..1';
  }
  if (!Number.isSafeInteger(event.revision) || event.revision < 0)
    return 'revision must be a non-negative integer';
  const ev = event.evidence;
  if (ev !== undefined) {
    if (ev.sha256 !== '' && !SHA256_HEX.test(ev.sha256))
      return 'evidence.sha256 is not 64 lower-case hex digits';
    if (ev.contextSha256 !== '' && !SHA256_HEX.test(ev.contextSha256)) {
      return 'evidence.context_sha256 is not 64 lower-case hex digits';
    }
  }
  if (kind === 'plate') {
    if (event.detail?.$case !== 'plate') return 'a plate event needs plate detail';
    const text = event.detail.value.text;
    if (Array.from(text).length > MAX_STORED_PLATE)
      return `plate text is longer than ${MAX_STORED_PLATE} characters`;
    if (/\p{Cc}/u.test(text)) return 'plate text contains control characters';
  } else if (event.detail?.$case === 'plate') {
    return 'a face event cannot carry plate detail';
  }
  return undefined;
}

/** The points of one event, and the retention policy (kind) they go to. */
export interface EventPoints {
  kind: IndexedKind;
  lines: string[];
}

/** Version bytes of the `detail` container: the rest of the event, or the whole event. */
const DETAIL_PARTIAL = 1;
const DETAIL_WHOLE = 2;
const HAS_SHA = 1;
const HAS_CONTEXT_SHA = 2;

/**
 * The `detail` field, base64 of: a version byte, a flags byte (1 = crop sha256 follows,
 * 2 = context sha256 follows), those sha256s as 32 raw bytes each (half the size of hex inside
 * the protobuf), then the event's protobuf without evidence bytes and hashes.
 * - Version 1 (`events`, `whole` false): also without what the point carries in fields of its
 *   own (ids, kind, confidence, direction, and the plate text when it is already normalised).
 *   Unknown direction values (a newer edge) stay in the protobuf.
 * - Version 2 (`plate_lookup_16k`, `whole` true): the whole event, so an exact-plate search selects
 *   this one column (influxd's cost grows with every column a query reads).
 */
export function encodeDetail(event: Event, whole = false): string {
  const ev = event.evidence;
  const evidence =
    ev === undefined
      ? undefined
      : { ...ev, jpeg: Buffer.alloc(0), contextJpeg: Buffer.alloc(0), sha256: '', contextSha256: '' };
  const rest: Event = whole
    ? { ...event, evidence }
    : {
        ...event,
        eventId: '',
        siteId: '',
        cameraId: '',
        kind: EventKind.EVENT_KIND_UNSPECIFIED,
        confidence: 0,
        direction:
          directionName(event.direction) === undefined ? event.direction : Direction.DIRECTION_UNSPECIFIED,
        // The `plate` field holds the normalised text; the original stays here only if it differs.
        detail:
          event.detail?.$case === 'plate' &&
          normalisePlate(event.detail.value.text) === event.detail.value.text
            ? { $case: 'plate', value: { ...event.detail.value, text: '' } }
            : event.detail,
        evidence,
      };
  const sha = ev?.sha256 ?? '';
  const ctx = ev?.contextSha256 ?? '';
  const head = Buffer.from([
    whole ? DETAIL_WHOLE : DETAIL_PARTIAL,
    (sha === '' ? 0 : HAS_SHA) | (ctx === '' ? 0 : HAS_CONTEXT_SHA),
  ]);
  const parts = [head];
  if (sha !== '') parts.push(Buffer.from(sha, 'hex'));
  if (ctx !== '') parts.push(Buffer.from(ctx, 'hex'));
  parts.push(Buffer.from(Event.encode(rest).finish()));
  return Buffer.concat(parts).toString('base64');
}

/**
 * The event a `detail` field holds, and whether it is whole (version 2) or still needs the
 * point's other fields (version 1: ids, kind, confidence, direction, plate text unset).
 */
export function decodeDetail(detail: string): { event: Event; whole: boolean } {
  const bytes = Buffer.from(detail, 'base64');
  const version = bytes[0];
  if (bytes.length < 2 || (version !== DETAIL_PARTIAL && version !== DETAIL_WHOLE)) {
    throw new RangeError('detail is not a version 1 or 2 container');
  }
  const flags = bytes[1] ?? 0;
  let at = 2;
  const take = (): string => {
    if (bytes.length < at + 32) throw new RangeError('detail is truncated');
    at += 32;
    return bytes.subarray(at - 32, at).toString('hex');
  };
  const sha = (flags & HAS_SHA) !== 0 ? take() : '';
  const ctx = (flags & HAS_CONTEXT_SHA) !== 0 ? take() : '';
  const event = Event.decode(bytes.subarray(at));
  if (event.evidence !== undefined) {
    event.evidence.sha256 = sha;
    event.evidence.contextSha256 = ctx;
  }
  return { event, whole: version === DETAIL_WHOLE };
}

/**
 * Line protocol for one event (already checked with {@link indexProblem}): its `events` point,
 * for a plate its `plate_lookup_16k` point, and with a `district` (non-empty) its `area_events`
 * point, all at {@link pointTimeNs}.
 */
export function eventPoints(event: Event, district?: string): EventPoints {
  const kind = indexedKind(event.kind);
  if (kind === undefined) throw new RangeError('event kind is not indexable');
  const time = pointTimeNs(event);
  const strings: Record<string, string> = {
    event_id: event.eventId,
    direction: directionName(event.direction) ?? 'unspecified',
    detail: encodeDetail(event),
  };
  const floats = { confidence: event.confidence };
  const lines = [];
  let wholeEvent: string | undefined;
  const whole = (): string => (wholeEvent ??= encodeDetail(event, true));
  const ints: Record<string, number> = {
    dir_in: event.direction === Direction.DIRECTION_IN ? 1 : 0,
    dir_out: event.direction === Direction.DIRECTION_OUT ? 1 : 0,
  };
  if (event.detail?.$case === 'plate') {
    const plate = normalisePlate(event.detail.value.text);
    const bucket = plateBucket(plate);
    strings.plate = plate;
    ints[LOOKUP_BUCKET_FIELD] = Number(bucket);
    lines.push(
      lineProtocol(
        PLATE_LOOKUP_MEASUREMENT,
        { bucket },
        {
          strings: {
            ...strings,
            site: event.siteId,
            camera: event.cameraId,
            detail: whole(),
          },
          floats,
        },
        time,
      ),
    );
  }
  if (district !== undefined && isAreaTag(district)) {
    lines.push(
      lineProtocol(
        AREA_MEASUREMENT,
        { district },
        {
          strings: {
            site: event.siteId,
            camera: event.cameraId,
            direction: strings.direction ?? '',
            detail: whole(),
          },
          floats,
        },
        time,
      ),
    );
  }
  lines.unshift(
    lineProtocol(
      EVENTS_MEASUREMENT,
      { site: event.siteId, camera: event.cameraId, kind },
      {
        strings,
        ints,
        floats,
      },
      time,
    ),
  );
  return { kind, lines };
}

/** Columns a search selects; `site`, `camera` (tags of `events`, fields of the plate lookups) and `kind` included. */
export const RESULT_COLUMNS = [
  'event_id',
  'confidence',
  'direction',
  'plate',
  'detail',
  'site',
  'camera',
] as const;

const DIRECTION_BY_NAME: ReadonlyMap<string, Direction> = new Map([
  ['unspecified', Direction.DIRECTION_UNSPECIFIED],
  ['in', Direction.DIRECTION_IN],
  ['out', Direction.DIRECTION_OUT],
  ['unknown', Direction.DIRECTION_UNKNOWN],
]);

function str(row: Readonly<Record<string, InfluxValue>>, col: string): string {
  const v = row[col];
  return typeof v === 'string' ? v : '';
}

function num(row: Readonly<Record<string, InfluxValue>>, col: string): number {
  const v = row[col];
  return typeof v === 'number' ? v : 0;
}

/** The event of an `area_events` row (its `detail` is the whole event). */
export function areaRowToEvent(row: Readonly<Record<string, InfluxValue>>): Event {
  const { event, whole } = decodeDetail(str(row, 'detail'));
  if (!whole) throw new RangeError('an area_events row without the whole event');
  return event;
}

/**
 * The event a result row holds: a plate lookup row's whole `detail`, or an `events` row's
 * columns ({@link RESULT_COLUMNS}) of kind `kind`. Throws RangeError when the row is not one the
 * index wrote.
 */
export function rowToEvent(row: Readonly<Record<string, InfluxValue>>, kind: IndexedKind): Event {
  const detail = str(row, 'detail');
  if (detail === '') throw new RangeError('row without detail');
  const { event, whole } = decodeDetail(detail);
  if (whole) return event;
  const eventId = str(row, 'event_id');
  if (eventId === '') throw new RangeError('row without event_id');
  event.eventId = eventId;
  event.siteId = str(row, 'site');
  event.cameraId = str(row, 'camera');
  event.kind = eventKindOf(kind);
  event.confidence = num(row, 'confidence');
  // A known direction lives in the field; an unknown value (a newer edge) stayed in the detail.
  const direction = DIRECTION_BY_NAME.get(str(row, 'direction'));
  if (event.direction === Direction.DIRECTION_UNSPECIFIED && direction !== undefined)
    event.direction = direction;
  if (event.detail?.$case === 'plate' && event.detail.value.text === '')
    event.detail.value.text = str(row, 'plate');
  return event;
}
