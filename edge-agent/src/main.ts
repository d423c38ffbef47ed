/**
 * `edge-agent --config FILE`: parse arguments, load config, start the app, stop it on signals.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad arguments or configuration.
 */
import { parseArgs } from 'node:util';
import { startEdgeApp, VERSION } from './app.ts';
import { loadConfigFile } from './config/load.ts';
import { isEdgeError } from './errors.ts';
import { runDetect } from './cli/detect.ts';
import { createLogger } from './log.ts';

const HELP = `sharpeyes edge-agent ${VERSION}

usage: edge-agent --config FILE
       edge-agent detect IMAGE... | VIDEO     (edge-agent detect --help)
       edge-agent --help | --version

Discovers ONVIF cameras on the site LAN, captures their video with ffmpeg, detects faces and
plates, and sends events to the gateway over MQTT from a durable spool (config "mqtt"; without
it, to a JSON-lines file). Health on http://127.0.0.1:9464/metrics and /healthz (configurable).

  -c, --config FILE   JSON configuration (see README, "Edge agent configuration")
  -h, --help          this text
  -v, --version       the version

Environment:
  SHARPEYES_EDGE_PASSWORD   overrides default_credentials.password in the file
  LOG_LEVEL                 overrides log_level in the file
`;

async function main(): Promise<number> {
  if (process.argv[2] === 'detect') {
    return runDetect(
      process.argv.slice(3),
      (line) => process.stdout.write(`${line}\n`),
      (line) => process.stderr.write(`${line}\n`),
    );
  }
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`edge-agent: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (values.config === undefined) {
    process.stderr.write(`edge-agent: --config FILE is required\n\n${HELP}`);
    return 2;
  }

  let config;
  try {
    config = loadConfigFile(values.config);
  } catch (err) {
    if (isEdgeError(err, 'EDGE_ERR_CONFIG', 'EDGE_ERR_CONFIG_READ')) {
      process.stderr.write(`edge-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(process.env.LOG_LEVEL ?? config.log_level);

  let app;
  try {
    app = await startEdgeApp({ config, logger });
  } catch (err) {
    logger.fatal({ err }, 'edge agent failed to start');
    return isEdgeError(err, 'EDGE_ERR_CONFIG') ? 2 : 1;
  }
  const running = app;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'signal received');
      running.stop().then(
        () => {
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return stopped;
}

process.exitCode = await main();
