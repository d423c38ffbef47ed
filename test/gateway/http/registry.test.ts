/**
 * REST registry routes through `app.inject()` against the real SQLite registry: sites, cameras
 * (registration from a discovered device, changes, lifecycle, maintenance), discovered devices,
 * the collision report and data quality. Each route: a happy path, bad input (400 naming the
 * field), and access outside the caller's area (404 for a single resource, filtered lists, 403 for
 * placing something outside it) or role (403).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraState } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { DeviceAccess, DiscoveredDevices } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { GatewayError } from '../../../gateway/src/errors.ts';
import type { DeviceSnapshotSource } from '../../../gateway/src/http/api/core/cameras.ts';
import { startApiEnv, type ApiEnv } from '../fixtures-api/env.ts';
import { buildApiApp, call, headersOf, login, q, REASON, type ApiJson, type As } from './helpers.ts';

let env: ApiEnv;
let app: FastifyInstance;
const as: Record<string, As> = {};

beforeAll(async () => {
  env = await startApiEnv();
  app = await buildApiApp(env);
  for (const u of ['inst-a', 'op-a', 'op-b', 'admin', 'aud']) as[u] = { cookie: await login(app, u) };
  as.keyA = { key: env.keys.keyA };
  as.keyB = { key: env.keys.keyB };
  env.deps.registry.recordDiscovered(
    DiscoveredDevices.fromPartial({
      siteId: 'site-a',
      updatedMs: Date.now(),
      devices: [
        {
          identity: {
            endpointReference: 'urn:uuid:new1',
            serialNumber: 'SN-NEW1',
            manufacturer: 'Acme',
            model: 'IPC-1',
          },
          xaddrs: ['http://192.0.2.50/onvif/device_service'],
          analysisProfileToken: 'sub',
          access: DeviceAccess.DEVICE_ACCESS_OK,
          lastSeenMs: Date.now(),
        },
        {
          identity: { endpointReference: 'urn:uuid:a1' },
          xaddrs: ['http://192.0.2.11/onvif/device_service'],
          access: DeviceAccess.DEVICE_ACCESS_OK,
          cameraId: 'cam-a1',
        },
      ],
    }),
  );
}, 120_000);

afterAll(async () => {
  await app.close();
  await env.stop();
});

const itemIds = (body: Record<string, unknown>, key: string): string[] =>
  (body.items as Record<string, string>[]).map((x) => x[key] ?? '');

describe('sites', () => {
  it('lists the sites of the caller’s area, paged', async () => {
    expect(itemIds((await call(app, as['inst-a'], 'GET', '/api/v1/sites')).json(), 'site_id')).toEqual([
      'site-a',
    ]);
    expect(itemIds((await call(app, as.admin, 'GET', '/api/v1/sites')).json(), 'site_id')).toEqual([
      'site-a',
      'site-b',
    ]);
    const p1 = await call(app, as.admin, 'GET', q('/api/v1/sites', { limit: 1 }));
    const p2 = await call(
      app,
      as.admin,
      'GET',
      q('/api/v1/sites', { limit: 1, cursor: p1.json().next_cursor as string }),
    );
    expect([...itemIds(p1.json(), 'site_id'), ...itemIds(p2.json(), 'site_id')]).toEqual([
      'site-a',
      'site-b',
    ]);
    expect(p2.json().next_cursor).toBeNull();
    expect((await call(app, as['inst-a'], 'GET', q('/api/v1/sites', { limit: 0 }))).statusCode).toBe(400);
    expect((await call(app, as.aud, 'GET', '/api/v1/sites')).statusCode).toBe(403);
    expect((await call(app, as.keyA, 'GET', '/api/v1/sites')).statusCode).toBe(403);
  });

  it('creates a site in the installer’s area and shows its MQTT password once', async () => {
    const r = await call(app, as['inst-a'], 'POST', '/api/v1/sites', {
      site_id: 'site-a9',
      name: 'School gate',
      place: { district: 'Anxi', street: 'Hutou' },
    });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().mqtt_password).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(
      await env.deps.registry.verifySiteCredentials('site-a9', r.json().mqtt_password as string),
    ).toEqual({ siteId: 'site-a9' });
    const again = await call(app, as['inst-a'], 'GET', '/api/v1/sites/site-a9');
    expect(again.body).not.toContain(r.json().mqtt_password as string);
  });

  it('refuses bad site input, another area (403) and other roles', async () => {
    const noDistrict = await call(app, as['inst-a'], 'POST', '/api/v1/sites', {
      site_id: 'x1',
      name: 'n',
      place: {},
    });
    expect(noDistrict.statusCode).toBe(400);
    expect(noDistrict.json().error?.field).toBe('place.district');
    const badId = await call(app, as['inst-a'], 'POST', '/api/v1/sites', {
      site_id: 'a/b',
      name: 'n',
      place: { district: 'Anxi' },
    });
    expect(badId.json().error?.field).toBe('site_id');
    const extra = await call(app, as['inst-a'], 'POST', '/api/v1/sites', {
      site_id: 'x2',
      name: 'n',
      place: { district: 'Anxi' },
      password: 'x',
    });
    expect(extra.json().error).toMatchObject({ code: 'GATEWAY_ERR_INVALID_INPUT', field: 'password' });
    const elsewhere = await call(app, as['inst-a'], 'POST', '/api/v1/sites', {
      site_id: 'x3',
      name: 'n',
      place: { district: 'Baiyun' },
    });
    expect(elsewhere.statusCode).toBe(403);
    expect(
      (
        await call(app, as.admin, 'POST', '/api/v1/sites', {
          site_id: 'x4',
          name: 'n',
          place: { district: 'Anxi' },
        })
      ).statusCode,
    ).toBe(403);
    const dup = await call(app, as['inst-a'], 'POST', '/api/v1/sites', {
      site_id: 'site-a',
      name: 'n',
      place: { district: 'Anxi' },
    });
    expect(dup.statusCode).toBe(409);
    const notJson = await app.inject({
      method: 'POST',
      url: '/api/v1/sites',
      headers: { cookie: (as['inst-a'] as { cookie: string }).cookie, 'content-type': 'application/json' },
      payload: '{"site_id": ',
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json<ApiJson>().error?.code).toBe('GATEWAY_ERR_INVALID_INPUT');
  });

  it('reads, changes and rotates a site of the area; another area’s is 404', async () => {
    expect((await call(app, as['inst-a'], 'GET', '/api/v1/sites/site-a')).json().site_id).toBe('site-a');
    expect((await call(app, as['inst-a'], 'GET', '/api/v1/sites/site-b')).statusCode).toBe(404);
    expect((await call(app, as['inst-a'], 'GET', '/api/v1/sites/no-such')).statusCode).toBe(404);
    expect((await call(app, as['inst-a'], 'GET', '/api/v1/sites/bad!id')).statusCode).toBe(400);
    const renamed = await call(app, as['inst-a'], 'PATCH', '/api/v1/sites/site-a', {
      name: 'Village 7 NVR (new)',
    });
    expect(renamed.json().name).toBe('Village 7 NVR (new)');
    expect(
      (await call(app, as['inst-a'], 'PATCH', '/api/v1/sites/site-a', { status: 'paused' })).json().error
        ?.field,
    ).toBe('status');
    expect((await call(app, as['inst-a'], 'PATCH', '/api/v1/sites/site-b', { name: 'x' })).statusCode).toBe(
      404,
    );
    expect(
      (await call(app, as['inst-a'], 'PATCH', '/api/v1/sites/site-a', { place: { district: 'Baiyun' } }))
        .statusCode,
    ).toBe(403);
    const rotated = await call(app, as['inst-a'], 'POST', '/api/v1/sites/site-a/credentials');
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().mqtt_password).toBeTypeOf('string');
    expect((await call(app, as['inst-a'], 'POST', '/api/v1/sites/site-b/credentials')).statusCode).toBe(404);
  });
});

describe('cameras', () => {
  it('lists the cameras of the caller’s area, with filters and pages', async () => {
    expect(itemIds((await call(app, as['op-a'], 'GET', '/api/v1/cameras')).json(), 'camera_id')).toEqual([
      'cam-a1',
      'cam-a2',
    ]);
    expect(itemIds((await call(app, as.keyB, 'GET', '/api/v1/cameras')).json(), 'camera_id')).toEqual([
      'cam-b1',
    ]);
    expect(
      itemIds(
        (
          await call(
            app,
            as['op-a'],
            'GET',
            q('/api/v1/cameras', { community: 'Village7', street: 'Hutou', district: 'Anxi' }),
          )
        ).json(),
        'camera_id',
      ),
    ).toEqual(['cam-a1']);
    expect(
      itemIds(
        (await call(app, as['op-a'], 'GET', q('/api/v1/cameras', { district: 'Baiyun' }))).json(),
        'camera_id',
      ),
    ).toEqual([]);
    const p1 = await call(app, as['op-a'], 'GET', q('/api/v1/cameras', { limit: 1 }));
    expect(itemIds(p1.json(), 'camera_id')).toEqual(['cam-a1']);
    const p2 = await call(
      app,
      as['op-a'],
      'GET',
      q('/api/v1/cameras', { limit: 1, cursor: p1.json().next_cursor as string }),
    );
    expect(itemIds(p2.json(), 'camera_id')).toEqual(['cam-a2']);
    expect(
      (await call(app, as['op-a'], 'GET', q('/api/v1/cameras', { lifecycle: 'broken' }))).json().error?.field,
    ).toBe('lifecycle[0]');
    expect(
      (await call(app, as['op-a'], 'GET', q('/api/v1/cameras', { cursor: 'x' }))).json().error?.field,
    ).toBe('cursor');
    expect((await call(app, as.aud, 'GET', '/api/v1/cameras')).statusCode).toBe(403);
  });

  it('registers a camera from a device the edge discovered and pushes the site config', async () => {
    const revBefore = env.deps.registry.siteConfig('site-a').revision;
    const r = await call(app, as['inst-a'], 'POST', '/api/v1/cameras', {
      camera_id: 'cam-a3',
      site_id: 'site-a',
      code: 'AX-0003',
      name: 'South gate',
      place: { district: 'Anxi', street: 'Hutou', community: 'Village7' },
      category: 'village_entrance',
      heading_deg: 180,
      analysis: { fps: 2, inbound: 'towards' },
      from_device: { endpoint_reference: 'urn:uuid:new1' },
    });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({
      camera_id: 'cam-a3',
      lifecycle: 'registered',
      identity: {
        endpoint_reference: 'urn:uuid:new1',
        serial_number: 'SN-NEW1',
        manufacturer: 'Acme',
        model: 'IPC-1',
      },
      xaddr: 'http://192.0.2.50/onvif/device_service',
      profile_token: 'sub',
    });
    const cfg = env.deps.registry.siteConfig('site-a');
    expect(cfg.revision).toBeGreaterThan(revBefore);
    expect(JSON.stringify(cfg)).toContain('cam-a3');
  });

  it('refuses bad camera input, another area and other roles', async () => {
    const base = {
      camera_id: 'cam-x',
      site_id: 'site-a',
      code: 'X',
      name: 'x',
      place: { district: 'Anxi' },
      category: 'other',
      xaddr: 'http://192.0.2.60/onvif/device_service',
    };
    expect(
      (await call(app, as['inst-a'], 'POST', '/api/v1/cameras', { ...base, category: 'tower' })).json().error
        ?.field,
    ).toBe('category');
    expect(
      (
        await call(app, as['inst-a'], 'POST', '/api/v1/cameras', {
          ...base,
          position: { latitude: 95, longitude: 0 },
        })
      ).json().error?.field,
    ).toBe('position.latitude');
    expect(
      (await call(app, as['inst-a'], 'POST', '/api/v1/cameras', { ...base, analysis: { fps: 100 } })).json()
        .error?.field,
    ).toBe('analysis.fps');
    const noIdentity = await call(app, as['inst-a'], 'POST', '/api/v1/cameras', {
      ...base,
      xaddr: undefined,
    });
    expect(noIdentity.json().error).toMatchObject({ code: 'GATEWAY_ERR_INVALID_INPUT', field: 'identity' });
    expect(
      (
        await call(app, as['inst-a'], 'POST', '/api/v1/cameras', {
          ...base,
          from_device: { serial_number: 'nope' },
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (await call(app, as['inst-a'], 'POST', '/api/v1/cameras', { ...base, from_device: {} })).json().error
        ?.field,
    ).toBe('from_device');
    expect(
      (await call(app, as['inst-a'], 'POST', '/api/v1/cameras', { ...base, place: { district: 'Baiyun' } }))
        .statusCode,
    ).toBe(403);
    expect(
      (await call(app, as['inst-a'], 'POST', '/api/v1/cameras', { ...base, site_id: 'site-b' })).statusCode,
    ).toBe(404);
    expect((await call(app, as['op-a'], 'POST', '/api/v1/cameras', base)).statusCode).toBe(403);
  });

  it('shows a camera with its latest status; another area’s is 404', async () => {
    env.status.push({
      siteId: 'site-a',
      cameraId: 'cam-a1',
      state: CameraState.CAMERA_STATE_ONLINE,
      inputFps: 25,
      analysedFps: 2,
      droppedFrames: 0,
      lastFrameMs: Date.now(),
      lastError: '',
      lastErrorMs: 0,
      restarts: 0,
      updatedMs: Date.now(),
    });
    const r = await call(app, as['op-a'], 'GET', '/api/v1/cameras/cam-a1');
    expect(r.json()).toMatchObject({ camera_id: 'cam-a1', status: { state: 'online', analysed_fps: 2 } });
    expect(r.body).not.toContain('password');
    expect((await call(app, as['op-a'], 'GET', '/api/v1/cameras/cam-b1')).statusCode).toBe(404);
    expect((await call(app, as.keyB, 'GET', '/api/v1/cameras/cam-b1')).statusCode).toBe(200);
    expect((await call(app, as['op-a'], 'GET', '/api/v1/cameras/no%20such')).statusCode).toBe(400);
  });

  it('changes a camera, moves its lifecycle and logs maintenance', async () => {
    const patched = await call(app, as['inst-a'], 'PATCH', '/api/v1/cameras/cam-a2', {
      name: 'Bridge',
      credentials: { username: 'viewer', password: 's3cret' },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Bridge', has_credentials: true });
    expect(patched.body).not.toContain('s3cret');
    expect(
      (await call(app, as['inst-a'], 'PATCH', '/api/v1/cameras/cam-a2', { heading_deg: 400 })).json().error
        ?.field,
    ).toBe('heading_deg');
    expect((await call(app, as['inst-a'], 'PATCH', '/api/v1/cameras/cam-b1', { name: 'x' })).statusCode).toBe(
      404,
    );
    expect(
      (await call(app, as['inst-a'], 'PATCH', '/api/v1/cameras/cam-a2', { place: { district: 'Baiyun' } }))
        .statusCode,
    ).toBe(403);

    const active = await call(app, as['inst-a'], 'POST', '/api/v1/cameras/cam-a2/lifecycle', {
      to: 'active',
      note: 'checked live',
    });
    expect(active.json().lifecycle).toBe('active');
    const back = await call(app, as['inst-a'], 'POST', '/api/v1/cameras/cam-a2/lifecycle', {
      to: 'discovered',
    });
    expect(back.statusCode).toBe(409);
    expect(back.json().error?.code).toBe('GATEWAY_ERR_LIFECYCLE');
    expect(
      (await call(app, as['inst-a'], 'POST', '/api/v1/cameras/cam-a2/lifecycle', { to: 'gone' })).json().error
        ?.field,
    ).toBe('to');
    expect(
      (await call(app, as['inst-a'], 'POST', '/api/v1/cameras/cam-b1/lifecycle', { to: 'active' }))
        .statusCode,
    ).toBe(404);

    const m = await call(app, as['inst-a'], 'POST', '/api/v1/cameras/cam-a2/maintenance', {
      kind: 'cleaning',
      note: 'lens cleaned',
    });
    expect(m.statusCode).toBe(201);
    const log = await call(app, as['op-a'], 'GET', '/api/v1/cameras/cam-a2/maintenance');
    expect((log.json().items as { note: string }[])[0]?.note).toBe('lens cleaned');
    expect(
      (
        await call(app, as['inst-a'], 'POST', '/api/v1/cameras/cam-a2/maintenance', {
          kind: 'painting',
          note: 'x',
        })
      ).json().error?.field,
    ).toBe('kind');
    expect(
      (
        await call(app, as['inst-a'], 'POST', '/api/v1/cameras/cam-b1/maintenance', {
          kind: 'repair',
          note: 'x',
        })
      ).statusCode,
    ).toBe(404);
    expect((await call(app, as['op-b'], 'GET', '/api/v1/cameras/cam-a2/maintenance')).statusCode).toBe(404);
  });
});

describe('discovered devices and reports', () => {
  it('lists what the edges of the area discovered, with the camera each device is', async () => {
    const r = await call(app, as['inst-a'], 'GET', '/api/v1/discovered');
    expect(r.statusCode).toBe(200);
    const site = (
      r.json().items as {
        site_id: string;
        devices: { identity: { endpoint_reference: string }; registered_camera_id: string | null }[];
      }[]
    )[0];
    expect(site?.site_id).toBe('site-a');
    const byEpr = new Map(site?.devices.map((d) => [d.identity.endpoint_reference, d.registered_camera_id]));
    expect(byEpr.get('urn:uuid:a1')).toBe('cam-a1');
    const only = await call(app, as['inst-a'], 'GET', q('/api/v1/discovered', { unregistered_only: true }));
    expect(JSON.stringify(only.json())).not.toContain('urn:uuid:a1');
    expect(
      (await call(app, as['inst-a'], 'GET', q('/api/v1/discovered', { unregistered_only: 'maybe' }))).json()
        .error?.field,
    ).toBe('unregistered_only');
    expect((await call(app, as['op-a'], 'GET', '/api/v1/discovered')).statusCode).toBe(403);
    const admin = await call(app, as.admin, 'GET', '/api/v1/discovered');
    expect(admin.statusCode).toBe(403);
  });

  it('reports collisions of the caller’s area', async () => {
    const r = await call(app, as['inst-a'], 'GET', '/api/v1/reports/collision');
    expect(r.statusCode).toBe(200);
    const body = r.json() as { missing: { camera_id: string }[]; unregistered: unknown[] };
    expect(body.missing.map((m) => m.camera_id)).toContain('cam-a2');
    const b = await call(app, as['op-b'], 'GET', '/api/v1/reports/collision');
    expect(JSON.stringify(b.json())).not.toContain('cam-a');
    expect(
      (await call(app, as['inst-a'], 'GET', q('/api/v1/reports/collision', { offline_after_ms: 5 }))).json()
        .error?.field,
    ).toBe('offline_after_ms');
    expect((await call(app, as.aud, 'GET', '/api/v1/reports/collision')).statusCode).toBe(403);
  });

  it('reports data quality per camera and area of the caller', async () => {
    const r = await call(app, as['op-a'], 'GET', q('/api/v1/reports/quality', { level: 'street' }));
    expect(r.statusCode).toBe(200);
    const body = r.json() as { cameras: { camera_id: string }[]; areas: { area: { street?: string } }[] };
    expect(body.cameras.every((c) => c.camera_id.startsWith('cam-a'))).toBe(true);
    expect(body.areas.map((a) => a.area.street)).toContain('Hutou');
    expect(
      (await call(app, as['op-a'], 'GET', q('/api/v1/reports/quality', { level: 'province' }))).json().error
        ?.field,
    ).toBe('level');
    expect((await call(app, as.keyA, 'GET', '/api/v1/reports/quality')).statusCode).toBe(403);
  });
});

/**
 * The live snapshot routes. The snapshot source here is a scripted stand-in for the MQTT one (the
 * one test double of this file): these tests are about the HTTP contract — JPEG, reasons, roles,
 * area scope, audit, and how an edge's failure is answered. The real path (gateway MQTT client,
 * broker ACL, edge agent, camera) is tested end to end in test/gateway/wiring/snapshots.test.ts.
 */
