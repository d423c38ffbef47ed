/**
 * The one typed adapter over mqtt.js: nothing else in the agent imports 'mqtt'.
 *
 * One {@link MqttConnection} is one network connection. mqtt.js's own reconnection and offline
 * queue are switched off (`reconnectPeriod: 0`; publishing while disconnected is refused here),
 * because the spool is the only source of truth for what still has to be sent: the link opens a
 * fresh connection after each loss and replays from the spool. Publishes still waiting for their
 * PUBACK when a connection closes are rejected (mqtt.js would otherwise keep them, unresolved,
 * for a resend that never comes).
 */
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import { EdgeError } from '../errors.ts';
import { redactUrl } from '../log.ts';

/** How to connect. */
export interface MqttConnectOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  clientId: string;
  username?: string;
  /** Never logged. */
  password?: string;
  keepaliveS: number;
  connectTimeoutMs: number;
  /** false = persistent session (the broker keeps subscriptions and queued QoS1 messages). */
  clean: boolean;
  /** Last will: published by the broker if the connection ends without a DISCONNECT. */
  will?: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean };
  /** TLS material (PEM) for mqtts://: CA to trust, client certificate and key. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Errors mqtt.js reports after the connection is up (e.g. a socket error before close). */
  onError?: (err: Error) => void;
  /** Abandon the attempt (the agent is stopping). */
  signal?: AbortSignal;
}

/** A message received on a subscription. */
export interface MqttMessage {
  topic: string;
  payload: Buffer;
  /** Delivered from the broker's retained store (on subscribe). */
  retain: boolean;
}

/** One open MQTT connection. */
export interface MqttConnection {
  /** The broker still had our session (clean: false). */
  readonly sessionPresent: boolean;
  /** Whether the connection is still up. */
  isOpen(): boolean;
  /**
   * Publish. QoS1 resolves on the broker's PUBACK; QoS0 once written. Rejects with
   * EDGE_ERR_MQTT_CLOSED when the connection is (or gets) closed first.
   */
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Subscribe; resolves with the granted QoS, rejects if the broker refuses. */
  subscribe(filter: string, qos: 0 | 1): Promise<number>;
  /** Resolves when the connection has closed, for whatever reason. */
  readonly closed: Promise<void>;
  /** Send DISCONNECT (the broker drops the will) and close; forced after `timeoutMs`. */
  end(timeoutMs?: number): Promise<void>;
  /** Drop the connection without DISCONNECT (the broker publishes the will). */
  destroy(): void;
}

/** The CONNACK return codes that mean "your credentials": bad user name or password, not authorised. */
const AUTH_CODES = new Set([4, 5, 134, 135]);

function reasonCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Open a connection. Resolves once the broker accepted it (CONNACK 0); rejects with
 * EDGE_ERR_MQTT_AUTH (credentials refused) or EDGE_ERR_MQTT_CONNECT (anything else).
 * `onMessage` is attached before the CONNECT is sent, so messages the broker queued for a
 * persistent session are not missed.
 */
