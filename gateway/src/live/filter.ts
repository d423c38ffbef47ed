/**
 * Event filters shared by search and the live stream, so a stream shows exactly what a search
 * with the same filter would find: the same validation (the index's `validateSearch`), the same
 * plate normalisation and wildcard semantics, and the caller's area scope applied to the camera's
 * registered place (cameras registered later appear as soon as they are registered).
 */
import type { Place } from '../../../proto/gen/sharpeyes/v1/common.ts';
import { Direction, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { inScope, scopeDepth, type AreaScope } from '../auth/scope.ts';
import { normalisePlate, wildcardToRegex } from '../index/plate.ts';
import type { EventSearchQuery, IndexedEvent } from '../index/types.ts';
import { validateSearch } from '../index/validate.ts';

/** What a caller may filter on (REST and gRPC map their inputs to this). */
export interface EventFilterInput {
  kinds?: readonly EventKind[];
  cameraIds?: readonly string[];
  siteIds?: readonly string[];
  plate?: string;
  platePattern?: string;
  minConfidence?: number;
  direction?: Direction;
}

/** A validated filter (normalised; lists deduplicated and sorted). */
export interface ValidEventFilter {
  kinds: EventKind[];
  cameraIds?: string[];
  siteIds?: string[];
  plate?: string;
  platePattern?: string;
  minConfidence?: number;
  direction?: Direction;
}

const DIRECTION_BY_NAME: Readonly<Record<string, Direction>> = {
  unspecified: Direction.DIRECTION_UNSPECIFIED,
  in: Direction.DIRECTION_IN,
  out: Direction.DIRECTION_OUT,
  unknown: Direction.DIRECTION_UNKNOWN,
};

/**
 * Validate a filter with the index's own rules (field names in snake_case; throws
 * QueryValidationError). The time range and page size are not part of a filter.
 */
export function validateEventFilter(input: EventFilterInput): ValidEventFilter {
  const probe: EventSearchQuery = {
    fromMs: 0,
    toMs: 1,
    ...(input.kinds !== undefined ? { kinds: input.kinds } : {}),
    ...(input.cameraIds !== undefined ? { cameraIds: input.cameraIds } : {}),
    ...(input.siteIds !== undefined ? { siteIds: input.siteIds } : {}),
    ...(input.plate !== undefined ? { plate: input.plate } : {}),
    ...(input.platePattern !== undefined ? { platePattern: input.platePattern } : {}),
    ...(input.minConfidence !== undefined ? { minConfidence: input.minConfidence } : {}),
    ...(input.direction !== undefined ? { direction: input.direction } : {}),
  };
  const v = validateSearch(probe, {
    maxRangeMs: 1,
    wildcardMaxRangeMs: 1,
    defaultPageSize: 1,
    maxPageSize: 1,
  });
  return {
    kinds: v.kinds.map((k) => (k === 'face' ? EventKind.EVENT_KIND_FACE : EventKind.EVENT_KIND_PLATE)),
    ...(v.cameraIds !== undefined ? { cameraIds: v.cameraIds } : {}),
    ...(v.siteIds !== undefined ? { siteIds: v.siteIds } : {}),
    ...(v.plate !== undefined ? { plate: v.plate } : {}),
    ...(v.platePattern !== undefined ? { platePattern: v.platePattern } : {}),
    ...(v.minConfidence !== undefined ? { minConfidence: v.minConfidence } : {}),
    ...(v.direction !== undefined ? { direction: DIRECTION_BY_NAME[v.direction] } : {}),
  };
}

/** The filter as a search query's filter fields (the caller adds time range, limit, cursor). */
export function filterToSearch(f: ValidEventFilter): Omit<EventSearchQuery, 'fromMs' | 'toMs'> {
  return {
    kinds: f.kinds,
    ...(f.cameraIds !== undefined ? { cameraIds: f.cameraIds } : {}),
    ...(f.siteIds !== undefined ? { siteIds: f.siteIds } : {}),
    ...(f.plate !== undefined ? { plate: f.plate } : {}),
    ...(f.platePattern !== undefined ? { platePattern: f.platePattern } : {}),
    ...(f.minConfidence !== undefined ? { minConfidence: f.minConfidence } : {}),
    ...(f.direction !== undefined ? { direction: f.direction } : {}),
  };
}

/** A stable text of a filter (cursors are bound to it). */
export function filterFingerprint(f: ValidEventFilter, area: AreaScope | undefined): string {
  return JSON.stringify([
    f.kinds,
    f.cameraIds ?? null,
    f.siteIds ?? null,
    f.plate ?? null,
    f.platePattern ?? null,
    f.minConfidence ?? null,
    f.direction ?? null,
    area ?? {},
  ]);
}

/** Where a camera is registered (undefined: not registered). */
export type PlaceOf = (cameraId: string) => Place | undefined;

/**
 * A predicate for live events: the filter, and the area `scope` (the caller's scope narrowed by
 * a requested area). With a non-global scope an event matches only when its camera is
 * registered inside the scope, the same rule search applies through `cameraIdsInScope`.
 */
export function eventMatcher(
  f: ValidEventFilter,
  scope: AreaScope,
  placeOf: PlaceOf,
): (event: IndexedEvent) => boolean {
  const kinds = new Set(f.kinds);
  const cameras = f.cameraIds === undefined ? undefined : new Set(f.cameraIds);
  const sites = f.siteIds === undefined ? undefined : new Set(f.siteIds);
  const pattern = f.platePattern === undefined ? undefined : new RegExp(wildcardToRegex(f.platePattern), 'u');
  const scoped = scopeDepth(scope) > 0;
  return (e) => {
    if (!kinds.has(e.kind)) return false;
    if (cameras !== undefined && !cameras.has(e.cameraId)) return false;
    if (sites !== undefined && !sites.has(e.siteId)) return false;
    if (f.minConfidence !== undefined && !(e.confidence >= f.minConfidence)) return false;
    if (f.direction !== undefined && e.direction !== f.direction) return false;
    if (f.plate !== undefined || pattern !== undefined) {
      if (e.detail?.$case !== 'plate') return false;
      const text = normalisePlate(e.detail.value.text);
      if (f.plate !== undefined && text !== f.plate) return false;
      if (pattern !== undefined && !pattern.test(text)) return false;
    }
    if (scoped) {
      const place = placeOf(e.cameraId);
      if (place === undefined || !inScope(scope, place)) return false;
    }
    return true;
  };
}
