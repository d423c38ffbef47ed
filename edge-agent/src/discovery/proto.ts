/**
 * Discovery → wire: the retained `…/sites/{site}/discovered` payload. Pure; the publisher
 * encodes the result with `DiscoveredDevices.encode`.
 */
import {
  DeviceAccess as ProtoDeviceAccess,
  type DiscoveredDevice as ProtoDiscoveredDevice,
  type DiscoveredDevices as ProtoDiscoveredDevices,
} from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { stripUrlCredentials } from './identity.ts';
import type { DeviceAccess, DiscoveredDevice } from './types.ts';

const ACCESS: Readonly<Record<DeviceAccess, ProtoDeviceAccess>> = {
  unknown: ProtoDeviceAccess.DEVICE_ACCESS_UNSPECIFIED,
  ok: ProtoDeviceAccess.DEVICE_ACCESS_OK,
  auth_failed: ProtoDeviceAccess.DEVICE_ACCESS_AUTH_FAILED,
  unreachable: ProtoDeviceAccess.DEVICE_ACCESS_UNREACHABLE,
  protocol_error: ProtoDeviceAccess.DEVICE_ACCESS_PROTOCOL_ERROR,
};

/** Options of {@link toProtoDiscoveredDevices}. */
export interface ToProtoOptions {
  /** `updated_ms` of the message. Default: Date.now(). */
  updatedMs?: number;
  /** The registered camera id of a device, if any (empty = unregistered). */
  cameraIdFor?: (device: DiscoveredDevice) => string | undefined;
}

/** One device as the proto message. The address in use comes first in `xaddrs`. */
export function toProtoDiscoveredDevice(d: DiscoveredDevice, cameraId = ''): ProtoDiscoveredDevice {
  const xaddrs = [d.xaddr, ...d.xaddrs.filter((x) => x !== d.xaddr)].filter((x) => x !== '');
  return {
    identity: { ...d.identity },
    xaddrs: xaddrs.map(stripUrlCredentials),
    scopes: [...d.scopes],
    profiles: d.profiles.map((p) => ({
      token: p.token,
      name: p.name,
      encoding: p.encoding,
      width: p.width,
      height: p.height,
      fps: p.fps,
      streamUri: stripUrlCredentials(p.streamUri),
    })),
    analysisProfileToken: d.analysisProfileToken,
    hasSnapshot: d.hasSnapshot,
    access: ACCESS[d.access],
    firstSeenMs: d.firstSeenMs,
    lastSeenMs: d.lastSeenMs,
    cameraId,
  };
}

/** The site's discovered devices as the proto `DiscoveredDevices` message. */
export function toProtoDiscoveredDevices(
  siteId: string,
  devices: readonly DiscoveredDevice[],
  opts: ToProtoOptions = {},
): ProtoDiscoveredDevices {
  return {
    siteId,
    devices: devices.map((d) => toProtoDiscoveredDevice(d, opts.cameraIdFor?.(d) ?? '')),
    updatedMs: opts.updatedMs ?? Date.now(),
  };
}
