/**
 * Validation of search inputs. Everything a caller passes is checked here — types at run time
 * too, since REST and gRPC hand over parsed user input — and turned into a {@link ValidSearch}
 * whose values are safe to bind. A failure is a {@link QueryValidationError} naming the field.
 */
import { Direction, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { isValidId } from '../../../proto/topics.ts';
import { GatewayError } from '../errors.ts';
import { normalisePlate, patternProblem, plateProblem } from './plate.ts';
import { INDEXED_KINDS, type IndexedKind } from './schema.ts';
import { MAX_TIME_MS } from './time.ts';
import type { EventSearchQuery, PassStatsQuery } from './types.ts';

/** A search input was refused (GATEWAY_ERR_QUERY_INVALID). `field` is the snake_case name. */
export class QueryValidationError extends GatewayError {
  readonly field: string;

  constructor(field: string, problem: string) {
    super('GATEWAY_ERR_QUERY_INVALID', `${field}: ${problem}`);
    this.name = 'QueryValidationError';
    this.field = field;
  }
}

/** Bounds of searches (from config). */
export interface SearchLimits {
  /** Longest time range of any search or statistics query, ms. */
  maxRangeMs: number;
  /** Longest time range of a wildcard plate search, ms. */
  wildcardMaxRangeMs: number;
  /** Page size when none is asked for. */
  defaultPageSize: number;
  /** Largest page size. */
  maxPageSize: number;
}

/** Most site ids one filter may list. */
export const MAX_SITE_FILTER = 1000;
/** Most camera ids one filter may list (an area scope of a large county). */
export const MAX_CAMERA_FILTER = 5000;
/** Longest raw plate or pattern input, before normalisation. */
const MAX_PLATE_INPUT = 64;
/** Most intervals a statistics query may span. */
export const MAX_STATS_INTERVALS = 10_000;

/** A validated search: normalised, deduplicated, safe to bind. */
export interface ValidSearch {
  fromMs: number;
  toMs: number;
  /** `undefined`: no filter. Never empty (an empty filter short-circuits to no results). */
  siteIds?: string[];
  cameraIds?: string[];
  /** Kinds to search, in a fixed order; never empty. */
  kinds: IndexedKind[];
  /** The `direction` field value to match. */
  direction?: string;
  plate?: string;
  platePattern?: string;
  minConfidence?: number;
  limit: number;
  /** The raw cursor, decoded separately (it depends on the rest). */
  cursor?: string;
  /** True when a filter can match nothing (an empty list, a plate search without the plate kind). */
  empty: boolean;
}

const DIRECTION_VALUES: ReadonlyMap<number, string> = new Map([
  [Direction.DIRECTION_UNSPECIFIED, 'unspecified'],
  [Direction.DIRECTION_IN, 'in'],
  [Direction.DIRECTION_OUT, 'out'],
  [Direction.DIRECTION_UNKNOWN, 'unknown'],
]);

/** The query as the untyped value it may really be (REST and gRPC pass parsed user input). */
function asRecord(query: object): Readonly<Record<string, unknown>> {
  if (typeof query !== 'object' || (query as unknown) === null || Array.isArray(query)) {
    throw new QueryValidationError('query', 'must be an object');
  }
  return query as Readonly<Record<string, unknown>>;
}

function checkTimeRange(
  fromMs: unknown,
  toMs: unknown,
  maxRangeMs: number,
): { fromMs: number; toMs: number } {
  const inRange = (v: unknown): v is number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_TIME_MS;
  if (!inRange(fromMs))
    throw new QueryValidationError('from_ms', `must be an integer epoch ms within 0..${MAX_TIME_MS}`);
  if (!inRange(toMs))
    throw new QueryValidationError('to_ms', `must be an integer epoch ms within 0..${MAX_TIME_MS}`);
  if (toMs <= fromMs) throw new QueryValidationError('to_ms', 'must be after from_ms');
  if (toMs - fromMs > maxRangeMs) {
    throw new QueryValidationError('to_ms', `the range may span at most ${formatSpan(maxRangeMs)}`);
  }
  return { fromMs, toMs };
}

function formatSpan(ms: number): string {
  const hours = ms / 3_600_000;
  return hours % 24 === 0 ? `${hours / 24} days` : `${hours} hours`;
}

function checkIds(field: string, value: unknown, max: number): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new QueryValidationError(field, 'must be a list of ids');
  if (value.length > max) throw new QueryValidationError(field, `may list at most ${max} ids`);
  const ids = new Set<string>();
  for (const [i, id] of (value as unknown[]).entries()) {
    if (typeof id !== 'string' || !isValidId(id)) {
      throw new QueryValidationError(`${field}[${i}]`, 'is not 1-64 characters of [A-Za-z0-9._-]');
    }
    ids.add(id);
  }
  return [...ids].sort();
}

