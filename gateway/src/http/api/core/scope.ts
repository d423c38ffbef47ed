/**
 * Area scope as the APIs apply it. Lists and searches are narrowed to the caller's area; a single
 * resource outside it (an event, its evidence, a camera, a site, an alert) is answered exactly as
 * one that does not exist — 404 / NOT_FOUND, never 403 — so an out-of-area caller cannot learn
 * that it exists. 403 / PERMISSION_DENIED is only for what the role or key may never do.
 */
import type { Place } from '../../../../../proto/gen/sharpeyes/v1/common.ts';
import { inScope, narrowScope, parseScope, scopeDepth, type AreaScope } from '../../../auth/scope.ts';
import { GatewayError } from '../../../errors.ts';
import { MAX_CAMERA_FILTER, QueryValidationError } from '../../../index/validate.ts';
import type { GatewayDeps } from '../deps.ts';

/** GATEWAY_ERR_NOT_FOUND for `what`, the same whether it is missing or outside the caller's area. */
export function notFound(what: string): GatewayError {
  return new GatewayError('GATEWAY_ERR_NOT_FOUND', what);
}

/** Parse a requested area (REST query fields or a proto Place); empty levels are cut. */
export function requestedArea(
  input: Partial<Place> | AreaScope | undefined,
  field = 'area',
): AreaScope | undefined {
  if (input === undefined) return undefined;
  const scope = parseScope({ ...input }, field);
  return scopeDepth(scope) === 0 ? undefined : scope;
}

/**
 * The area a request sees: the caller's scope narrowed by the requested area (checked: a level
 * below an unset one is refused, field `area.<level>`); undefined = nothing.
 */
export function effectiveArea(scope: AreaScope, requested: AreaScope | undefined): AreaScope | undefined {
  return narrowScope(scope, requested === undefined ? undefined : parseScope({ ...requested }, 'area'));
}

/**
 * The camera ids an event query may touch: undefined (no restriction) for the whole hierarchy,
 * else the registered cameras inside `area`, intersected with `requested` when given. An empty
 * list matches nothing.
 */
export function scopedCameraIds(
  deps: GatewayDeps,
  area: AreaScope | undefined,
  requested: readonly string[] | undefined,
): string[] | undefined {
  if (area === undefined) return [];
  if (scopeDepth(area) === 0) return requested === undefined ? undefined : [...requested];
  const inArea = deps.registry.cameraIdsInScope(area);
  if (requested !== undefined) {
    const allowed = new Set(inArea);
    return requested.filter((id) => allowed.has(id));
  }
  if (inArea.length > MAX_CAMERA_FILTER) {
    throw new QueryValidationError(
      'area',
      `holds ${inArea.length} cameras, more than one search can cover (${MAX_CAMERA_FILTER}); choose a smaller area or camera_ids`,
    );
  }
  return inArea;
}

/** Whether events of `cameraId` are visible in `scope` (global scope: every camera, registered or not). */
export function cameraVisible(deps: GatewayDeps, scope: AreaScope, cameraId: string): boolean {
  if (scopeDepth(scope) === 0) return true;
  const place = deps.registry.placeOf(cameraId);
  return place !== undefined && inScope(scope, place);
}

/** Whether a place lies inside `scope`. */
export function placeVisible(scope: AreaScope, place: Place | AreaScope | undefined): boolean {
  return scopeDepth(scope) === 0 || (place !== undefined && inScope(scope, place));
}
