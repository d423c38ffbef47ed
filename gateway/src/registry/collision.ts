/**
 * The "collision" report: the registry compared with what the edges report. Pure.
 *
 * A discovered device is matched to a (non-retired) registered camera by endpoint reference,
 * else by manufacturer + serial number, else by the camera id the edge says it runs it as.
 * Lists:
 * - unregistered: devices an edge found that match no camera;
 * - missing: registered or active cameras nobody has seen: not in any discovery report and no
 *   status saying frames arrive (reason `site_never_reported` when their site has sent no
 *   discovery report at all, so absence proves nothing yet);
 * - offline: active cameras whose status says no frames (offline, unreachable, auth failed)
 *   for longer than `offlineAfterMs`, or whose status has not been refreshed for that long;
 * - moved: cameras whose identity is now seen at another site than registered, at another
 *   address than registered (`xaddr`), or whose address changed recently (`addressChanges`).
 */
import { CameraState, type CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import {
  DeviceAccess,
  type DiscoveredDevice,
  type DiscoveredDevices,
} from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import type { Camera, CameraIdentityInfo, CameraLifecycle } from './types.ts';

/** A camera's recorded address change (kept by the registry from successive discovery reports). */
export interface AddressChange {
  cameraId: string;
  fromXaddrs: string[];
  toXaddrs: string[];
  /** When the new address was first reported. */
  changedMs: number;
}

/** Inputs of {@link collisionReport}. */
export interface CollisionInput {
  /** Every camera in the registry (retired ones are ignored). */
  cameras: readonly Camera[];
  /** The latest discovery report of each site that sent one. */
  discovered: readonly DiscoveredDevices[];
  /** The latest status of each camera that sent one. */
  statuses: readonly CameraStatus[];
  /** When each camera went offline, if known (from recorded status changes). */
  offlineSinceMs?: ReadonlyMap<string, number>;
  /** Recorded address changes. */
  addressChanges?: readonly AddressChange[];
  nowMs: number;
  /** "Offline longer than N". */
  offlineAfterMs: number;
  /** Address changes older than this are no longer reported (default 7 days). */
  movedWithinMs?: number;
}

/** A device an edge found that is not registered. */
export interface UnregisteredDevice {
  siteId: string;
  identity: CameraIdentityInfo;
  xaddrs: string[];
  access: DeviceAccess;
  lastSeenMs: number;
}

/** A registered camera nobody has seen. */
export interface MissingCamera {
  cameraId: string;
  siteId: string;
  lifecycle: CameraLifecycle;
  reason: 'not_discovered' | 'site_never_reported';
}

/** An active camera without frames for too long. */
export interface OfflineCamera {
  cameraId: string;
  siteId: string;
  /** The reported state (`status_stale` when the status itself is old). */
  state: 'offline' | 'unreachable' | 'auth_failed' | 'status_stale';
  /** Since when, when known. */
  sinceMs: number | null;
  offlineForMs: number | null;
  lastError: string;
}

/** A camera whose identity turned up somewhere else. */
export interface MovedCamera {
  cameraId: string;
  kind: 'site' | 'address';
  registeredSiteId: string;
  seenSiteId: string;
  /** Registered xaddr, or the previously reported addresses. */
  fromXaddrs: string[];
  toXaddrs: string[];
  /** When the change was noticed (address changes) or reported (site/xaddr mismatch). */
  sinceMs: number;
}

/** The report. Lists are sorted by site then camera id (or identity). */
export interface CollisionReport {
  generatedMs: number;
  unregistered: UnregisteredDevice[];
  missing: MissingCamera[];
  offline: OfflineCamera[];
  moved: MovedCamera[];
}

/** host:port of an ONVIF address, so path or scheme spelling differences do not count as a move. */
export function addressKey(xaddr: string): string {
  try {
    const u = new URL(xaddr);
    const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80';
    return `${u.hostname.toLowerCase()}:${port}`;
  } catch {
    return xaddr.trim().toLowerCase();
  }
}

function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a.map(addressKey));
  const y = new Set(b.map(addressKey));
  return x.size === y.size && [...x].every((k) => y.has(k));
}

function identityOf(d: DiscoveredDevice): CameraIdentityInfo {
  return {
    endpointReference: d.identity?.endpointReference ?? '',
    serialNumber: d.identity?.serialNumber ?? '',
    manufacturer: d.identity?.manufacturer ?? '',
    model: d.identity?.model ?? '',
  };
}

const FRAMES_ARRIVE = new Set([CameraState.CAMERA_STATE_ONLINE, CameraState.CAMERA_STATE_DEGRADED]);
const NO_FRAMES: ReadonlyMap<CameraState, OfflineCamera['state']> = new Map([
  [CameraState.CAMERA_STATE_OFFLINE, 'offline'],
  [CameraState.CAMERA_STATE_UNREACHABLE, 'unreachable'],
  [CameraState.CAMERA_STATE_AUTH_FAILED, 'auth_failed'],
]);

