/** The agent's /metrics and /healthz, served for real on loopback. */
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, startHealthServer, type HealthServer } from '../../edge-agent/src/health/server.ts';
import { HealthRegistry, type CameraHealth } from '../../edge-agent/src/health/status.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';
import { CameraState } from '../../proto/gen/sharpeyes/v1/camera.ts';

const camera = (over: Partial<CameraHealth>): CameraHealth => ({
  cameraId: 'gate',
  state: 'online',
  inputFps: 2,
  analysedFps: 1.5,
  droppedFrames: 3,
  lastFrameMs: 1_700_000_000_000,
  lastError: '',
  lastErrorMs: 0,
  restarts: 1,
  ...over,
});

describe('health server', () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start(health: HealthRegistry): Promise<HealthServer> {
    server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      health,
      metrics: createMetrics(health),
      logger: silentLogger(),
    });
    return server;
  }

  it('exposes camera and process metrics in Prometheus format', async () => {
    const health = new HealthRegistry('site-1', '0.1.0', '/tmp');
    health.setCamera(camera({}));
    health.setCamera(camera({ cameraId: 'yard', state: 'auth_failed', inputFps: 0 }));
    await health.sample();
    const srv = await start(health);
    const res = await fetch(`${srv.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('sharpeyes_edge_camera_state{camera_id="gate",state="online",site_id="site-1"} 1');
    expect(text).toContain(
      'sharpeyes_edge_camera_state{camera_id="yard",state="auth_failed",site_id="site-1"} 1',
    );
    expect(text).toContain('sharpeyes_edge_camera_state{camera_id="yard",state="online",site_id="site-1"} 0');
    expect(text).toContain('sharpeyes_edge_camera_dropped_frames{camera_id="gate",site_id="site-1"} 3');
    expect(text).toMatch(/sharpeyes_edge_process_resident_memory_bytes\{site_id="site-1"\} \d+/);
    expect(text).toMatch(/sharpeyes_edge_disk_free_bytes\{site_id="site-1"\} [1-9]\d*/);
  });

  it('reports status on /healthz: degraded while a camera is in trouble, ok when all are online', async () => {
    const health = new HealthRegistry('site-1', '0.1.0', '/tmp');
    health.setCamera(camera({ cameraId: 'yard', state: 'offline', lastError: 'no frame within 10 s' }));
    const srv = await start(health);
    const body = (await (await fetch(`${srv.url}/healthz`)).json()) as {
      status: string;
      cameras: { camera_id: string; state: string; last_error: string }[];
    };
    expect(body.status).toBe('degraded');
    expect(body.cameras).toEqual([
      expect.objectContaining({ camera_id: 'yard', state: 'offline', last_error: 'no frame within 10 s' }),
    ]);
    health.setCamera(camera({ cameraId: 'yard', state: 'online' }));
    const again = (await (await fetch(`${srv.url}/healthz`)).json()) as { status: string };
    expect(again.status).toBe('ok');
  });

  it('answers unknown paths with 404 and other methods with 405', async () => {
    const srv = await start(new HealthRegistry('s', 'v', '/tmp'));
    expect((await fetch(`${srv.url}/admin`)).status).toBe(404);
    expect((await fetch(`${srv.url}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
  });
});

describe('HealthRegistry', () => {
  it('builds proto status messages', async () => {
    const health = new HealthRegistry('site-1', '1.2.3', '/nonexistent/deeper/path');
    health.setCamera(camera({ state: 'unreachable', lastError: 'connection refused', lastErrorMs: 5 }));
    health.setConfigRevision(4);
    const sample = await health.sample();
    expect(sample.diskFreeBytes).toBeGreaterThan(0);
    expect(health.cameraStatus('gate', 10)).toMatchObject({
      siteId: 'site-1',
      cameraId: 'gate',
      state: CameraState.CAMERA_STATE_UNREACHABLE,
      lastError: 'connection refused',
      updatedMs: 10,
    });
    expect(health.cameraStatus('nope')).toBeUndefined();
    expect(health.agentStatus()).toMatchObject({ siteId: 'site-1', version: '1.2.3', configRevision: 4 });
  });
});
