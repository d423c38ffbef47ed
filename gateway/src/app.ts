/**
 * The gateway, wired, started in this order and stopped in reverse:
 * SQLite stores (registry, users, keys, audit, alerts; bootstrap admin on a first start) →
 * managed influxd (child mode) → event index → evidence store → MQTT broker (embedded mode, site
 * credentials from the registry or a static sites file) → ingest (each stored message's events
 * go to the ingest statistics, the live bus and alert matching; edge reports go to the registry)
 * → site config push (retained, per site) → maintenance timer → HTTP (web UI, REST API, /docs,
 * /healthz, /metrics) → gRPC. main.ts parses arguments and handles signals; tests and the bench
 * build the app directly.
 *
 * The embedded broker lets sites in only after ingest has subscribed (its persistent session
 * exists), so no event is acknowledged to an edge while nothing would keep it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/aedes-broker.ts';
import { SitesFileCredentialStore } from './broker/sites-file.ts';
import type { SiteCredentialSource } from './broker/types.ts';
import { resolveSecret } from './config/load.ts';
import type { GatewayConfig } from './config/schema.ts';
import { authRulesFromConfig } from './auth/index.ts';
import { GatewayError, isGatewayError } from './errors.ts';
import { DirEvidenceStore, evidenceOptionsFromConfig } from './evidence/index.ts';
import { startGrpcServer, type GrpcServer } from './grpc/index.ts';
import { registerRestApi, type GatewayDeps } from './http/api/index.ts';
import { startHttpServer, type ComponentHealth, type HttpServer } from './http/server.ts';
import { registerUi } from './http/ui.ts';
import { indexProblem, indexOptionsFromConfig, InfluxEventIndex } from './index/index.ts';
import { startManagedInfluxd, type ManagedInfluxd } from './influxd/influxd.ts';
import { Ingest } from './ingest/ingest.ts';
import type { SiteStateReader } from './ingest/site-state.ts';
import { cameraStatusFeedFromSiteState, LiveEventBus } from './live/index.ts';
import type { Logger } from './log.ts';
import { bridgeEdgeReports } from './wiring/edge-reports.ts';
import { startEvidenceRetention } from './wiring/evidence-retention.ts';
import { IngestStatsWindow } from './wiring/ingest-stats.ts';
import { startMaintenance } from './wiring/maintenance.ts';
import { startMosquittoSync, waitForBrokerLogin } from './wiring/mosquitto-sync.ts';
import { SiteConfigPush } from './wiring/site-config-push.ts';
import { MqttSnapshotSource } from './wiring/snapshots.ts';
import { openStores, type Stores } from './wiring/stores.ts';
import type { AreaDirectory, IndexedEvent } from './index/types.ts';
import { apiRole, startStoredFeed } from './scale/api-role.ts';
import { scaleUsers } from './scale/config.ts';
import { startTier, tierGatewayUsers, tierMosquittoUsers } from './tier/index.ts';
import { stopList } from './wiring/stop-list.ts';

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
  /** `http://host:port` of the web UI (/ui/), the REST API (/api/v1), /docs, /healthz and /metrics. */
  readonly httpUrl: string;
  /** `host:port` of the gRPC API, when enabled. */
  readonly grpcAddress: string | undefined;
  /** The registry, users, keys, audit trail and alerts (SQLite). */
  readonly stores: Stores;
  /** The live event bus (what ingest stored, for the UI's wall and StreamEvents). */
  readonly live: LiveEventBus;
  /** InfluxDB's base URL (the managed child's in child mode). */
  readonly influxUrl: string;
  readonly registry: Registry;
  readonly ingest: Ingest;
  readonly index: InfluxEventIndex;
  readonly evidence: DirEvidenceStore;
  readonly siteState: SiteStateReader;
  /** The managed influxd (child mode). */
  readonly influxd: ManagedInfluxd | undefined;
  /** Re-read the sites file (embedded broker with `broker.sites_file`). */
  reloadSites(): void;
  /** Stop everything, in reverse start order. Idempotent. */
  stop(): Promise<void>;
}