function checkKinds(value: unknown): IndexedKind[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new QueryValidationError('kinds', 'must be a list of kinds');
  if (value.length > 16) throw new QueryValidationError('kinds', 'may list at most 16 kinds');
  const kinds = new Set<IndexedKind>();
  for (const [i, k] of (value as unknown[]).entries()) {
    const kind =
      k === EventKind.EVENT_KIND_FACE ? 'face' : k === EventKind.EVENT_KIND_PLATE ? 'plate' : undefined;
    if (kind === undefined) throw new QueryValidationError(`kinds[${i}]`, 'must be FACE or PLATE');
    kinds.add(kind);
  }
  return INDEXED_KINDS.filter((k) => kinds.has(k));
}

function checkPlateInput(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new QueryValidationError(field, 'must be a string');
  if (value.length > MAX_PLATE_INPUT)
    throw new QueryValidationError(field, `must be at most ${MAX_PLATE_INPUT} characters`);
  return normalisePlate(value);
}

/** Validate a search. Throws {@link QueryValidationError}. */
export function validateSearch(query: EventSearchQuery, limits: SearchLimits): ValidSearch {
  const q = asRecord(query);
  const { fromMs, toMs } = checkTimeRange(q.fromMs, q.toMs, limits.maxRangeMs);
  const siteIds = checkIds('site_ids', q.siteIds, MAX_SITE_FILTER);
  const cameraIds = checkIds('camera_ids', q.cameraIds, MAX_CAMERA_FILTER);
  let kinds = checkKinds(q.kinds) ?? [...INDEXED_KINDS];
  let empty = siteIds?.length === 0 || cameraIds?.length === 0 || kinds.length === 0;

  let direction: string | undefined;
  if (q.direction !== undefined && q.direction !== null) {
    direction = typeof q.direction === 'number' ? DIRECTION_VALUES.get(q.direction) : undefined;
    if (direction === undefined)
      throw new QueryValidationError('direction', 'must be IN, OUT, UNKNOWN or UNSPECIFIED');
  }

  const plate = checkPlateInput('plate', q.plate);
  if (plate !== undefined) {
    const problem = plateProblem(plate);
    if (problem !== undefined) throw new QueryValidationError('plate', problem);
  }
  const platePattern = checkPlateInput('plate_pattern', q.platePattern);
  if (platePattern !== undefined) {
    const problem = patternProblem(platePattern);
    if (problem !== undefined) throw new QueryValidationError('plate_pattern', problem);
    if (plate !== undefined) throw new QueryValidationError('plate_pattern', 'cannot be combined with plate');
    if (toMs - fromMs > limits.wildcardMaxRangeMs) {
      throw new QueryValidationError(
        'plate_pattern',
        `a wildcard search may span at most ${formatSpan(limits.wildcardMaxRangeMs)}; narrow from_ms/to_ms`,
      );
    }
  }
  if (plate !== undefined || platePattern !== undefined) {
    if (!kinds.includes('plate')) empty = true;
    kinds = ['plate'];
  }

  let minConfidence: number | undefined;
  if (q.minConfidence !== undefined && q.minConfidence !== null) {
    if (
      typeof q.minConfidence !== 'number' ||
      !Number.isFinite(q.minConfidence) ||
      q.minConfidence < 0 ||
      q.minConfidence > 1
    ) {
      throw new QueryValidationError('min_confidence', 'must be a number within 0..1');
    }
    minConfidence = q.minConfidence;
  }

  let limit = limits.defaultPageSize;
  if (q.limit !== undefined && q.limit !== null && q.limit !== 0) {
    if (
      typeof q.limit !== 'number' ||
      !Number.isSafeInteger(q.limit) ||
      q.limit < 1 ||
      q.limit > limits.maxPageSize
    ) {
      throw new QueryValidationError('limit', `must be an integer within 1..${limits.maxPageSize}`);
    }
    limit = q.limit;
  }

  let cursor: string | undefined;
  if (q.cursor !== undefined && q.cursor !== null && q.cursor !== '') {
    if (typeof q.cursor !== 'string') throw new QueryValidationError('cursor', 'must be a string');
    cursor = q.cursor;
  }

  return {
    fromMs,
    toMs,
    ...(siteIds !== undefined ? { siteIds } : {}),
    ...(cameraIds !== undefined ? { cameraIds } : {}),
    kinds,
    ...(direction !== undefined ? { direction } : {}),
    ...(plate !== undefined ? { plate } : {}),
    ...(platePattern !== undefined ? { platePattern } : {}),
    ...(minConfidence !== undefined ? { minConfidence } : {}),
    limit,
    ...(cursor !== undefined ? { cursor } : {}),
    empty,
  };
}

