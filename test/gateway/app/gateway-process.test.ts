/**
 * The gateway command as an operator runs it: `gateway/bin/gateway --config FILE` with a managed
 * influxd child. Bad configuration exits 2; a running gateway reports health and metrics, creates
 * its first admin, registers a site through the REST API, ingests, and stops cleanly on SIGTERM (exit 0, influxd gone); killed with
 * SIGKILL, its influxd dies with it (parent-death signal).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { topic } from '../../../proto/topics.ts';
import { makeTempDir, spawnManaged, type ManagedChild } from '../../bench/lifetime.ts';
import { processGone } from '../../bench/services/index.ts';
import { waitFor } from '../../bench/wait.ts';
import { connectSite } from '../fixtures/broker.ts';
import { eventsPayload, makeEvent } from '../fixtures/events.ts';

const BIN = join(import.meta.dirname, '..', '..', '..', 'gateway', 'bin', 'gateway');
const dir = makeTempDir('gateway-process');
afterAll(() => {
  dir.remove();
});
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Started {
  child: ManagedChild;
  httpUrl: string;
  brokerUrl: string;
  influxdPid: number;
  lines: Record<string, unknown>[];
}

function startGateway(configPath: string): Promise<Started> {
  const child = spawnManaged(BIN, ['--config', configPath], {
    name: 'gateway',
    pipeStdout: true,
    logFile: join(dir.path, 'gateway.log'),
    env: { ...process.env, LOG_LEVEL: 'info' },
    stopTimeoutMs: 15_000,
  });
  cleanups.push(() => child.stop());
  const lines: Record<string, unknown>[] = [];
  return new Promise((resolve, reject) => {
    let influxdPid = 0;
    const stdout = child.process.stdout;
    if (stdout === null) throw new Error('no stdout');
    createInterface({ input: stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      lines.push(msg);
      if (msg.msg === 'influxd started') influxdPid = Number(msg.influxd_pid);
      if (msg.msg === 'gateway started') {
        resolve({
          child,
          httpUrl: String(msg.http_url),
          brokerUrl: String(msg.broker_url),
          influxdPid,
          lines,
        });
      }
    });
    void child.exited.then((e) => {
      reject(new Error(`gateway exited early: ${JSON.stringify(e)}`));
    });
  });
}

function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnManaged(BIN, args, { name: 'gateway', logFile: join(dir.path, 'short.log') });
  let stderr = '';
  child.process.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return child.exited.then((e) => ({ code: e.code, stderr }));
}

async function metric(httpUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('gateway command', () => {
  it('exits 2 on a bad configuration, listing the problems', async () => {
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, JSON.stringify({ broker: { port: -1 }, nope: 1 }));
    const r = await runToExit(['--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/broker\/port/);
    expect((await runToExit([])).code).toBe(2);
  });

  it('runs with a managed influxd, registers a site through the REST API, ingests, and stops on SIGTERM', async () => {
    const dataDir = join(dir.path, 'data');
    const configPath = join(dir.path, 'config.json');
    const adminPasswordFile = join(dir.path, 'admin-password');
    writeFileSync(adminPasswordFile, 'first-admin-password\n', { mode: 0o600 });
    writeFileSync(
      configPath,
      JSON.stringify({
        data_dir: dataDir,
        http: { port: 0 },
        broker: { port: 0 },
        influx: { mode: 'child' },
        api: { grpc: { port: 0 } },
        auth: { bootstrap_admin: { username: 'admin', password_file: adminPasswordFile } },
      }),
    );
    const gw = await startGateway(configPath);
    const health = (await (await fetch(`${gw.httpUrl}/healthz`)).json()) as {
      status: string;
      components: Record<string, { state: string }>;
    };
    expect(Object.keys(health.components).sort()).toEqual([
      'broker',
      'config_push',
      'evidence',
      'index',
      'influxd',
      'ingest',
    ]);
    await waitFor(
      async () =>
        ((await (await fetch(`${gw.httpUrl}/healthz`)).json()) as { status: string }).status === 'ok'
          ? true
          : undefined,
      { what: 'every component ok' },
    );
    expect(await metric(gw.httpUrl, 'sharpeyes_gateway_ingest_connected')).toBe(1);

    // No site yet: refused. The bootstrap admin signs in and registers one.
    await expect(connectSite(gw.brokerUrl, 'village-7')).rejects.toThrow();
    const signIn = async (username: string, password: string): Promise<string> => {
      const login = await fetch(`${gw.httpUrl}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      expect(login.status).toBe(200);
      return (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    };
    const post = (cookie: string, path: string, body: unknown): Promise<Response> =>
      fetch(`${gw.httpUrl}/api/v1${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify(body),
      });
    // Admins manage users; installers manage sites and cameras (roles).
    const admin = await signIn('admin', 'first-admin-password');
    const user = await post(admin, '/users', {
      username: 'installer',
      password: 'installer-password',
      role: 'installer',
      scope: { district: 'D1' },
    });
    expect(user.status).toBe(201);
    const installer = await signIn('installer', 'installer-password');
    const created = await post(installer, '/sites', {
      site_id: 'village-7',
      name: 'Village 7',
      place: { district: 'D1' },
    });
    expect(created.status).toBe(201);
    const { mqtt_password } = (await created.json()) as { mqtt_password: string };
    // Registering a camera pushes the site's config, counted as published (mqtt.js acknowledges
    // a publish with null, which once counted and logged as a failure).
    const camera = await post(installer, '/cameras', {
      camera_id: 'village-7-gate',
      site_id: 'village-7',
      code: 'V7-GATE',
      name: 'Village 7 gate',
      place: { district: 'D1' },
      category: 'village_entrance',
      xaddr: 'http://192.0.2.7/onvif/device_service',
    });
    expect(camera.status, await camera.clone().text()).toBe(201);
    const published = 'sharpeyes_gateway_site_config_published_total';
    await waitFor(
      async () => ((await metric(gw.httpUrl, `${published}{outcome="ok"}`)) >= 1 ? true : undefined),
      { what: 'the site config published' },
    );
    expect(await metric(gw.httpUrl, `${published}{outcome="failed"}`)).toBeNaN();
    const edge = await connectSite(gw.brokerUrl, 'village-7', { password: mqtt_password });
    await edge.publishAsync(topic.events('village-7'), eventsPayload([makeEvent({ site: 'village-7' })]), {
      qos: 1,
    });
    await edge.endAsync();
    await waitFor(
      async () =>
        (await metric(gw.httpUrl, 'sharpeyes_gateway_ingest_events_written_total')) === 1 ? true : undefined,
      {
        what: 'the event written',
      },
    );

    const exit = await gw.child.stop();
    expect(exit.code).toBe(0);
    expect(processGone(gw.influxdPid)).toBe(true);
  }, 120_000);

  it('takes its influxd down with it when SIGKILLed', async () => {
    const configPath = join(dir.path, 'config-kill.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        data_dir: join(dir.path, 'data-kill'),
        http: { port: 0 },
        broker: { port: 0 },
        influx: { mode: 'child' },
        api: { grpc: { port: 0 } },
      }),
    );
    const gw = await startGateway(configPath);
    expect(processGone(gw.influxdPid)).toBe(false);
    process.kill(gw.child.pid, 'SIGKILL');
    await gw.child.exited;
    await waitFor(() => (processGone(gw.influxdPid) ? true : undefined), {
      what: 'influxd gone',
      timeoutMs: 10_000,
    });
  }, 120_000);
});
