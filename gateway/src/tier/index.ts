/**
 * Tier cascade wiring (decision 15). Lower tier (`tier.upstream`): write the Mosquitto bridge
 * stanza and publish this registry's cameras for the upper tier. Upper tier (`tier.downstream`):
 * the lower tiers' bridge users go into Mosquitto's files ({@link tierMosquittoUsers}) and their
 * cameras are imported into the registry.
 */
import { resolveSecret } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MosquittoTierUser } from '../broker/mosquitto-files.ts';
import type { Registry } from '../registry/index.ts';
import { mosquittoBridgeConfig, tierUser, writeBridgeFile } from './bridge.ts';
import { startTierCamerasImporter, startTierCamerasPublisher } from './cameras.ts';

export { mosquittoBridgeConfig, tierUser, writeBridgeFile } from './bridge.ts';
export { importTierCameras, tierCamerasOf } from './cameras.ts';

/** The gateway's own MQTT user for tier messages (publisher or importer), `<broker.username>-tier`. */
export function tierGatewayUsers(config: GatewayConfig): string[] {
  const t = config.tier;
  return t.upstream !== undefined || t.downstream.length > 0 ? [`${config.broker.username}-tier`] : [];
}

/** Options of {@link startTier}. */
export interface StartTierOptions {
  config: GatewayConfig;
  env: NodeJS.ProcessEnv;
  registry: Registry;
  /** This gateway's broker, and its gateway password. */
  url: string;
  password: string;
  ca?: Buffer;
  logger: Logger;
}

/** Start the tier side(s) configured; returns the stop function. */
export async function startTier(o: StartTierOptions): Promise<() => Promise<void>> {
  const { config } = o;
  const up = config.tier.upstream;
  const down = config.tier.downstream;
  const stops: (() => Promise<void>)[] = [];
  if (up === undefined && down.length === 0) return () => Promise.resolve();
  if (config.broker.mode !== 'external')
    throw new GatewayError(
      'GATEWAY_ERR_CONFIG',
      'the tier cascade bridges Mosquitto: broker.mode must be external',
    );
  const user = `${config.broker.username}-tier`;
  const mqtt = {
    url: o.url,
    clientId: user,
    username: user,
    password: o.password,
    ...(o.ca !== undefined && { ca: o.ca }),
    reconnectPeriodMs: config.broker.reconnect_period_ms,
    registry: o.registry,
    logger: o.logger,
  };
  if (up !== undefined) {
    const text = mosquittoBridgeConfig({
      tierId: up.tier_id,
      url: up.url,
      password: resolveSecret(up.password, '/tier/upstream/password', o.env),
      ...(up.ca_file !== undefined && { caFile: up.ca_file }),
      restartTimeoutS: up.restart_timeout_s,
      restartTimeoutMaxS: up.restart_timeout_max_s,
    });
    await writeBridgeFile(up.bridge_file, text, o.logger);
    stops.push(startTierCamerasPublisher({ ...mqtt, tierId: up.tier_id }));
  }
  if (down.length > 0) {
    const tiers = down.map((d) => ({ tierId: d.tier_id, sites: new Set(d.sites) }));
    stops.push(startTierCamerasImporter({ ...mqtt, tiers }));
  }
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}

/** Upper tier: the Mosquitto users of `tier.downstream` (each may publish its listed sites' events). */
export function tierMosquittoUsers(config: GatewayConfig, env: NodeJS.ProcessEnv): MosquittoTierUser[] {
  return config.tier.downstream.map((d, i) => ({
    username: tierUser(d.tier_id),
    password: resolveSecret(d.password, `/tier/downstream/${i}/password`, env),
    sites: d.sites,
  }));
}
