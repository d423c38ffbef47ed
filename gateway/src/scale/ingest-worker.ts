/**
 * Role `ingest` (decision 15): a stateless ingest worker. Started in this order, stopped in
 * reverse: event index (the shared InfluxDB) → evidence store (the directory shared with the api
 * node and the other workers) → registry view (retained SiteConfig topics) → ingest on an MQTT 5
 * shared subscription → HTTP with /healthz and /metrics only.
 *
 * - Several workers subscribe `$share/<group>/sharpeyes/v1/sites/+/events`; the broker hands each
 *   message to one of them. Each worker has a fixed user and client id
 *   (`<broker.username>-ingest-<worker_id>`) and a persistent session (clean false + session
 *   expiry), and acknowledges a message only once its events are in InfluxDB and its crops on
 *   disk (ingest.ts). A killed worker is restarted by its supervisor with the same id: its
 *   session holds its share of the stream meanwhile and what it had not acknowledged, which is
 *   stored again (the same points: idempotent).
 * - After storing a message's events the worker publishes them, evidence bytes stripped, on
 *   `sharpeyes/v1/gateway/stored` (QoS1, its own connection, before the acknowledgement) for the
 *   api node's live feed, alerts and statistics.
 * - No SQLite, no REST API, no broker of its own: the worker reads the registry from the retained
 *   SiteConfig topics (registry-view.ts).
 */
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { encodePayload, filter, sharedFilter, topic } from '../../../proto/topics.ts';
import { openIndex, VERSION } from '../app.ts';
import { resolveSecret } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { DirEvidenceStore, evidenceOptionsFromConfig } from '../evidence/index.ts';
import { startHttpServer, type ComponentHealth } from '../http/server.ts';
import { indexProblem, type InfluxEventIndex } from '../index/index.ts';
import type { IndexedEvent } from '../index/types.ts';
import { Ingest } from '../ingest/ingest.ts';
import type { Logger } from '../log.ts';
import { scaleUsers } from './config.ts';
import { RegistryView } from './registry-view.ts';
import { stopList } from '../wiring/stop-list.ts';

