/**
 * Cameras: registration, changes, lifecycle transitions, maintenance log. Every change is
 * audited in its own transaction together with the audit record, and tells the site config
 * publisher which sites changed; the publisher runs once per site just before the (outermost)
 * transaction commits, so the new revision is committed with the change or not at all, and a
 * bulk registration in one transaction rebuilds each site's config once.
 *
 * Reads of the whole list (scope filters run on every event search) come from an in-memory copy,
 * loaded on first use and patched with each committed change.
 */
import type { AuditActor, AuditLog } from '../audit/log.ts';
import { inScope, type AreaScope } from '../auth/scope.ts';
import { GatewayError } from '../errors.ts';
import { parseCameraInput, type CameraInput, type CameraPatch, type ValidCamera } from './camera-input.ts';
import { assertTransition } from './lifecycle.ts';
import type { ConfigCamera } from './site-config.ts';
import type { SqliteDb } from './sqlite.ts';
import {
  MAINTENANCE_KINDS,
  type AnalysisSettingsInfo,
  type Camera,
  type CameraCategory,
  type CameraIdentityInfo,
  type CameraLifecycle,
  type MaintenanceEntry,
  type MaintenanceKind,
} from './types.ts';
import { invalid, oneOf, text, timeMs } from './validate.ts';

/** Input of {@link CameraStore.create}. */
export interface NewCamera extends CameraInput {
  /** Initial state: `registered` (default) or `discovered` (claimed, details to follow). */
  lifecycle?: 'discovered' | 'registered';
}

/** Filter of {@link CameraStore.list}. */
export interface CameraFilter {
  scope?: AreaScope;
  siteId?: string;
  lifecycles?: readonly CameraLifecycle[];
}

/** Input of {@link CameraStore.addMaintenance}. */
export interface MaintenanceInput {
  kind: MaintenanceKind;
  note: string;
  /** When the work was done (default now). */
  timeMs?: number;
}

interface CameraRow {
  camera_id: string;
  site_id: string;
  code: string;
  name: string;
  district: string;
  street: string;
  community: string;
  grid: string;
  latitude: number | null;
  longitude: number | null;
  heading_deg: number | null;
  lanes: number | null;
  coverage: string;
  category: string;
  owner_kind: string;
  owner_organisation: string;
  sharing_agreement_ref: string;
  endpoint_reference: string;
  serial_number: string;
  manufacturer: string;
  model: string;
  xaddr: string;
  profile_token: string;
  cap_face: number;
  cap_plate: number;
  analysis: string;
  lifecycle: string;
  temporary_start_ms: number | null;
  temporary_end_ms: number | null;
  credentials_username: string | null;
  credentials_password: string | null;
  created_ms: number;
  updated_ms: number;
  lifecycle_changed_ms: number;
}

function toCamera(r: CameraRow): Camera {
  return {
    cameraId: r.camera_id,
    siteId: r.site_id,
    code: r.code,
    name: r.name,
    place: { district: r.district, street: r.street, community: r.community, grid: r.grid },
    position:
      r.latitude === null || r.longitude === null ? null : { latitude: r.latitude, longitude: r.longitude },
    headingDeg: r.heading_deg,
    lanes: r.lanes,
    coverage: r.coverage,
    category: r.category as CameraCategory,
    owner:
      r.owner_kind === 'organisation'
        ? {
            kind: 'organisation',
            organisation: r.owner_organisation,
            sharingAgreementRef: r.sharing_agreement_ref,
          }
        : { kind: 'public' },
    identity: {
      endpointReference: r.endpoint_reference,
      serialNumber: r.serial_number,
      manufacturer: r.manufacturer,
      model: r.model,
    },
    xaddr: r.xaddr,
    profileToken: r.profile_token,
    capabilities: { face: r.cap_face !== 0, plate: r.cap_plate !== 0 },
    analysis: JSON.parse(r.analysis) as AnalysisSettingsInfo,
    lifecycle: r.lifecycle as CameraLifecycle,
    temporary:
      r.temporary_start_ms === null || r.temporary_end_ms === null
        ? null
        : { startMs: r.temporary_start_ms, endMs: r.temporary_end_ms },
    hasCredentials: r.credentials_username !== null,
    createdMs: r.created_ms,
    updatedMs: r.updated_ms,
    lifecycleChangedMs: r.lifecycle_changed_ms,
  };
}

