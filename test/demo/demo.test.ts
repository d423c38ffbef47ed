/**
 * The README's demo command, end to end: `tsx test/demo/main.ts` (what `npm run demo` runs after
 * setup) brings everything up, every endpoint it prints really serves, and SIGTERM takes it all
 * down again.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRtspFrames } from '../bench/fixtures/test-video.ts';
import { spawnManaged, type ManagedChild } from '../bench/lifetime.ts';
import { waitFor } from '../bench/wait.ts';
import { nodeOnvifDevice } from '../sim/clients.ts';
import { probeXml, UdpPeer } from '../sim/raw.ts';
import type { DemoReady } from './main.ts';

const MAIN = join(import.meta.dirname, 'main.ts');

function portOpen(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

describe('npm run demo', () => {
  let demo: ManagedChild | undefined;
  let ready: DemoReady | undefined;
  let stderr = '';

  beforeAll(async () => {
    demo = spawnManaged(process.execPath, ['--import', 'tsx', MAIN, '--ready-json', '--port', '0'], {
      name: 'demo',
      pipeStdout: true,
    });
    let stdout = '';
    demo.process.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    demo.process.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-8000)));
    const child = demo;
    const line = await waitFor(
      () => (stdout.includes('\n') ? stdout.slice(0, stdout.indexOf('\n')) : undefined),
      {
        what: 'the demo ready line',
        timeoutMs: 240_000,
        intervalMs: 100,
        abortIf: () => (child.running() ? undefined : `demo exited early:\n${stderr}`),
      },
    );
    ready = JSON.parse(line) as DemoReady;
  }, 300_000);

  afterAll(async () => {
    await demo?.stop();
  });

  function endpoints(): DemoReady {
    if (ready === undefined) throw new Error('demo not ready');
    return ready;
  }

  it('serves InfluxDB with the sharpeyes database', async () => {
    const url = new URL('/query', endpoints().influxdb_url);
    url.searchParams.set('q', 'SHOW DATABASES');
    const body = await (await fetch(url)).text();
    expect(body).toContain('"sharpeyes"');
  });

  it('runs the embedded MQTT broker, which refuses a client without site credentials', async () => {
    await expect(
      mqtt.connectAsync(endpoints().mqtt_url, { reconnectPeriod: 0, connectTimeout: 10_000 }),
    ).rejects.toThrow(/[Nn]ot authorized|[Bb]ad user/);
  });

  it("gets plate events from the simulated cameras into the gateway's index", async () => {
    const count = async (): Promise<number> => {
      const url = new URL('/query', endpoints().influxdb_url);
      url.searchParams.set('db', 'sharpeyes');
      url.searchParams.set('q', 'SELECT count("event_id") FROM "plate"."events"');
      const body = (await (await fetch(url)).json()) as {
        results: { series?: { values: [string, number][] }[] }[];
      };
      return body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
    };
    // A scene loops every 20 s with several vehicles: within a few loops plates are read,
    // tracked, spooled, sent over MQTT, acknowledged only once indexed.
    const n = await waitFor(async () => ((await count()) > 0 ? count() : undefined), {
      what: 'plate events in the index',
      timeoutMs: 240_000,
      intervalMs: 2000,
    });
    expect(n).toBeGreaterThan(0);
    const health = await (await fetch(`${endpoints().gateway_http_url}/healthz`)).text();
    expect(health).toContain('ok');
  }, 300_000);

  it('has three ONVIF cameras that answer discovery and lead to live video', async () => {
    const { cameras, credentials } = endpoints();
    expect(cameras).toHaveLength(3);
    const peer = await UdpPeer.open();
    try {
      for (const cam of cameras) {
        await peer.send(probeXml(), Number(new URL(cam.discovery).port));
        const match = await peer.next((d) => d.text.includes(cam.xaddr), `ProbeMatches from ${cam.name}`);
        expect(match.text).toContain('ProbeMatches');

        const device = nodeOnvifDevice(cam.xaddr, credentials.username, credentials.password);
        await device.init();
        expect(device.getInformation()?.SerialNumber).toBe(cam.serial);

        const rtsp = new URL(cam.rtsp_sub);
        rtsp.username = credentials.username;
        rtsp.password = credentials.password;
        const frames = await readRtspFrames(rtsp.toString(), 3);
        expect(frames.frames).toHaveLength(3);
      }
    } finally {
      await peer.close();
    }
  });

  it('runs the edge agent, capturing the registered cameras', async () => {
    const body = (await (await fetch(`${endpoints().edge_health_url}/healthz`)).json()) as {
      cameras: { state: string; analysed_fps: number }[];
    };
    expect(body.cameras.map((c) => c.state)).toEqual(endpoints().registered_cameras.map(() => 'online'));
    const metrics = await (await fetch(`${endpoints().edge_health_url}/metrics`)).text();
    expect(metrics).toContain('sharpeyes_edge_camera_input_fps');
  });

  it('serves the web UI, and the printed demo users see the backfilled week in their own district', async () => {
    const html = await (await fetch(endpoints().ui_url)).text();
    expect(html).toContain('<div id="app">');
    expect(endpoints().history_events).toBeGreaterThan(1000);
    const base = endpoints().gateway_http_url;
    const search = async (username: string): Promise<{ camera_id: string }[]> => {
      const user = endpoints().users.find((u) => u.username === username);
      if (user === undefined) throw new Error(`no demo user ${username}`);
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.username, password: user.password }),
      });
      expect(login.status).toBe(200);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const q = new URLSearchParams({
        from_ms: String(Date.now() - 7 * 86_400_000),
        to_ms: String(Date.now()),
        kind: 'plate',
        limit: '200',
        reason: 'demo test: history is searchable',
      });
      const res = await fetch(`${base}/api/v1/events?${q.toString()}`, { headers: { cookie } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { items: { camera_id: string }[] }).items;
    };
    const [a, b] = endpoints().registered_cameras;
    const seenByA = new Set((await search('op-a')).map((e) => e.camera_id));
    const seenByB = new Set((await search('op-b')).map((e) => e.camera_id));
    expect([...seenByA]).toEqual([a]);
    expect([...seenByB]).toEqual([b]);
  });

  it('stops cleanly on SIGTERM and leaves nothing listening', async () => {
    const child = demo;
    if (child === undefined) throw new Error('demo not started');
    // SIGTERM to the demo process only: its services must be stopped by the demo itself.
    process.kill(child.pid, 'SIGTERM');
    const exit = await child.exited;
    expect(exit, stderr).toEqual({ code: 0, signal: null });
    const { influxdb_url, mqtt_url, cameras } = endpoints();
    const urls = [
      influxdb_url,
      mqtt_url,
      endpoints().gateway_http_url,
      `grpc://${endpoints().grpc_address}`,
      endpoints().edge_health_url,
      ...cameras.flatMap((c) => [c.xaddr, c.rtsp_sub]),
    ];
    for (const url of urls) expect(await portOpen(url), url).toBe(false);
  });
});
