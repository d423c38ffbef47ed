/**
 * Area scope: a subtree of the location hierarchy district / street / community / grid. A scope
 * fixes a prefix of the levels: `{}` is everything, `{district: 'A'}` is district A,
 * `{district: 'A', street: 'S1'}` is street S1 of district A, and so on. A level can only be
 * fixed when every level above it is (no `{street: 'S1'}` alone: street names repeat across
 * districts). Users and API keys carry one; every camera, event and evidence lookup is filtered
 * by it.
 */
import type { Place } from '../../../proto/gen/sharpeyes/v1/common.ts';
import { GatewayError } from '../errors.ts';

/** The levels of the hierarchy, top down. */
export const AREA_LEVELS = ['district', 'street', 'community', 'grid'] as const;

/** One level of the hierarchy. */
export type AreaLevel = (typeof AREA_LEVELS)[number];

/** A subtree of the hierarchy: a prefix of the levels, each a non-empty name. `{}` = everything. */
export interface AreaScope {
  district?: string;
  street?: string;
  community?: string;
  grid?: string;
}

/** Longest name of one level. */
export const MAX_AREA_NAME_LENGTH = 64;

/** The scope that contains every place. */
export const GLOBAL_SCOPE: AreaScope = Object.freeze({});

/**
 * Check and normalise a scope given by a user or a config (unknown shape): trims names, drops
 * empty levels at the end, refuses a level below an unset one, unknown keys and overlong names.
 * Throws GATEWAY_ERR_INVALID_INPUT naming the field (`${field}.street …`).
 */
export function parseScope(input: unknown, field = 'scope'): AreaScope {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new GatewayError(
      'GATEWAY_ERR_INVALID_INPUT',
      `${field} must be an object with district/street/community/grid`,
    );
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(AREA_LEVELS as readonly string[]).includes(key)) {
      throw new GatewayError(
        'GATEWAY_ERR_INVALID_INPUT',
        `${field}.${key} is not a level (district, street, community, grid)`,
      );
    }
  }
  const out: AreaScope = {};
  let gapAt: AreaLevel | undefined;
  for (const level of AREA_LEVELS) {
    const raw = record[level];
    if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
      gapAt ??= level;
      continue;
    }
    if (typeof raw !== 'string')
      throw new GatewayError('GATEWAY_ERR_INVALID_INPUT', `${field}.${level} must be a string`);
    const name = raw.trim();
    if (name.length > MAX_AREA_NAME_LENGTH) {
      throw new GatewayError(
        'GATEWAY_ERR_INVALID_INPUT',
        `${field}.${level} is longer than ${MAX_AREA_NAME_LENGTH} characters`,
      );
    }
    if (gapAt !== undefined) {
      throw new GatewayError(
        'GATEWAY_ERR_INVALID_INPUT',
        `${field}.${level} is set but ${field}.${gapAt} is not (a scope is a subtree)`,
      );
    }
    out[level] = name;
  }
  return out;
}

/** How many levels `scope` fixes (0 = global). */
export function scopeDepth(scope: AreaScope): number {
  let depth = 0;
  for (const level of AREA_LEVELS) {
    if (scope[level] === undefined) break;
    depth++;
  }
  return depth;
}

/**
 * Whether `place` (a camera's place, or another scope seen as the subtree it names) lies inside
 * `scope`. Every level the scope fixes must be equal in `place`; a place missing a level the
 * scope fixes is outside.
 */
export function inScope(scope: AreaScope, place: Place | AreaScope | undefined): boolean {
  for (const level of AREA_LEVELS) {
    const want = scope[level];
    if (want === undefined) return true;
    if ((place?.[level] ?? '') !== want) return false;
  }
  return true;
}

/**
 * The area a request may see: the caller's `scope` narrowed by a requested `area` (e.g. an event
 * filter's `area`). Since both are subtrees, one contains the other or they are disjoint:
 * returns the smaller one, or undefined when they are disjoint (the request sees nothing).
 */
export function narrowScope(scope: AreaScope, area: AreaScope | undefined): AreaScope | undefined {
  if (area === undefined || scopeDepth(area) === 0) return scope;
  if (inScope(scope, area)) return area;
  if (inScope(area, scope)) return scope;
  return undefined;
}

/** A `Place` (proto: empty strings for unset levels) as a scope, cut at its first empty level. */
export function placeToScope(place: Place | undefined): AreaScope {
  const out: AreaScope = {};
  for (const level of AREA_LEVELS) {
    const name = place?.[level] ?? '';
    if (name === '') break;
    out[level] = name;
  }
  return out;
}

/** A scope as a proto `Place` (unset levels as empty strings). */
export function scopeToPlace(scope: AreaScope): Place {
  return {
    district: scope.district ?? '',
    street: scope.street ?? '',
    community: scope.community ?? '',
    grid: scope.grid ?? '',
  };
}

/** Anything with a camera id and a place. */
export interface PlacedCamera {
  cameraId: string;
  place: Place;
}

/** Ids of the cameras whose place is inside `scope` (used to filter event searches). */
export function cameraIdsInScope(cameras: Iterable<PlacedCamera>, scope: AreaScope): string[] {
  const ids: string[] = [];
  for (const camera of cameras) {
    if (inScope(scope, camera.place)) ids.push(camera.cameraId);
  }
  return ids;
}

/** Human-readable form for logs and messages: `A / S1`, or `(all)`. */
export function formatScope(scope: AreaScope): string {
  const parts = AREA_LEVELS.map((l) => scope[l]).filter((v): v is string => v !== undefined);
  return parts.length === 0 ? '(all)' : parts.join(' / ');
}
