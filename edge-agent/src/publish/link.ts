/**
 * The agent's MQTT link to the gateway's broker: one persistent session (`edge-<site>`,
 * clean: false, QoS 1, MQTT 3.1.1), reconnected with backoff after every loss.
 *
 * On each connection:
 * - the last will is the retained AgentStatus OFFLINE on `topic.agent(site)`; the agent publishes
 *   ONLINE there (retained) at once, then every `status_interval_ms`, with spool figures;
 * - every camera's CameraStatus is published retained on `topic.cameraStatus(site, camera)`, then
 *   again on each change and periodically; a removed camera's retained status is cleared (an
 *   empty retained message, as MQTT defines it);
 * - the DiscoveredDevices list is published retained on `topic.discovered(site)`, and again
 *   when it changes;
 * - `topic.config(site)` is subscribed: a SiteConfig newer than the one applied goes to
 *   `onSiteConfig` (the app applies it live); older revisions and other sites' configs are
 *   ignored; undecodable payloads are counted, the first one logged with its topic;
 * - with `onSnapshotRequest`, `topic.snapshotRequest(site)` is subscribed (QoS 0): each request
 *   goes to the handler and its answer is published (QoS 0, not retained) on
 *   `topic.snapshotResponse(site, reply_to)` if the connection is still up;
 * - the {@link SpoolSender} replays the spool, then sends live events.
 *
 * Nothing is published while disconnected: events wait in the spool, statuses are sent fresh on
 * the next connection. The password and TLS files are read at each connection attempt (so they
 * can be rotated) and the password is never logged.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, Registry } from 'prom-client';
import { AgentState } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { DiscoveredDevices } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import type { SnapshotRequest, SnapshotResponse } from '../../../proto/gen/sharpeyes/v1/snapshot.ts';
import {
  decodePayload,
  encodePayload,
  isValidId,
  parseSnapshotTopic,
  parseTopic,
  topic,
} from '../../../proto/topics.ts';
import { backoffDelayMs, backoffPolicy } from '../capture/backoff.ts';
import type { MqttSection, SpoolSection } from '../config/schema.ts';
import { EdgeError, isEdgeError } from '../errors.ts';
import type { HealthRegistry } from '../health/status.ts';
import { redactUrl, type Logger } from '../log.ts';
import type { Spool } from '../spool/index.ts';
import { connectMqtt, type MqttConnection, type MqttMessage } from './mqtt-adapter.ts';
import { SpoolSender } from './sender.ts';

/** The discovered-devices report and its changes. */
export interface DiscoveredSource {
  /** The current list (as published). */
  current(): DiscoveredDevices;
  /** Call `listener` when the list may have changed. Returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** Options of {@link MqttLink}. */
export interface MqttLinkOptions {
  /** The site: topics, the default user name and the client id `edge-<site>`. */
  siteId: string;
  mqtt: MqttSection;
  /** Batching and in-flight window of the events. */
  spoolConfig: Pick<
    SpoolSection,
    'batch_max_events' | 'batch_max_bytes' | 'inflight_max' | 'inflight_max_bytes'
  >;
  spool: Spool;
  health: HealthRegistry;
  discovered?: DiscoveredSource;
  /** Apply a SiteConfig newer than the last one applied; returns whether it was applied. */
  onSiteConfig?: (config: SiteConfig) => boolean;
  /** Answer a live snapshot request (must not reject). Without it, requests are not subscribed to. */
  onSnapshotRequest?: (request: SnapshotRequest) => Promise<SnapshotResponse>;
  logger: Logger;
  /** Prometheus registry for the link's metrics. Default: a private one. */
  registry?: Registry;
  env?: NodeJS.ProcessEnv;
}

/** Figures of the link. */
export interface LinkStats {
  connected: boolean;
  connects: number;
  connectFailures: number;
  configsApplied: number;
  configsRejected: number;
  messagesSent: number;
  eventsSent: number;
  batchesSent: number;
  inflight: number;
}

/** How long a clean stop waits for in-flight events, then for the OFFLINE status. */
const STOP_DRAIN_MS = 2000;

/** A connection that lasted this long resets the reconnect backoff. */
const HEALTHY_CONNECTION_MS = 30_000;

/** Read the password and TLS files of the section. Throws EDGE_ERR_MQTT_SECRETS (no secret in it). */
export async function readMqttSecrets(
  mqtt: MqttSection,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ password?: string; tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer } }> {
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_MQTT_SECRETS', `${what} ${path}: ${(err as Error).message}`);
    }
  };
  let password: string | undefined;
  if (mqtt.password_file !== undefined) {
    password = (await read('password_file', mqtt.password_file)).toString('utf8').replace(/\r?\n$/, '');
  } else if (mqtt.password_env !== undefined) {
    password = env[mqtt.password_env];
    if (password === undefined || password === '') {
      throw new EdgeError('EDGE_ERR_MQTT_SECRETS', `environment variable ${mqtt.password_env} is not set`);
    }
  }
  const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (mqtt.ca_file !== undefined) tls.ca = await read('ca_file', mqtt.ca_file);
  if (mqtt.cert_file !== undefined) tls.cert = await read('cert_file', mqtt.cert_file);
  if (mqtt.key_file !== undefined) tls.key = await read('key_file', mqtt.key_file);
  return {
    ...(password !== undefined && { password }),
    ...(Object.keys(tls).length > 0 && { tls }),
  };
}

