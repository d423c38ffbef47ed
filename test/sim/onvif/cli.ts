/**
 * Run simulated ONVIF cameras from a JSON config (format: `SimCliConfig` in config.ts).
 *
 *   tsx test/sim/onvif/cli.ts --config FILE.json
 *
 * stdout carries only JSON lines, one per event:
 *   {"event":"ready","name":…,"endpoint_reference":…,"xaddr":…,"media_xaddr":…,"host":…,
 *    "http_port":…,"discovery_mode":…,"discovery_port":…}   — one per camera, in config order
 *   {"event":"all_ready","count":N}
 *   {"event":"stopped","name":…}                               — per camera, after its Bye
 * Logs (pino) go to stderr. SIGTERM/SIGINT stop every camera (Bye sent) and exit 0 (1 if that
 * takes over 10 s). Exit 2: bad arguments or config; exit 1: a camera failed to start.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { pino, type Logger } from 'pino';

import { startOnvifCamera } from './camera.ts';
import { parseCliConfig, type SimCliConfig } from './config.ts';
import { isSimError } from './errors.ts';
import type { OnvifCamera } from './types.ts';

/** Longest a clean shutdown may take before the CLI gives up and exits 1. */
const STOP_TIMEOUT_MS = 10_000;

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function loadConfig(file: string): SimCliConfig {
  const config = parseCliConfig(JSON.parse(readFileSync(file, 'utf8')) as unknown);
  // Snapshot paths are relative to the config file, not to the working directory.
  for (const cam of config.cameras) {
    if (cam.snapshot !== undefined) cam.snapshot = resolve(dirname(file), cam.snapshot);
  }
  return config;
}

async function startAll(config: SimCliConfig, root: Logger, log: Logger): Promise<OnvifCamera[]> {
  const cams: OnvifCamera[] = [];
  try {
    for (const c of config.cameras) {
      const cam = await startOnvifCamera({ ...c, logger: root });
      cams.push(cam);
      emit({
        event: 'ready',
        name: cam.name,
        endpoint_reference: cam.endpointReference,
        xaddr: cam.xaddr,
        media_xaddr: cam.mediaXaddr,
        host: cam.host,
        http_port: cam.httpPort,
        discovery_mode: c.discovery?.mode ?? 'unicast',
        discovery_port: cam.discoveryPort ?? null,
      });
    }
  } catch (err) {
    await stopAll(cams, log);
    throw err;
  }
  return cams;
}

async function stopAll(cams: readonly OnvifCamera[], log: Logger): Promise<void> {
  // Reverse start order, like every other component in the project.
  for (const cam of [...cams].reverse()) {
    try {
      await cam.stop();
      emit({ event: 'stopped', name: cam.name });
    } catch (err) {
      log.error({ err, camera: cam.name }, 'camera did not stop cleanly');
    }
  }
}

async function main(): Promise<number> {
  let file: string | undefined;
  try {
    file = parseArgs({ options: { config: { type: 'string' } }, strict: true }).values.config;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  }
  if (file === undefined) {
    process.stderr.write('usage: tsx test/sim/onvif/cli.ts --config FILE.json\n');
    return 2;
  }
  let config: SimCliConfig;
  try {
    config = loadConfig(file);
  } catch (err) {
    process.stderr.write(`${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const root = pino({ level: config.log_level ?? 'info' }, pino.destination(2));
  const log = root.child({ module: 'onvif-sim-cli' });

  let cams: OnvifCamera[];
  try {
    cams = await startAll(config, root, log);
  } catch (err) {
    log.error({ err }, 'could not start cameras');
    return isSimError(err, 'SIM_ERR_CONFIG') ? 2 : 1;
  }
  emit({ event: 'all_ready', count: cams.length });

  const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGTERM', resolveSignal);
    process.once('SIGINT', resolveSignal);
  });
  // Further signals are ignored: with `tsx` in front, a process-group SIGTERM can arrive twice
  // (directly and relayed). A watchdog bounds the shutdown instead.
  const ignore = (s: NodeJS.Signals): void => {
    log.info({ signal: s }, 'already stopping');
  };
  process.on('SIGTERM', ignore);
  process.on('SIGINT', ignore);
  const watchdog = setTimeout(() => {
    log.error({ timeout_ms: STOP_TIMEOUT_MS }, 'cameras did not stop in time');
    process.exit(1);
  }, STOP_TIMEOUT_MS);
  log.info({ signal }, 'stopping cameras');
  await stopAll(cams, log);
  clearTimeout(watchdog);
  process.off('SIGTERM', ignore);
  process.off('SIGINT', ignore);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
