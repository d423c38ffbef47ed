/**
 * `npm run demo`: the whole system on this machine, on loopback.
 *
 * The gateway (its own InfluxDB child process, embedded MQTT broker, ingest into the index and
 * the evidence store), the test bench's simulated site — three ONVIF cameras streaming scenes
 * with plates and faces over RTSP — and the edge agent (a child process, as on a site NVR)
 * discovering, capturing and analysing them and sending events through its spool over MQTT to
 * the gateway. Runs until Ctrl-C; `--duration-s N` stops it after N seconds.
 *
 *   tsx test/demo/main.ts [--duration-s N] [--ready-json]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { makeTempDir, spawnManaged } from '../bench/lifetime.ts';
import { randomBytes } from 'node:crypto';
import { startGatewayApp } from '../../gateway/src/app.ts';
import { hashSitePassword } from '../../gateway/src/broker/passwords.ts';
import { parseConfig } from '../../gateway/src/config/load.ts';
import { freePort, waitFor } from '../bench/wait.ts';
import type { SceneProgress } from '../scene/generate.ts';
import { startSimulatedSite } from '../sim/site.ts';

const EDGE_BIN = join(import.meta.dirname, '..', '..', 'edge-agent', 'bin', 'edge-agent');

const USAGE = `usage: npm run demo [-- --duration-s N] [-- --ready-json]
  --duration-s N  stop after N seconds (default: run until Ctrl-C)
  --ready-json    print one JSON line describing every endpoint once ready (for tests)`;

/** The JSON line `--ready-json` prints: every endpoint of the running demo. */
export interface DemoReady {
  ready: true;
  influxdb_url: string;
  mqtt_url: string;
  /** The gateway's /healthz and /metrics. */
  gateway_http_url: string;
  /** The edge agent's /metrics and /healthz. */
  edge_health_url: string;
  credentials: { username: string; password: string };
  cameras: {
    name: string;
    xaddr: string;
    discovery: string;
    rtsp_sub: string;
    rtsp_main: string;
    serial: string;
  }[];
}

