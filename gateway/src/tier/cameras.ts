/**
 * The lower tier's cameras, upward (decision 15). The lower gateway publishes its registry's
 * cameras (registered or active) with their places, retained, on `topic.tierCameras(tier)`; its
 * Mosquitto's bridge carries that up with the events. The upper gateway imports them into its own
 * registry under the same places, so area scope at the upper tier works unchanged: a county
 * operator at the city sees that county's cameras, hence its events.
 *
 * Trust: the upper tier imports only the sites it lists for that tier in `tier.downstream`
 * (the same list its Mosquitto ACL lets the tier's bridge publish events for); a camera of any
 * other site is skipped and logged.
 */
import type { MqttClient } from 'mqtt';
import type { TierCamera, TierCameras } from '../../../proto/gen/sharpeyes/v1/tier.ts';
import { decodePayload, encodePayload, parseTierCamerasTopic, topic } from '../../../proto/topics.ts';
import { SYSTEM_ACTOR } from '../audit/log.ts';
import type { Logger } from '../log.ts';
import type { Place, Registry } from '../registry/index.ts';
import { connectGatewayMqtt, type GatewayMqttOptions } from '../wiring/mqtt-client.ts';

/** The cameras this (lower) tier tells the upper one about. */
export function tierCamerasOf(registry: Registry, tierId: string, nowMs: number): TierCameras {
  const cameras: TierCamera[] = [];
  for (const c of registry.cameras.list({ lifecycles: ['registered', 'active'] })) {
    const site = registry.sites.get(c.siteId);
    cameras.push({
      cameraId: c.cameraId,
      siteId: c.siteId,
      code: c.code,
      name: c.name,
      place: c.place,
      active: c.lifecycle === 'active',
      sitePlace: site?.place ?? c.place,
      siteName: site?.name ?? c.siteId,
      xaddr: c.xaddr,
      endpointReference: c.identity.endpointReference,
      serialNumber: c.identity.serialNumber,
    });
  }
  return { tierId, publishedMs: nowMs, cameras };
}

/**
 * Lower tier: publish the cameras at every (re)connection and after every registry change that
 * changes a site's config (cameras added, moved, renamed, activated, retired). Returns the stop
 * function.
 */
export function startTierCamerasPublisher(
  opts: GatewayMqttOptions & { tierId: string; registry: Registry; logger: Logger },
): () => Promise<void> {
  const log = opts.logger.child({ module: 'tier', tier_id: opts.tierId });
  const client = connectGatewayMqtt(opts);
  const name = topic.tierCameras(opts.tierId);
  let timer: NodeJS.Timeout | undefined;
  const publish = (): void => {
    const message = tierCamerasOf(opts.registry, opts.tierId, Date.now());
    client.publishAsync(name, encodePayload('tierCameras', message), { qos: 1, retain: true }).then(
      () => {
        log.info({ cameras: message.cameras.length }, 'tier cameras published');
      },
      (err: unknown) => {
        log.warn({ err }, 'tier cameras not published (republished at the next connection)');
      },
    );
  };
  client.on('connect', publish);
  client.on('error', (err) => {
    log.warn({ err }, 'tier publisher: broker connection error');
  });
  // A burst of registry changes (a site's cameras seeded one by one) collapses into one message.
  const off = opts.registry.siteConfigChanged.on(() => {
    timer ??= setTimeout(() => {
      timer = undefined;
      publish();
    }, 200);
  });
  return async () => {
    off();
    if (timer !== undefined) clearTimeout(timer);
    await client.endAsync();
  };
}

/** Upper tier: one lower tier's import rule. */
export interface DownstreamTier {
  readonly tierId: string;
  /** Sites of that tier that may be imported. */
  readonly sites: ReadonlySet<string>;
}

/** What one import did. */
export interface TierImportResult {
  sitesCreated: number;
  camerasCreated: number;
  camerasUpdated: number;
  skipped: number;
}

const samePlace = (a: Place, b: Place | undefined): boolean =>
  b !== undefined &&
  a.district === b.district &&
  a.street === b.street &&
  a.community === b.community &&
  a.grid === b.grid;

/**
 * Upper tier: bring the registry in line with a lower tier's camera list (sites created, cameras
 * created or moved, renamed, activated or suspended). Cameras the lower tier no longer lists are
 * left as they are (their events stay searchable). Audited as `system`.
 */
