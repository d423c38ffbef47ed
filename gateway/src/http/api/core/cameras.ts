/**
 * Camera access shared by REST and gRPC: lists and details within the caller's area, status
 * watches, live snapshots of cameras (operators) and of discovered devices (installers).
 */
import type { CameraIdentity, CameraStatus } from '../../../../../proto/gen/sharpeyes/v1/camera.ts';
import { auditAccess } from '../../../audit/access.ts';
import type { AuditLog } from '../../../audit/log.ts';
import { requireReason } from '../../../auth/reason.ts';
import { actorOf, assertAuthorized } from '../../../auth/roles.ts';
import type { AreaScope } from '../../../auth/scope.ts';
import { GatewayError } from '../../../errors.ts';
import type { Camera, CameraLifecycle } from '../../../registry/types.ts';
import type { GatewayDeps, SnapshotSource } from '../deps.ts';
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

/**
 * A live picture refreshes every second or two while someone looks at it; one audit record per
 * picture would bury the trail. Repeated fetches of the same target by the same caller for the
 * same reason through the same API are covered by the first one's record for this long.
 */
export const SNAPSHOT_AUDIT_WINDOW_MS = 60_000;

const lastAudited = new WeakMap<AuditLog, Map<string, number>>();

/** Whether `key` was audited within the window (and if not, remember that it is now). */
function auditedRecently(audit: AuditLog, key: string, nowMs: number): boolean {
  let seen = lastAudited.get(audit);
  if (seen === undefined) {
    seen = new Map();
    lastAudited.set(audit, seen);
  }
  const at = seen.get(key);
  if (at !== undefined && nowMs - at < SNAPSHOT_AUDIT_WINDOW_MS) return true;
  if (seen.size >= 10_000) {
    for (const [k, t] of seen) if (nowMs - t >= SNAPSHOT_AUDIT_WINDOW_MS) seen.delete(k);
  }
  seen.set(key, nowMs);
  return false;
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
  let shot: { jpeg: Uint8Array; takenMs: number } | undefined;
  let failed: Error | undefined;
  if (visible && deps.snapshots !== undefined) {
    try {
      shot = await deps.snapshots.snapshot(input.cameraId, signal);
    } catch (err) {
      failed = err instanceof Error ? err : new GatewayError('GATEWAY_ERR_INTERNAL', String(err));
    }
  }
  const actor = actorOf(ctx.principal);
  const outcome = shot !== undefined ? 'ok' : failed !== undefined ? 'failed' : 'not_found';
  const key = [actor, input.cameraId, reason, ctx.via, outcome].join('\u0000');
  if (!auditedRecently(deps.audit, key, deps.now?.() ?? Date.now())) {
    await auditAccess(deps.audit, actor, {
      action: 'snapshot.fetch',
      reason,
      target: `camera:${input.cameraId}`,
      filters: { camera_id: input.cameraId },
      resultCount: shot === undefined ? 0 : 1,
      via: ctx.via,
      ...(ctx.sourceAddress !== undefined ? { sourceAddress: ctx.sourceAddress } : {}),
    });
  }
  if (failed !== undefined) throw failed;
  if (shot === undefined) throw notFound(`camera ${input.cameraId}`);
  return { cameraId: input.cameraId, jpeg: shot.jpeg, takenMs: shot.takenMs };
}

/** A snapshot source that can also picture discovered devices (wiring/snapshots.ts). */
export interface DeviceSnapshotSource extends SnapshotSource {
  deviceSnapshot(
    siteId: string,
    device: Pick<CameraIdentity, 'endpointReference' | 'serialNumber'>,
    signal: AbortSignal,
  ): Promise<{ jpeg: Uint8Array; takenMs: number }>;
}

function deviceSource(s: SnapshotSource | undefined): DeviceSnapshotSource | undefined {
  return s !== undefined && typeof (s as Partial<DeviceSnapshotSource>).deviceSnapshot === 'function'
    ? (s as DeviceSnapshotSource)
    : undefined;
}

const UUID_URN = /^urn:uuid:[0-9a-f-]+$/i;

/**
 * The key of a discovered device, as its edge keys it (edge-agent/src/discovery/identity.ts):
 * the endpoint reference (a `urn:uuid:` lower-cased), else `serial:<serial number>`; '' when the
 * device reported neither.
 */
export function discoveredDeviceKey(
  identity: Pick<CameraIdentity, 'endpointReference' | 'serialNumber'>,
): string {
  const epr = identity.endpointReference.trim();
  if (epr !== '') return UUID_URN.test(epr) ? epr.toLowerCase() : epr;
  const serial = identity.serialNumber.trim();
  return serial === '' ? '' : `serial:${serial}`;
}

/**
 * A live snapshot of a device an edge discovered (registered or not), for installers of the
 * site's area: what the camera sees, to check it and to draw masks on. No reason is asked (this
 * is commissioning, not a look at events); each fetch is audited as `snapshot.fetch` on
 * `device:<site>/<key>`, coalesced like camera snapshots. Unknown site, device, or a site outside
 * the caller's area: 404.
 */
export async function getDiscoveredSnapshot(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: { siteId: string; deviceKey: string },
  signal: AbortSignal,
): Promise<{ jpeg: Uint8Array; takenMs: number }> {
  assertAuthorized(ctx.principal, 'discovered.read');
  const site = deps.registry.sites.get(input.siteId);
  if (site === undefined || !placeVisible(ctx.principal.scope, site.place)) {
    throw notFound(`site ${input.siteId}`);
  }
  const wanted = discoveredDeviceKey({ endpointReference: input.deviceKey, serialNumber: '' });
  const device = deps.registry.reports.discovered(input.siteId)?.devices.find((d) => {
    const key = discoveredDeviceKey({
      endpointReference: d.identity?.endpointReference ?? '',
      serialNumber: d.identity?.serialNumber ?? '',
    });
    return key !== '' && key === wanted;
  });
  if (device === undefined) throw notFound(`device ${input.deviceKey} of site ${input.siteId}`);
  const source = deviceSource(deps.snapshots);
  if (source === undefined) {
    throw new GatewayError(
      'GATEWAY_ERR_UNIMPLEMENTED',
      'live snapshots are not available from this gateway yet',
    );
  }
  let shot: { jpeg: Uint8Array; takenMs: number } | undefined;
  let failed: Error | undefined;
  try {
    shot = await source.deviceSnapshot(
      input.siteId,
      {
        endpointReference: device.identity?.endpointReference ?? '',
        serialNumber: device.identity?.serialNumber ?? '',
      },
      signal,
    );
  } catch (err) {
    failed = err instanceof Error ? err : new GatewayError('GATEWAY_ERR_INTERNAL', String(err));
  }
  const actor = actorOf(ctx.principal);
  const target = `device:${input.siteId}/${wanted}`;
  const key = [actor, target, ctx.via, shot === undefined ? 'failed' : 'ok'].join('\u0000');
  if (!auditedRecently(deps.audit, key, deps.now?.() ?? Date.now())) {
    deps.audit.append({
      actor,
      action: 'snapshot.fetch',
      target,
      details: {
        purpose: 'commissioning',
        filters: { site_id: input.siteId, device_key: wanted },
        result_count: shot === undefined ? 0 : 1,
        via: ctx.via,
        source_address: ctx.sourceAddress,
      },
    });
  }
  if (shot === undefined) throw failed ?? new GatewayError('GATEWAY_ERR_INTERNAL');
  return shot;
}
