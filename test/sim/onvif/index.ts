/** Public surface of the ONVIF camera simulator (overview: README.md next to this file). */
export { startOnvifCamera } from './camera.ts';
export { parseCliConfig, defaultScopes, type SimCliConfig } from './config.ts';
export {
  DEVICE_TYPES,
  MATCH_BY,
  WSD_MULTICAST,
  parseDiscoveryMessage,
  probeMatches,
  scopeMatches,
  type DiscoveryMessage,
} from './discovery.ts';
export * from './errors.ts';
export { checkNetnsIsolation, assertMulticastAllowed } from './isolation.ts';
export { defaultSnapshotJpeg, looksLikeJpeg } from './jpeg.ts';
export { PATHS } from './operation.ts';
export { buildSecurityHeader, passwordDigest } from './ws-security.ts';
export { digestAuthorization } from './http-digest.ts';
export type * from './types.ts';