/** A validated statistics query. */
export interface ValidStats {
  fromMs: number;
  toMs: number;
  intervalMinutes: number;
  siteIds?: string[];
  cameraIds?: string[];
  kinds: IndexedKind[];
  timeZone?: string;
  empty: boolean;
}

const TIME_ZONE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/;

/** Validate a statistics query. Throws {@link QueryValidationError}. */
export function validateStats(query: PassStatsQuery, limits: Pick<SearchLimits, 'maxRangeMs'>): ValidStats {
  const q = asRecord(query);
  const { fromMs, toMs } = checkTimeRange(q.fromMs, q.toMs, limits.maxRangeMs);
  const iv = q.intervalMs;
  if (
    typeof iv !== 'number' ||
    !Number.isSafeInteger(iv) ||
    iv < 60_000 ||
    iv % 60_000 !== 0 ||
    iv > 31 * 86_400_000
  ) {
    throw new QueryValidationError(
      'interval_ms',
      'must be a whole number of minutes, from 1 minute to 31 days',
    );
  }
  if ((toMs - fromMs) / iv > MAX_STATS_INTERVALS) {
    throw new QueryValidationError(
      'interval_ms',
      `the range may hold at most ${MAX_STATS_INTERVALS} intervals`,
    );
  }
  const siteIds = checkIds('site_ids', q.siteIds, MAX_SITE_FILTER);
  const cameraIds = checkIds('camera_ids', q.cameraIds, MAX_CAMERA_FILTER);
  const kinds = checkKinds(q.kinds) ?? [...INDEXED_KINDS];
  let timeZone: string | undefined;
  if (q.timeZone !== undefined && q.timeZone !== null && q.timeZone !== '') {
    if (
      typeof q.timeZone !== 'string' ||
      q.timeZone.length > 64 ||
      !TIME_ZONE.test(q.timeZone) ||
      !isTimeZone(q.timeZone)
    ) {
      throw new QueryValidationError('time_zone', 'must be an IANA time zone name such as Asia/Shanghai');
    }
    timeZone = q.timeZone;
  }
  return {
    fromMs,
    toMs,
    intervalMinutes: iv / 60_000,
    ...(siteIds !== undefined ? { siteIds } : {}),
    ...(cameraIds !== undefined ? { cameraIds } : {}),
    kinds,
    ...(timeZone !== undefined ? { timeZone } : {}),
    empty: siteIds?.length === 0 || cameraIds?.length === 0 || kinds.length === 0,
  };
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    // RangeError: not a time zone this runtime knows.
    return false;
  }
}

/** Validate an event id for getEvent. */
export function validateEventId(eventId: unknown): string {
  if (typeof eventId !== 'string' || !isValidId(eventId)) {
    throw new QueryValidationError('event_id', 'is not 1-64 characters of [A-Za-z0-9._-]');
  }
  return eventId;
}