export function connectMqtt(
  opts: MqttConnectOptions,
  onMessage: (message: MqttMessage) => void,
): Promise<MqttConnection> {
  const options: IClientOptions = {
    clientId: opts.clientId,
    protocolVersion: 4,
    clean: opts.clean,
    keepalive: opts.keepaliveS,
    connectTimeout: opts.connectTimeoutMs,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    ...(opts.username !== undefined && { username: opts.username }),
    ...(opts.password !== undefined && { password: opts.password }),
    ...(opts.will !== undefined && {
      will: {
        topic: opts.will.topic,
        payload: opts.will.payload,
        qos: opts.will.qos,
        retain: opts.will.retain,
      },
    }),
    ...(opts.tls?.ca !== undefined && { ca: opts.tls.ca }),
    ...(opts.tls?.cert !== undefined && { cert: opts.tls.cert }),
    ...(opts.tls?.key !== undefined && { key: opts.tls.key }),
    rejectUnauthorized: true,
  };

  const where = redactUrl(opts.url);
  return new Promise<MqttConnection>((resolve, reject) => {
    let client: MqttClient;
    try {
      client = mqttConnect(opts.url, options);
    } catch (err) {
      reject(new EdgeError('EDGE_ERR_MQTT_CONNECT', String(err), { cause: err }));
      return;
    }
    let up = false;
    let settled = false;
    const pending = new Set<(err: Error) => void>();
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((r) => {
      markClosed = r;
    });

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      const code = reasonCode(err);
      const edgeErr =
        code !== undefined && AUTH_CODES.has(code)
          ? new EdgeError('EDGE_ERR_MQTT_AUTH', `${where}: ${(err as Error).message}`, { cause: err })
          : new EdgeError(
              'EDGE_ERR_MQTT_CONNECT',
              `${where}: ${String((err as Error | undefined)?.message ?? err)}`,
              {
                cause: err,
              },
            );
      client.end(true);
      reject(edgeErr);
    };

    const onAbort = (): void => {
      fail(new Error('aborted'));
    };
    if (opts.signal?.aborted === true) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    client.on('message', (topic, payload, packet) => {
      onMessage({ topic, payload, retain: packet.retain });
    });
    client.on('error', (err) => {
      if (!up) fail(err);
      else opts.onError?.(err);
    });
    client.on('close', () => {
      if (!up) {
        fail(new Error('connection closed before CONNACK'));
        return;
      }
      up = false;
      const closedErr = new EdgeError('EDGE_ERR_MQTT_CLOSED', where);
      for (const rejectOne of pending) rejectOne(closedErr);
      pending.clear();
      // Nothing more will be sent on this client; its stores are dropped with it.
      client.end(true);
      markClosed();
    });
    client.once('connect', (connack) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      up = true;
      resolve({
        sessionPresent: connack.sessionPresent,
        isOpen: () => up && client.connected,
        publish(topic, payload, publishOpts) {
          if (!up || !client.connected) {
            return Promise.reject(new EdgeError('EDGE_ERR_MQTT_CLOSED', where));
          }
          return new Promise<void>((res, rej) => {
            const rejectOne = (err: Error): void => {
              rej(err);
            };
            pending.add(rejectOne);
            // publishAsync, not a callback: mqtt.js calls back with null (not undefined) on success.
            client.publishAsync(topic, payload, { qos: publishOpts.qos, retain: publishOpts.retain }).then(
              () => {
                pending.delete(rejectOne);
                res();
              },
              (err: unknown) => {
                pending.delete(rejectOne);
                const why = err instanceof Error ? err.message : String(err);
                rej(new EdgeError('EDGE_ERR_MQTT_CLOSED', `${where}: ${why}`, { cause: err }));
              },
            );
          });
        },
        subscribe(filter, qos) {
          if (!up || !client.connected) {
            return Promise.reject(new EdgeError('EDGE_ERR_MQTT_CLOSED', where));
          }
          return new Promise<number>((res, rej) => {
            client.subscribe(filter, { qos }, (err, granted) => {
              const g = granted?.[0]?.qos;
              if (err instanceof Error) {
                rej(
                  new EdgeError('EDGE_ERR_MQTT_CLOSED', `subscribe ${filter}: ${err.message}`, {
                    cause: err,
                  }),
                );
              } else if (g === undefined || g === 128) {
                rej(new EdgeError('EDGE_ERR_MQTT_AUTH', `the broker refused the subscription to ${filter}`));
              } else {
                res(g);
              }
            });
          });
        },
        closed,
        end(timeoutMs = 2000) {
          if (!up) return closed;
          return new Promise<void>((res) => {
            // end(true) would be ignored once a graceful end is under way: cut the socket.
            const timer = setTimeout(() => {
              client.stream.destroy();
              res();
            }, timeoutMs);
            client.end(false, {}, () => {
              clearTimeout(timer);
              res();
            });
          }).then(() => closed);
        },
        destroy() {
          client.stream.destroy();
        },
      });
    });
  });
}