/** Options of {@link startIngestWorker}. */
export interface IngestWorkerOptions {
  config: GatewayConfig;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

/** A running ingest worker. */
export interface IngestWorker {
  /** `http://host:port` of /healthz and /metrics. */
  readonly httpUrl: string;
  /** The worker's MQTT user and client id. */
  readonly mqttUser: string;
  readonly registry: Registry;
  readonly ingest: Ingest;
  readonly index: InfluxEventIndex;
  readonly evidence: DirEvidenceStore;
  readonly view: RegistryView;
  /** Stop everything, in reverse start order. Idempotent. */
  stop(): Promise<void>;
}

/** The events of a message as announced on the stored topic: without their evidence bytes. */
export function withoutEvidenceBytes(events: readonly IndexedEvent[]): IndexedEvent[] {
  return events.map((e) =>
    e.evidence === undefined
      ? e
      : { ...e, evidence: { ...e.evidence, jpeg: Buffer.alloc(0), contextJpeg: Buffer.alloc(0) } },
  );
}

/** Build and start an ingest worker. */
export async function startIngestWorker(opts: IngestWorkerOptions): Promise<IngestWorker> {
  const { config, logger } = opts;
  const env = opts.env ?? process.env;
  const b = config.broker;
  if (config.role !== 'ingest' || b.mode !== 'external' || b.url === undefined || b.password === undefined)
    throw new GatewayError('GATEWAY_ERR_CONFIG', 'an ingest worker needs role ingest and an external broker');
  const log = logger.child({ module: 'ingest-worker', worker_id: config.scale.worker_id });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sharpeyes_gateway_' });
  const { stops, stopAll } = stopList(log);

  try {
    const password = resolveSecret(b.password, '/broker/password', env);
    const ca = b.ca_file === undefined ? undefined : readFileSync(b.ca_file);
    const index = await openIndex(config, config.index.url, logger, registry);
    const evidence = await DirEvidenceStore.open({
      ...evidenceOptionsFromConfig(config.evidence),
      writeConcurrency: config.ingest.evidence_concurrency,
      logger,
      registry,
    });
    stops.push(() => {
      evidence.close();
    });

    const workerId = config.scale.worker_id;
    const view = new RegistryView({
      url: b.url,
      username: scaleUsers.registryView(b.username, workerId),
      password,
      ...(ca !== undefined && { ca }),
      keepaliveS: b.keepalive_s,
      reconnectPeriodMs: b.reconnect_period_ms,
      registry,
      logger,
    });
    await view.start();
    stops.push(() => view.stop());

    const mqttUser = scaleUsers.ingest(b.username, workerId);
    const stored = topic.stored();
    const i = config.ingest;
    const ingest: Ingest = new Ingest({
      mqtt: {
        url: b.url,
        clientId: mqttUser,
        username: mqttUser,
        password,
        ...(ca !== undefined && { ca }),
        keepaliveS: b.keepalive_s,
        reconnectPeriodMs: b.reconnect_period_ms,
        connectTimeoutMs: 30_000,
        protocolVersion: 5,
        sessionExpiryS: config.scale.session_expiry_s,
      },
      subscriptions: [{ filter: sharedFilter(config.scale.share_group, filter.events), qos: 1 }],
      index,
      evidence,
      eventProblem: (event) => {
        view.note(event);
        return indexProblem(event);
      },
      onStored: (events) => {
        // Written on ingest's connection before the message's PUBACK (see api-role.ts).
        ingest
          .publish(stored, encodePayload('stored', { events: withoutEvidenceBytes(events) }))
          .catch((err: unknown) => {
            log.debug(
              { err },
              'stored announcement not acknowledged (connection lost); the message comes again',
            );
          });
      },
      tuning: {
        batchMaxEvents: i.batch_max_events,
        batchMaxBytes: i.batch_max_bytes,
        batchMaxDelayMs: i.batch_max_delay_ms,
        maxInFlightBatches: i.max_in_flight_batches,
        evidenceConcurrency: i.evidence_concurrency,
        retryInitialMs: i.retry_initial_ms,
        retryMaxMs: i.retry_max_ms,
        stopTimeoutMs: i.stop_timeout_ms,
      },
      limits: {
        maxPayloadBytes: i.max_payload_bytes,
        maxEvidenceBytes: i.max_evidence_bytes,
        maxEventsPerMessage: i.max_events_per_message,
        maxFutureSkewMs: i.max_future_skew_ms,
      },
      registry,
      logger,
    });
    await ingest.start();
    stops.push(() => ingest.stop());

    const components = (): Record<string, ComponentHealth> => {
      const up = ingest.storesUp();
      return {
        ingest: ingest.connected
          ? { state: 'ok' }
          : { state: 'degraded', detail: 'reconnecting to the broker' },
        index: up.index ? { state: 'ok' } : { state: 'degraded', detail: 'writes failing, retrying' },
        evidence: up.evidence ? { state: 'ok' } : { state: 'degraded', detail: 'writes failing, retrying' },
        registry_view: view.connected
          ? { state: 'ok', detail: `${view.sites().length} sites` }
          : { state: 'degraded', detail: 'reconnecting to the broker' },
      };
    };
    const http = await startHttpServer({
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
        role: 'ingest',
        worker_id: workerId,
        mqtt_user: mqttUser,
        share_group: config.scale.share_group,
        broker_url: b.url,
        http_url: http.url,
        influx_url: config.index.url,
      },
      'gateway started',
    );
    let stopping: Promise<void> | undefined;
    return {
      httpUrl: http.url,
      mqttUser,
      registry,
      ingest,
      index,
      evidence,
      view,
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