/** Open the event index, retrying while InfluxDB is not answering yet (up to `influx.start_timeout_ms`). */
export async function openIndex(
  config: GatewayConfig,
  url: string,
  logger: Logger,
  registry: Registry,
  areas?: AreaDirectory,
): Promise<InfluxEventIndex> {
  const log = logger.child({ module: 'app' });
  const deadline = Date.now() + config.influx.start_timeout_ms;
  let delay = 250;
  for (;;) {
    try {
      return await InfluxEventIndex.open({
        ...indexOptionsFromConfig(config.index),
        url,
        logger,
        registry,
        ...(areas === undefined ? {} : { areas }),
      });
    } catch (err) {
      if (!isGatewayError(err, 'GATEWAY_ERR_INDEX_UNAVAILABLE') || Date.now() + delay > deadline) throw err;
      log.warn({ err, retry_in_ms: delay }, 'InfluxDB not answering yet');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** The web UI build this installation serves by default (made by scripts/build-ui.sh). */
export const DEFAULT_UI_DIST = join(import.meta.dirname, '..', 'ui', 'dist');

/** Build and start the gateway. */
export async function startGatewayApp(opts: GatewayAppOptions): Promise<GatewayApp> {
  const { config, logger } = opts;
  const env = opts.env ?? process.env;
  const log = logger.child({ module: 'app' });
  if (config.role === 'ingest')
    throw new GatewayError(
      'GATEWAY_ERR_CONFIG',
      'role ingest runs startIngestWorker (scale/ingest-worker.ts)',
    );
  // Role api: this gateway without event ingest; ingest workers store events (scale/api-role.ts).
  const api = config.role === 'api' ? apiRole(config) : undefined;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sharpeyes_gateway_' });
  const { stops, stopAll } = stopList(log);

  try {
    const stores = await openStores(config, logger);
    stops.push(() => {
      stores.close();
    });

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
    // Role all stores every event itself, with its district copy; under role api, ingest workers
    // store them and write no copies, so district searches read `events` (decision 10).
    if (api === undefined) stores.registry.areaCopies.begin();
    else stores.registry.areaCopies.end();
    const index = await openIndex(config, influxUrl, logger, registry, stores.registry);
    const evidence = await DirEvidenceStore.open({
      ...evidenceOptionsFromConfig(config.evidence),
      writeConcurrency: config.ingest.evidence_concurrency,
      logger,
      registry,
    });
    stops.push(() => {
      evidence.close();
    });

    const b = config.broker;
    let broker: EmbeddedBroker | undefined;
    let sitesFile: SitesFileCredentialStore | undefined;
    let password: string;
    if (b.mode === 'embedded') {
      // Site credentials come from the registry (sites created through the API), or from a
      // static sites file when one is configured.
      if (b.sites_file !== undefined) sitesFile = new SitesFileCredentialStore(b.sites_file);
      const sites: SiteCredentialSource = sitesFile ?? stores.registry.sites;
      // The gateway's own credential: random per start unless configured.
      password =
        b.password === undefined
          ? randomBytes(32).toString('base64url')
          : resolveSecret(b.password, '/broker/password', env);
      mkdirSync(config.data_dir, { recursive: true });
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
      if (b.mosquitto_files !== undefined) {
        stops.push(
          await startMosquittoSync({
            passwordFile: b.mosquitto_files.password_file,
            aclFile: b.mosquitto_files.acl_file,
            reloadPidFile: b.mosquitto_files.reload_pid_file,
            gatewayUser: { username: b.username, password },
            extraGatewayUsers: [
              ...(api?.mosquittoUsers ?? scaleUsers.singleNode(b.username)),
              ...tierGatewayUsers(config),
            ],
            tierUsers: tierMosquittoUsers(config, env),
            registry: stores.registry,
            logger,
          }),
        );
        // The files were just (re)written: wait for Mosquitto to take them.
        await waitForBrokerLogin({
          url: b.url,
          username: api?.configUser ?? scaleUsers.apiConfig(b.username),
          password,
          ...(b.ca_file !== undefined && { ca: readFileSync(b.ca_file) }),
          timeoutMs: 60_000,
          logger: log,
        });
      }
    }
    const brokerUrl = broker === undefined ? (b.url as string) : broker.url;
    const internalUrl = broker === undefined ? brokerUrl : broker.internalUrl;
    const brokerCa = broker === undefined && b.ca_file !== undefined ? readFileSync(b.ca_file) : undefined;
    // Tier cascade: the bridge stanza and the cameras, up (lower tier) or in (upper tier).
    const tierStop = await startTier({
      config,
      env,
      registry: stores.registry,
      url: internalUrl,
      password,
      ...(brokerCa !== undefined && { ca: brokerCa }),
      logger,
    });
    stops.push(tierStop);

    const live = new LiveEventBus({ ringEvents: config.api.live.ring_events, logger, registry });
    const ingestStats = new IngestStatsWindow();
    const onStored = (events: readonly IndexedEvent[], storedMs: number): void => {
      ingestStats.record(events, storedMs);
      live.publishAll(events);
      for (const event of events) stores.alerts.processEvent(event, stores.registry.placeOf(event.cameraId));
    };
    const ingest = new Ingest({
      mqtt: {
        url: internalUrl,
        clientId: api?.statusUser ?? b.client_id,
        username: api?.statusUser ?? b.username,
        password,
        ...(brokerCa !== undefined && { ca: brokerCa }),
        keepaliveS: b.keepalive_s,
        reconnectPeriodMs: b.reconnect_period_ms,
        connectTimeoutMs: 30_000,
        ...api?.session,
      },
      // Role api reads the status topics only.
      ...(api !== undefined && { subscriptions: api.subscriptions }),
      index,
      evidence,
      eventProblem: indexProblem,
      onStored,
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
    stops.push(bridgeEdgeReports(ingest.siteState, stores.registry, logger));
    await ingest.start();
    stops.push(() => ingest.stop());
    // Role api: what the workers stored feeds the same listeners.
    const storedFeed =
      api === undefined
        ? undefined
        : await startStoredFeed(api, {
            url: internalUrl,
            password,
            ...(brokerCa !== undefined && { ca: brokerCa }),
            keepaliveS: b.keepalive_s,
            reconnectPeriodMs: b.reconnect_period_ms,
            onStored,
            registry,
            logger,
          });
    if (storedFeed !== undefined) stops.push(() => storedFeed.stop());

    const configPush = new SiteConfigPush({
      url: internalUrl,
      clientId: api?.configUser ?? scaleUsers.apiConfig(b.username),
      username: api?.configUser ?? scaleUsers.apiConfig(b.username),
      password,
      ...(brokerCa !== undefined && { ca: brokerCa }),
      reconnectPeriodMs: b.reconnect_period_ms,
      registry: stores.registry,
      logger,
      metrics: registry,
    });
    stops.push(() => configPush.stop());
    // Live snapshots: asked of the edges over MQTT, on a connection of their own.
    const snapshots = new MqttSnapshotSource({
      url: internalUrl,
      clientId: api?.snapshotsUser ?? scaleUsers.apiSnapshots(b.username),
      username: api?.snapshotsUser ?? scaleUsers.apiSnapshots(b.username),
      password,
      ...(brokerCa !== undefined && { ca: brokerCa }),
      reconnectPeriodMs: b.reconnect_period_ms,
      siteOfCamera: (cameraId) => stores.registry.cameras.get(cameraId)?.siteId,
      logger,
      metrics: registry,
    });
    stops.push(() => snapshots.stop());
    stops.push(
      startMaintenance({
        stores,
        statusFlushIntervalMs: config.registry.status_flush_interval_ms,
        statusRetentionDays: config.registry.status_retention_days,
        ...(config.registry.backup_keep > 0 && {
          backupDir: join(config.data_dir, 'backups'),
          backupKeep: config.registry.backup_keep,
        }),
        logger,
      }),
    );
    stops.push(
      startEvidenceRetention({
        dir: evidence.dir,
        keepMs:
          (Math.max(config.index.retention_days.face, config.index.retention_days.plate) * 24 +
            config.index.shard_duration_hours) *
          3_600_000,
        audit: stores.audit,
        logger,
      }),
    );
    broker?.open();

    const deps: GatewayDeps = {
      registry: stores.registry,
      users: stores.users,
      sessions: stores.sessions,
      apiKeys: stores.apiKeys,
      login: stores.login,
      audit: stores.audit,
      db: stores.db,
      alerts: stores.alerts,
      alertEntries: stores.alertEntries,
      search: index,
      evidence,
      live,
      cameraStatus: cameraStatusFeedFromSiteState(ingest.siteState),
      snapshots,
      ingestStats: (fromMs, toMs) => Promise.resolve(ingestStats.stats(fromMs, toMs)),
      reasonRules: authRulesFromConfig(config.auth).reason,
      config: config.api,
      logger,
    };

    const components = (): Record<string, ComponentHealth> => {
      const up = ingest.storesUp();
      const out: Record<string, ComponentHealth> = {
        ingest: ingest.connected
          ? { state: 'ok' }
          : { state: 'degraded', detail: 'reconnecting to the broker' },
        index: up.index ? { state: 'ok' } : { state: 'degraded', detail: 'writes failing, retrying' },
        evidence: up.evidence ? { state: 'ok' } : { state: 'degraded', detail: 'writes failing, retrying' },
        config_push: configPush.connected
          ? { state: 'ok' }
          : { state: 'degraded', detail: 'reconnecting to the broker' },
      };
      if (storedFeed !== undefined)
        out.stored_feed = storedFeed.connected
          ? { state: 'ok' }
          : { state: 'degraded', detail: 'reconnecting to the broker' };
      if (broker !== undefined) out.broker = { state: 'ok', detail: `${broker.connectedClients()} clients` };
      if (influxd !== undefined)
        out.influxd = influxd.running() ? { state: 'ok' } : { state: 'down', detail: 'restarting' };
      return out;
    };
    const uiDist = uiDistDir(config, log);
    const http: HttpServer = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      registry,
      version: VERSION,
      components,
      logger,
      register: async (app) => {
        await registerRestApi(app, deps);
        if (uiDist !== undefined) {
          await registerUi(app, {
            distDir: uiDist,
            tileUrl: config.ui.tile_url,
            tileAttribution: config.ui.tile_attribution,
            tileMaxZoom: config.ui.tile_max_zoom,
          });
        }
      },
    });
    stops.push(() => http.close());

    let grpc: GrpcServer | undefined;
    if (config.api.grpc.enabled) {
      grpc = await startGrpcServer(deps);
      const running = grpc;
      stops.push(() => running.stop(5000));
    }

    log.info(
      {
        version: VERSION,
        role: config.role,
        broker_url: brokerUrl,
        http_url: http.url,
        ui_url: uiDist === undefined ? undefined : `${http.url}/ui/`,
        grpc_address: grpc?.address,
        influx_url: influxUrl,
        broker_mode: b.mode,
        influx_mode: config.influx.mode,
        registry_db: stores.dbPath,
      },
      'gateway started',
    );
    let stopping: Promise<void> | undefined;
    return {
      brokerUrl,
      brokerTlsUrl: broker?.tlsUrl,
      httpUrl: http.url,
      grpcAddress: grpc?.address,
      influxUrl,
      registry,
      stores,
      live,
      ingest,
      index,
      evidence,
      siteState: ingest.siteState,
      influxd,
      reloadSites() {
        if (sitesFile !== undefined) {
          sitesFile.reload();
          log.info({ sites: sitesFile.list().length }, 'sites file reloaded');
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

/** The UI build to serve, or undefined (UI off, or the default build missing: a warning). */
export function uiDistDir(config: GatewayConfig, log: Logger): string | undefined {
  if (!config.ui.enabled) return undefined;
  if (config.ui.dist_dir !== undefined) return config.ui.dist_dir;
  if (existsSync(join(DEFAULT_UI_DIST, 'index.html'))) return DEFAULT_UI_DIST;
  log.warn(
    { dist_dir: DEFAULT_UI_DIST },
    'the web UI is not built (run scripts/build-ui.sh); serving the API without it',
  );
  return undefined;
}
