/**
 * The gateway's MQTT subscriber: one typed adapter over mqtt.js (the only gateway module that
 * imports it), built for at-least-once ingest with many messages in flight.
 *
 * What mqtt.js does (lib/client.js `connect()`, lib/handlers/publish.js): incoming packets are
 * parsed into a queue and handled ONE AT A TIME; for a QoS1 PUBLISH it calls
 * `handleMessage(packet, cb)` and handles the next packet only after `cb` is called, and `cb()`
 * without an error is what sends the PUBACK. Acknowledging after persistence through that
 * callback therefore allows one message in flight: a few hundred per second at database
 * latency. But `cb(err)` with an error sends NO PUBACK and still moves on to the next packet
 * (the pump's `done` ignores its argument). So this adapter:
 *
 * 1. calls `cb(DEFERRED)` once the consumer has admitted the message (its `onMessage` promise
 *    resolved): the next packet is read, no PUBACK is sent;
 * 2. sends the PUBACK itself later, when the consumer calls `message.ack()` (after the message's
 *    batch is durable), through the client's own packet writer;
 * 3. drops an ack when the connection it came on is gone: the broker redelivers the message on
 *    the new connection (persistent session), possibly under a packet id that now names another
 *    message, so acking the old id there could acknowledge something not yet stored.
 *
 * Back-pressure: while `onMessage` has not resolved, nothing more is read from the socket (TCP
 * flow control reaches the broker). `customHandleAcks` is no alternative: mqtt.js calls it only
 * for MQTT 5, which Aedes does not speak, and it sits in the same one-at-a-time pump.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** A received message. */
export interface InboundMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly dup: boolean;
  /**
   * Acknowledge (PUBACK for QoS1) now. Idempotent. A no-op for QoS0, and when the connection the
   * message came on has closed since (the broker will deliver it again).
   */
  ack(): void;
}

/** Options of {@link MqttSubscriber}. */
export interface MqttSubscriberOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  /** Fixed, so the broker keeps the session (and queues messages) while we are away. */
  clientId: string;
  username: string;
  password: string;
  /** PEM CA to verify the broker's certificate (mqtts). */
  ca?: Buffer;
  /** Keepalive, s. A consumer blocked longer than 1.5× this is disconnected and redelivered to. */
  keepaliveS: number;
  reconnectPeriodMs: number;
  connectTimeoutMs: number;
  /** Subscriptions made on connect; every one must be granted. */
  subscriptions: readonly { filter: string; qos: 0 | 1 }[];
  /**
   * 5: speak MQTT 5 (needed for shared subscriptions, `$share/…`, on Mosquitto or EMQX). Default
   * 4 (3.1.1, all Aedes speaks).
   */
  protocolVersion?: 4 | 5;
  /**
   * MQTT 5 only: how long the broker keeps the session (subscriptions and queued messages) after
   * a disconnection, s. Under MQTT 5 a session otherwise ends with its connection. Default 7 days.
   */
  sessionExpiryS?: number;
  /**
   * Called for each message in arrival order. The next message is not read until the returned
   * promise settles (it may wait for room in the consumer's window). A rejection is logged; the
   * message stays unacknowledged unless the consumer acked it.
   */
  onMessage(message: InboundMessage): Promise<void> | void;
  /** Connection up (true) or down (false). */
  onConnection?: (connected: boolean) => void;
  logger: Logger;
}

/** MQTT 5 session expiry when none is given: a week of a worker being away. */
const DEFAULT_SESSION_EXPIRY_S = 7 * 86_400;

/** Passed to mqtt.js's handleMessage callback: "handled, but do not send the PUBACK". */
const DEFERRED = new Error('sharpeyes: acknowledgement deferred until the message is stored');

/** The one private mqtt.js method used: its own packet writer (writes PUBACK on the current stream). */
interface PacketWriter {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: () => void): void;
}

/** A persistent-session subscriber with deferred acknowledgements. */
export class MqttSubscriber {
  readonly #opts: MqttSubscriberOptions;
  readonly #log: Logger;
  readonly #client: MqttClient;
  #started = false;
  #stopping: Promise<void> | undefined;
  #acksSent = 0;
  #acksDropped = 0;

