/**
 * `npm run demo`: the whole system on this machine, on loopback.
 *
 * Today that is the test bench's simulated site — three ONVIF cameras streaming scenes with
 * plates and faces over RTSP — plus the services the gateway will run (InfluxDB as a child
 * process, an embedded MQTT broker). The gateway and the edge agent join as they are built
 * (issues 3–7). Runs until Ctrl-C; `--duration-s N` stops it after N seconds.
 *
 *   tsx test/demo/main.ts [--duration-s N] [--ready-json]
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startAedes, startInfluxd } from '../bench/services/index.ts';
import type { SceneProgress } from '../scene/generate.ts';
import { startSimulatedSite } from '../sim/site.ts';

const USAGE = `usage: npm run demo [-- --duration-s N] [-- --ready-json]
  --duration-s N  stop after N seconds (default: run until Ctrl-C)
  --ready-json    print one JSON line describing every endpoint once ready (for tests)`;

/** The JSON line `--ready-json` prints: every endpoint of the running demo. */
export interface DemoReady {
  ready: true;
  influxdb_url: string;
  mqtt_url: string;
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
    log.info('starting InfluxDB (child process, loopback)');
    const influx = await startInfluxd();
    stops.push(() => influx.stop());
    await influx.createDatabase('sharpeyes');

    log.info('starting MQTT broker (embedded Aedes, loopback)');
    const broker = await startAedes();
    stops.push(() => broker.stop());

    log.info('starting simulated site: scenes, RTSP server, ONVIF cameras');
    const site = await startSimulatedSite({ onProgress: progressPrinter(log), logger: log });
    stops.push(() => site.stop());

    const ready: DemoReady = {
      ready: true,
      influxdb_url: influx.url,
      mqtt_url: broker.url,
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
        `  InfluxDB    ${influx.url}  (database "sharpeyes")`,
        `  MQTT        ${broker.url}`,
        `  cameras     ONVIF user "${username}", password "${password}" (also for RTSP)`,
        ...site.cameras.map(
          (c) =>
            `    ${c.name.padEnd(22)} ONVIF ${c.onvif.xaddr}\n` +
            `    ${''.padEnd(22)} RTSP  ${c.rtspUrl} (720p), ${c.mainRtspUrl} (1080p)\n` +
            `    ${''.padEnd(22)} WS-Discovery probe: udp://127.0.0.1:${c.discoveryPort}`,
        ),
        '',
        `  watch one:  ffplay -rtsp_transport tcp rtsp://${username}:${password}@${new URL(site.cameras[0]?.rtspUrl ?? 'rtsp://x').host}/cam1/sub`,
        '  not yet:    the edge agent and the gateway (web UI, APIs) arrive with issues 3-7',
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
