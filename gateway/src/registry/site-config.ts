/**
 * The SiteConfig a site's edge agent runs, built from the registry, and its revisions.
 *
 * {@link buildSiteConfig} is pure: the site's registered and active cameras (discovered and
 * retired ones are left out), each `enabled` only when active, inside its temporary window and
 * with a detector on. {@link SiteConfigPublisher} keeps one revision per site in SQLite: when
 * the built content differs from the last published one, the revision goes up by one and
 * `changed` fires after the transaction commits, for the lead's wiring to publish it retained on
 * the site's config topic. Rebuilding without a change keeps the revision.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import {
  AnalysisSettings,
  ImageDirection,
  SiteConfig,
  type CameraConfig,
} from '../../../proto/gen/sharpeyes/v1/config.ts';
import { Hook } from './hooks.ts';
import type { SqliteDb } from './sqlite.ts';
import type { AnalysisSettingsInfo, Camera, InboundDirection } from './types.ts';

/** A camera as the config builder needs it: the camera plus stored credentials. */
export interface ConfigCamera {
  camera: Camera;
  credentials: { username: string; password: string } | null;
}

/** A published config. */
export interface SiteConfigChange {
  siteId: string;
  config: SiteConfig;
}

const INBOUND: Readonly<Record<InboundDirection, ImageDirection>> = {
  unspecified: ImageDirection.IMAGE_DIRECTION_UNSPECIFIED,
  left_to_right: ImageDirection.IMAGE_DIRECTION_LEFT_TO_RIGHT,
  right_to_left: ImageDirection.IMAGE_DIRECTION_RIGHT_TO_LEFT,
  towards: ImageDirection.IMAGE_DIRECTION_TOWARDS,
  away: ImageDirection.IMAGE_DIRECTION_AWAY,
};

/** Registry analysis settings as the proto message. */
export function toProtoAnalysis(a: AnalysisSettingsInfo): AnalysisSettings {
  return {
    fps: a.fps,
    face: a.face,
    plate: a.plate,
    masks: a.masks.map((points) => ({ points: points.map((p) => ({ x: p.x, y: p.y })) })),
    minConfidence: a.minConfidence,
    inbound: INBOUND[a.inbound],
  };
}

/** Whether the edge should analyse `camera` at `nowMs`. */
export function cameraEnabled(camera: Camera, nowMs: number): boolean {
  if (camera.lifecycle !== 'active') return false;
  if (camera.temporary !== null && (nowMs < camera.temporary.startMs || nowMs >= camera.temporary.endMs))
    return false;
  return camera.analysis.face || camera.analysis.plate;
}

/** The next time after `nowMs` at which some camera's enabled state changes by its temporary window. */
export function nextTemporaryBoundary(cameras: Iterable<Camera>, nowMs: number): number | undefined {
  let next: number | undefined;
  for (const c of cameras) {
    if (c.lifecycle !== 'active' || c.temporary === null) continue;
    for (const t of [c.temporary.startMs, c.temporary.endMs]) {
      if (t > nowMs && (next === undefined || t < next)) next = t;
    }
  }
  return next;
}

/**
 * The SiteConfig content for `siteId` from its cameras (revision and updated_ms left 0: the
 * publisher sets them). Cameras are sorted by id so equal registries give equal bytes.
 */
export function buildSiteConfig(
  siteId: string,
  cameras: readonly ConfigCamera[],
  defaultAnalysis: AnalysisSettingsInfo,
  nowMs: number,
): SiteConfig {
  const list: CameraConfig[] = cameras
    .filter(
      ({ camera }) =>
        camera.siteId === siteId && (camera.lifecycle === 'registered' || camera.lifecycle === 'active'),
    )
    .sort((a, b) =>
      a.camera.cameraId < b.camera.cameraId ? -1 : a.camera.cameraId > b.camera.cameraId ? 1 : 0,
    )
    .map(({ camera, credentials }) => ({
      cameraId: camera.cameraId,
      identity: {
        endpointReference: camera.identity.endpointReference,
        serialNumber: camera.identity.serialNumber,
        manufacturer: camera.identity.manufacturer,
        model: camera.identity.model,
        firmwareVersion: '',
        hardwareId: '',
      },
      xaddr: camera.xaddr,
      credentials:
        credentials === null ? undefined : { username: credentials.username, password: credentials.password },
      profileToken: camera.profileToken,
      analysis: toProtoAnalysis(camera.analysis),
      enabled: cameraEnabled(camera, nowMs),
    }));
  return {
    siteId,
    revision: 0,
    cameras: list,
    defaultAnalysis: toProtoAnalysis(defaultAnalysis),
    updatedMs: 0,
  };
}

/** sha256 of a config's content, revision and time excluded. */
export function siteConfigDigest(config: SiteConfig): string {
  const bytes = SiteConfig.encode({ ...config, revision: 0, updatedMs: 0 }).finish();
  return createHash('sha256').update(bytes).digest('hex');
}

/** Per-site config revisions in SQLite and the change notification. */
export class SiteConfigPublisher {
  /** Fired (after commit) with each new revision: publish it retained on the site's config topic. */
  readonly changed: Hook<SiteConfigChange>;

  constructor(
    private readonly db: SqliteDb,
    /** The site's cameras with credentials, read inside the caller's transaction. */
    private readonly camerasOf: (siteId: string) => ConfigCamera[],
    private readonly defaultAnalysis: AnalysisSettingsInfo,
    private readonly now: () => number = Date.now,
    log?: Logger,
  ) {
    this.changed = new Hook('registry.site_config_changed', log);
  }

  /**
   * Rebuild `siteId`'s config; when its content changed, store revision + 1 and notify after
   * commit. Returns the current config (new or unchanged).
   */
  update(siteId: string): SiteConfig {
    return this.db.transaction(() => {
      const now = this.now();
      const built = buildSiteConfig(siteId, this.camerasOf(siteId), this.defaultAnalysis, now);
      const digest = siteConfigDigest(built);
      const row = this.db.get<{ revision: number; content_sha256: string; updated_ms: number }>(
        'SELECT revision, content_sha256, updated_ms FROM site_configs WHERE site_id = ?',
        [siteId],
      );
      if (row !== undefined && row.content_sha256 === digest) {
        return { ...built, revision: row.revision, updatedMs: row.updated_ms };
      }
      const revision = (row?.revision ?? 0) + 1;
      this.db.run(
        `INSERT INTO site_configs (site_id, revision, content_sha256, updated_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (site_id) DO UPDATE SET revision = excluded.revision, content_sha256 = excluded.content_sha256,
         updated_ms = excluded.updated_ms`,
        [siteId, revision, digest, now],
      );
      const config: SiteConfig = { ...built, revision, updatedMs: now };
      this.db.afterCommit(() => {
        this.changed.emit({ siteId, config });
      });
      return config;
    });
  }
}
