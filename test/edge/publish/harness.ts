/**
 * Shared pieces of the MQTT link tests: a real broker (Aedes or Mosquitto) that can be stopped
 * and started again on its port with its state, a collecting subscriber that reconnects by
 * itself, and an edge (spool + link) built as the app builds it.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { AgentStatus, CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { DiscoveredDevices } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { decodePayload, filter, parseTopic, topic } from '../../../proto/topics.ts';
import type { MqttSection, SpoolSection } from '../../../edge-agent/src/config/schema.ts';
import { HealthRegistry } from '../../../edge-agent/src/health/status.ts';
import type { Logger } from '../../../edge-agent/src/log.ts';
import { createLogger, silentLogger } from '../../../edge-agent/src/log.ts';
import {
  connectMqtt,
  MqttLink,
  type DiscoveredSource,
  type MqttConnection,
} from '../../../edge-agent/src/publish/index.ts';
import { openSpool, type Spool } from '../../../edge-agent/src/spool/index.ts';
import {
  startAedes,
  startMosquitto,
  writeMosquittoPasswordFile,
  type AedesHandle,
  type AedesStartOptions,
  type MosquittoHandle,
} from '../../bench/services/index.ts';
import { freePort, waitFor } from '../../bench/wait.ts';

export type BrokerKind = 'aedes' | 'mosquitto';

/** PEM files of a test CA, a server certificate for 127.0.0.1 and a client certificate. */
export interface TlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** Make a CA and certificates with openssl (EC P-256, valid one day). */
export function makeTlsFiles(dir: string): TlsFiles {
  mkdirSync(dir, { recursive: true });
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=sharpeyes test CA',
  );
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '1',
    '-extfile',
    f('server.ext'),
  );
  ssl('req', ...ec, '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/CN=village-7');
  ssl(
    'x509',
    '-req',
    '-in',
    f('client.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('client.pem'),
    '-days',
    '1',
  );
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}

/** A broker that can be stopped and started again in place (same port, same persisted state). */
export interface TestBroker {
  readonly kind: BrokerKind;
  /** Plain MQTT URL. */
  readonly url: string;
  readonly port: number;
  /** mqtts:// URL when started with TLS. */
  readonly tlsUrl: string | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop for good. */
  close(): Promise<void>;
}

/** Options of {@link startTestBroker}. */
export interface TestBrokerOptions {
  /** Require this user and password (a site's credentials). */
  auth?: { username: string; password: string };
  /** Also listen with TLS, requiring a client certificate signed by the CA. */
  tls?: TlsFiles;
}

/** Start Aedes (in process, LevelDB persistence) or Mosquitto (child, persistence) in `dir`. */
export async function startTestBroker(
  kind: BrokerKind,
  dir: string,
  opts: TestBrokerOptions = {},
): Promise<TestBroker> {
  mkdirSync(dir, { recursive: true });
  if (kind === 'aedes') return startAedesBroker(dir, opts);
  return startMosquittoBroker(dir, opts);
}

