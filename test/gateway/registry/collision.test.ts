/** The collision report (pure): registry vs what edges report. */
import { describe, expect, it } from 'vitest';
import { CameraState, CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import {
  DeviceAccess,
  DiscoveredDevice,
  type DiscoveredDevices,
} from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { parseCameraInput } from '../../../gateway/src/registry/camera-input.ts';
import { addressKey, collisionReport, type CollisionInput } from '../../../gateway/src/registry/collision.ts';
import type { Camera } from '../../../gateway/src/registry/types.ts';

const NOW = Date.UTC(2025, 5, 1, 12);
const MIN = 60_000;

function cam(
  id: string,
  site: string,
  over: Partial<Camera> & { epr?: string; serial?: string } = {},
): Camera {
  const v = parseCameraInput({
    cameraId: id,
    siteId: site,
    code: id,
    name: id,
    place: { district: 'A' },
    category: 'other',
    identity: { endpointReference: over.epr ?? '', serialNumber: over.serial ?? '', manufacturer: 'M' },
    xaddr:
      over.xaddr ?? (over.epr === undefined && over.serial === undefined ? `http://192.0.2.99/${id}` : ''),
  });
  return {
    ...v,
    lifecycle: 'active',
    hasCredentials: false,
    createdMs: 0,
    updatedMs: 0,
    lifecycleChangedMs: 0,
    ...over,
  };
}

function dev(epr: string, xaddr: string, over: Partial<DiscoveredDevice> = {}): DiscoveredDevice {
  return DiscoveredDevice.fromPartial({
    identity: { endpointReference: epr, manufacturer: 'M' },
    xaddrs: [xaddr],
    access: DeviceAccess.DEVICE_ACCESS_OK,
    lastSeenMs: NOW - MIN,
    ...over,
  });
}

function site(siteId: string, devices: DiscoveredDevice[]): DiscoveredDevices {
  return { siteId, devices, updatedMs: NOW - MIN };
}

function status(cameraId: string, state: CameraState, over: Partial<CameraStatus> = {}): CameraStatus {
  return CameraStatus.fromPartial({
    siteId: 's1',
    cameraId,
    state,
    updatedMs: NOW - 5000,
    lastFrameMs: NOW - 5000,
    ...over,
  });
}

function input(over: Partial<CollisionInput>): CollisionInput {
  return { cameras: [], discovered: [], statuses: [], nowMs: NOW, offlineAfterMs: 15 * MIN, ...over };
}

describe('collisionReport', () => {
  it('an all-good site reports nothing', () => {
    const r = collisionReport(
      input({
        cameras: [cam('c1', 's1', { epr: 'urn:1' })],
        discovered: [site('s1', [dev('urn:1', 'http://192.0.2.1/onvif/device_service')])],
        statuses: [status('c1', CameraState.CAMERA_STATE_ONLINE)],
      }),
    );
    expect(r).toEqual({ generatedMs: NOW, unregistered: [], missing: [], offline: [], moved: [] });
  });

  it('lists discovered devices that match no camera (retired ones do not count)', () => {
    const r = collisionReport(
      input({
        cameras: [
          cam('c1', 's1', { epr: 'urn:1' }),
          cam('old', 's1', { epr: 'urn:9', lifecycle: 'retired' }),
        ],
        discovered: [
          site('s1', [
            dev('urn:1', 'http://192.0.2.1/'),
            dev('urn:2', 'http://192.0.2.2/', { access: DeviceAccess.DEVICE_ACCESS_AUTH_FAILED }),
            dev('urn:9', 'http://192.0.2.9/'),
          ]),
        ],
      }),
    );
    expect(r.unregistered.map((u) => [u.siteId, u.identity.endpointReference, u.access])).toEqual([
      ['s1', 'urn:2', DeviceAccess.DEVICE_ACCESS_AUTH_FAILED],
      ['s1', 'urn:9', DeviceAccess.DEVICE_ACCESS_OK],
    ]);
  });

  it('matches by serial number when there is no endpoint reference, and by the edge’s camera id last', () => {
    const bySerial = DiscoveredDevice.fromPartial({
      identity: { serialNumber: 'SN7', manufacturer: 'M' },
      xaddrs: ['http://192.0.2.7/'],
    });
    const byId = DiscoveredDevice.fromPartial({
      identity: {},
      xaddrs: ['http://192.0.2.99/c3'],
      cameraId: 'c3',
    });
    const r = collisionReport(
      input({
        cameras: [cam('c2', 's1', { serial: 'SN7' }), cam('c3', 's1')],
        discovered: [site('s1', [bySerial, byId])],
      }),
    );
    expect(r.unregistered).toEqual([]);
    expect(r.missing).toEqual([]);
  });

  it('lists registered cameras nobody has seen, saying whether their site ever reported', () => {
    const r = collisionReport(
      input({
        cameras: [
          cam('c1', 's1', { epr: 'urn:1' }),
          cam('c2', 's1', { epr: 'urn:2', lifecycle: 'registered' }),
          cam('c3', 's2', { epr: 'urn:3' }),
          cam('c4', 's1', { epr: 'urn:4' }),
          cam('c5', 's1', { epr: 'urn:5', lifecycle: 'discovered' }),
          cam('c6', 's1', { epr: 'urn:6', lifecycle: 'retired' }),
        ],
        discovered: [site('s1', [])],
        statuses: [status('c4', CameraState.CAMERA_STATE_ONLINE)],
      }),
    );
    expect(r.missing).toEqual([
      { cameraId: 'c1', siteId: 's1', lifecycle: 'active', reason: 'not_discovered' },
      { cameraId: 'c2', siteId: 's1', lifecycle: 'registered', reason: 'not_discovered' },
      { cameraId: 'c3', siteId: 's2', lifecycle: 'active', reason: 'site_never_reported' },
    ]);
  });

  it('lists active cameras without frames for longer than N, or with a stale status', () => {
    const r = collisionReport(
      input({
        cameras: ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']
          .map((id) => cam(id, 's1', { epr: `urn:${id}` }))
          .concat(cam('c8', 's1', { epr: 'urn:c8', lifecycle: 'registered' })),
        discovered: [site('s1', [])],
        statuses: [
          status('c1', CameraState.CAMERA_STATE_OFFLINE, {
            lastFrameMs: NOW - 20 * MIN,
            lastError: 'stalled',
          }),
          status('c2', CameraState.CAMERA_STATE_OFFLINE, { lastFrameMs: NOW - 5 * MIN }),
          status('c3', CameraState.CAMERA_STATE_AUTH_FAILED, { lastFrameMs: 0 }),
          status('c4', CameraState.CAMERA_STATE_UNREACHABLE, { lastFrameMs: NOW - 2 * MIN }),
          status('c5', CameraState.CAMERA_STATE_ONLINE, { updatedMs: NOW - 30 * MIN }),
          status('c6', CameraState.CAMERA_STATE_DEGRADED),
          status('c7', CameraState.CAMERA_STATE_DISABLED),
          status('c8', CameraState.CAMERA_STATE_OFFLINE, { lastFrameMs: NOW - 60 * MIN }),
        ],
        offlineSinceMs: new Map([['c4', NOW - 40 * MIN]]),
      }),
    );
    expect(r.offline.map((o) => [o.cameraId, o.state, o.offlineForMs])).toEqual([
      ['c1', 'offline', 20 * MIN],
      ['c3', 'auth_failed', null],
      ['c4', 'unreachable', 40 * MIN],
      ['c5', 'status_stale', 30 * MIN],
    ]);
    expect(r.offline[0]?.lastError).toBe('stalled');
  });

  it('lists identities seen at another site or address, and recent address changes', () => {
    const r = collisionReport(
      input({
        cameras: [
          cam('c1', 's1', { epr: 'urn:1' }),
          cam('c2', 's1', { epr: 'urn:2', xaddr: 'http://192.0.2.2/onvif/device_service' }),
          cam('c3', 's1', { epr: 'urn:3', xaddr: 'http://192.0.2.3:80/onvif/device_service' }),
          cam('c4', 's1', { epr: 'urn:4' }),
          cam('c5', 's1', { epr: 'urn:5' }),
        ],
        discovered: [
          site('s1', [
            dev('urn:2', 'http://192.0.2.20/onvif/device_service'),
            dev('urn:3', 'http://192.0.2.3/onvif/other_path'),
            dev('urn:4', 'http://192.0.2.44/'),
            dev('urn:5', 'http://192.0.2.5/'),
          ]),
          site('s2', [dev('urn:1', 'http://198.51.100.1/')]),
        ],
        addressChanges: [
          {
            cameraId: 'c4',
            fromXaddrs: ['http://192.0.2.4/'],
            toXaddrs: ['http://192.0.2.44/'],
            changedMs: NOW - 3600_000,
          },
          {
            cameraId: 'c5',
            fromXaddrs: ['http://192.0.2.50/'],
            toXaddrs: ['http://192.0.2.5/'],
            changedMs: NOW - 8 * 86_400_000,
          },
        ],
      }),
    );
    expect(
      r.moved.map((m) => [m.cameraId, m.kind, m.registeredSiteId, m.seenSiteId, m.fromXaddrs, m.toXaddrs]),
    ).toEqual([
      ['c1', 'site', 's1', 's2', [], ['http://198.51.100.1/']],
      [
        'c2',
        'address',
        's1',
        's1',
        ['http://192.0.2.2/onvif/device_service'],
        ['http://192.0.2.20/onvif/device_service'],
      ],
      ['c4', 'address', 's1', 's1', ['http://192.0.2.4/'], ['http://192.0.2.44/']],
    ]);
  });

  const keys: [string, string][] = [
    ['http://192.0.2.1/onvif/device_service', '192.0.2.1:80'],
    ['HTTP://Camera.LOCAL:8080/x', 'camera.local:8080'],
    ['https://192.0.2.1/', '192.0.2.1:443'],
    ['not a url', 'not a url'],
  ];
  it.each(keys)('addressKey(%s) = %s', (x, k) => {
    expect(addressKey(x)).toBe(k);
  });
});