/** The camera fields written to the row (everything but lifecycle and times). */
function rowValues(
  v: ValidCamera,
  credentials: { username: string; password: string } | null,
): (string | number | null)[] {
  return [
    v.siteId,
    v.code,
    v.name,
    v.place.district,
    v.place.street,
    v.place.community,
    v.place.grid,
    v.position?.latitude ?? null,
    v.position?.longitude ?? null,
    v.headingDeg,
    v.lanes,
    v.coverage,
    v.category,
    v.owner.kind,
    v.owner.kind === 'organisation' ? v.owner.organisation : '',
    v.owner.kind === 'organisation' ? v.owner.sharingAgreementRef : '',
    v.identity.endpointReference,
    v.identity.serialNumber,
    v.identity.manufacturer,
    v.identity.model,
    v.xaddr,
    v.profileToken,
    v.capabilities.face ? 1 : 0,
    v.capabilities.plate ? 1 : 0,
    JSON.stringify(v.analysis),
    v.temporary?.startMs ?? null,
    v.temporary?.endMs ?? null,
    credentials?.username ?? null,
    credentials?.password ?? null,
  ];
}

const ROW_COLUMNS = `site_id, code, name, district, street, community, grid, latitude, longitude, heading_deg, lanes, coverage,
  category, owner_kind, owner_organisation, sharing_agreement_ref, endpoint_reference, serial_number, manufacturer, model,
  xaddr, profile_token, cap_face, cap_plate, analysis, temporary_start_ms, temporary_end_ms, credentials_username,
  credentials_password`;

/** A camera as an audit record shows it: no credentials. */
function auditView(v: ValidCamera | Camera): Record<string, unknown> {
  return {
    site_id: v.siteId,
    code: v.code,
    name: v.name,
    place: v.place,
    position: v.position,
    heading_deg: v.headingDeg,
    lanes: v.lanes,
    coverage: v.coverage,
    category: v.category,
    owner: v.owner,
    identity: v.identity,
    xaddr: v.xaddr,
    profile_token: v.profileToken,
    capabilities: v.capabilities,
    analysis: v.analysis,
    temporary: v.temporary,
  };
}

/** Stored camera back to an input, for applying a patch. */
function toInput(c: Camera, credentials: { username: string; password: string } | null): CameraInput {
  return {
    cameraId: c.cameraId,
    siteId: c.siteId,
    code: c.code,
    name: c.name,
    place: c.place,
    position: c.position,
    headingDeg: c.headingDeg,
    lanes: c.lanes,
    coverage: c.coverage,
    category: c.category,
    owner: c.owner,
    identity: c.identity,
    xaddr: c.xaddr,
    profileToken: c.profileToken,
    capabilities: c.capabilities,
    analysis: c.analysis,
    temporary: c.temporary,
    credentials,
  };
}

/** Cameras in SQLite. Registry migrations must have run (the Registry does it). */
export class CameraStore {
  private cache: Map<string, Camera> | undefined;
  /** False after a camera was added to the copy: it is re-sorted by id on the next read. */
  private cacheSorted = true;
  private changeCount = 0;

  constructor(
    private readonly db: SqliteDb,
    private readonly audit: AuditLog,
    /** Called once per changed site inside the changing transaction, just before it commits. */
    private readonly siteChanged: (siteId: string) => void,
    private readonly now: () => number = Date.now,
    /** Called inside the transaction that registers a camera or changes its district. */
    private readonly districtChanged: () => void = () => undefined,
  ) {}