async function startAedesBroker(dir: string, opts: TestBrokerOptions): Promise<TestBroker> {
  let handle: AedesHandle | undefined;
  let tlsServer: TlsServer | undefined;
  let tlsPort = 0;
  const tlsSockets = new Set<TLSSocket>();
  const brokerOptions: AedesStartOptions['brokerOptions'] =
    opts.auth === undefined
      ? {}
      : {
          authenticate: (_client, username, password, done) => {
            const ok = username === opts.auth?.username && password?.toString() === opts.auth?.password;
            // Aedes answers CONNACK 4 (bad user name or password) to an error with that returnCode.
            if (ok) done(null, true);
            else done(Object.assign(new Error('bad credentials'), { returnCode: 4 }), false);
          },
        };
  const start = async (port?: number): Promise<AedesHandle> => {
    const h = await startAedes({
      persistenceDir: join(dir, 'aedes-db'),
      ...(port !== undefined && { port }),
      brokerOptions,
    });
    handle = h;
    if (opts.tls !== undefined) {
      const t = opts.tls;
      tlsServer = createTlsServer(
        {
          key: readFileSync(t.serverKey),
          cert: readFileSync(t.serverCert),
          ca: readFileSync(t.ca),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (socket) => {
          tlsSockets.add(socket);
          socket.once('close', () => tlsSockets.delete(socket));
          h.broker.handle(socket);
        },
      );
      const srv = tlsServer;
      tlsPort = await new Promise<number>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(tlsPort, '127.0.0.1', () => {
          const a = srv.address();
          if (a === null || typeof a === 'string') reject(new Error('no TLS address'));
          else resolve(a.port);
        });
      });
    }
    return h;
  };
  const first = await start();
  const port = first.port;
  const stop = async (): Promise<void> => {
    const h = handle;
    handle = undefined;
    if (tlsServer !== undefined) {
      const srv = tlsServer;
      tlsServer = undefined;
      for (const s of tlsSockets) s.destroy();
      await new Promise<void>((resolve) =>
        srv.close(() => {
          resolve();
        }),
      );
    }
    await h?.stop();
  };
  return {
    kind: 'aedes',
    url: first.url,
    port,
    get tlsUrl() {
      return opts.tls === undefined ? undefined : `mqtts://127.0.0.1:${tlsPort}`;
    },
    stop,
    start: async () => {
      await start(port);
    },
    close: stop,
  };
}

async function startMosquittoBroker(dir: string, opts: TestBrokerOptions): Promise<TestBroker> {
  const persistenceDir = join(dir, 'mosquitto-db');
  mkdirSync(persistenceDir, { recursive: true });
  let passwordFile: string | undefined;
  if (opts.auth !== undefined) {
    passwordFile = join(dir, 'passwd');
    await writeMosquittoPasswordFile(passwordFile, { [opts.auth.username]: opts.auth.password });
  }
  let tlsPort = 0;
  if (opts.tls !== undefined) {
    tlsPort = await freePort();
  }
  const extraConfig =
    opts.tls === undefined
      ? undefined
      : [
          `listener ${tlsPort} 127.0.0.1`,
          `cafile ${opts.tls.ca}`,
          `certfile ${opts.tls.serverCert}`,
          `keyfile ${opts.tls.serverKey}`,
          'require_certificate true',
        ].join('\n');
  let handle: MosquittoHandle | undefined;
  const start = async (port?: number): Promise<MosquittoHandle> => {
    const h = await startMosquitto({
      persistenceDir,
      ...(port !== undefined && { port }),
      ...(passwordFile !== undefined && { passwordFile }),
      ...(extraConfig !== undefined && { extraConfig }),
    });
    handle = h;
    return h;
  };
  const first = await start();
  const stop = async (): Promise<void> => {
    const h = handle;
    handle = undefined;
    await h?.stop();
  };
  return {
    kind: 'mosquitto',
    url: first.url,
    port: first.port,
    tlsUrl: opts.tls === undefined ? undefined : `mqtts://127.0.0.1:${tlsPort}`,
    stop,
    start: async () => {
      await start(first.port);
    },
    close: stop,
  };
}

/** A message the collector received. */
export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/**
 * A subscriber that records everything of one site, reconnecting (and resubscribing) by itself.
 *
 * It uses a clean session: Aedes 1.2 with aedes-persistence-level leaves a few QoS1 messages for
 * a `clean: false` subscriber queued in its store instead of sending them (they arrive only when
 * that subscriber reconnects), which would make these tests wait for events that are not lost
 * but stuck. Tests that restart the broker keep the edge away (proxy) until the collector is back.
 */
export interface Collector {
  /** Every events message's events, in arrival order (duplicates included). */
  events(): Event[];
  /** Events per message of each events message, in arrival order. */
  batchSizes(): number[];
  /** Event ids in order of first arrival. */
  firstArrivals(): string[];
  /** Every message on the site's other topics, in arrival order. */
  statuses(): Received[];
  /** The last agent status received. */
  lastAgent(): AgentStatus | undefined;
  connected(): boolean;
  stop(): Promise<void>;
}

