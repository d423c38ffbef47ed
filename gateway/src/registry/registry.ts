/**
 * The registry: sites, cameras, their site configs, and what edges report, over one SQLite
 * database shared with auth, audit and alerts. This is what the lead wires:
 *
 * - `registry.siteConfigChanged.on(({siteId, config}) => publish retained on topic.config(siteId))`;
 *   at start, publish `registry.siteConfig(id)` for every site, and call
 *   `refreshSiteConfigs()` on a timer (or at `nextConfigBoundary()`) so temporary cameras start
 *   and stop on time;
 * - MQTT `discovered` → `recordDiscovered`, `cameraStatus` → `recordCameraStatus`, `agent` →
 *   `recordAgentStatus`; `reports.flush()` on a timer and at shutdown;
 * - the broker authenticates agents with `registry.sites` (a broker `SiteCredentialSource`);
 *   `registry.sites.credentialsChanged` says when Mosquitto's generated files are stale.
 *
 * Authorisation is the API layers' job (auth/roles.ts `authorize` with the resource's place);
 * the registry audits every change under the actor it is given.
 */
import type { Logger } from 'pino';
import type { AgentStatus, CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { AgentState } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { DiscoveredDevice, DiscoveredDevices } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import type { AuditLog } from '../audit/log.ts';
import { cameraIdsInScope, type AreaLevel, type AreaScope } from '../auth/scope.ts';
import type { AreaDirectory } from '../index/types.ts';
import { AreaCopies } from './area-copies.ts';
import { DEFAULT_ANALYSIS } from './camera-input.ts';
import { CameraStore } from './cameras.ts';
import { collisionReport, type CollisionReport } from './collision.ts';
import { EdgeReports } from './edge-reports.ts';
import type { Hook } from './hooks.ts';
import {
  areaQuality,
  cameraQuality,
  type AreaQuality,
  type CameraQuality,
  type IngestStats,
} from './quality.ts';
import { REGISTRY_MIGRATIONS } from './schema.ts';
import { SiteConfigPublisher, nextTemporaryBoundary, type SiteConfigChange } from './site-config.ts';
import { SiteStore } from './sites.ts';
import type { SqliteDb } from './sqlite.ts';
import type { AnalysisSettingsInfo, Place } from './types.ts';

/** Options of {@link Registry}. */
export interface RegistryOptions {
  now?: () => number;
  log?: Logger;
  /** Analysis defaults sent as each SiteConfig's `default_analysis`. */
  defaultAnalysis?: AnalysisSettingsInfo;
  /** "Offline longer than N" of the collision report (default 15 min). */
  offlineAfterMs?: number;
}

/** Options of {@link Registry.qualityReport}. */
export interface QualityOptions {
  /** Only cameras in this area (default all). */
  scope?: AreaScope;
  /** Group areas at this level (default district). */
  level?: AreaLevel;
  /** Ingest counts per camera over the window (from ingest/index). */
  ingest?: ReadonlyMap<string, IngestStats>;
  /** Window length (default 24 h), ending now. */
  windowMs?: number;
}

/** The quality report. */
export interface QualityReport {
  fromMs: number;
  toMs: number;
  cameras: CameraQuality[];
  areas: AreaQuality[];
}

/**
 * Sites, cameras, site configs and edge reports; for the event index, where cameras are
 * ({@link AreaDirectory}).
 */
export class Registry implements AreaDirectory {
  readonly sites: SiteStore;
  /** Since when the index's per-district copies are complete. */
  readonly areaCopies: AreaCopies;
  private districtCounts: { changes: number; counts: Map<string, number> } | undefined;
  readonly cameras: CameraStore;
  readonly configs: SiteConfigPublisher;
  readonly reports: EdgeReports;
  private readonly now: () => number;
  private readonly offlineAfterMs: number;

  constructor(db: SqliteDb, audit: AuditLog, options: RegistryOptions = {}) {
    db.migrate('registry', REGISTRY_MIGRATIONS);
    this.now = options.now ?? Date.now;
    this.offlineAfterMs = options.offlineAfterMs ?? 15 * 60_000;
    this.sites = new SiteStore(db, audit, this.now, options.log);
    this.areaCopies = new AreaCopies(db, this.now);
    this.cameras = new CameraStore(
      db,
      audit,
      (siteId) => this.configs.update(siteId),
      this.now,
      () => {
        this.areaCopies.moved();
      },
    );
    this.configs = new SiteConfigPublisher(
      db,
      (siteId) => this.cameras.configCameras(siteId),
      options.defaultAnalysis ?? DEFAULT_ANALYSIS,
      this.now,
      options.log,
    );
    this.reports = new EdgeReports(db, this.now);
  }

  /** Fired after commit with each new SiteConfig revision (publish it retained). */
  get siteConfigChanged(): Hook<SiteConfigChange> {
    return this.configs.changed;
  }

  /** Authenticate an agent's MQTT login (site id as user name); `sites` is the broker's SiteCredentialSource. */
  verifySiteCredentials(username: string, password: string): Promise<{ siteId: string } | undefined> {
    return this.sites.verifySiteCredentials(username, password);
  }

  /** The current SiteConfig of a site (revision as last published). */
  siteConfig(siteId: string): SiteConfig {
    this.sites.mustGet(siteId);
    return this.configs.update(siteId);
  }

  /**
   * Rebuild every site's config (temporary windows opening or closing); sites whose config
   * changed get a new revision and a `siteConfigChanged` notification. Returns those configs.
   */
  refreshSiteConfigs(): SiteConfig[] {
    const changed: SiteConfig[] = [];
    const off = this.configs.changed.on((c) => changed.push(c.config));
    try {
      for (const site of this.sites.list()) this.configs.update(site.siteId);
    } finally {
      off();
    }
    return changed;
  }

  /** The next time a temporary camera's window opens or closes (to schedule a refresh). */
  nextConfigBoundary(): number | undefined {
    return nextTemporaryBoundary(this.cameras.list(), this.now());
  }

  /** Ids of every camera inside `scope`, any lifecycle (events of retired cameras stay searchable). */
  cameraIdsInScope(scope: AreaScope): string[] {
    return cameraIdsInScope(this.cameras.list(), scope);
  }

  /** The district a camera's events are filed under (see {@link AreaDirectory}). */
  districtOf(cameraId: string): string | undefined {
    const district = this.cameras.get(cameraId)?.place.district;
    return district === undefined || district === '' ? undefined : district;
  }

  /** How many cameras, any lifecycle, are in `district`. */
  cameraCountOf(district: string): number {
    const changes = this.cameras.changes;
    if (this.districtCounts?.changes !== changes) {
      const counts = new Map<string, number>();
      for (const c of this.cameras.list())
        counts.set(c.place.district, (counts.get(c.place.district) ?? 0) + 1);
      this.districtCounts = { changes, counts };
    }
    return this.districtCounts.counts.get(district) ?? 0;
  }

  /** Since when the index's per-district copies are complete (see {@link AreaCopies}). */
  areaCopiesSinceMs(): number | undefined {
    return this.areaCopies.sinceMs();
  }

  /** Where a camera is, for authorising access to its events, evidence and alerts. */
  placeOf(cameraId: string): Place | undefined {
    return this.cameras.get(cameraId)?.place;
  }

  /** The registered camera a discovered device is, if any. */
  cameraOfDevice(device: DiscoveredDevice): string | undefined {
    const byIdentity = this.cameras.findByIdentity({
      endpointReference: device.identity?.endpointReference ?? '',
      serialNumber: device.identity?.serialNumber ?? '',
      manufacturer: device.identity?.manufacturer ?? '',
    });
    if (byIdentity !== undefined) return byIdentity.cameraId;
    const byId = device.cameraId === '' ? undefined : this.cameras.get(device.cameraId);
    return byId !== undefined && byId.lifecycle !== 'retired' ? byId.cameraId : undefined;
  }

  /** Store a site's discovery report (false: unknown site, ignored). */
  recordDiscovered(report: DiscoveredDevices, receivedMs?: number): boolean {
    return this.reports.recordDiscovered(report, (d) => this.cameraOfDevice(d), receivedMs);
  }

  /** Record a camera status (ignored for cameras not in the registry). */
  recordCameraStatus(status: CameraStatus, receivedMs?: number): void {
    if (this.cameras.get(status.cameraId) === undefined) return;
    this.reports.recordCameraStatus(status, receivedMs);
  }

  /** Record an agent status; an offline agent marks its cameras `agent_offline`. */
  recordAgentStatus(status: AgentStatus, receivedMs: number = this.now()): void {
    if (this.sites.get(status.siteId) === undefined) return;
    this.sites.recordAgentStatus(status, receivedMs);
    if (status.state === AgentState.AGENT_STATE_OFFLINE) {
      const ids = this.cameras.list({ siteId: status.siteId }).map((c) => c.cameraId);
      this.reports.markAgentOffline(ids, status.updatedMs > 0 ? status.updatedMs : receivedMs);
    }
  }

  /** The collision report, limited to cameras and sites inside `scope` when given. */
  collisionReport(options: { scope?: AreaScope; offlineAfterMs?: number } = {}): CollisionReport {
    const scope = options.scope ?? {};
    const sitesInScope = new Set(this.sites.sitesIn(scope).map((s) => s.siteId));
    const cameras = this.cameras.list({ scope });
    const ids = new Set(cameras.map((c) => c.cameraId));
    return collisionReport({
      cameras,
      discovered: this.reports.allDiscovered().filter((d) => sitesInScope.has(d.siteId)),
      statuses: this.reports.statuses().filter((s) => ids.has(s.cameraId)),
      offlineSinceMs: this.reports.offlineSince(),
      addressChanges: this.reports.addressChanges().filter((a) => ids.has(a.cameraId)),
      nowMs: this.now(),
      offlineAfterMs: options.offlineAfterMs ?? this.offlineAfterMs,
    });
  }

  /** Data quality per camera and per area over the last `windowMs` (non-retired cameras). */
  qualityReport(options: QualityOptions = {}): QualityReport {
    const toMs = this.now();
    const fromMs = toMs - (options.windowMs ?? 86_400_000);
    const cameras = this.cameras
      .list({ scope: options.scope ?? {}, lifecycles: ['registered', 'active'] })
      .map((c) => {
        const { before, changes } = this.reports.changes(c.cameraId, fromMs, toMs);
        const ingest = options.ingest?.get(c.cameraId);
        return cameraQuality({
          cameraId: c.cameraId,
          siteId: c.siteId,
          place: c.place,
          lastSeenMs: this.reports.lastSeenMs(c.cameraId) ?? null,
          changes,
          before,
          ...(ingest === undefined ? {} : { ingest }),
          fromMs,
          toMs,
        });
      });
    return { fromMs, toMs, cameras, areas: areaQuality(cameras, options.level ?? 'district') };
  }
}