function parse(): { durationS: number | undefined; readyJson: boolean } {
  try {
    const { values } = parseArgs({
      options: {
        'duration-s': { type: 'string' },
        'ready-json': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const raw = values['duration-s'];
    const durationS = raw === undefined ? undefined : Number(raw);
    if (durationS !== undefined && !(Number.isFinite(durationS) && durationS > 0)) {
      throw new Error(`--duration-s must be a positive number of seconds, got "${raw ?? ''}"`);
    }
    return { durationS, readyJson: values['ready-json'] };
  } catch (err) {
    console.error(`demo: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

function progressPrinter(log: pino.Logger): (p: SceneProgress) => void {
  let lastDecile = -1;
  return (p) => {
    if (p.phase === 'sprites') {
      lastDecile = -1;
      log.info({ scene: p.scene }, 'generating scene (first run only; cached afterwards)');
    } else if (p.phase === 'encode' && p.frame !== undefined && p.frame_count !== undefined) {
      const decile = Math.floor((10 * p.frame) / p.frame_count);
      if (decile > lastDecile) {
        lastDecile = decile;
        log.info({ scene: p.scene, percent: decile * 10 }, 'encoding scene');
      }
    }
  };
}

async function main(): Promise<void> {
  const args = parse();
  const log = pino({ name: 'demo', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  const stops: (() => Promise<void>)[] = [];
  let stopping = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'stopping');
    // Reverse start order; one failing stop does not keep the others from running.
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.error({ err }, 'stop failed');
      }
    }
    log.info('stopped');
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void shutdown(sig).then(() => process.exit(0));
    });
  }

  try {
    const work = makeTempDir('demo');
    stops.push(() => {
      work.remove();
      return Promise.resolve();
    });
    const siteId = 'demo-village';
    const sitePassword = randomBytes(12).toString('base64url');
    const sitesFile = join(work.path, 'sites.json');
    const hashes = await hashSitePassword(sitePassword);
    writeFileSync(
      sitesFile,
      JSON.stringify({
        sites: [
          {
            site_id: siteId,
            password_hash: hashes.passwordHash,
            mosquitto_password_hash: hashes.mosquittoPasswordHash,
          },
        ],
      }),
    );
    log.info('starting the gateway: InfluxDB (child process), embedded MQTT broker, ingest (loopback)');
    const gateway = await startGatewayApp({
      config: parseConfig({
        data_dir: join(work.path, 'gateway'),
        http: { port: 0 },
        api: { grpc: { port: 0 } },
        broker: { port: 0, sites_file: sitesFile },
        influx: { mode: 'child' },
      }),
      logger: log.child({ program: 'gateway' }),
    });
    stops.push(() => gateway.stop());

    log.info('starting simulated site: scenes, RTSP server, ONVIF cameras');
    const site = await startSimulatedSite({ onProgress: progressPrinter(log), logger: log });
    stops.push(() => site.stop());

    log.info('starting the edge agent (child process) on the simulated site');
    const edgePort = await freePort();
    const edgeConfig = join(work.path, 'edge-agent.json');
    writeFileSync(
      edgeConfig,
      JSON.stringify(
        {
          site_id: siteId,
          http: { port: edgePort },
          data_dir: join(work.path, 'edge'),
          mqtt: { url: gateway.brokerUrl, password_env: 'DEMO_SITE_PASSWORD' },
          capture_discovered: true,
          default_credentials: {
            username: site.credentials.username,
            password: { env: 'DEMO_CAMERA_PASSWORD' },
          },
          discovery: {
            unicast_targets: site.cameras.map((c) => ({ host: '127.0.0.1', port: c.discoveryPort })),
            reprobe_interval_ms: 30_000,
          },
          capture: { fps: 2 },
        },
        null,
        2,
      ),
    );
    const edge = spawnManaged(EDGE_BIN, ['--config', edgeConfig], {
      name: 'edge-agent',
      env: {
        ...process.env,
        DEMO_CAMERA_PASSWORD: site.credentials.password,
        DEMO_SITE_PASSWORD: sitePassword,
      },
      logFile: join(work.path, 'edge-agent.log'),
    });
    stops.push(async () => {
      await edge.stop();
    });
    const edgeHealthUrl = `http://127.0.0.1:${edgePort}`;
    await waitFor(
      async () => {
        const body = (await (await fetch(`${edgeHealthUrl}/healthz`)).json()) as {
          cameras: { state: string }[];
        };
        return body.cameras.filter((c) => c.state === 'online').length === site.cameras.length
          ? true
          : undefined;
      },
      {
        what: 'the edge agent to capture every camera',
        timeoutMs: 120_000,
        intervalMs: 250,
        abortIf: () =>
          edge.running() ? undefined : `the edge agent exited; see ${join(work.path, 'edge-agent.log')}`,
      },
    );

    const ready: DemoReady = {
      ready: true,
      influxdb_url: gateway.influxUrl,
      mqtt_url: gateway.brokerUrl,
      gateway_http_url: gateway.httpUrl,
      edge_health_url: edgeHealthUrl,
      credentials: site.credentials,
      cameras: site.cameras.map((c) => ({
        name: c.name,
        xaddr: c.onvif.xaddr,
        discovery: `udp://127.0.0.1:${c.discoveryPort}`,
        rtsp_sub: c.rtspUrl,
        rtsp_main: c.mainRtspUrl,
        serial: c.onvif.identity.serial_number,
      })),
    };
    if (args.readyJson) {
      console.log(JSON.stringify(ready));
    } else {
      const { username, password } = site.credentials;
      const lines = [
        '',
        'sharpeyes demo is running (Ctrl-C to stop)',
        `  gateway     ${gateway.httpUrl}/healthz  ${gateway.httpUrl}/metrics`,
        `  InfluxDB    ${gateway.influxUrl}  (child process of the gateway; database "sharpeyes")`,
        `  MQTT        ${gateway.brokerUrl}  (embedded broker; site "${siteId}", events arrive as the cameras see plates and faces)`,
        `  edge agent  ${edgeHealthUrl}/healthz  ${edgeHealthUrl}/metrics  (capturing every camera at 2 fps)`,
        `  cameras     ONVIF user "${username}", password "${password}" (also for RTSP)`,
        ...site.cameras.map(
          (c) =>
            `    ${c.name.padEnd(22)} ONVIF ${c.onvif.xaddr}\n` +
            `    ${''.padEnd(22)} RTSP  ${c.rtspUrl} (720p), ${c.mainRtspUrl} (1080p)\n` +
            `    ${''.padEnd(22)} WS-Discovery probe: udp://127.0.0.1:${c.discoveryPort}`,
        ),
        '',
        `  watch one:  ffplay -rtsp_transport tcp rtsp://${username}:${password}@${new URL(site.cameras[0]?.rtspUrl ?? 'rtsp://x').host}/cam1/sub`,
        '',
      ];
      console.log(lines.join('\n'));
    }
  } catch (err) {
    log.error({ err }, 'demo failed to start');
    await shutdown('start failed');
    process.exit(1);
  }

  if (args.durationS !== undefined) {
    setTimeout(() => {
      void shutdown('duration elapsed').then(() => process.exit(0));
    }, args.durationS * 1000);
  }
}

await main();