/** Options of {@link startCollector}. */
export interface CollectorOptions {
  clientId?: string;
  username?: string;
  password?: string;
  /** Events only (default: events, agent, camera status, discovered). */
  eventsOnly?: boolean;
  /** A persistent session (default: clean, see above). */
  persistent?: boolean;
}

/** Subscribe (QoS1) to the site's events and statuses at `url`. */
export async function startCollector(
  url: string,
  siteId: string,
  opts: CollectorOptions = {},
): Promise<Collector> {
  const events: Event[] = [];
  const sizes: number[] = [];
  const seen = new Set<string>();
  const first: string[] = [];
  const statuses: Received[] = [];
  let agent: AgentStatus | undefined;
  let conn: MqttConnection | undefined;
  let stopped = false;
  // Read through a call: the loop below awaits while stop() flips it (no narrowing).
  const stoppedNow = (): boolean => stopped;
  const onMessage = (m: Received): void => {
    const parsed = parseTopic(m.topic);
    if (parsed === undefined || parsed.site !== siteId) return;
    if (parsed.kind === 'events') {
      const batch = decodePayload('events', m.payload);
      sizes.push(batch.events.length);
      for (const e of batch.events) {
        events.push(e);
        if (!seen.has(e.eventId)) {
          seen.add(e.eventId);
          first.push(e.eventId);
        }
      }
      return;
    }
    statuses.push(m);
    if (parsed.kind === 'agent' && m.payload.length > 0) agent = decodePayload('agent', m.payload);
  };
  const connectOnce = async (): Promise<MqttConnection> => {
    const c = await connectMqtt(
      {
        url,
        clientId: opts.clientId ?? `collector-${siteId}-${process.pid}`,
        ...(opts.username !== undefined && { username: opts.username }),
        ...(opts.password !== undefined && { password: opts.password }),
        keepaliveS: 10,
        connectTimeoutMs: 5000,
        clean: opts.persistent !== true,
      },
      onMessage,
    );
    const filters =
      opts.eventsOnly === true
        ? [filter.events]
        : [filter.events, filter.agent, filter.cameraStatus, filter.discovered];
    for (const f of filters) await c.subscribe(f, 1);
    return c;
  };
  conn = await connectOnce();
  const loop = (async () => {
    while (!stoppedNow()) {
      await conn?.closed;
      if (stoppedNow()) break;
      conn = undefined;
      while (!stoppedNow() && conn === undefined) {
        try {
          conn = await connectOnce();
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  })();
  return {
    events: () => events,
    batchSizes: () => sizes,
    firstArrivals: () => first,
    statuses: () => statuses,
    lastAgent: () => agent,
    connected: () => conn?.isOpen() ?? false,
    async stop() {
      stopped = true;
      await conn?.end(1000);
      await loop;
    },
  };
}

/**
 * Subscribe as a new client and follow `filters` until `until` holds for the latest payload of
 * each topic (what a new subscriber sees: the retained state, then live changes; an empty
 * payload clears a topic). Returns that state. Retained messages may come after a SUBACK and
 * after other traffic (Aedes reads them from its store asynchronously), so tests wait for the
 * state they expect rather than read once.
 */
export async function readRetained(
  url: string,
  filters: string[],
  until: (latest: Map<string, Buffer>) => boolean,
  what: string,
  auth?: { username: string; password: string },
): Promise<Map<string, Buffer>> {
  const latest = new Map<string, Buffer>();
  const c = await connectMqtt(
    {
      url,
      clientId: `retained-reader-${process.pid}-${Math.random().toString(36).slice(2)}`,
      ...(auth !== undefined && { username: auth.username, password: auth.password }),
      keepaliveS: 10,
      connectTimeoutMs: 5000,
      clean: true,
    },
    (m) => {
      if (m.payload.length === 0) latest.delete(m.topic);
      else latest.set(m.topic, m.payload);
    },
  );
  try {
    for (const f of filters) await c.subscribe(f, 1);
    await waitFor(() => (until(latest) ? true : undefined), { what, timeoutMs: 20_000, intervalMs: 20 });
    return new Map(latest);
  } finally {
    await c.end(1000);
  }
}

/** Decode helpers for retained statuses. */
export const decode = {
  agent: (b: Buffer | undefined) => (b === undefined ? undefined : AgentStatus.decode(b)),
  camera: (b: Buffer | undefined) => (b === undefined ? undefined : CameraStatus.decode(b)),
  discovered: (b: Buffer | undefined) => (b === undefined ? undefined : DiscoveredDevices.decode(b)),
};

/** Defaults of the `mqtt` section for tests: fast reconnects, short status interval. */
export function testMqttSection(url: string, over: Partial<MqttSection> = {}): MqttSection {
  return {
    url,
    keepalive_s: 5,
    connect_timeout_ms: 3000,
    reconnect_initial_ms: 50,
    reconnect_max_ms: 500,
    status_interval_ms: 1000,
    ...over,
  };
}

/** An edge: spool in `dataDir/spool`, health registry, link (not started). */
export interface TestEdge {
  spool: Spool;
  link: MqttLink;
  health: HealthRegistry;
  registry: Registry;
  stop(): Promise<void>;
}

/** Options of {@link makeEdge}. */
export interface TestEdgeOptions {
  siteId?: string;
  mqtt: MqttSection;
  spool?: Partial<SpoolSection>;
  discovered?: DiscoveredSource;
  onSiteConfig?: (config: SiteConfig) => boolean;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

/** Build (and start) an edge's spool and link. */
export async function makeEdge(dataDir: string, opts: TestEdgeOptions): Promise<TestEdge> {
  const siteId = opts.siteId ?? 'village-7';
  // SHARPEYES_TEST_LOG=FILE: debug logs of the edges under test, for post-mortems.
  const logFile = process.env.SHARPEYES_TEST_LOG;
  const logger =
    opts.logger ??
    (logFile === undefined
      ? silentLogger()
      : createLogger('debug', createWriteStream(logFile, { flags: 'a' })));
  const registry = new Registry();
  const spoolConfig: SpoolSection = {
    max_bytes: 256 * 1024 * 1024,
    segment_bytes: 4 * 1024 * 1024,
    batch_max_events: 200,
    batch_max_bytes: 1024 * 1024,
    inflight_max: 50,
    inflight_max_bytes: 4 * 1024 * 1024,
    ack_flush_ms: 100,
    ...opts.spool,
  };
  const spool = await openSpool({
    dir: join(dataDir, 'spool'),
    maxBytes: spoolConfig.max_bytes,
    segmentBytes: spoolConfig.segment_bytes,
    ackFlushMs: spoolConfig.ack_flush_ms,
    logger,
    registry,
  });
  const health = new HealthRegistry(siteId, '0.1.0-test', dataDir);
  await health.sample();
  const link = new MqttLink({
    siteId,
    mqtt: opts.mqtt,
    spoolConfig,
    spool,
    health,
    ...(opts.discovered !== undefined && { discovered: opts.discovered }),
    ...(opts.onSiteConfig !== undefined && { onSiteConfig: opts.onSiteConfig }),
    logger,
    registry,
    ...(opts.env !== undefined && { env: opts.env }),
  });
  link.start();
  return {
    spool,
    link,
    health,
    registry,
    async stop() {
      await link.stop();
      await spool.close();
    },
  };
}

/** Wait until the link is connected. */
export function untilConnected(edge: TestEdge, what = 'the link to connect'): Promise<true> {
  return waitFor(() => (edge.link.isConnected() ? true : undefined), {
    what,
    timeoutMs: 30_000,
    intervalMs: 20,
  });
}

/** Wait until the collector has `n` distinct events. */
export function untilCollected(c: Collector, n: number, what = `${n} events collected`): Promise<true> {
  return waitFor(() => (c.firstArrivals().length >= n ? true : undefined), {
    what,
    timeoutMs: 60_000,
    intervalMs: 25,
  });
}

export { topic };