describe('live snapshots', () => {
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9]);
  let mode: 'ok' | 'silent' | 'busy' = 'ok';
  const asked: string[] = [];
  const answer = (what: string): Promise<{ jpeg: Uint8Array; takenMs: number }> => {
    asked.push(what);
    if (mode === 'silent') {
      return Promise.reject(
        new GatewayError('GATEWAY_ERR_UNAVAILABLE', 'the edge of site site-a did not answer within 5000 ms'),
      );
    }
    if (mode === 'busy') {
      return Promise.reject(new GatewayError('GATEWAY_ERR_RESOURCE_EXHAUSTED', 'EDGE_BUSY: too many'));
    }
    return Promise.resolve({ jpeg, takenMs: 1_700_000_000_000 });
  };
  const scripted: DeviceSnapshotSource = {
    snapshot: (cameraId) => answer(`camera:${cameraId}`),
    deviceSnapshot: (siteId, device) => answer(`device:${siteId}/${device.endpointReference}`),
  };
  const snapshotAudits = (target: string) =>
    env.deps.audit.list({ action: 'snapshot.fetch', target, limit: 1000 });

  beforeAll(() => {
    env.deps.snapshots = scripted;
  });
  afterAll(() => {
    delete env.deps.snapshots;
  });

  it('serves a camera’s live JPEG with a reason, audited once per viewing', async () => {
    mode = 'ok';
    const url = q('/api/v1/cameras/cam-a1/snapshot', { reason: REASON });
    const r = await call(app, as['op-a'], 'GET', url);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toBe('image/jpeg');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-snapshot-taken-ms']).toBe('1700000000000');
    expect(r.headers['x-snapshot-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.compare(r.rawPayload, jpeg)).toBe(0);
    // The reason as the UI also sends it: the percent-encoded x-reason header.
    const viaHeader = await app.inject({
      method: 'GET',
      url: '/api/v1/cameras/cam-a1/snapshot',
      headers: { ...headersOf(as['op-a']), 'x-reason': encodeURIComponent('案件 2025-XS-0815 核查') },
    });
    expect(viaHeader.statusCode).toBe(200);
    // An integrator key with the snapshots service, in its area.
    expect((await call(app, as.keyA, 'GET', url)).statusCode).toBe(200);
    // A picture a second for a minute is one record per viewer and reason, not sixty.
    for (let i = 0; i < 3; i++) expect((await call(app, as['op-a'], 'GET', url)).statusCode).toBe(200);
    const records = snapshotAudits('camera:cam-a1');
    const opA = records.filter((x) => x.actor === 'user:op-a');
    expect(opA.map((x) => (x.details as { reason: string }).reason).sort()).toEqual(
      ['案件 2025-XS-0815 核查', REASON].sort(),
    );
    expect(opA[0]?.details).toMatchObject({ result_count: 1, via: 'rest' });
  });

  it('refuses a snapshot without a reason, with a bad id, outside the area or the role', async () => {
    mode = 'ok';
    asked.length = 0;
    const noReason = await call(app, as['op-a'], 'GET', '/api/v1/cameras/cam-a1/snapshot');
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error).toMatchObject({ code: 'GATEWAY_ERR_REASON_REQUIRED', field: 'reason' });
    const badId = await call(app, as['op-a'], 'GET', q('/api/v1/cameras/a%20b/snapshot', { reason: REASON }));
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error?.field).toBe('camera_id');
    // Another district's camera is answered exactly like a missing one, and the attempt is audited.
    const other = await call(
      app,
      as['op-b'],
      'GET',
      q('/api/v1/cameras/cam-a1/snapshot', { reason: REASON }),
    );
    expect(other.statusCode).toBe(404);
    expect(other.json().error?.code).toBe('GATEWAY_ERR_NOT_FOUND');
    const missing = await call(
      app,
      as['op-a'],
      'GET',
      q('/api/v1/cameras/cam-zz/snapshot', { reason: REASON }),
    );
    expect(missing.statusCode).toBe(404);
    expect(
      snapshotAudits('camera:cam-a1').some(
        (x) => x.actor === 'user:op-b' && (x.details as { result_count: number }).result_count === 0,
      ),
    ).toBe(true);
    expect(
      (await call(app, as['inst-a'], 'GET', q('/api/v1/cameras/cam-a1/snapshot', { reason: REASON })))
        .statusCode,
    ).toBe(403);
    expect(
      (
        await call(
          app,
          { key: env.keys.keyEventsOnly },
          'GET',
          q('/api/v1/cameras/cam-a1/snapshot', { reason: REASON }),
        )
      ).statusCode,
    ).toBe(403);
    // Nothing outside the caller's reach was asked of an edge.
    expect(asked).toEqual([]);
  });

  it('answers an edge that does not answer with 503, and a busy edge with 429, with stable codes', async () => {
    mode = 'silent';
    const url = q('/api/v1/cameras/cam-a2/snapshot', { reason: REASON });
    const silent = await call(app, as['op-a'], 'GET', url);
    expect(silent.statusCode).toBe(503);
    expect(silent.json().error).toMatchObject({
      code: 'GATEWAY_ERR_UNAVAILABLE',
      message: expect.stringContaining('did not answer') as unknown,
    });
    mode = 'busy';
    const busy = await call(app, as['op-a'], 'GET', url);
    expect(busy.statusCode).toBe(429);
    expect(busy.json().error?.code).toBe('GATEWAY_ERR_RESOURCE_EXHAUSTED');
    // The failed attempt is audited too (no picture returned).
    const failed = snapshotAudits('camera:cam-a2').find((x) => x.actor === 'user:op-a');
    expect(failed?.details).toMatchObject({ result_count: 0 });
    mode = 'ok';
  });

  it('serves installers a discovered device’s live JPEG by its device_key, in their area only', async () => {
    mode = 'ok';
    asked.length = 0;
    const list = await call(app, as['inst-a'], 'GET', q('/api/v1/discovered', { site_id: 'site-a' }));
    const devices = (list.json().items as { devices: { device_key: string }[] }[])[0]?.devices ?? [];
    expect(devices.map((d) => d.device_key).sort()).toEqual(['urn:uuid:a1', 'urn:uuid:new1']);
    const url = `/api/v1/discovered/site-a/${encodeURIComponent('urn:uuid:new1')}/snapshot`;
    const r = await call(app, as['inst-a'], 'GET', url);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toBe('image/jpeg');
    expect(Buffer.compare(r.rawPayload, jpeg)).toBe(0);
    expect(asked).toEqual(['device:site-a/urn:uuid:new1']);
    const audit = snapshotAudits('device:site-a/urn:uuid:new1');
    expect(audit[0]).toMatchObject({ actor: 'user:inst-a' });
    expect(audit[0]?.details).toMatchObject({ purpose: 'commissioning', result_count: 1 });

    const unknown = await call(
      app,
      as['inst-a'],
      'GET',
      '/api/v1/discovered/site-a/urn%3Auuid%3Anope/snapshot',
    );
    expect(unknown.statusCode).toBe(404);
    const otherSite = await call(
      app,
      as['inst-a'],
      'GET',
      `/api/v1/discovered/site-b/urn%3Auuid%3Ab1/snapshot`,
    );
    expect(otherSite.statusCode).toBe(404);
    expect((await call(app, as['op-a'], 'GET', url)).statusCode).toBe(403);
    const badSite = await call(app, as['inst-a'], 'GET', '/api/v1/discovered/a%20b/x/snapshot');
    expect(badSite.json().error?.field).toBe('site_id');
    mode = 'silent';
    const silent = await call(app, as['inst-a'], 'GET', url);
    expect(silent.statusCode).toBe(503);
    expect(silent.json().error?.code).toBe('GATEWAY_ERR_UNAVAILABLE');
    mode = 'ok';
  });
});
