/**
 * What the REST and gRPC APIs need from the rest of the gateway. The lead builds one
 * {@link GatewayDeps} in app.ts and hands it to `registerRestApi(app, deps)` and
 * `startGrpcServer(deps)`; both call the same service functions (core/), so REST and gRPC share
 * authorisation, area scope, reasons, audit and limits.
 */
import type { AlertEntryStore, AlertService } from '../../alerts/index.ts';
import type { AuditLog } from '../../audit/log.ts';
import type { ApiKeyStore, LoginService, ReasonRules, SessionStore, UserStore } from '../../auth/index.ts';
import type { EventSearch, EvidenceStore } from '../../index/types.ts';
import type { CameraStatusFeed } from '../../live/camera-status.ts';
import type { LiveEventBus } from '../../live/bus.ts';
import type { Logger } from '../../log.ts';
import type { IngestStats, Registry, SqliteDb } from '../../registry/index.ts';
import type { ApiConfig } from './config.ts';

/** A live JPEG snapshot of a camera (through its edge). */
export interface SnapshotSource {
  /** Resolve with the JPEG, or reject (GatewayError GATEWAY_ERR_UNAVAILABLE when the edge cannot be reached). */
  snapshot(cameraId: string, signal: AbortSignal): Promise<{ jpeg: Uint8Array; takenMs: number }>;
}

/** Everything the APIs use. */
export interface GatewayDeps {
  /** Sites, cameras, reports. */
  registry: Registry;
  users: UserStore;
  sessions: SessionStore;
  apiKeys: ApiKeyStore;
  login: LoginService;
  audit: AuditLog;
  /** The registry database (audit verification reads the chain from it). */
  db: SqliteDb;
  alerts: AlertService;
  alertEntries: AlertEntryStore;
  /** Event search (the InfluxDB index). */
  search: EventSearch;
  evidence: EvidenceStore;
  live: LiveEventBus;
  /** Latest camera statuses (e.g. `cameraStatusFeedFromSiteState(app.siteState)`). */
  cameraStatus?: CameraStatusFeed;
  /** Live snapshots; without it GetSnapshot answers UNIMPLEMENTED. */
  snapshots?: SnapshotSource;
  /** Ingest counts per camera for the data-quality report (events, evidence share, lag). */
  ingestStats?: (fromMs: number, toMs: number) => Promise<ReadonlyMap<string, IngestStats>>;
  /** Reason rules (from the `auth` config section). */
  reasonRules?: Partial<ReasonRules>;
  /** The `api` config section, defaults applied. */
  config: ApiConfig;
  logger: Logger;
  /** Clock (tests). */
  now?: () => number;
}
