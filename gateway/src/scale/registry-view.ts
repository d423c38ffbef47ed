/**
 * An ingest worker's view of the registry: the retained `SiteConfig` of every site (what the api
 * node publishes for the edges), read over MQTT — a worker holds no database. It answers "is
 * this camera registered and active at its site?" for the events the worker stores.
 *
 * Events of a camera absent from its site's config are stored all the same, flagged in a counter
 * (`sharpeyes_gateway_scale_unregistered_events_total`): an edge may still send events of a
 * camera retired a moment ago, or a worker may hear of a new camera after its first events, and
 * role `all` stores them too. A site with no config yet is unknown, not unregistered.
 */
import { Counter, Gauge, type Registry as PromRegistry } from 'prom-client';
import { decodePayload, filter, parseTopic } from '../../../proto/topics.ts';
import type { IndexedEvent } from '../index/types.ts';
import { MqttSubscriber, type InboundMessage } from '../ingest/mqtt-subscriber.ts';
import type { Logger } from '../log.ts';

/** Options of {@link RegistryView}. */
export interface RegistryViewOptions {
  url: string;
  /** User name and client id. */
  username: string;
  password: string;
  ca?: Buffer;
  keepaliveS: number;
  reconnectPeriodMs: number;
  registry?: PromRegistry;
  logger: Logger;
}

/** What the view says of an event's camera. */
export type CameraStanding = 'registered' | 'unregistered' | 'site_unknown';

/** Site → registered camera ids, from the retained SiteConfig topics. */
export class RegistryView {
  readonly #subscriber: MqttSubscriber;
  readonly #log: Logger;
  readonly #sites = new Map<string, { revision: number; cameras: Set<string> }>();
  readonly #unregistered: Counter;

  constructor(opts: RegistryViewOptions) {
    this.#log = opts.logger.child({ module: 'registry-view' });
    const registers = opts.registry === undefined ? [] : [opts.registry];
    this.#unregistered = new Counter({
      name: 'sharpeyes_gateway_scale_unregistered_events_total',
      help: 'Events stored whose camera is not in its site’s SiteConfig (stored all the same).',
      registers,
    });
    const sites = this.#sites;
    new Gauge({
      name: 'sharpeyes_gateway_scale_registry_sites',
      help: 'Sites whose SiteConfig this worker holds.',
      registers,
      collect() {
        this.set(sites.size);
      },
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
      // Retained configs come again on every subscription: a short session is enough.
      protocolVersion: 5,
      sessionExpiryS: 60,
      subscriptions: [{ filter: filter.config, qos: 1 }],
      onMessage: (message) => {
        this.#apply(message);
      },
      logger: opts.logger,
    });
  }

  /** Whether the view's connection is up. */
  get connected(): boolean {
    return this.#subscriber.connected;
  }

  /** Sites known (with a config). */
  sites(): string[] {
    return [...this.#sites.keys()].sort();
  }

  /** The standing of `cameraId` at `siteId`. */
  standing(siteId: string, cameraId: string): CameraStanding {
    const site = this.#sites.get(siteId);
    if (site === undefined) return 'site_unknown';
    return site.cameras.has(cameraId) ? 'registered' : 'unregistered';
  }

  /** Count the event when its camera is unregistered (ingest's per-event check; never refuses). */
  note(event: IndexedEvent): void {
    if (this.standing(event.siteId, event.cameraId) === 'unregistered') this.#unregistered.inc();
  }

  /** Connect and subscribe; the retained configs follow. */
  start(): Promise<void> {
    return this.#subscriber.start();
  }

  stop(): Promise<void> {
    return this.#subscriber.stop();
  }

  #apply(message: InboundMessage): void {
    message.ack();
    const parsed = parseTopic(message.topic);
    if (parsed?.kind !== 'config') return;
    if (message.payload.length === 0) {
      this.#sites.delete(parsed.site);
      return;
    }
    try {
      const config = decodePayload('config', message.payload);
      const prior = this.#sites.get(parsed.site);
      if (prior !== undefined && prior.revision > config.revision) return;
      this.#sites.set(parsed.site, {
        revision: config.revision,
        cameras: new Set(config.cameras.map((c) => c.cameraId)),
      });
      this.#log.debug({ site_id: parsed.site, revision: config.revision }, 'site config read');
    } catch (err) {
      this.#log.warn({ err, topic: message.topic }, 'a site config did not decode; ignored');
    }
  }
}
