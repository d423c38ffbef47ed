/**
 * Discovery and identity: what the rest of the agent imports. See `discovery.ts` for the
 * service, `onvif-adapter.ts` for the (only) node-onvif boundary.
 */
export { Discovery, DISCOVERY_DEFAULTS, type DiscoveryOptions } from './discovery.ts';
export {
  OnvifAdapter,
  DEFAULT_ONVIF_LIMITS,
  type DeviceDescriber,
  type OnvifAdapterOptions,
  type OnvifDescription,
  type OnvifLimits,
} from './onvif-adapter.ts';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './backoff.ts';
export { identityKey, normaliseEndpointReference, placeholderKey, stripUrlCredentials } from './identity.ts';
export { chooseAnalysisProfile } from './profiles.ts';
export { toProtoDiscoveredDevice, toProtoDiscoveredDevices, type ToProtoOptions } from './proto.ts';
export type { MulticastOptions, UnicastTarget } from './ws-discovery.ts';
export type * from './types.ts';
