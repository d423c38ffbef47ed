/**
 * The embedded MQTT broker: Aedes 1.2 with its sessions, subscriptions, retained and queued
 * messages in LevelDB (aedes-persistence-level) on disk, behind per-site authentication and
 * authorisation by topic. This module is the only one that imports aedes (and persistence.ts
 * the only one that imports its persistence).
 *
 * - Listeners: plain TCP, and optionally TLS (key/cert files), both on a configured host; and
 *   an internal one on 127.0.0.1 for the gateway's own ingest client.
 * - Authentication: the gateway's own credential (full access) or a site's, verified by a
 *   {@link SiteCredentialStore}; anything else gets CONNACK "bad user name or password" (4) or
 *   "not authorized" (5).
 * - Until {@link EmbeddedBroker.open} is called, only the gateway may connect: sites get
 *   "server unavailable" (3). The gateway opens the broker once ingest has subscribed, so no
 *   event is accepted from an edge while no persistent subscription would keep it.
 * - PUBACKs to publishers are held until Aedes has persisted the message (see puback-gate.ts).
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { timingSafeEqual, createHash } from 'node:crypto';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import { Level } from 'level';
import { Counter, Gauge, type Registry } from 'prom-client';
import { GatewayError } from '../errors.ts';
import { LogRateLimiter, type Logger } from '../log.ts';
import { mayPublish, mayPublishOrphanWill, mayReceive, maySubscribe, mayUseClientId } from './acl.ts';
import { createLeanLevelPersistence } from './persistence.ts';
import { PubackGate } from './puback-gate.ts';
import type { Principal, SiteCredentialStore } from './types.ts';

/** CONNACK return codes of MQTT 3.1.1. */
const CONNACK = { SERVER_UNAVAILABLE: 3, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;

/** The gateway's own MQTT credential: full access. */
export interface GatewayCredential {
  /** Starts with `@`, which no site id contains. */
  readonly username: string;
  readonly password: string;
}

/** TLS listener settings (PEM files). */
export interface BrokerTlsOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  keyFile: string;
  certFile: string;
  /** CA bundle to verify client certificates against (client certificates are optional). */
  caFile?: string;
}

/** Options of {@link startEmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** LevelDB directory for sessions and queues; undefined = in memory (tests only). */
  persistenceDir: string | undefined;
  /** fsync the queue writes (group-committed): survive power loss, not only a crash. Default true. */
  syncWrites?: boolean;
  /** Plain TCP listener. Port 0 = any free port. */
  host: string;
  port: number;
  tls?: BrokerTlsOptions;
  sites: SiteCredentialStore;
  gateway: GatewayCredential;
  logger: Logger;
  /** Where the broker's metrics go. */
  registry?: Registry;
  /**
   * Test seam: called with the real persistence object (undefined in memory mode) before the
   * broker starts, so a test can observe or delay its writes. Never set in production.
   */
  instrumentPersistence?: (persistence: object | undefined) => void;
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://host:port` of the plain listener. */
  readonly url: string;
  readonly port: number;
  /**
   * `mqtt://127.0.0.1:PORT`: a loopback listener for the gateway's own clients only (ingest), on
   * which no site can log in and outbound traffic is not framed (see puback-gate.ts).
   */
  readonly internalUrl: string;
  /** `mqtts://host:port` when TLS is on. */
  readonly tlsUrl: string | undefined;
  readonly tlsPort: number | undefined;
  /** Let sites connect (until then they get "server unavailable"). */
  open(): void;
  /** Clients connected now. */
  connectedClients(): number;
  /** Close the listeners, disconnect every client, close the broker and its database. Idempotent. */
  stop(): Promise<void>;
}

type AuthCallback = (error: AuthenticateError | null, success: boolean | null) => void;