  constructor(opts: MqttSubscriberOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ module: 'ingest-mqtt' });
    const clientOpts: IClientOptions = {
      manualConnect: true,
      protocolVersion: opts.protocolVersion ?? 4,
      ...(opts.protocolVersion === 5 && {
        properties: { sessionExpiryInterval: opts.sessionExpiryS ?? DEFAULT_SESSION_EXPIRY_S },
      }),
      clean: false,
      clientId: opts.clientId,
      username: opts.username,
      password: opts.password,
      keepalive: opts.keepaliveS,
      reconnectPeriod: opts.reconnectPeriodMs,
      connectTimeout: opts.connectTimeoutMs,
      resubscribe: true,
      ...(opts.ca !== undefined && { ca: opts.ca, rejectUnauthorized: true }),
    };
    this.#client = mqtt.connect(opts.url, clientOpts);
    // Set before connecting: a persistent session's queued messages arrive with the CONNACK.
    this.#client.handleMessage = (packet, done) => {
      this.#handle(packet, done);
    };
    this.#client.on('connect', () => {
      this.#log.info({ url: opts.url, client_id: opts.clientId }, 'connected to the broker');
      opts.onConnection?.(true);
    });
    this.#client.on('close', () => {
      if (this.#started && this.#stopping === undefined)
        this.#log.warn('broker connection closed; reconnecting');
      opts.onConnection?.(false);
    });
    this.#client.on('error', (err) => {
      this.#log.warn({ err }, 'MQTT client error');
    });
  }

  /** Whether the client is connected now. */
  get connected(): boolean {
    return this.#client.connected;
  }

  /** PUBACKs sent, and acks dropped because their connection had closed. */
  get ackCounts(): { sent: number; dropped: number } {
    return { sent: this.#acksSent, dropped: this.#acksDropped };
  }

  /**
   * Connect and subscribe. Rejects (GATEWAY_ERR_INGEST_CONNECT) when the broker refuses the
   * credentials or a subscription, or no connection is made within `timeoutMs`; afterwards the
   * client reconnects by itself.
   */
  async start(timeoutMs = 30_000): Promise<void> {
    const client = this.#client;
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new GatewayError(
            'GATEWAY_ERR_INGEST_CONNECT',
            `no connection to ${this.#opts.url} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error & { code?: unknown }): void => {
        // A refused CONNACK ends the attempts; network errors are retried by mqtt.js.
        if (typeof err.code === 'number') {
          cleanup();
          reject(
            new GatewayError(
              'GATEWAY_ERR_INGEST_CONNECT',
              `the broker refused the connection: ${err.message}`,
              { cause: err },
            ),
          );
        }
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
      };
      client.on('connect', onConnect);
      client.on('error', onError);
    });
    client.connect();
    try {
      await connected;
      const granted = await client.subscribeAsync(
        Object.fromEntries(this.#opts.subscriptions.map((s) => [s.filter, { qos: s.qos }])),
      );
      const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) throw new Error(`subscriptions refused: ${refused.join(', ')}`);
    } catch (err) {
      await client.endAsync(true);
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('GATEWAY_ERR_INGEST_CONNECT', (err as Error).message, { cause: err });
    }
    // Once running, a refused reconnection (a broker restarting with new files) is retried too.
    client.options.reconnectOnConnackError = true;
    this.#started = true;
  }

  /**
   * Publish QoS1 on this subscriber's own connection. The PUBLISH is written to the socket at
   * once (or queued by mqtt.js while disconnected), so it reaches the broker before any PUBACK
   * sent after this call: whoever acks a message after publishing what it derived from it cannot
   * lose the derived message while the broker forgets the original (a worker killed in between
   * has its original redelivered). Resolves when the broker acknowledges it.
   */
  async publish(topic: string, payload: Buffer): Promise<void> {
    await this.#client.publishAsync(topic, payload, { qos: 1 });
  }

  /** Disconnect (DISCONNECT: the broker keeps the session and queues for it). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#client.endAsync(false).catch((err: unknown) => {
      this.#log.debug({ err }, 'MQTT end failed; the connection is gone anyway');
    });
    return this.#stopping;
  }

  #handle(packet: IPublishPacket, done: (err?: Error) => void): void {
    const client = this.#client;
    const stream = client.stream;
    const messageId = packet.messageId;
    let acked = false;
    const message: InboundMessage = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      ack: () => {
        if (acked) return;
        acked = true;
        if (packet.qos === 0 || messageId === undefined) return;
        if (client.stream !== stream || !client.connected || stream.destroyed) {
          this.#acksDropped += 1;
          return;
        }
        this.#acksSent += 1;
        (client as unknown as PacketWriter)._sendPacket({ cmd: 'puback', messageId });
      },
    };
    const proceed = (): void => {
      // QoS0 has nothing to acknowledge; for QoS1/2 the error keeps mqtt.js from sending PUBACK.
      done(packet.qos === 0 ? undefined : DEFERRED);
    };
    let admitted: Promise<void> | void;
    try {
      admitted = this.#opts.onMessage(message);
    } catch (err) {
      this.#log.error({ err, topic: packet.topic }, 'message handler threw');
      proceed();
      return;
    }
    if (admitted === undefined) {
      proceed();
      return;
    }
    admitted.then(proceed, (err: unknown) => {
      this.#log.debug({ err, topic: packet.topic }, 'message not admitted; the broker will redeliver it');
      proceed();
    });
  }
}