  /** After commit, refresh `cameraId` in the in-memory copy (if loaded) from the database. */
  private invalidate(cameraId: string): void {
    this.db.afterCommit(() => {
      this.changeCount++;
      if (this.cache === undefined) return;
      const row = this.row(cameraId);
      if (row === undefined) {
        this.cache.delete(cameraId);
      } else {
        if (!this.cache.has(cameraId)) this.cacheSorted = false;
        this.cache.set(cameraId, toCamera(row));
      }
    });
  }

  /** How many camera changes have been committed (for caches built over the list). */
  get changes(): number {
    return this.changeCount;
  }

  private changedSite(siteId: string): void {
    this.db.beforeCommit(`site-config:${siteId}`, () => {
      this.siteChanged(siteId);
    });
  }

  private all(): Map<string, Camera> {
    if (this.cache !== undefined && !this.cacheSorted) {
      this.cache = new Map([...this.cache.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      this.cacheSorted = true;
    }
    if (this.cache === undefined) {
      const map = new Map<string, Camera>();
      for (const row of this.db.all<CameraRow>('SELECT * FROM cameras ORDER BY camera_id')) {
        map.set(row.camera_id, toCamera(row));
      }
      this.cache = map;
    }
    return this.cache;
  }

  private row(cameraId: string): CameraRow | undefined {
    return this.db.get<CameraRow>('SELECT * FROM cameras WHERE camera_id = ?', [cameraId]);
  }

  private mustRow(cameraId: string): CameraRow {
    const row = this.row(cameraId);
    if (row === undefined) throw new GatewayError('GATEWAY_ERR_NOT_FOUND', `camera ${cameraId}`);
    return row;
  }

  private checkSite(siteId: string): void {
    if (this.db.get('SELECT 1 AS x FROM sites WHERE site_id = ?', [siteId]) === undefined) {
      invalid('site_id', `names no registered site (${siteId})`);
    }
  }

  private checkUnique(v: ValidCamera): void {
    const code = this.db.get<{ camera_id: string }>(
      'SELECT camera_id FROM cameras WHERE code = ? AND camera_id <> ?',
      [v.code, v.cameraId],
    );
    if (code !== undefined)
      throw new GatewayError('GATEWAY_ERR_CONFLICT', `code ${v.code} is used by camera ${code.camera_id}`);
    const byIdentity = this.findByIdentity(v.identity);
    if (byIdentity !== undefined && byIdentity.cameraId !== v.cameraId) {
      throw new GatewayError(
        'GATEWAY_ERR_CONFLICT',
        `this device (endpoint reference or serial number) is already registered as camera ${byIdentity.cameraId}`,
      );
    }
  }

  /** Register (or claim as discovered) a camera. */
  create(actor: AuditActor, input: NewCamera): Camera {
    const v = parseCameraInput(input);
    const lifecycle = input.lifecycle ?? 'registered';
    oneOf(lifecycle, 'lifecycle', ['discovered', 'registered'] as const);
    return this.db.transaction(() => {
      this.checkSite(v.siteId);
      if (this.row(v.cameraId) !== undefined)
        throw new GatewayError('GATEWAY_ERR_CONFLICT', `camera ${v.cameraId} exists`);
      this.checkUnique(v);
      const now = this.now();
      this.db.run(
        `INSERT INTO cameras (camera_id, ${ROW_COLUMNS}, lifecycle, created_ms, updated_ms, lifecycle_changed_ms)
         VALUES (?, ${Array(29).fill('?').join(', ')}, ?, ?, ?, ?)`,
        [v.cameraId, ...rowValues(v, v.credentials ?? null), lifecycle, now, now, now],
      );
      this.audit.append({
        actor,
        action: 'camera.create',
        target: `camera:${v.cameraId}`,
        details: { lifecycle, camera: auditView(v), credentials: v.credentials ? 'set' : 'none' },
      });
      this.changedSite(v.siteId);
      this.districtChanged();
      this.invalidate(v.cameraId);
      return toCamera(this.mustRow(v.cameraId));
    });
  }

  /** A camera by id. */
  get(cameraId: string): Camera | undefined {
    return this.all().get(cameraId);
  }

  /** A camera by id, or GATEWAY_ERR_NOT_FOUND. */
  mustGet(cameraId: string): Camera {
    const c = this.get(cameraId);
    if (c === undefined) throw new GatewayError('GATEWAY_ERR_NOT_FOUND', `camera ${cameraId}`);
    return c;
  }

  /** A camera by code. */
  getByCode(code: string): Camera | undefined {
    for (const c of this.all().values()) if (c.code === code) return c;
    return undefined;
  }

  /** Cameras matching `filter`, by id. */
  list(filter: CameraFilter = {}): Camera[] {
    const out: Camera[] = [];
    for (const c of this.all().values()) {
      if (filter.siteId !== undefined && c.siteId !== filter.siteId) continue;
      if (filter.lifecycles !== undefined && !filter.lifecycles.includes(c.lifecycle)) continue;
      if (filter.scope !== undefined && !inScope(filter.scope, c.place)) continue;
      out.push(c);
    }
    return out;
  }

  /** The non-retired camera with this endpoint reference, else this (manufacturer, serial). */
  findByIdentity(identity: Partial<CameraIdentityInfo>): Camera | undefined {
    const epr = identity.endpointReference ?? '';
    if (epr !== '') {
      const row = this.db.get<CameraRow>(
        "SELECT * FROM cameras WHERE endpoint_reference = ? AND endpoint_reference <> '' AND lifecycle <> 'retired' LIMIT 1",
        [epr],
      );
      if (row !== undefined) return toCamera(row);
    }
    const serial = identity.serialNumber ?? '';
    if (serial !== '') {
      const row = this.db.get<CameraRow>(
        "SELECT * FROM cameras WHERE manufacturer = ? AND serial_number = ? AND serial_number <> '' AND lifecycle <> 'retired' LIMIT 1",
        [identity.manufacturer ?? '', serial],
      );
      if (row !== undefined) return toCamera(row);
    }
    return undefined;
  }

  /** Change a camera. Retired cameras cannot be changed. Moving it to another site updates both sites. */
  update(actor: AuditActor, cameraId: string, patch: CameraPatch): Camera {
    return this.db.transaction(() => {
      const row = this.mustRow(cameraId);
      const before = toCamera(row);
      if (before.lifecycle === 'retired')
        throw new GatewayError('GATEWAY_ERR_LIFECYCLE', `camera ${cameraId} is retired`);
      const storedCredentials =
        row.credentials_username === null
          ? null
          : { username: row.credentials_username, password: row.credentials_password ?? '' };
      const base = toInput(before, storedCredentials);
      const merged: CameraInput = {
        ...base,
        ...(Object.fromEntries(
          Object.entries(patch as Record<string, unknown>).filter(([, value]) => value !== undefined),
        ) as CameraPatch),
        cameraId,
        analysis: { ...base.analysis, ...patch.analysis },
        capabilities: { ...base.capabilities, ...patch.capabilities },
      };
      // Switching a capability off switches its detector off unless the patch says otherwise.
      if (patch.capabilities?.face === false && patch.analysis?.face === undefined)
        merged.analysis = { ...merged.analysis, face: false };
      if (patch.capabilities?.plate === false && patch.analysis?.plate === undefined)
        merged.analysis = { ...merged.analysis, plate: false };
      const v = parseCameraInput(merged);
      if (v.siteId !== before.siteId) this.checkSite(v.siteId);
      this.checkUnique(v);
      const credentials = v.credentials === undefined ? storedCredentials : v.credentials;
      this.db.run(
        `UPDATE cameras SET (${ROW_COLUMNS}, updated_ms) = (${Array(29).fill('?').join(', ')}, ?) WHERE camera_id = ?`,
        [...rowValues(v, credentials), this.now(), cameraId],
      );
      const was = auditView(before);
      const now = auditView(v);
      const changes: Record<string, unknown> = {};
      for (const [k, value] of Object.entries(now)) {
        if (JSON.stringify(value) !== JSON.stringify(was[k])) changes[k] = { from: was[k], to: value };
      }
      if (patch.credentials !== undefined)
        changes.credentials = patch.credentials === null ? 'removed' : 'changed';
      this.audit.append({
        actor,
        action: 'camera.update',
        target: `camera:${cameraId}`,
        details: { changes },
      });
      this.changedSite(before.siteId);
      if (v.siteId !== before.siteId) this.changedSite(v.siteId);
      if (v.place.district !== before.place.district) this.districtChanged();
      this.invalidate(cameraId);
      return toCamera(this.mustRow(cameraId));
    });
  }

  /** Move a camera along its lifecycle (see lifecycle.ts); GATEWAY_ERR_LIFECYCLE when not allowed. */
  transition(actor: AuditActor, cameraId: string, to: CameraLifecycle, note?: string): Camera {
    return this.db.transaction(() => {
      const before = toCamera(this.mustRow(cameraId));
      assertTransition(before.lifecycle, to);
      const now = this.now();
      this.db.run(
        'UPDATE cameras SET lifecycle = ?, lifecycle_changed_ms = ?, updated_ms = ? WHERE camera_id = ?',
        [to, now, now, cameraId],
      );
      this.audit.append({
        actor,
        action: 'camera.lifecycle',
        target: `camera:${cameraId}`,
        details: {
          from: before.lifecycle,
          to,
          ...(note === undefined ? {} : { note: text(note, 'note', { max: 500 }) }),
        },
      });
      this.changedSite(before.siteId);
      this.invalidate(cameraId);
      return toCamera(this.mustRow(cameraId));
    });
  }

  /** Add a maintenance log entry (audited). */
  addMaintenance(actor: AuditActor, cameraId: string, input: MaintenanceInput): MaintenanceEntry {
    const kind = oneOf(input.kind, 'kind', MAINTENANCE_KINDS);
    const note = text(input.note, 'note', { max: 2000 });
    return this.db.transaction(() => {
      this.mustRow(cameraId);
      const at = input.timeMs === undefined ? this.now() : timeMs(input.timeMs, 'time_ms');
      const { lastInsertRowid } = this.db.run(
        'INSERT INTO camera_maintenance (camera_id, time_ms, actor, kind, note) VALUES (?, ?, ?, ?, ?)',
        [cameraId, at, actor, kind, note],
      );
      this.audit.append({
        actor,
        action: 'camera.maintenance',
        target: `camera:${cameraId}`,
        details: { entry_id: lastInsertRowid, kind, time_ms: at, note },
      });
      return { id: lastInsertRowid, cameraId, timeMs: at, actor, kind, note };
    });
  }

  /** A camera's maintenance log, newest first. */
  maintenance(cameraId: string): MaintenanceEntry[] {
    return this.db
      .all<{ id: number; camera_id: string; time_ms: number; actor: string; kind: string; note: string }>(
        'SELECT * FROM camera_maintenance WHERE camera_id = ? ORDER BY time_ms DESC, id DESC',
        [cameraId],
      )
      .map((r) => ({
        id: r.id,
        cameraId: r.camera_id,
        timeMs: r.time_ms,
        actor: r.actor,
        kind: r.kind as MaintenanceKind,
        note: r.note,
      }));
  }

  /** The cameras of a site with their credentials, for its SiteConfig (read from the database). */
  configCameras(siteId: string): ConfigCamera[] {
    return this.db
      .all<CameraRow>('SELECT * FROM cameras WHERE site_id = ? ORDER BY camera_id', [siteId])
      .map((r) => ({
        camera: toCamera(r),
        credentials:
          r.credentials_username === null
            ? null
            : { username: r.credentials_username, password: r.credentials_password ?? '' },
      }));
  }
}
