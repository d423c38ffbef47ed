/**
 * What role `api` changes in the gateway (app.ts, decision 15): its ingest reads only the status
 * topics (agent, camera status, discovered → registry), never events; the events the ingest
 * workers stored arrive on the gateway-internal `stored` topic through a persistent MQTT 5
 * session and feed the live bus, alert matching and the ingest statistics exactly as role all's
 * ingest does; and every MQTT connection has a user of its own (Mosquitto's
 * `use_username_as_clientid`), all of them — the workers' too — in the Mosquitto files the node
 * writes.
 *
 * The stored feed is at least once: a worker publishes a message's events on its own connection
 * before it acknowledges that message, so the broker has the announcement before it forgets the
 * original; a redelivered message is announced again. The live bus drops an event id it still
 * holds and alerts are unique per (entry, event), so a repeat costs nothing but a count.
 */
import { Counter, type Registry as PromRegistry } from 'prom-client';
import { decodePayload, filter, topic } from '../../../proto/topics.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { IndexedEvent } from '../index/types.ts';
import { MqttSubscriber, type InboundMessage } from '../ingest/mqtt-subscriber.ts';
import type { Logger } from '../log.ts';
import { scaleUsers } from './config.ts';

/** The MQTT identities and subscriptions of an api node. */
export interface ApiRole {
  /** User and client id of the status reader (the node's Ingest, no events). */
  readonly statusUser: string;
  /** User and client id of the stored-events feed. */
  readonly storedUser: string;
  readonly configUser: string;
  readonly snapshotsUser: string;
  /** The status reader's subscriptions: the retained status topics, no events. */
  readonly subscriptions: readonly { filter: string; qos: 0 | 1 }[];
  /** MQTT 5 with a session that outlives a restart of the node. */
  readonly session: { protocolVersion: 5; sessionExpiryS: number };
  /** Every scale-out user (this node's and its workers'), for the Mosquitto files. */
  readonly mosquittoUsers: readonly string[];
}

/** The api role's MQTT settings, from the config. */
export function apiRole(config: GatewayConfig): ApiRole {
  const base = config.broker.username;
  return {
    statusUser: scaleUsers.apiStatus(base),
    storedUser: scaleUsers.apiStored(base),
    configUser: scaleUsers.apiConfig(base),
    snapshotsUser: scaleUsers.apiSnapshots(base),
    subscriptions: [
      { filter: filter.agent, qos: 1 },
      { filter: filter.cameraStatus, qos: 1 },
      { filter: filter.discovered, qos: 1 },
    ],
    session: { protocolVersion: 5, sessionExpiryS: config.scale.session_expiry_s },
    mosquittoUsers: scaleUsers.all(base, config.scale.ingest_workers),
  };
}

/** Options of {@link StoredFeed}. */
export interface StoredFeedOptions {
  url: string;
  /** User name and client id. */
  username: string;
  password: string;
  ca?: Buffer;
  keepaliveS: number;
  reconnectPeriodMs: number;
  sessionExpiryS: number;
  /** Each announcement's events (evidence bytes stripped by the worker). Must not block. */
  onStored: (events: readonly IndexedEvent[], receivedMs: number) => void;
  registry?: PromRegistry;
  logger: Logger;
}

/** The api node's subscriber to what the ingest workers stored. */
export class StoredFeed {
  readonly #subscriber: MqttSubscriber;
  readonly #log: Logger;
  readonly #events: Counter;
  readonly #rejected: Counter;
  readonly #onStored: StoredFeedOptions['onStored'];

  constructor(opts: StoredFeedOptions) {
    this.#log = opts.logger.child({ module: 'stored-feed' });
    this.#onStored = opts.onStored;
    const registers = opts.registry === undefined ? [] : [opts.registry];
    this.#events = new Counter({
      name: 'sharpeyes_gateway_scale_stored_events_total',
      help: 'Events the ingest workers announced as stored (a redelivered message is announced again).',
      registers,
    });
    this.#rejected = new Counter({
      name: 'sharpeyes_gateway_scale_stored_rejected_total',
      help: 'Stored-events announcements that did not decode (acknowledged, dropped).',
      registers,
    });
    this.#subscriber = new MqttSubscriber({
      url: opts.url,
      clientId: opts.username,
      username: opts.username,
      password: opts.password,
      ...(opts.ca !== undefined && { ca: opts.ca }),
      keepaliveS: opts.keepaliveS,
      reconnectPeriodMs: opts.reconnectPeriodMs,
      connectTimeoutMs: 30_000,
      protocolVersion: 5,
      sessionExpiryS: opts.sessionExpiryS,
      subscriptions: [{ filter: topic.stored(), qos: 1 }],
      onMessage: (message) => {
        this.#handle(message);
      },
      logger: opts.logger,
    });
  }

  /** Whether the feed is connected. */
  get connected(): boolean {
    return this.#subscriber.connected;
  }

  /** Connect and subscribe (queued announcements arrive at once). */
  start(): Promise<void> {
    return this.#subscriber.start();
  }

  /** Disconnect; the broker keeps the session and queues for it. */
  stop(): Promise<void> {
    return this.#subscriber.stop();
  }

  #handle(message: InboundMessage): void {
    let events: IndexedEvent[];
    try {
      events = decodePayload('stored', message.payload).events;
    } catch (err) {
      this.#rejected.inc();
      this.#log.warn({ err, topic: message.topic }, 'a stored-events announcement did not decode; dropped');
      message.ack();
      return;
    }
    this.#events.inc(events.length);
    try {
      this.#onStored(events, Date.now());
    } catch (err) {
      this.#log.error({ err }, 'a stored-events listener failed');
    }
    message.ack();
  }
}

/** Start the api node's {@link StoredFeed} with the role's user and session. */
export async function startStoredFeed(
  role: ApiRole,
  opts: Omit<StoredFeedOptions, 'username' | 'sessionExpiryS'>,
): Promise<StoredFeed> {
  const feed = new StoredFeed({
    ...opts,
    username: role.storedUser,
    sessionExpiryS: role.session.sessionExpiryS,
  });
  await feed.start();
  return feed;
}
