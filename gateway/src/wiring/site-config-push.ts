/**
 * Pushes each site's SiteConfig to its edge agent as a retained QoS1 message on
 * `topic.config(site)`: at every (re)connection for every site (so a broker that lost its
 * retained store, or an external broker freshly started, is brought up to date), and whenever
 * the registry commits a new revision. The edge applies a newer revision live (issue 5).
 *
 * Its own MQTT connection with the gateway's credential (client id `<ingest id>-config`), so a
 * slow ingest never delays a config and a config never waits behind event deliveries.
 */
import type { MqttClient } from 'mqtt';
import { Counter, type Registry as PromRegistry } from 'prom-client';
import type { SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { encodePayload, topic } from '../../../proto/topics.ts';
import type { Logger } from '../log.ts';
import type { Registry } from '../registry/index.ts';
import { connectGatewayMqtt, type GatewayMqttOptions } from './mqtt-client.ts';

/** Options of {@link SiteConfigPush}. */
export interface SiteConfigPushOptions extends GatewayMqttOptions {
  registry: Registry;
  logger: Logger;
  metrics?: PromRegistry;
}

/** The running publisher. */
export class SiteConfigPush {
  readonly #client: MqttClient;
  readonly #log: Logger;
  readonly #off: () => void;
  readonly #published: Counter<'outcome'>;
  readonly #registry: Registry;

  constructor(opts: SiteConfigPushOptions) {
    this.#log = opts.logger.child({ module: 'config-push' });
    this.#registry = opts.registry;
    this.#published = new Counter({
      name: 'sharpeyes_gateway_site_config_published_total',
      help: 'SiteConfig messages published to edges (retained), by outcome (ok, failed).',
      labelNames: ['outcome'],
      registers: opts.metrics === undefined ? [] : [opts.metrics],
    });
    this.#client = connectGatewayMqtt(opts);
    this.#client.on('connect', () => {
      this.publishAll();
    });
    this.#client.on('error', (err) => {
      this.#log.warn({ err }, 'config publisher: broker connection error');
    });
    this.#off = opts.registry.siteConfigChanged.on(({ config }) => {
      this.publish(config);
    });
  }

  /** Whether the publisher is connected. */
  get connected(): boolean {
    return this.#client.connected;
  }

  /** Publish every site's current config. */
  publishAll(): void {
    for (const site of this.#registry.sites.list()) {
      try {
        this.publish(this.#registry.siteConfig(site.siteId));
      } catch (err) {
        this.#log.error({ err, site_id: site.siteId }, 'cannot build the site config');
      }
    }
  }

  /** Publish one config (queued by mqtt.js while disconnected; republished on reconnect anyway). */
  publish(config: SiteConfig): void {
    const name = topic.config(config.siteId);
    // publishAsync, not a callback: mqtt.js calls back with null (not undefined) on success.
    this.#client.publishAsync(name, encodePayload('config', config), { qos: 1, retain: true }).then(
      () => {
        this.#published.inc({ outcome: 'ok' });
        this.#log.info(
          { site_id: config.siteId, revision: config.revision, cameras: config.cameras.length },
          'site config published',
        );
      },
      (err: unknown) => {
        this.#published.inc({ outcome: 'failed' });
        this.#log.warn(
          { err, site_id: config.siteId },
          'site config not published (republished on reconnect)',
        );
      },
    );
  }

  /** Stop listening and disconnect. */
  async stop(): Promise<void> {
    this.#off();
    await this.#client.endAsync();
  }
}