export async function importTierCameras(
  registry: Registry,
  tier: DownstreamTier,
  message: TierCameras,
  log: Logger,
): Promise<TierImportResult> {
  const r: TierImportResult = { sitesCreated: 0, camerasCreated: 0, camerasUpdated: 0, skipped: 0 };
  for (const c of message.cameras) {
    try {
      if (!tier.sites.has(c.siteId)) {
        r.skipped += 1;
        log.warn(
          { site_id: c.siteId, camera_id: c.cameraId },
          'tier camera of a site not listed for the tier: skipped',
        );
        continue;
      }
      const place = c.place ?? c.sitePlace;
      if (place === undefined) {
        r.skipped += 1;
        continue;
      }
      if (registry.sites.get(c.siteId) === undefined) {
        await registry.sites.create(SYSTEM_ACTOR, {
          siteId: c.siteId,
          name: c.siteName,
          place: c.sitePlace ?? place,
        });
        r.sitesCreated += 1;
      }
      const existing = registry.cameras.get(c.cameraId);
      if (existing === undefined) {
        registry.cameras.create(SYSTEM_ACTOR, {
          cameraId: c.cameraId,
          siteId: c.siteId,
          code: c.code,
          name: c.name,
          place,
          category: 'other',
          xaddr: c.xaddr,
          identity: { endpointReference: c.endpointReference, serialNumber: c.serialNumber },
        });
        r.camerasCreated += 1;
      } else if (existing.siteId !== c.siteId) {
        r.skipped += 1;
        log.warn(
          { camera_id: c.cameraId, site_id: c.siteId },
          'tier camera id taken by another site here: skipped',
        );
        continue;
      } else if (existing.name !== c.name || existing.code !== c.code || !samePlace(existing.place, place)) {
        registry.cameras.update(SYSTEM_ACTOR, c.cameraId, { name: c.name, code: c.code, place });
        r.camerasUpdated += 1;
      }
      const lifecycle = registry.cameras.mustGet(c.cameraId).lifecycle;
      const want = c.active ? 'active' : 'registered';
      if (lifecycle !== want && lifecycle !== 'retired' && lifecycle !== 'discovered') {
        registry.cameras.transition(SYSTEM_ACTOR, c.cameraId, want, `tier ${tier.tierId}`);
      }
    } catch (err) {
      r.skipped += 1;
      log.error({ err, camera_id: c.cameraId, site_id: c.siteId }, 'tier camera not imported');
    }
  }
  return r;
}

/**
 * Upper tier: subscribe every listed tier's cameras topic and import each message, one at a
 * time. Returns the stop function.
 */
export function startTierCamerasImporter(
  opts: GatewayMqttOptions & { tiers: readonly DownstreamTier[]; registry: Registry; logger: Logger },
): () => Promise<void> {
  const log = opts.logger.child({ module: 'tier' });
  const byId = new Map(opts.tiers.map((t) => [t.tierId, t]));
  const client: MqttClient = connectGatewayMqtt(opts);
  client.on('connect', () => {
    client.subscribe(
      opts.tiers.map((t) => topic.tierCameras(t.tierId)),
      { qos: 1 },
      (err) => {
        if (err !== null)
          log.warn({ err }, 'tier cameras: subscribe failed (retried at the next connection)');
      },
    );
  });
  client.on('error', (err) => {
    log.warn({ err }, 'tier importer: broker connection error');
  });
  let chain: Promise<void> = Promise.resolve();
  client.on('message', (name, payload) => {
    const tierId = parseTierCamerasTopic(name);
    const tier = tierId === undefined ? undefined : byId.get(tierId);
    if (tier === undefined) return;
    let message: TierCameras;
    try {
      message = decodePayload('tierCameras', payload);
    } catch (err) {
      log.warn({ err, tier_id: tierId }, 'malformed tier cameras message dropped');
      return;
    }
    chain = chain.then(async () => {
      const r = await importTierCameras(opts.registry, tier, message, log.child({ tier_id: tier.tierId }));
      log.info(
        {
          tier_id: tier.tierId,
          cameras: message.cameras.length,
          sites_created: r.sitesCreated,
          cameras_created: r.camerasCreated,
          cameras_updated: r.camerasUpdated,
          skipped: r.skipped,
        },
        'tier cameras imported',
      );
    });
  });
  return async () => {
    await client.endAsync();
    await chain;
  };
}
