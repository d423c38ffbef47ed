/**
 * The gateway, wired: managed influxd (child mode) → event index → evidence store → MQTT broker
 * (embedded mode) → ingest → HTTP, started in that order and stopped in reverse. main.ts parses
 * arguments and handles signals; tests and the bench build the app directly.
 *
 * The embedded broker lets sites in only after ingest has subscribed (its persistent session
 * exists), so no event is acknowledged to an edge while nothing would keep it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/aedes-broker.ts';
import { SitesFileCredentialStore } from './broker/sites-file.ts';
import { resolveSecret } from './config/load.ts';
import type { GatewayConfig } from './config/schema.ts';
import { GatewayError, isGatewayError } from './errors.ts';
import { DirEvidenceStore, evidenceOptionsFromConfig } from './evidence/index.ts';
import { startHttpServer, type ComponentHealth, type HttpServer } from './http/server.ts';
import { indexProblem, indexOptionsFromConfig, InfluxEventIndex } from './index/index.ts';
import { startManagedInfluxd, type ManagedInfluxd } from './influxd/influxd.ts';
import { Ingest } from './ingest/ingest.ts';
import type { SiteStateReader } from './ingest/site-state.ts';
import type { Logger } from './log.ts';

/** The gateway's version, from package.json. */
export const VERSION = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** Options of {@link startGatewayApp}. */
export interface GatewayAppOptions {
  config: GatewayConfig;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

/** A running gateway. */
export interface GatewayApp {
  /** Where edges connect (embedded broker's plain listener), or the external broker's URL. */
  readonly brokerUrl: string;
  /** The embedded broker's TLS listener, when on. */
  readonly brokerTlsUrl: string | undefined;
  /** `http://host:port` of /healthz and /metrics. */
  readonly httpUrl: string;
  /** InfluxDB's base URL (the managed child's in child mode). */
  readonly influxUrl: string;
  readonly registry: Registry;
  readonly ingest: Ingest;
  readonly index: InfluxEventIndex;
  readonly evidence: DirEvidenceStore;
  readonly siteState: SiteStateReader;
  /** The managed influxd (child mode). */
  readonly influxd: ManagedInfluxd | undefined;
  /** Re-read the sites file (embedded broker). */
  reloadSites(): void;
  /** Stop everything, in reverse start order. Idempotent. */
  stop(): Promise<void>;
}

async function openIndex(
  config: GatewayConfig,
  url: string,
  logger: Logger,
  registry: Registry,
): Promise<InfluxEventIndex> {
  const log = logger.child({ module: 'app' });
  const deadline = Date.now() + config.influx.start_timeout_ms;
  let delay = 250;
  for (;;) {
    try {
      return await InfluxEventIndex.open({ ...indexOptionsFromConfig(config.index), url, logger, registry });
    } catch (err) {
      if (!isGatewayError(err, 'GATEWAY_ERR_INDEX_UNAVAILABLE') || Date.now() + delay > deadline) throw err;
      log.warn({ err, retry_in_ms: delay }, 'InfluxDB not answering yet');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** Build and start the gateway. */
export async function startGatewayApp(opts: GatewayAppOptions): Promise<GatewayApp> {
  const { config, logger } = opts;
  const env = opts.env ?? process.env;
  const log = logger.child({ module: 'app' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sharpeyes_gateway_' });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        log.error({ err }, 'stopping a component failed');
      }
    }
  };

  try {
    let influxd: ManagedInfluxd | undefined;
    if (config.influx.mode === 'child') {
      influxd = await startManagedInfluxd({
        influxdPath: config.influx.influxd_path,
        dir: join(config.data_dir, 'influxdb'),
        port: config.influx.port,
        startTimeoutMs: config.influx.start_timeout_ms,
        logger,
      });
      const child = influxd;
      stops.push(() => child.stop());
    }
    const influxUrl = influxd?.url ?? config.index.url;
    const index = await openIndex(config, influxUrl, logger, registry);
    const evidence = await DirEvidenceStore.open({
      ...evidenceOptionsFromConfig(config.evidence),
      logger,
      registry,
    });

    const b = config.broker;
    let broker: EmbeddedBroker | undefined;
    let sites: SitesFileCredentialStore | undefined;
    let password: string;
    if (b.mode === 'embedded') {
      const sitesFile = b.sites_file ?? join(config.data_dir, 'sites.json');
      if (b.sites_file === undefined && !existsSync(sitesFile)) {
        // A first start: an empty list, to be filled and reloaded (SIGHUP).
        mkdirSync(config.data_dir, { recursive: true });
        writeFileSync(sitesFile, '{ "sites": [] }\n', { mode: 0o600, flag: 'wx' });
        log.warn(
          { sites_file: sitesFile },
          'created an empty sites file: no site can connect until sites are added (then SIGHUP)',
        );
      }
      sites = new SitesFileCredentialStore(sitesFile);
      // The ingest's own credential: random per start unless configured.
      password =
        b.password === undefined
          ? randomBytes(32).toString('base64url')
          : resolveSecret(b.password, '/broker/password', env);
      broker = await startEmbeddedBroker({
        persistenceDir: join(config.data_dir, 'broker'),
        host: b.host,
        port: b.port,
        ...(b.tls !== undefined && {
          tls: {
            host: b.tls.host,
            port: b.tls.port,
            keyFile: b.tls.key_file,
            certFile: b.tls.cert_file,
            ...(b.tls.ca_file !== undefined && { caFile: b.tls.ca_file }),
          },
        }),
        sites,
        gateway: { username: b.username, password },
        logger,
        registry,
      });
      const running = broker;
      stops.push(() => running.stop());
    } else {
      if (b.password === undefined || b.url === undefined)
        throw new GatewayError('GATEWAY_ERR_CONFIG', 'external broker needs url and password');
      password = resolveSecret(b.password, '/broker/password', env);
    }
    const brokerUrl = broker === undefined ? (b.url as string) : broker.url;
    const ingestUrl = broker === undefined ? brokerUrl : broker.internalUrl;

    const ingest = new Ingest({
      mqtt: {
        url: ingestUrl,
        clientId: b.client_id,
        username: b.username,
        password,
        ...(broker === undefined && b.ca_file !== undefined && { ca: readFileSync(b.ca_file) }),
        keepaliveS: b.keepalive_s,
        reconnectPeriodMs: b.reconnect_period_ms,
        connectTimeoutMs: 30_000,
      },
      index,
      evidence,
      eventProblem: indexProblem,
      tuning: {
        batchMaxEvents: config.ingest.batch_max_events,
        batchMaxBytes: config.ingest.batch_max_bytes,
        batchMaxDelayMs: config.ingest.batch_max_delay_ms,
        maxInFlightBatches: config.ingest.max_in_flight_batches,
        evidenceConcurrency: config.ingest.evidence_concurrency,
        retryInitialMs: config.ingest.retry_initial_ms,
        retryMaxMs: config.ingest.retry_max_ms,
        stopTimeoutMs: config.ingest.stop_timeout_ms,
      },
      limits: {
        maxPayloadBytes: config.ingest.max_payload_bytes,
        maxEvidenceBytes: config.ingest.max_evidence_bytes,
        maxEventsPerMessage: config.ingest.max_events_per_message,
        maxFutureSkewMs: config.ingest.max_future_skew_ms,
      },
      registry,
      logger,
    });
    await ingest.start();
    stops.push(() => ingest.stop());
    broker?.open();

    const components = (): Record<string, ComponentHealth> => {
      const up = ingest.storesUp();
      const out: Record<string, ComponentHealth> = {
        ingest: ingest.connected
          ? { state: 'ok' }
          : { state: 'degraded', detail: 'reconnecting to the broker' },
        index: up.index ? { state: 'ok' } : { state: 'degraded', detail: 'writes failing, retrying' },
        evidence: up.evidence ? { state: 'ok' } : { state: 'degraded', detail: 'writes failing, retrying' },
      };
      if (broker !== undefined) out.broker = { state: 'ok', detail: `${broker.connectedClients()} clients` };
      if (influxd !== undefined)
        out.influxd = influxd.running() ? { state: 'ok' } : { state: 'down', detail: 'restarting' };
      return out;
    };
    const http: HttpServer = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      registry,
      version: VERSION,
      components,
      logger,
    });
    stops.push(() => http.close());

    log.info(
      {
        version: VERSION,
        broker_url: brokerUrl,
        http_url: http.url,
        influx_url: influxUrl,
        broker_mode: b.mode,
        influx_mode: config.influx.mode,
      },
      'gateway started',
    );
    let stopping: Promise<void> | undefined;
    return {
      brokerUrl,
      brokerTlsUrl: broker?.tlsUrl,
      httpUrl: http.url,
      influxUrl,
      registry,
      ingest,
      index,
      evidence,
      siteState: ingest.siteState,
      influxd,
      reloadSites() {
        if (sites !== undefined) {
          sites.reload();
          log.info({ sites: sites.list().length }, 'sites file reloaded');
        }
      },
      stop() {
        stopping ??= stopAll().then(() => {
          log.info('gateway stopped');
        });
        return stopping;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
