/** The registry of sites and cameras, its SQLite adapter, site configs and edge reports. */
export { DEFAULT_ANALYSIS, parseAnalysis, parseCameraInput } from './camera-input.ts';
export type { CameraCredentialsInput, CameraInput, CameraPatch, ValidCamera } from './camera-input.ts';
export { CameraStore } from './cameras.ts';
export type { CameraFilter, MaintenanceInput, NewCamera } from './cameras.ts';
export { addressKey, collisionReport } from './collision.ts';
export type {
  AddressChange,
  CollisionInput,
  CollisionReport,
  MissingCamera,
  MovedCamera,
  OfflineCamera,
  UnregisteredDevice,
} from './collision.ts';
export { RegistryConfigSchema, registryOptionsFromConfig } from './config.ts';
export type { RegistryConfig } from './config.ts';
export { EdgeReports, isOnline, stateName } from './edge-reports.ts';
export type { StoredState } from './edge-reports.ts';
export { Hook } from './hooks.ts';
export { LIFECYCLE_TRANSITIONS, assertTransition, canTransition, inSiteConfig } from './lifecycle.ts';
export { aggregate, areaQuality, cameraQuality, onlineShare } from './quality.ts';
export type { AreaQuality, CameraQuality, CameraQualityInput, IngestStats, StatusChange } from './quality.ts';
export { Registry } from './registry.ts';
export type { QualityOptions, QualityReport, RegistryOptions } from './registry.ts';
export {
  SiteConfigPublisher,
  buildSiteConfig,
  cameraEnabled,
  nextTemporaryBoundary,
  siteConfigDigest,
  toProtoAnalysis,
} from './site-config.ts';
export type { ConfigCamera, SiteConfigChange } from './site-config.ts';
export { SiteStore } from './sites.ts';
export type { SiteInput, SitePatch, SiteWithSecret } from './sites.ts';
export { openSqlite } from './sqlite.ts';
export type {
  Migration,
  OpenSqliteOptions,
  RunResult,
  SqlParams,
  SqlRow,
  SqlValue,
  SqliteDb,
  Statement,
} from './sqlite.ts';
export * from './types.ts';
