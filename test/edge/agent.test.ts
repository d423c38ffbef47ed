/**
 * The edge agent as a whole (startEdgeApp, in-process) against simulated ONVIF cameras and a
 * real GStreamer RTSP server: discovery → identity → capture → health, including a camera that
 * changes address, one with the wrong password and hostile ones beside healthy ones.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeApp, type EdgeApp } from '../../edge-agent/src/app.ts';
import { parseConfig } from '../../edge-agent/src/config/load.ts';
import type { CameraHealth } from '../../edge-agent/src/health/status.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';
import { SiteConfig } from '../../proto/gen/sharpeyes/v1/config.ts';
import { makeTestVideo } from '../bench/fixtures/test-video.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { startRtspServer, type RtspServerHandle } from '../bench/services/index.ts';
import { waitFor } from '../bench/wait.ts';
import { startOnvifCamera, type OnvifCamera } from '../sim/onvif/index.ts';
import { TEST_PASSWORD, TEST_USER, testCameraOptions } from '../sim/sim-fixtures.ts';

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

const rtspAuth = { user: TEST_USER, password: TEST_PASSWORD };
const CAM4_PASSWORD = 'another-password';

describe('edge agent', () => {
  let tmp: TempDir | undefined;
  const servers: RtspServerHandle[] = [];
  const cams: OnvifCamera[] = [];
  let app: EdgeApp | undefined;
  let video = '';
  /** cam1 has its own RTSP server so that its "old address" can disappear. */
  let cam1Rtsp: RtspServerHandle | undefined;

  function health(cameraId: string): CameraHealth | undefined {
    return app?.health.cameraHealth().find((h) => h.cameraId === cameraId);
  }

  async function until(cameraId: string, state: CameraHealth['state'], what: string): Promise<CameraHealth> {
    return waitFor(() => (health(cameraId)?.state === state ? health(cameraId) : undefined), {
      what,
      timeoutMs: 60_000,
      intervalMs: 100,
    });
  }

  beforeAll(async () => {
    tmp = makeTempDir('edge-agent');
    video = await makeTestVideo(tmp.path, { width: 1280, height: 720, fps: 10, seconds: 4 });
    cam1Rtsp = await startRtspServer({
      mounts: [{ path: '/cam1_sub', file: video, auth: rtspAuth, shared: true }],
    });
    servers.push(cam1Rtsp);
    const shared = await startRtspServer({
      mounts: [2, 3, 4].map((i) => ({
        path: `/cam${i}_sub`,
        file: video,
        // Camera 4 has its own password, for RTSP as for ONVIF.
        auth: i === 4 ? { user: TEST_USER, password: CAM4_PASSWORD } : rtspAuth,
        shared: true,
      })),
    });
    servers.push(shared);
    const helloPort = await freeUdpPort();

    const sub = (i: number, server: RtspServerHandle) => (o: ReturnType<typeof testCameraOptions>) => ({
      ...o,
      profiles: o.profiles.map((p) => ({
        ...p,
        rtsp_uri: server.url(p.token === 'profile_sub' ? `/cam${i}_sub` : `/cam${i}_main`),
      })),
      discovery: { mode: 'unicast' as const, announce_to: { host: '127.0.0.1', port: helloPort } },
    });
    // 1–3 healthy; 4 has another password than the site's; 5 and 6 reply with hostile XML.
    cams.push(await startOnvifCamera(sub(1, cam1Rtsp)(testCameraOptions(1))));
    cams.push(await startOnvifCamera(sub(2, shared)(testCameraOptions(2))));
    cams.push(await startOnvifCamera(sub(3, shared)(testCameraOptions(3))));
    cams.push(
      await startOnvifCamera(
        sub(
          4,
          shared,
        )(testCameraOptions(4, { credentials: { username: TEST_USER, password: CAM4_PASSWORD } })),
      ),
    );
    cams.push(
      await startOnvifCamera(
        sub(5, shared)(testCameraOptions(5, { fault: { kind: 'hostile_xml', variant: 'billion_laughs' } })),
      ),
    );
    cams.push(
      await startOnvifCamera(
        sub(6, shared)(testCameraOptions(6, { fault: { kind: 'hostile_xml', variant: 'xxe' } })),
      ),
    );

    const config = parseConfig({
      site_id: 'test-site',
      http: { port: 0 },
      data_dir: tmp.path,
      capture_discovered: true,
      default_credentials: { username: TEST_USER, password: { value: TEST_PASSWORD } },
      discovery: {
        unicast_targets: cams.map((c) => ({ host: '127.0.0.1', port: c.discoveryPort })),
        xaddrs: cams.slice(4).map((c) => c.xaddr),
        hello_port: helloPort,
        reprobe_interval_ms: 5000,
        probe_timeout_ms: 500,
        onvif_timeout_ms: 10_000,
      },
      capture: {
        width: 640,
        height: 360,
        fps: 2,
        stall_timeout_ms: 4000,
        backoff_initial_ms: 500,
        backoff_max_ms: 5000,
      },
      // Discovery and capture are under test here; detection has its own tests (pipeline.test.ts).
      detect: { face: false, plate: false },
      cameras: [{ camera_id: 'cam4-wrongpw', endpoint_reference: cams[3]?.endpointReference }],
    });
    app = await startEdgeApp({ config, logger: silentLogger() });
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    await Promise.allSettled(cams.map((c) => c.stop()));
    await Promise.allSettled(servers.map((s) => s.stop()));
    tmp?.remove();
  });

  const id = (i: number) => `epr-${(cams[i - 1]?.endpointReference ?? '').replace('urn:uuid:', '')}`;

  it('discovers the cameras by unicast and captures the healthy ones; hostile ones are errors, not damage', async () => {
    for (const i of [1, 2, 3]) await until(id(i), 'online', `camera ${i} online`);
    // Cameras 5 and 6 answer probes and SOAP with hostile XML: their probe replies are dropped,
    // and their direct addresses end in an error, never in a capture.
    const hostileXaddrs = cams.slice(4).map((c) => c.xaddr);
    const hostile = await waitFor(
      () => {
        const ds = (app?.discovery.devices() ?? []).filter((d) => hostileXaddrs.includes(d.xaddr));
        return ds.length === 2 && ds.every((d) => d.lastError !== undefined) ? ds : undefined;
      },
      { what: 'both hostile cameras to be described (and fail)', timeoutMs: 60_000, intervalMs: 100 },
    );
    for (const d of hostile) {
      expect(d.access).not.toBe('ok');
      expect(JSON.stringify(d)).not.toContain('root:x:0:0');
    }
    expect(app?.discovery.stats().malformedDatagrams ?? 0).toBeGreaterThan(0);
    expect(app?.health.cameraHealth().filter((h) => h.state === 'online')).toHaveLength(3);
    const body = (await (await fetch(`${app?.healthUrl ?? ''}/healthz`)).json()) as { cameras: unknown[] };
    expect(body.cameras).toHaveLength(4);

    // The installer's raw material: every device found, registered or not.
    const report = (await (await fetch(`${app?.healthUrl ?? ''}/discovered`)).json()) as {
      siteId: string;
      devices: {
        identity?: { serialNumber?: string; manufacturer?: string };
        profiles?: unknown[];
        cameraId?: string;
        access?: string;
      }[];
    };
    expect(report.siteId).toBe('test-site');
    const serials = report.devices.map((d) => d.identity?.serialNumber);
    expect(serials).toEqual(expect.arrayContaining(['SN-1001', 'SN-1002', 'SN-1003']));
    const cam1 = report.devices.find((d) => d.identity?.serialNumber === 'SN-1001');
    expect(cam1?.identity?.manufacturer).toBe('Sharpeyes Sim');
    expect(cam1?.profiles).toHaveLength(2);
    expect(report.devices.find((d) => d.cameraId === 'cam4-wrongpw')?.access).toBe(
      'DEVICE_ACCESS_AUTH_FAILED',
    );
    expect(JSON.stringify(report)).not.toContain(TEST_PASSWORD);
  });

  it('reports wrong credentials as auth_failed with a clear message, and backs off', async () => {
    const h = await until('cam4-wrongpw', 'auth_failed', 'cam4 auth_failed');
    expect(h.lastError).toMatch(/credentials|not authori[sz]ed/i);
    expect(h.lastError).not.toContain(TEST_PASSWORD);
    const device = () =>
      app?.discovery
        .devices()
        .find(
          (d) => d.identity.endpointReference === cams[3]?.endpointReference || d.xaddr === cams[3]?.xaddr,
        );
    const first = device();
    const attemptsBefore = first?.describeAttempts ?? 0;
    await new Promise((r) => setTimeout(r, 8000));
    const later = device();
    // Retried, but slowly: a storm would be one attempt per probe answer (several a second).
    expect((later?.describeAttempts ?? 0) - attemptsBefore).toBeLessThanOrEqual(4);
    expect(later?.nextRetryAtMs ?? 0).toBeGreaterThan(Date.now() - 1000);
  });

  it('applies a SiteConfig from the gateway live: the right password brings the camera online', async () => {
    const running = app;
    const cam4 = cams[3];
    if (running === undefined || cam4 === undefined) throw new Error('setup failed');
    const siteConfig = (revision: number, siteId = 'test-site') =>
      SiteConfig.fromPartial({
        siteId,
        revision,
        cameras: [
          {
            cameraId: 'cam4-wrongpw',
            identity: {
              endpointReference: cam4.endpointReference.toUpperCase().replace('URN:UUID:', 'urn:uuid:'),
            },
            credentials: { username: TEST_USER, password: CAM4_PASSWORD },
            enabled: true,
          },
        ],
      });
    expect(running.applySiteConfig(siteConfig(5, 'another-site'))).toBe(false);
    expect(running.applySiteConfig(siteConfig(5))).toBe(true);
    expect(running.applySiteConfig(siteConfig(4))).toBe(false);
    expect(running.health.agentStatus().configRevision).toBe(5);
    await until('cam4-wrongpw', 'online', 'cam4 online with the pushed credentials');
  });

  it('follows a camera that changes its IP: same identity, capture resumes from the new address', async () => {
    const cam = cams[0];
    if (cam === undefined || cam1Rtsp === undefined) throw new Error('setup failed');
    await until(id(1), 'online', 'camera 1 online');

    // The camera comes back on another address, its streams with it; the old address is dead.
    const moved = await startRtspServer({
      mounts: [{ path: '/cam1_sub', file: video, auth: rtspAuth, shared: true }],
    });
    servers.push(moved);
    await cam.move('127.0.0.2', 0, {
      profile_sub: moved.url('/cam1_sub'),
      profile_main: moved.url('/cam1_main'),
    });
    await cam1Rtsp.stop();

    await waitFor(
      () => {
        const d = app?.discovery
          .devices()
          .find((x) => x.identity.endpointReference === cam.endpointReference);
        return d?.xaddr.includes('127.0.0.2') === true ? d : undefined;
      },
      { what: 'the agent to see the new address', timeoutMs: 60_000, intervalMs: 100 },
    );
    // Frames keep coming under the same camera id, from the new server.
    const before = health(id(1))?.lastFrameMs ?? 0;
    await waitFor(
      () => {
        const h = health(id(1));
        return h !== undefined && h.state === 'online' && h.lastFrameMs > before + 1500 ? h : undefined;
      },
      { what: 'camera 1 online again from its new address', timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(app?.health.cameraHealth().filter((h) => h.cameraId === id(1))).toHaveLength(1);
  });
});
