/**
 * `npm run demo`: the whole system on this machine, on loopback.
 *
 * The gateway (its SQLite registry and users, its own InfluxDB child process, embedded MQTT
 * broker, ingest, the web UI, REST and gRPC APIs), the test bench's simulated site — three ONVIF
 * cameras streaming scenes with plates and faces over RTSP — and the edge agent (a child process,
 * as on a site NVR) discovering them, analysing the two registered ones and sending events through
 * its spool over MQTT to the gateway. Seeded through the REST API like a county (test/demo/stack.ts:
 * users in two districts, one site, two cameras registered, one left for the installer), with a
 * week of backfilled history (test/demo/backfill.ts). Prints the UI's URL and the demo users'
 * credentials. Runs until Ctrl-C; `--duration-s N` stops it after N seconds.
 *
 *   tsx test/demo/main.ts [--port N] [--duration-s N] [--history-days N] [--ready-json]
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { makeTempDir } from '../bench/lifetime.ts';
import { waitFor } from '../bench/wait.ts';
import type { SceneProgress } from '../scene/generate.ts';
import { backfillHistory } from './backfill.ts';
import { UI_USERS, startFullStack } from './stack.ts';

const USAGE = `usage: npm run demo [-- --port N] [-- --duration-s N] [-- --history-days N] [-- --ready-json]
  --port N          the web UI and REST API port (default 9480; 0 = any free port)
  --duration-s N    stop after N seconds (default: run until Ctrl-C)
  --history-days N  days of synthetic history to backfill (default 7; 0 = none)
  --ready-json      print one JSON line describing every endpoint once ready (for tests)`;

/** The JSON line `--ready-json` prints: every endpoint of the running demo. */
export interface DemoReady {
  ready: true;
  /** The web UI. */
  ui_url: string;
  /** The gateway's UI, REST API (/api/v1), /docs, /healthz and /metrics. */
  gateway_http_url: string;
  grpc_address: string;
  influxdb_url: string;
  mqtt_url: string;
  /** The edge agent's /metrics and /healthz. */
  edge_health_url: string;
  /** Demo users of the web UI and REST API. */
  users: { username: string; password: string; role: string; scope: Record<string, string> }[];
  /** Backfilled history events. */
  history_events: number;
  /** The registered (analysed) cameras. */
  registered_cameras: string[];
  /** ONVIF/RTSP credentials of the simulated cameras. */
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

interface Args {
  port: number;
  durationS: number | undefined;
  historyDays: number;
  readyJson: boolean;
}

function parse(): Args {
  try {
    const { values } = parseArgs({
      options: {
        port: { type: 'string', default: '9480' },
        'duration-s': { type: 'string' },
        'history-days': { type: 'string', default: '7' },
        'ready-json': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const num = (name: string, raw: string | undefined, ok: (n: number) => boolean): number | undefined => {
      if (raw === undefined) return undefined;
      const n = Number(raw);
      if (!ok(n)) throw new Error(`--${name} is not valid: "${raw}"`);
      return n;
    };
    return {
      port: num('port', values.port, (n) => Number.isInteger(n) && n >= 0 && n < 65536) ?? 9480,
      durationS: num('duration-s', values['duration-s'], (n) => Number.isFinite(n) && n > 0),
      historyDays:
        num('history-days', values['history-days'], (n) => Number.isInteger(n) && n >= 0 && n <= 30) ?? 7,
      readyJson: values['ready-json'],
    };
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
    log.info(
      'starting the gateway (InfluxDB child, embedded MQTT broker, ingest, UI, REST and gRPC APIs), the simulated site and the edge agent',
    );
    const stack = await startFullStack({
      dir: work.path,
      logger: log.child({ program: 'gateway' }),
      ports: { http: args.port },
      onSceneProgress: progressPrinter(log),
    });
    stops.push(() => stack.stop());
    const { app, site } = stack;

    await waitFor(
      async () => {
        const body = (await (await fetch(`${stack.edgeHealthUrl}/healthz`)).json()) as {
          cameras: { state: string }[];
        };
        return body.cameras.filter((c) => c.state === 'online').length >= stack.registered.length
          ? true
          : undefined;
      },
      {
        what: 'the edge agent to capture the registered cameras',
        timeoutMs: 120_000,
        intervalMs: 500,
        abortIf: stack.edgeAlive,
      },
    );

    let historyEvents = 0;
    if (args.historyDays > 0) {
      log.info({ days: args.historyDays }, 'backfilling synthetic history through MQTT and ingest');
      let lastDecile = -1;
      historyEvents = await backfillHistory({
        brokerUrl: app.brokerUrl,
        siteId: stack.siteId,
        sitePassword: stack.sitePassword,
        cameraIds: stack.registered.map((c) => c.cameraId),
        days: args.historyDays,
        onProgress: (done, total) => {
          const decile = Math.floor((10 * done) / total);
          if (decile > lastDecile) {
            lastDecile = decile;
            log.info({ percent: decile * 10, events: done, of: total }, 'backfilling history');
          }
        },
      });
    }

    const users = Object.values(UI_USERS).map((u) => ({
      username: u.username,
      password: u.password,
      role: u.role,
      scope: { ...u.scope },
    }));
    const ready: DemoReady = {
      ready: true,
      ui_url: `${app.httpUrl}/ui/`,
      gateway_http_url: app.httpUrl,
      grpc_address: app.grpcAddress ?? '',
      influxdb_url: app.influxUrl,
      mqtt_url: app.brokerUrl,
      edge_health_url: stack.edgeHealthUrl,
      users,
      history_events: historyEvents,
      registered_cameras: stack.registered.map((c) => c.cameraId),
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
      const scope = (s: Record<string, string>): string =>
        Object.keys(s).length === 0 ? 'everywhere' : Object.values(s).join(' / ');
      const lines = [
        '',
        'sharpeyes demo is running (Ctrl-C to stop)',
        '',
        `  open the web UI:  ${ready.ui_url}`,
        '',
        '  sign in as (user / password — role, area):',
        ...users.map(
          (u) => `    ${u.username.padEnd(9)} ${u.password.padEnd(22)} ${u.role}, ${scope(u.scope)}`,
        ),
        '',
        `  REST API    ${app.httpUrl}/api/v1  (OpenAPI and a console at ${app.httpUrl}/docs)`,
        `  gRPC API    ${ready.grpc_address}  (reflection on; API keys are made under Admin → API keys)`,
        `  gateway     ${app.httpUrl}/healthz  ${app.httpUrl}/metrics`,
        `  InfluxDB    ${app.influxUrl}  (child process of the gateway; database "sharpeyes")`,
        `  MQTT        ${app.brokerUrl}  (embedded broker; site "${stack.siteId}")`,
        `  edge agent  ${stack.edgeHealthUrl}/healthz  ${stack.edgeHealthUrl}/metrics`,
        `  history     ${historyEvents} synthetic events over the last ${args.historyDays} days; live events arrive as the cameras see plates and faces`,
        `  cameras     ${ready.registered_cameras.join(', ')} registered and analysed; the third is discovered, waiting for an installer (inst-a)`,
        `              ONVIF user "${username}", password "${password}" (also for RTSP)`,
        ...site.cameras.map(
          (c) =>
            `    ${c.name.padEnd(22)} ONVIF ${c.onvif.xaddr}\n` +
            `    ${''.padEnd(22)} RTSP  ${c.rtspUrl} (720p), ${c.mainRtspUrl} (1080p)`,
        ),
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