/** The MQTT link. `start()` it; `stop()` publishes OFFLINE and disconnects cleanly. */
export class MqttLink {
  private readonly log: Logger;
  private readonly sender: SpoolSender;
  private readonly url: string;
  private conn: MqttConnection | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly offs: (() => void)[] = [];
  private statusTimer: NodeJS.Timeout | undefined;
  private lastConfigRevision: number | undefined;
  private lastDiscovered: Buffer | undefined;
  private badConfigLogged = false;
  private readonly counts = { connects: 0, connectFailures: 0, configsApplied: 0, configsRejected: 0 };
  private readonly metrics: {
    connected: Gauge;
    connects: Counter<'outcome'>;
    sent: Counter<'kind'>;
    config: Counter<'outcome'>;
  };

  constructor(private readonly opts: MqttLinkOptions) {
    this.log = opts.logger.child({ module: 'mqtt' });
    this.url = redactUrl(opts.mqtt.url);
    const registers = [opts.registry ?? new Registry()];
    this.metrics = {
      connected: new Gauge({
        name: 'sharpeyes_edge_mqtt_connected',
        help: '1 while the MQTT link to the broker is up.',
        registers,
      }),
      connects: new Counter({
        name: 'sharpeyes_edge_mqtt_connects_total',
        help: 'MQTT connection attempts, by outcome (ok, auth_refused, failed).',
        labelNames: ['outcome'],
        registers,
      }),
      sent: new Counter({
        name: 'sharpeyes_edge_mqtt_messages_acked_total',
        help: 'MQTT messages acknowledged by the broker, by kind (events, agent, camera_status, discovered).',
        labelNames: ['kind'],
        registers,
      }),
      config: new Counter({
        name: 'sharpeyes_edge_config_messages_total',
        help: 'SiteConfig messages received, by outcome (applied, stale, other_site, refused, undecodable).',
        labelNames: ['outcome'],
        registers,
      }),
    };
    this.sender = new SpoolSender({
      spool: opts.spool,
      siteId: opts.siteId,
      inflightMax: opts.spoolConfig.inflight_max,
      inflightMaxBytes: opts.spoolConfig.inflight_max_bytes,
      batchMaxEvents: opts.spoolConfig.batch_max_events,
      batchMaxBytes: opts.spoolConfig.batch_max_bytes,
      logger: opts.logger,
      onAcked: () => {
        this.metrics.sent.inc({ kind: 'events' });
      },
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read by the gauge's collect()
    const link = this;
    new Gauge({
      name: 'sharpeyes_edge_mqtt_inflight',
      help: 'MQTT messages of events published and not yet acknowledged.',
      registers,
      collect() {
        this.set(link.sender.stats().inflight);
      },
    });
    opts.health.setSpoolSource(() => opts.spool.stats());
    opts.health.setMqttConnected(false);
  }

  /** Start connecting (in the background; the agent runs whether or not the broker answers). */
  start(): void {
    if (this.running !== undefined) return;
    this.offs.push(
      this.opts.health.onCameraChange((cameraId) => {
        this.publishCamera(cameraId);
      }),
    );
    if (this.opts.discovered !== undefined) {
      this.offs.push(
        this.opts.discovered.onChange(() => {
          this.publishDiscovered(false);
        }),
      );
    }
    this.statusTimer = setInterval(() => {
      this.publishAgent();
      for (const h of this.opts.health.cameraHealth()) this.publishCamera(h.cameraId);
    }, this.opts.mqtt.status_interval_ms);
    this.statusTimer.unref();
    this.running = this.run();
  }

  /** Whether the link is up. */
  isConnected(): boolean {
    return this.conn?.isOpen() ?? false;
  }

  stats(): LinkStats {
    return { connected: this.isConnected(), ...this.counts, ...this.sender.stats() };
  }

  /**
   * Stop: wait briefly for in-flight events, publish OFFLINE (retained), disconnect cleanly
   * (so the broker does not publish the will). Unacknowledged events stay in the spool.
   */
  async stop(): Promise<void> {
    if (this.stopping) return this.running;
    this.stopping = true;
    clearInterval(this.statusTimer);
    for (const off of this.offs) off();
    this.abort.abort();
    const conn = this.conn;
    // No new events go out; those in flight get a moment for their PUBACK (fewer resends).
    this.sender.stop();
    if (conn?.isOpen() === true) {
      await this.sender.drain(STOP_DRAIN_MS);
      const offline = encodePayload('agent', {
        ...this.opts.health.agentStatus(),
        state: AgentState.AGENT_STATE_OFFLINE,
      });
      await withTimeout(
        conn.publish(topic.agent(this.opts.siteId), offline, { qos: 1, retain: true }),
        STOP_DRAIN_MS,
      ).catch((err: unknown) => {
        this.log.debug({ err }, 'OFFLINE status not acknowledged before stopping');
      });
      await conn.end(STOP_DRAIN_MS);
    }
    await this.running;
    this.log.info('mqtt link stopped');
  }

  // ── Connection loop ──────────────────────────────────────────────────────

  private async run(): Promise<void> {
    const policy = backoffPolicy({
      initialMs: this.opts.mqtt.reconnect_initial_ms,
      maxMs: this.opts.mqtt.reconnect_max_ms,
    });
    let failures = 0;
    while (!this.stopping) {
      let conn: MqttConnection;
      try {
        conn = await this.connect();
      } catch (err) {
        if (this.isStopping()) break;
        const auth = isEdgeError(err, 'EDGE_ERR_MQTT_AUTH', 'EDGE_ERR_MQTT_SECRETS');
        this.counts.connectFailures += 1;
        this.metrics.connects.inc({
          outcome: isEdgeError(err, 'EDGE_ERR_MQTT_AUTH') ? 'auth_refused' : 'failed',
        });
        const delayMs = backoffDelayMs(policy, failures, auth ? 'auth' : 'normal');
        // The first failure in a row is worth a line; repeats are debug (the metric counts them).
        const level = auth ? 'error' : failures === 0 ? 'warn' : 'debug';
        this.log[level](
          { err, url: this.url, retry_in_ms: delayMs, failures: failures + 1 },
          'mqtt connect failed',
        );
        failures += 1;
        await this.pause(delayMs);
        continue;
      }
      if (this.isStopping()) {
        await conn.end(STOP_DRAIN_MS);
        break;
      }
      const connectedAt = Date.now();
      this.counts.connects += 1;
      this.metrics.connects.inc({ outcome: 'ok' });
      this.conn = conn;
      this.metrics.connected.set(1);
      this.opts.health.setMqttConnected(true);
      const stats = this.opts.spool.stats();
      this.log.info(
        { url: this.url, session_present: conn.sessionPresent, spool_events: stats.events },
        'mqtt connected',
      );
      this.onConnected(conn);
      await conn.closed;
      this.sender.detach();
      this.conn = undefined;
      this.metrics.connected.set(0);
      this.opts.health.setMqttConnected(false);
      if (this.isStopping()) break;
      failures = Date.now() - connectedAt > HEALTHY_CONNECTION_MS ? 0 : failures + 1;
      const delayMs = backoffDelayMs(policy, failures, 'normal');
      this.log.warn(
        { url: this.url, retry_in_ms: delayMs },
        'mqtt connection lost; events wait in the spool',
      );
      await this.pause(delayMs);
    }
  }

  /** Read through a call: `stopping` changes while the loop awaits (no narrowing). */
  private isStopping(): boolean {
    return this.stopping;
  }

  private async connect(): Promise<MqttConnection> {
    const { mqtt, siteId } = this.opts;
    const secrets = await readMqttSecrets(mqtt, this.opts.env);
    const will = encodePayload('agent', {
      ...this.opts.health.agentStatus(),
      state: AgentState.AGENT_STATE_OFFLINE,
    });
    return connectMqtt(
      {
        url: mqtt.url,
        clientId: `edge-${siteId}`,
        username: mqtt.username ?? siteId,
        ...(secrets.password !== undefined && { password: secrets.password }),
        keepaliveS: mqtt.keepalive_s,
        connectTimeoutMs: mqtt.connect_timeout_ms,
        clean: false,
        will: { topic: topic.agent(siteId), payload: will, qos: 1, retain: true },
        ...(secrets.tls !== undefined && { tls: secrets.tls }),
        signal: this.abort.signal,
        onError: (err) => {
          this.log.debug({ err }, 'mqtt connection error');
        },
      },
      (message) => {
        this.onMessage(message);
      },
    );
  }

  private async pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch (err) {
      // Aborted by stop(): the loop ends.
      this.log.debug({ err }, 'reconnect wait interrupted');
    }
  }

  private onConnected(conn: MqttConnection): void {
    this.publishAgent();
    conn.subscribe(topic.config(this.opts.siteId), 1).catch((err: unknown) => {
      if (isEdgeError(err, 'EDGE_ERR_MQTT_CLOSED')) return;
      this.log.error({ err }, 'subscription to the site config refused; config changes will not arrive');
    });
    if (this.opts.onSnapshotRequest !== undefined) {
      conn.subscribe(topic.snapshotRequest(this.opts.siteId), 0).catch((err: unknown) => {
        if (isEdgeError(err, 'EDGE_ERR_MQTT_CLOSED')) return;
        this.log.error({ err }, 'subscription to snapshot requests refused; live snapshots will not work');
      });
    }
    for (const h of this.opts.health.cameraHealth()) this.publishCamera(h.cameraId);
    this.publishDiscovered(true);
    this.sender.attach(conn);
  }

  // ── Statuses ─────────────────────────────────────────────────────────────

  /** Publish retained, QoS1; fire and forget (a lost one is sent fresh on the next connection). */
  private publishRetained(
    kind: 'agent' | 'camera_status' | 'discovered',
    name: string,
    payload: Buffer,
  ): void {
    const conn = this.conn;
    if (conn === undefined || !conn.isOpen() || this.stopping) return;
    conn.publish(name, payload, { qos: 1, retain: true }).then(
      () => {
        this.metrics.sent.inc({ kind });
      },
      (err: unknown) => {
        this.log.debug({ err, topic: name }, 'status not acknowledged before the connection closed');
      },
    );
  }

  private publishAgent(): void {
    this.publishRetained(
      'agent',
      topic.agent(this.opts.siteId),
      encodePayload('agent', this.opts.health.agentStatus()),
    );
  }

  private publishCamera(cameraId: string): void {
    let name: string;
    try {
      name = topic.cameraStatus(this.opts.siteId, cameraId);
    } catch (err) {
      this.log.warn({ err, camera_id: cameraId }, 'camera id cannot be a topic level; status not published');
      return;
    }
    const status = this.opts.health.cameraStatus(cameraId);
    // A removed camera: clear its retained status.
    const payload = status === undefined ? Buffer.alloc(0) : encodePayload('cameraStatus', status);
    this.publishRetained('camera_status', name, payload);
  }

  private publishDiscovered(force: boolean): void {
    const source = this.opts.discovered;
    if (source === undefined || !this.isConnected()) return;
    const report = source.current();
    // Only a change of substance is republished: not a device merely seen again.
    const key = Buffer.from(
      DiscoveredDevices.encode({
        ...report,
        updatedMs: 0,
        devices: report.devices.map((d) => ({ ...d, lastSeenMs: 0 })),
      }).finish(),
    );
    if (!force && this.lastDiscovered?.equals(key) === true) return;
    this.lastDiscovered = key;
    this.publishRetained(
      'discovered',
      topic.discovered(this.opts.siteId),
      encodePayload('discovered', report),
    );
  }

  // ── Config ───────────────────────────────────────────────────────────────

  private onMessage(message: MqttMessage): void {
    const snapshot = parseSnapshotTopic(message.topic);
    if (snapshot?.kind === 'snapshotRequest' && snapshot.site === this.opts.siteId) {
      this.onSnapshotRequest(message);
      return;
    }
    const parsed = parseTopic(message.topic);
    if (parsed?.kind !== 'config' || parsed.site !== this.opts.siteId) {
      this.log.debug({ topic: message.topic }, 'message on an unexpected topic ignored');
      return;
    }
    if (message.payload.length === 0) {
      this.log.debug('empty (cleared) site config ignored');
      return;
    }
    let config: SiteConfig;
    try {
      config = decodePayload('config', message.payload);
    } catch (err) {
      this.rejectConfig('undecodable');
      const fields = {
        err: new EdgeError('EDGE_ERR_MQTT_PAYLOAD', `SiteConfig on ${message.topic}`, { cause: err }),
        topic: message.topic,
        bytes: message.payload.length,
      };
      if (!this.badConfigLogged) this.log.warn(fields, 'undecodable site config ignored');
      else this.log.debug(fields, 'undecodable site config ignored');
      this.badConfigLogged = true;
      return;
    }
    if (config.siteId !== this.opts.siteId) {
      this.rejectConfig('other_site');
      this.log.warn({ site_id: config.siteId, topic: message.topic }, 'site config for another site ignored');
      return;
    }
    if (this.lastConfigRevision !== undefined && config.revision <= this.lastConfigRevision) {
      this.metrics.config.inc({ outcome: 'stale' });
      this.log.debug(
        { revision: config.revision, in_force: this.lastConfigRevision },
        'site config not newer; ignored',
      );
      return;
    }
    let applied = false;
    try {
      applied = this.opts.onSiteConfig?.(config) ?? false;
    } catch (err) {
      this.log.error({ err, revision: config.revision }, 'site config could not be applied');
    }
    if (!applied) {
      this.rejectConfig('refused');
      return;
    }
    this.lastConfigRevision = config.revision;
    this.counts.configsApplied += 1;
    this.metrics.config.inc({ outcome: 'applied' });
    this.log.info(
      { revision: config.revision, cameras: config.cameras.length },
      'site config received and applied',
    );
    this.publishAgent();
  }

  // ── Snapshots ────────────────────────────────────────────────────────────

  private onSnapshotRequest(message: MqttMessage): void {
    const handler = this.opts.onSnapshotRequest;
    if (handler === undefined) return;
    let request: SnapshotRequest;
    try {
      request = decodePayload('snapshotRequest', message.payload);
    } catch (err) {
      this.log.debug({ err, bytes: message.payload.length }, 'undecodable snapshot request ignored');
      return;
    }
    // Without a valid correlation id and reply level there is nobody to answer.
    if (!isValidId(request.requestId) || !isValidId(request.replyTo)) {
      this.log.debug('snapshot request without a valid request_id or reply_to ignored');
      return;
    }
    const conn = this.conn;
    handler(request).then(
      (response) => {
        // Answer only on the connection the request came on: a later one means the requester
        // has long given up.
        if (conn === undefined || !conn.isOpen() || this.conn !== conn || this.stopping) return;
        const name = topic.snapshotResponse(this.opts.siteId, request.replyTo);
        const payload = encodePayload('snapshotResponse', response);
        conn.publish(name, payload, { qos: 0, retain: false }).catch((err: unknown) => {
          this.log.debug({ err, request_id: request.requestId }, 'snapshot answer not sent');
        });
      },
      (err: unknown) => {
        this.log.error({ err, request_id: request.requestId }, 'snapshot request handler failed');
      },
    );
  }

  private rejectConfig(outcome: 'undecodable' | 'other_site' | 'refused'): void {
    this.counts.configsRejected += 1;
    this.metrics.config.inc({ outcome });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer within ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
}
