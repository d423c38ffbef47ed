/**
 * `gateway --config FILE [--role all|ingest|api] [--worker-id ID]`: parse arguments, load config,
 * start the app for the role (all and api: app.ts; ingest: scale/ingest-worker.ts), stop it on signals
 * (SIGTERM, SIGINT; SIGHUP re-reads a configured `broker.sites_file`). Exit codes: 0 clean stop, 1 runtime
 * failure, 2 bad arguments or configuration.
 *
 * Tools: `gateway hash-password` (a site password on stdin → the two hashes for the sites file),
 * `gateway mosquitto-files --config FILE --password-file P --acl-file A` (an external
 * Mosquitto's files from the registry, or the sites file when one is configured; a running
 * gateway keeps them current itself with `broker.mosquitto_files`).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startGatewayApp, VERSION } from './app.ts';
import { scaleUsers } from './scale/config.ts';
import { withRole } from './scale/roles.ts';
import { startIngestWorker } from './scale/ingest-worker.ts';
import { MOSQUITTO_SECURITY_CONFIG, writeMosquittoFiles } from './broker/mosquitto-files.ts';
import { runAudit } from './cli/audit.ts';
import { hashSitePassword } from './broker/passwords.ts';
import { readSitesFile } from './broker/sites-file.ts';
import type { SiteCredentialEntry } from './broker/types.ts';
import { AuditLog } from './audit/log.ts';
import { loadConfigFile, resolveSecret } from './config/load.ts';
import type { GatewayConfig } from './config/schema.ts';
import { openSqlite, Registry } from './registry/index.ts';
import { registryDbPath } from './wiring/stores.ts';
import { isGatewayError } from './errors.ts';
import { createLogger } from './log.ts';

const HELP = `sharpeyes gateway ${VERSION}

usage: gateway --config FILE [--role all|ingest|api] [--worker-id ID]
       gateway hash-password            (password on stdin)
       gateway mosquitto-files --config FILE --password-file PATH --acl-file PATH
       gateway audit verify --db FILE   (check the audit hash chain; exit 1 on tampering)
       gateway --help | --version

Ingests events from the sites' edge agents over MQTT (embedded broker by default), indexes them
in InfluxDB and stores their evidence. Serves the web UI (/ui/), the REST API (/api/v1, docs at
/docs), /healthz and /metrics on http://127.0.0.1:9480, and the gRPC API on 127.0.0.1:9490.

  -c, --config FILE   JSON configuration (schema: gateway/src/config/schema.ts)
  --role ROLE         all (default: everything), ingest (a stateless ingest worker on an MQTT 5
                      shared subscription) or api (registry, APIs, UI, live feed; no ingest)
  --worker-id ID      role ingest: this worker's id (its MQTT user and session)
  -h, --help          this text
  -v, --version       the version

Signals: SIGTERM/SIGINT stop; SIGHUP re-reads broker.sites_file (when configured).
Environment: LOG_LEVEL overrides log_level in the file.
`;

async function hashPassword(): Promise<number> {
  const input = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  if (input === '') {
    process.stderr.write('gateway hash-password: give the password on stdin\n');
    return 2;
  }
  const h = await hashSitePassword(input);
  process.stdout.write(
    `${JSON.stringify({ password_hash: h.passwordHash, mosquitto_password_hash: h.mosquittoPasswordHash })}\n`,
  );
  return 0;
}

async function mosquittoFiles(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      'password-file': { type: 'string' },
      'acl-file': { type: 'string' },
    },
  });
  const passwordFile = values['password-file'];
  const aclFile = values['acl-file'];
  if (values.config === undefined || passwordFile === undefined || aclFile === undefined) {
    process.stderr.write('gateway mosquitto-files: --config, --password-file and --acl-file are required\n');
    return 2;
  }
  const config = loadConfigFile(values.config);
  if (config.broker.password === undefined) {
    process.stderr.write(
      'gateway mosquitto-files: broker.password must be set (the gateway’s Mosquitto password)\n',
    );
    return 2;
  }
  const gatewayPassword = resolveSecret(config.broker.password, '/broker/password');
  const sites =
    config.broker.sites_file === undefined ? registrySites(config) : readSitesFile(config.broker.sites_file);
  await writeMosquittoFiles(
    { passwordFile, aclFile },
    {
      sites,
      // Every connection a gateway of this config may make (one node, or an api node and its
      // workers), each its own user: Mosquitto's use_username_as_clientid makes it its client id.
      gatewayUsers: [
        ...new Set([
          config.broker.username,
          ...scaleUsers.singleNode(config.broker.username),
          ...scaleUsers.all(config.broker.username, config.scale.ingest_workers),
        ]),
      ].map((username) => ({ username, password: gatewayPassword })),
    },
  );
  process.stdout.write(
    `wrote ${passwordFile} and ${aclFile} (${sites.filter((s) => s.enabled).length} sites); mosquitto.conf also needs (use_username_as_clientid inside each listener block: before the first listener line it opens a default listener on every address):\n  ${MOSQUITTO_SECURITY_CONFIG.join('\n  ')}\n`,
  );
  return 0;
}

/** The registry's site credentials (the database is locked while the gateway runs: use `broker.mosquitto_files` then). */
function registrySites(config: GatewayConfig): readonly SiteCredentialEntry[] {
  const db = openSqlite(registryDbPath(config));
  try {
    return new Registry(db, new AuditLog(db)).sites.list();
  } finally {
    db.close();
  }
}

async function main(): Promise<number> {
  const sub = process.argv[2];
  try {
    if (sub === 'hash-password') return await hashPassword();
    if (sub === 'mosquitto-files') return await mosquittoFiles(process.argv.slice(3));
    if (sub === 'audit') {
      return runAudit(
        process.argv.slice(3),
        (line) => process.stdout.write(`${line}\n`),
        (line) => process.stderr.write(`${line}\n`),
      );
    }
  } catch (err) {
    process.stderr.write(`gateway ${sub}: ${(err as Error).message}\n`);
    return isGatewayError(
      err,
      'GATEWAY_ERR_CONFIG',
      'GATEWAY_ERR_CONFIG_READ',
      'GATEWAY_ERR_SITES_FILE',
      'GATEWAY_ERR_DB_LOCKED',
    )
      ? 2
      : 1;
  }
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        role: { type: 'string' },
        'worker-id': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`gateway: ${(err as Error).message}\n\n${HELP}`);
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
    process.stderr.write(`gateway: --config FILE is required\n\n${HELP}`);
    return 2;
  }

  let config;
  try {
    config = withRole(loadConfigFile(values.config), values.role, values['worker-id']);
  } catch (err) {
    if (isGatewayError(err, 'GATEWAY_ERR_CONFIG', 'GATEWAY_ERR_CONFIG_READ')) {
      process.stderr.write(`gateway: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(process.env.LOG_LEVEL ?? config.log_level);

  let app;
  try {
    app =
      config.role === 'ingest'
        ? await startIngestWorker({ config, logger })
        : await startGatewayApp({ config, logger });
  } catch (err) {
    logger.fatal({ err }, 'gateway failed to start');
    return isGatewayError(err, 'GATEWAY_ERR_CONFIG', 'GATEWAY_ERR_SITES_FILE') ? 2 : 1;
  }
  const running = app;
  process.on('SIGHUP', () => {
    try {
      if ('reloadSites' in running) running.reloadSites();
    } catch (err) {
      logger.error({ err }, 'sites file not reloaded; the sites in force stay');
    }
  });
  return new Promise<number>((resolve) => {
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
}

process.exitCode = await main();