function bySiteThen<T extends { siteId?: string; cameraId?: string }>(key: (t: T) => string) {
  return (a: T, b: T): number => {
    const ka = `${a.siteId ?? ''}\u0000${key(a)}`;
    const kb = `${b.siteId ?? ''}\u0000${key(b)}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

/** Build the collision report. */
export function collisionReport(input: CollisionInput): CollisionReport {
  const live = input.cameras.filter((c) => c.lifecycle !== 'retired');
  const byEpr = new Map<string, Camera>();
  const bySerial = new Map<string, Camera>();
  const byId = new Map<string, Camera>();
  for (const c of live) {
    byId.set(c.cameraId, c);
    if (c.identity.endpointReference !== '') byEpr.set(c.identity.endpointReference, c);
    if (c.identity.serialNumber !== '')
      bySerial.set(`${c.identity.manufacturer}\u0000${c.identity.serialNumber}`, c);
  }
  const match = (d: DiscoveredDevice): Camera | undefined => {
    const id = identityOf(d);
    return (
      (id.endpointReference !== '' ? byEpr.get(id.endpointReference) : undefined) ??
      (id.serialNumber !== '' ? bySerial.get(`${id.manufacturer}\u0000${id.serialNumber}`) : undefined) ??
      (d.cameraId !== '' ? byId.get(d.cameraId) : undefined)
    );
  };

  const unregistered: UnregisteredDevice[] = [];
  const moved: MovedCamera[] = [];
  const seen = new Set<string>();
  const reportingSites = new Set<string>();
  for (const report of input.discovered) {
    reportingSites.add(report.siteId);
    for (const d of report.devices) {
      const camera = match(d);
      if (camera === undefined) {
        unregistered.push({
          siteId: report.siteId,
          identity: identityOf(d),
          xaddrs: [...d.xaddrs],
          access: d.access,
          lastSeenMs: d.lastSeenMs,
        });
        continue;
      }
      seen.add(camera.cameraId);
      if (camera.siteId !== report.siteId) {
        moved.push({
          cameraId: camera.cameraId,
          kind: 'site',
          registeredSiteId: camera.siteId,
          seenSiteId: report.siteId,
          fromXaddrs: camera.xaddr === '' ? [] : [camera.xaddr],
          toXaddrs: [...d.xaddrs],
          sinceMs: d.lastSeenMs > 0 ? d.lastSeenMs : report.updatedMs,
        });
      } else if (
        camera.xaddr !== '' &&
        d.xaddrs.length > 0 &&
        !d.xaddrs.some((x) => addressKey(x) === addressKey(camera.xaddr))
      ) {
        moved.push({
          cameraId: camera.cameraId,
          kind: 'address',
          registeredSiteId: camera.siteId,
          seenSiteId: report.siteId,
          fromXaddrs: [camera.xaddr],
          toXaddrs: [...d.xaddrs],
          sinceMs: d.lastSeenMs > 0 ? d.lastSeenMs : report.updatedMs,
        });
      }
    }
  }
  const movedWithin = input.movedWithinMs ?? 7 * 86_400_000;
  for (const change of input.addressChanges ?? []) {
    const camera = byId.get(change.cameraId);
    if (camera === undefined || input.nowMs - change.changedMs > movedWithin) continue;
    if (change.fromXaddrs.length === 0 || sameAddresses(change.fromXaddrs, change.toXaddrs)) continue;
    if (moved.some((m) => m.cameraId === change.cameraId)) continue;
    moved.push({
      cameraId: camera.cameraId,
      kind: 'address',
      registeredSiteId: camera.siteId,
      seenSiteId: camera.siteId,
      fromXaddrs: [...change.fromXaddrs],
      toXaddrs: [...change.toXaddrs],
      sinceMs: change.changedMs,
    });
  }

  const statusOf = new Map<string, CameraStatus>();
  for (const s of input.statuses) {
    const prev = statusOf.get(s.cameraId);
    if (prev === undefined || s.updatedMs >= prev.updatedMs) statusOf.set(s.cameraId, s);
  }
  const missing: MissingCamera[] = [];
  const offline: OfflineCamera[] = [];
  for (const c of live) {
    if (c.lifecycle !== 'registered' && c.lifecycle !== 'active') continue;
    const status = statusOf.get(c.cameraId);
    const framesSeen = status !== undefined && (FRAMES_ARRIVE.has(status.state) || status.lastFrameMs > 0);
    if (!seen.has(c.cameraId) && !framesSeen) {
      missing.push({
        cameraId: c.cameraId,
        siteId: c.siteId,
        lifecycle: c.lifecycle,
        reason: reportingSites.has(c.siteId) ? 'not_discovered' : 'site_never_reported',
      });
    }
    if (c.lifecycle !== 'active' || status === undefined) continue;
    const noFrames = NO_FRAMES.get(status.state);
    if (noFrames !== undefined) {
      const since =
        input.offlineSinceMs?.get(c.cameraId) ?? (status.lastFrameMs > 0 ? status.lastFrameMs : null);
      const forMs = since === null ? null : input.nowMs - since;
      if (forMs === null || forMs > input.offlineAfterMs) {
        offline.push({
          cameraId: c.cameraId,
          siteId: c.siteId,
          state: noFrames,
          sinceMs: since,
          offlineForMs: forMs,
          lastError: status.lastError,
        });
      }
    } else if (status.updatedMs > 0 && input.nowMs - status.updatedMs > input.offlineAfterMs) {
      offline.push({
        cameraId: c.cameraId,
        siteId: c.siteId,
        state: 'status_stale',
        sinceMs: status.updatedMs,
        offlineForMs: input.nowMs - status.updatedMs,
        lastError: status.lastError,
      });
    }
  }

  const byCamera = bySiteThen<{ siteId?: string; cameraId?: string }>((t) => t.cameraId ?? '');
  return {
    generatedMs: input.nowMs,
    unregistered: unregistered.sort(
      bySiteThen<UnregisteredDevice>(
        (d) => `${d.identity.endpointReference}\u0000${d.identity.serialNumber}\u0000${d.xaddrs.join(',')}`,
      ),
    ),
    missing: missing.sort(byCamera),
    offline: offline.sort(byCamera),
    moved: moved.sort((a, b) => (a.cameraId < b.cameraId ? -1 : a.cameraId > b.cameraId ? 1 : 0)),
  };
}
