/** Camera access shared by REST and gRPC: lists and details within the caller's area, status watches. */
import type { CameraStatus } from '../../../../../proto/gen/sharpeyes/v1/camera.ts';
import { auditAccess } from '../../../audit/access.ts';
import { requireReason } from '../../../auth/reason.ts';
import { actorOf, assertAuthorized } from '../../../auth/roles.ts';
import type { AreaScope } from '../../../auth/scope.ts';
import { GatewayError } from '../../../errors.ts';
import type { Camera, CameraLifecycle } from '../../../registry/types.ts';
import type { GatewayDeps } from '../deps.ts';
import { limiterOf, type AccessContext } from './context.ts';
import { decodeListCursor, pageByKey } from './paging.ts';
import { effectiveArea, notFound, placeVisible } from './scope.ts';
import { runWatch } from './watch.ts';

/** A camera list query. */
export interface CameraListInput {
  area?: AreaScope;
  siteId?: string;
  lifecycles?: readonly CameraLifecycle[];
  limit: number;
  cursor?: string;
}

/** Cameras in the caller's area (and the requested one), by id, one page. */
export function listCameras(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: CameraListInput,
): { items: Camera[]; nextCursor: string | null } {
  assertAuthorized(ctx.principal, 'camera.read');
  const after = decodeListCursor('cameras', input.cursor, 'string');
  const area = effectiveArea(ctx.principal.scope, input.area);
  if (area === undefined) return { items: [], nextCursor: null };
  const all = deps.registry.cameras.list({
    scope: area,
    ...(input.siteId !== undefined ? { siteId: input.siteId } : {}),
    ...(input.lifecycles !== undefined && input.lifecycles.length > 0
      ? { lifecycles: input.lifecycles }
      : {}),
  });
  return pageByKey('cameras', all, (c) => c.cameraId, after, input.limit);
}

/** One camera in the caller's area (NOT_FOUND otherwise), with its latest status. */
export function getCamera(
  deps: GatewayDeps,
  ctx: AccessContext,
  cameraId: string,
): { camera: Camera; status: CameraStatus | undefined } {
  assertAuthorized(ctx.principal, 'camera.read');
  const camera = deps.registry.cameras.get(cameraId);
  if (camera === undefined || !placeVisible(ctx.principal.scope, camera.place))
    throw notFound(`camera ${cameraId}`);
  return { camera, status: deps.cameraStatus?.latest(cameraId) ?? deps.registry.reports.status(cameraId) };
}

/** A camera status watch. */
export interface WatchStatusInput {
  area?: AreaScope;
  cameraIds?: readonly string[];
  /** Send the latest status of every matching camera first. */
  initial?: boolean;
}

/** Run a status watch until `signal` aborts (counts against the caller's stream limit). */
export function prepareStatusWatch(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: WatchStatusInput,
): { run(send: (s: CameraStatus) => Promise<void> | undefined, signal: AbortSignal): Promise<number> } {
  assertAuthorized(ctx.principal, 'camera.read');
  const feed = deps.cameraStatus;
  if (feed === undefined)
    throw new GatewayError('GATEWAY_ERR_UNIMPLEMENTED', 'camera status is not wired in this gateway');
  const area = effectiveArea(ctx.principal.scope, input.area);
  const ids =
    input.cameraIds === undefined || input.cameraIds.length === 0 ? undefined : new Set(input.cameraIds);
  const matches = (s: CameraStatus): boolean => {
    if (area === undefined) return false;
    if (ids !== undefined && !ids.has(s.cameraId)) return false;
    const camera = deps.registry.cameras.get(s.cameraId);
    // Outside the whole hierarchy only registered cameras have a place to be in.
    if (camera === undefined) return placeVisible(area, undefined);
    return placeVisible(area, camera.place);
  };
  const release = limiterOf(deps).openStream(ctx.principal);
  const log = deps.logger.child({ module: 'api', actor: actorOf(ctx.principal) });
  return {
    async run(send, signal) {
      try {
        return await runWatch<CameraStatus>({
          ...(input.initial === true ? { initial: feed.all().filter(matches) } : {}),
          subscribe: (push) =>
            feed.onStatus((s) => {
              if (matches(s)) push(s);
            }),
          send,
          signal,
          maxQueued: 20_000,
          keyOf: (s) => s.cameraId,
        });
      } finally {
        release();
        log.debug('status watch ended');
      }
    },
  };
}

/** A live snapshot of a camera in the caller's area (needs a reason; audited as `snapshot.fetch`). */
export async function getSnapshot(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: { reason: unknown; cameraId: string },
  signal: AbortSignal,
): Promise<{ cameraId: string; jpeg: Uint8Array; takenMs: number }> {
  assertAuthorized(ctx.principal, 'snapshot.fetch');
  const reason = requireReason(input.reason, deps.reasonRules);
  const camera = deps.registry.cameras.get(input.cameraId);
  const visible = camera !== undefined && placeVisible(ctx.principal.scope, camera.place);
  if (visible && deps.snapshots === undefined) {
    throw new GatewayError(
      'GATEWAY_ERR_UNIMPLEMENTED',
      'live snapshots are not available from this gateway yet',
    );
  }
  const shot =
    visible && deps.snapshots !== undefined
      ? await deps.snapshots.snapshot(input.cameraId, signal)
      : undefined;
  auditAccess(deps.audit, actorOf(ctx.principal), {
    action: 'snapshot.fetch',
    reason,
    target: `camera:${input.cameraId}`,
    filters: { camera_id: input.cameraId },
    resultCount: shot === undefined ? 0 : 1,
    via: ctx.via,
    ...(ctx.sourceAddress !== undefined ? { sourceAddress: ctx.sourceAddress } : {}),
  });
  if (shot === undefined) throw notFound(`camera ${input.cameraId}`);
  return { cameraId: input.cameraId, jpeg: shot.jpeg, takenMs: shot.takenMs };
}