/**
 * Turn off Aedes's per-client "dedupe" (lib/client.js): it drops any packet whose broker counter
 * is not above the last one delivered to that client, assuming delivery in counter order. With
 * on-disk persistence that order does not hold — a message's queue write (LevelDB, thread pool)
 * can finish after a later message's — so QoS1 messages already acknowledged to their publisher
 * were silently dropped and cleared from the subscriber's queue (aedes issue #955, still open;
 * seen here as 7 of 200 messages lost). Its purpose, one delivery per packet when a client's
 * subscriptions overlap, does not arise: the gateway's subscriptions are disjoint, a site has one,
 * and ingest is idempotent anyway. The counter map is replaced by one that never remembers.
 */
function disableDedupe(client: Client): void {
  const forgetful = new Proxy(Object.create(null) as Record<string, number>, {
    get: () => 0,
    set: () => true,
    deleteProperty: () => true,
  });
  Object.defineProperty(client, 'duplicates', { value: forgetful, writable: true, configurable: true });
}

function authError(message: string, returnCode: number): AuthenticateError {
  // aedes types the code as a const enum, which isolated modules cannot name: set it as a number.
  const err = new Error(message) as AuthenticateError;
  Reflect.set(err, 'returnCode', returnCode);
  return err;
}

function sameSecret(a: Uint8Array, b: string): boolean {
  // Hash both so the comparison is constant-time whatever the lengths.
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Start the broker and its listeners. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const log = opts.logger.child({ module: 'broker' });
  if (!opts.gateway.username.startsWith('@')) {
    throw new GatewayError('GATEWAY_ERR_BROKER', 'the gateway MQTT user name must start with "@"');
  }
  const registers = opts.registry === undefined ? [] : [opts.registry];
  const authFailures = new Counter({
    name: 'sharpeyes_gateway_broker_auth_failures_total',
    help: 'MQTT connections refused, by reason.',
    labelNames: ['reason'],
    registers,
  });
  const denied = new Counter({
    name: 'sharpeyes_gateway_broker_denied_total',
    help: 'Publishes and subscriptions refused by the topic ACL.',
    labelNames: ['action'],
    registers,
  });

  const principals = new WeakMap<Client, Principal>();
  const internalConns = new WeakSet<object>();
  const connects = new WeakMap<Client, { clientId: string; willTopic: string | undefined }>();
  const deniedLog = new LogRateLimiter(10_000);
  let open = false;

  let db: Level | undefined;
  let persistence: { destroy(): Promise<void> } | undefined;
  if (opts.persistenceDir !== undefined) {
    await mkdir(opts.persistenceDir, { recursive: true });
    db = new Level(opts.persistenceDir);
    try {
      await db.open();
    } catch (err) {
      throw new GatewayError(
        'GATEWAY_ERR_BROKER',
        `cannot open the broker database in ${opts.persistenceDir} (is another gateway using it?)`,
        { cause: err },
      );
    }
    persistence = createLeanLevelPersistence(db, { sync: opts.syncWrites ?? true }) as {
      destroy(): Promise<void>;
    };
  }

  const refuse = (
    done: AuthCallback,
    reason: string,
    code: number,
    detail: Record<string, unknown>,
  ): void => {
    authFailures.inc({ reason });
    log.info({ reason, ...detail }, 'MQTT connection refused');
    done(authError(reason, code), false);
  };

  const authenticate = (
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: AuthCallback,
  ): void => {
    const connect = connects.get(client);
    const clientId = connect?.clientId ?? '';
    if (username === undefined || password === undefined) {
      refuse(done, 'no_credentials', CONNACK.NOT_AUTHORIZED, { client_id: clientId });
      return;
    }
    const resolve = async (): Promise<Principal | undefined> => {
      // The gateway's connections: its user name, or one derived from it (`<name>-config`, …).
      if (username === opts.gateway.username || username.startsWith(`${opts.gateway.username}-`)) {
        return sameSecret(password, opts.gateway.password) ? { kind: 'gateway', name: username } : undefined;
      }
      return opts.sites.verify(username, password);
    };
    resolve().then(
      (principal) => {
        const detail = { client_id: clientId, username };
        if (principal === undefined) {
          refuse(done, 'bad_credentials', CONNACK.BAD_CREDENTIALS, detail);
          return;
        }
        if (principal.kind === 'site' && internalConns.has(client.conn)) {
          refuse(done, 'internal_listener', CONNACK.NOT_AUTHORIZED, detail);
          return;
        }
        if (principal.kind === 'site' && !open) {
          refuse(done, 'not_open', CONNACK.SERVER_UNAVAILABLE, detail);
          return;
        }
        if (!mayUseClientId(principal, clientId)) {
          refuse(done, 'client_id', CONNACK.NOT_AUTHORIZED, detail);
          return;
        }
        if (connect?.willTopic !== undefined && !mayPublish(principal, connect.willTopic)) {
          refuse(done, 'will_topic', CONNACK.NOT_AUTHORIZED, { ...detail, will_topic: connect.willTopic });
          return;
        }
        principals.set(client, principal);
        disableDedupe(client);
        // The gateway's own connection carries the heavy delivery traffic and publishes nothing
        // an edge waits on: its output needs no framing.
        if (principal.kind === 'gateway' && client.conn instanceof PubackGate) client.conn.passThrough();
        log.debug({ ...detail, principal: principal.kind }, 'MQTT client authenticated');
        done(null, true);
      },
      (err: unknown) => {
        authFailures.inc({ reason: 'store_error' });
        log.error({ err, username }, 'credential store failed');
        done(authError('credential store failed', CONNACK.SERVER_UNAVAILABLE), false);
      },
    );
  };

  const logDenied = (client: Client | null, action: string, name: string): void => {
    denied.inc({ action });
    const gate = deniedLog.take();
    if (!gate.pass) return;
    const principal = client === null ? undefined : principals.get(client);
    log.warn(
      {
        action,
        topic: name,
        client_id: client?.id,
        site_id: principal?.kind === 'site' ? principal.siteId : undefined,
        suppressed: gate.suppressed,
      },
      'MQTT access denied by topic ACL',
    );
  };

  const brokerOptions: AedesOptions = {
    ...(persistence !== undefined && { persistence }),
    preConnect(client, packet, callback) {
      connects.set(client, { clientId: packet.clientId, willTopic: packet.will?.topic });
      callback(null, true);
    },
    authenticate,
    authorizePublish(client, packet, callback) {
      const principal = client === null ? undefined : principals.get(client);
      const ok =
        client === null
          ? mayPublishOrphanWill(packet.topic)
          : principal !== undefined && mayPublish(principal, packet.topic);
      if (ok) {
        callback(null);
        return;
      }
      logDenied(client, 'publish', packet.topic);
      // MQTT 3.1.1 has no negative PUBACK: Aedes closes the connection (MQTT-3.3.5-2).
      callback(new Error(`publishing to ${packet.topic} is not allowed`));
    },
    authorizeSubscribe(client, subscription, callback) {
      const principal = principals.get(client);
      if (principal !== undefined && maySubscribe(principal, subscription.topic)) {
        // At most QoS1 is granted: the outgoing queue keeps no QoS2 (PUBREL) state.
        callback(null, { ...subscription, qos: Math.min(subscription.qos, 1) as 0 | 1 });
        return;
      }
      logDenied(client, 'subscribe', subscription.topic);
      // A null subscription is a refusal: SUBACK 0x80 for this filter, the connection stays.
      callback(null, null);
    },
    authorizeForward(client, packet) {
      const principal = principals.get(client);
      return principal !== undefined && mayReceive(principal, packet.topic) ? packet : null;
    },
    published(packet, client, callback) {
      // The message is now in the queues of every persistent subscriber: its PUBACK may go.
      const id = (packet as { messageId?: unknown }).messageId;
      const from = client as Client | null;
      if (from !== null && packet.qos === 1 && typeof id === 'number' && from.conn instanceof PubackGate) {
        from.conn.release(id);
      }
      callback(null);
    },
  };

  opts.instrumentPersistence?.(persistence);
  let broker: Aedes;
  try {
    broker = await Aedes.createBroker(brokerOptions);
  } catch (err) {
    await persistence?.destroy();
    if (db !== undefined && db.status !== 'closed') await db.close();
    throw new GatewayError('GATEWAY_ERR_BROKER', 'cannot start Aedes', { cause: err });
  }
  const clientErrors = new LogRateLimiter(10_000);
  broker.on('clientError', (client, err) => {
    const gate = clientErrors.take();
    if (gate.pass) log.debug({ client_id: client.id, err, suppressed: gate.suppressed }, 'MQTT client error');
  });
  broker.on('connectionError', (client, err) => {
    log.debug({ client_id: client.id, err }, 'MQTT connection error before CONNECT');
  });
  new Gauge({
    name: 'sharpeyes_gateway_broker_clients',
    help: 'MQTT clients connected to the embedded broker.',
    registers,
    collect() {
      this.set(broker.connectedClients);
    },
  });

  const sockets = new Set<Socket>();
  const onSocket = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    broker.handle(new PubackGate(socket));
  };
  // The gateway's own clients connect here: loopback, no PUBACK framing on the connection that
  // carries every event to ingest, and no site may log in.
  const onInternalSocket = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    internalConns.add(socket);
    broker.handle(socket);
  };
  const servers: (Server | TlsServer)[] = [];
  const listen = (server: Server | TlsServer, host: string, port: number): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address();
        if (addr === null || typeof addr === 'string') reject(new Error('listener has no TCP address'));
        else resolve(addr.port);
      });
    });

  const closeAll = async (): Promise<void> => {
    // Stop accepting first; a server's close callback waits for its connections, which the
    // broker's close and the socket teardown below end.
    const listenersClosed = Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => {
              resolve();
            });
          }),
      ),
    );
    await new Promise<void>((resolve) => {
      broker.close(() => {
        resolve();
      });
    });
    for (const socket of sockets) socket.destroy();
    await listenersClosed;
    // Aedes does not close its persistence; LevelDB keeps its lock until closed.
    await persistence?.destroy();
    if (db !== undefined && db.status !== 'closed') await db.close();
  };

  let port: number;
  let internalPort: number;
  let tlsPort: number | undefined;
  try {
    const plain = createServer(onSocket);
    servers.push(plain);
    port = await listen(plain, opts.host, opts.port);
    const internal = createServer(onInternalSocket);
    servers.push(internal);
    internalPort = await listen(internal, '127.0.0.1', 0);
    if (opts.tls !== undefined) {
      const t = opts.tls;
      const secure = createTlsServer(
        {
          key: readFileSync(t.keyFile),
          cert: readFileSync(t.certFile),
          ...(t.caFile !== undefined && {
            ca: readFileSync(t.caFile),
            requestCert: true,
            rejectUnauthorized: false,
          }),
          minVersion: 'TLSv1.2',
        },
        onSocket,
      );
      secure.on('tlsClientError', (err) => {
        log.debug({ err }, 'TLS handshake failed');
      });
      servers.push(secure);
      tlsPort = await listen(secure, t.host, t.port);
    }
  } catch (err) {
    await closeAll();
    throw new GatewayError('GATEWAY_ERR_BROKER', `cannot listen: ${(err as Error).message}`, { cause: err });
  }

  const hostForUrl = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  log.info(
    { port, tls_port: tlsPort, persistence: opts.persistenceDir ?? 'memory' },
    'embedded MQTT broker listening',
  );
  let stopping: Promise<void> | undefined;
  return {
    url: `mqtt://${hostForUrl(opts.host)}:${port}`,
    port,
    internalUrl: `mqtt://127.0.0.1:${internalPort}`,
    tlsUrl:
      tlsPort === undefined || opts.tls === undefined
        ? undefined
        : `mqtts://${hostForUrl(opts.tls.host)}:${tlsPort}`,
    tlsPort,
    open() {
      if (!open) log.info('broker open to sites');
      open = true;
    },
    connectedClients: () => broker.connectedClients,
    stop() {
      stopping ??= closeAll().then(() => {
        log.info('embedded MQTT broker stopped');
      });
      return stopping;
    },
  };
}
