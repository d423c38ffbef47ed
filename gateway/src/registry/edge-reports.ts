/**
 * What edges report about their cameras, kept for the collision and quality reports:
 * - the latest DiscoveredDevices of each site (and, per registered camera, its reported
 *   addresses with the last change, to show identities that moved);
 * - camera status: the latest CameraStatus of each camera in memory, and each change of state
 *   in SQLite (`camera_status_changes`), from which online share is computed.
 *
 * Load: 10 000 cameras reporting every 10 s is 1 000 statuses/s. Only changes of state are
 * written at once (rare); last-seen times are kept in memory and written in one transaction by
 * {@link EdgeReports.flush}, which the lead calls on a timer (and at shutdown).
 */
import { CameraState, type CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { DiscoveredDevices, type DiscoveredDevice } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { addressKey, type AddressChange } from './collision.ts';
import type { StatusChange } from './quality.ts';
import type { SqliteDb } from './sqlite.ts';

/** Camera state names as stored (`agent_offline`: the site's agent went away). */
export type StoredState =
  | 'online'
  | 'degraded'
  | 'offline'
  | 'auth_failed'
  | 'unreachable'
  | 'disabled'
  | 'unknown'
  | 'agent_offline';

const STATE_NAMES: ReadonlyMap<CameraState, StoredState> = new Map([
  [CameraState.CAMERA_STATE_ONLINE, 'online'],
  [CameraState.CAMERA_STATE_DEGRADED, 'degraded'],
  [CameraState.CAMERA_STATE_OFFLINE, 'offline'],
  [CameraState.CAMERA_STATE_AUTH_FAILED, 'auth_failed'],
  [CameraState.CAMERA_STATE_UNREACHABLE, 'unreachable'],
  [CameraState.CAMERA_STATE_DISABLED, 'disabled'],
]);

/** The stored name of a proto camera state. */
export function stateName(state: CameraState): StoredState {
  return STATE_NAMES.get(state) ?? 'unknown';
}

/** Whether frames arrive in `state`; null when it says nothing (disabled, unknown). */
export function isOnline(state: StoredState): boolean | null {
  if (state === 'online' || state === 'degraded') return true;
  if (state === 'disabled' || state === 'unknown') return null;
  return false;
}

interface Latest {
  status: CameraStatus | undefined;
  state: StoredState;
  lastSeenMs: number;
  lastFrameMs: number;
  dirty: boolean;
}

/** Edge reports in SQLite and memory. Registry migrations must have run. */
export class EdgeReports {
  private readonly latest = new Map<string, Latest>();

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    for (const row of this.db.all<{
      camera_id: string;
      last_seen_ms: number;
      last_frame_ms: number;
      state: string;
    }>('SELECT * FROM camera_last_seen')) {
      this.latest.set(row.camera_id, {
        status: undefined,
        state: row.state as StoredState,
        lastSeenMs: row.last_seen_ms,
        lastFrameMs: row.last_frame_ms,
        dirty: false,
      });
    }
  }

  /**
   * Store a site's discovery report, and note address changes of the devices `cameraOf` maps
   * to registered cameras. Returns false (stores nothing) for a site not in the registry.
   */
  recordDiscovered(
    report: DiscoveredDevices,
    cameraOf: (device: DiscoveredDevice) => string | undefined,
    receivedMs: number = this.now(),
  ): boolean {
    return this.db.transaction(() => {
      if (this.db.get('SELECT 1 AS x FROM sites WHERE site_id = ?', [report.siteId]) === undefined)
        return false;
      this.db.run(
        `INSERT INTO discovered (site_id, payload, updated_ms, received_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (site_id) DO UPDATE SET payload = excluded.payload, updated_ms = excluded.updated_ms,
         received_ms = excluded.received_ms`,
        [report.siteId, DiscoveredDevices.encode(report).finish(), report.updatedMs, receivedMs],
      );
      for (const device of report.devices) {
        const cameraId = cameraOf(device);
        if (cameraId === undefined || device.xaddrs.length === 0) continue;
        const xaddrs = [...device.xaddrs].sort();
        const row = this.db.get<{ xaddrs: string }>(
          'SELECT xaddrs FROM camera_addresses WHERE camera_id = ?',
          [cameraId],
        );
        if (row === undefined) {
          this.db.run(
            "INSERT INTO camera_addresses (camera_id, xaddrs, since_ms, previous_xaddrs, changed_ms) VALUES (?, ?, ?, '[]', NULL)",
            [cameraId, JSON.stringify(xaddrs), receivedMs],
          );
          continue;
        }
        const before = JSON.parse(row.xaddrs) as string[];
        const same =
          new Set(before.map(addressKey)).size === new Set(xaddrs.map(addressKey)).size &&
          xaddrs.every((x) => before.some((b) => addressKey(b) === addressKey(x)));
        if (!same) {
          this.db.run(
            'UPDATE camera_addresses SET xaddrs = ?, since_ms = ?, previous_xaddrs = ?, changed_ms = ? WHERE camera_id = ?',
            [JSON.stringify(xaddrs), receivedMs, row.xaddrs, receivedMs, cameraId],
          );
        }
      }
      return true;
    });
  }

  /** The latest discovery report of a site. */
  discovered(siteId: string): DiscoveredDevices | undefined {
    const row = this.db.get<{ payload: Uint8Array }>('SELECT payload FROM discovered WHERE site_id = ?', [
      siteId,
    ]);
    return row === undefined ? undefined : DiscoveredDevices.decode(row.payload);
  }

  /** The latest discovery report of every site that sent one. */
  allDiscovered(): DiscoveredDevices[] {
    return this.db
      .all<{ payload: Uint8Array }>('SELECT payload FROM discovered ORDER BY site_id')
      .map((r) => DiscoveredDevices.decode(r.payload));
  }

  /** Recorded address changes (for the collision report). */
  addressChanges(): AddressChange[] {
    return this.db
      .all<{ camera_id: string; xaddrs: string; previous_xaddrs: string; changed_ms: number }>(
        'SELECT camera_id, xaddrs, previous_xaddrs, changed_ms FROM camera_addresses WHERE changed_ms IS NOT NULL ORDER BY camera_id',
      )
      .map((r) => ({
        cameraId: r.camera_id,
        fromXaddrs: JSON.parse(r.previous_xaddrs) as string[],
        toXaddrs: JSON.parse(r.xaddrs) as string[],
        changedMs: r.changed_ms,
      }));
  }

  /**
   * Record a camera status. A change of state is written at once (at the status's `updated_ms`,
   * else `receivedMs`); the last-seen time waits for {@link flush}.
   */
  recordCameraStatus(status: CameraStatus, receivedMs: number = this.now()): void {
    const at = status.updatedMs > 0 ? status.updatedMs : receivedMs;
    const state = stateName(status.state);
    const prev = this.latest.get(status.cameraId);
    if (prev !== undefined && prev.lastSeenMs > at) return; // an older, re-delivered status
    if (prev?.state !== state) this.writeChange(status.cameraId, at, state);
    this.latest.set(status.cameraId, {
      status,
      state,
      lastSeenMs: at,
      lastFrameMs: Math.max(status.lastFrameMs, prev?.lastFrameMs ?? 0),
      dirty: true,
    });
  }

  /** The site's agent went offline: each of `cameraIds` that had frames is recorded `agent_offline`. */
  markAgentOffline(cameraIds: readonly string[], atMs: number = this.now()): void {
    this.db.transaction(() => {
      for (const id of cameraIds) {
        const prev = this.latest.get(id);
        if (prev === undefined || isOnline(prev.state) !== true) continue;
        this.writeChange(id, atMs, 'agent_offline');
        this.latest.set(id, { ...prev, state: 'agent_offline', dirty: true });
      }
    });
  }

  private writeChange(cameraId: string, atMs: number, state: StoredState): void {
    const online = isOnline(state);
    this.db.run('INSERT INTO camera_status_changes (camera_id, at_ms, state, online) VALUES (?, ?, ?, ?)', [
      cameraId,
      atMs,
      state,
      online === null ? null : online ? 1 : 0,
    ]);
  }

  /** Write pending last-seen times in one transaction; returns how many. */
  flush(): number {
    const dirty = [...this.latest.entries()].filter(([, l]) => l.dirty);
    if (dirty.length === 0) return 0;
    this.db.transaction(() => {
      for (const [id, l] of dirty) {
        this.db.run(
          `INSERT INTO camera_last_seen (camera_id, last_seen_ms, last_frame_ms, state) VALUES (?, ?, ?, ?)
           ON CONFLICT (camera_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms,
           last_frame_ms = excluded.last_frame_ms, state = excluded.state`,
          [id, l.lastSeenMs, l.lastFrameMs, l.state],
        );
      }
    });
    for (const [, l] of dirty) l.dirty = false;
    return dirty.length;
  }

  /** Latest status of every camera that sent one since start. */
  statuses(): CameraStatus[] {
    const out: CameraStatus[] = [];
    for (const l of this.latest.values()) if (l.status !== undefined) out.push(l.status);
    return out;
  }

  /** Latest status of one camera since start. */
  status(cameraId: string): CameraStatus | undefined {
    return this.latest.get(cameraId)?.status;
  }

  /** When the camera was last heard of (status), ms; undefined = never. */
  lastSeenMs(cameraId: string): number | undefined {
    return this.latest.get(cameraId)?.lastSeenMs;
  }

  /** Current stored state of a camera. */
  state(cameraId: string): StoredState | undefined {
    return this.latest.get(cameraId)?.state;
  }

  /** Status changes of a camera in [fromMs, toMs), and the state in force at fromMs. */
  changes(
    cameraId: string,
    fromMs: number,
    toMs: number,
  ): { before: boolean | null | undefined; changes: StatusChange[] } {
    const prior = this.db.get<{ online: number | null }>(
      'SELECT online FROM camera_status_changes WHERE camera_id = ? AND at_ms < ? ORDER BY at_ms DESC, id DESC LIMIT 1',
      [cameraId, fromMs],
    );
    const changes = this.db
      .all<{ at_ms: number; online: number | null }>(
        'SELECT at_ms, online FROM camera_status_changes WHERE camera_id = ? AND at_ms >= ? AND at_ms < ? ORDER BY at_ms, id',
        [cameraId, fromMs, toMs],
      )
      .map((r) => ({ atMs: r.at_ms, online: r.online === null ? null : r.online !== 0 }));
    return {
      before: prior === undefined ? undefined : prior.online === null ? null : prior.online !== 0,
      changes,
    };
  }

  /** Since when each camera currently without frames has been so (for the offline list). */
  offlineSince(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, l] of this.latest) {
      if (isOnline(l.state) !== false) continue;
      // The start of the current no-frames run: the first change after the last online one.
      const row = this.db.get<{ at_ms: number | null }>(
        `SELECT MIN(at_ms) AS at_ms FROM camera_status_changes WHERE camera_id = ? AND online = 0 AND at_ms >
         COALESCE((SELECT MAX(at_ms) FROM camera_status_changes WHERE camera_id = ? AND online = 1), -1)`,
        [id, id],
      );
      if (row?.at_ms !== null && row?.at_ms !== undefined) out.set(id, row.at_ms);
    }
    return out;
  }

  /**
   * Delete status changes older than `keepMs` (default 8 days), keeping each camera's last one
   * before the cut so the state in force then stays known. Returns how many were deleted.
   */
  prune(keepMs = 8 * 86_400_000): number {
    const cutoff = this.now() - keepMs;
    return this.db.run(
      `DELETE FROM camera_status_changes WHERE at_ms < ? AND id NOT IN (
         SELECT MAX(id) FROM camera_status_changes WHERE at_ms < ? GROUP BY camera_id)`,
      [cutoff, cutoff],
    ).changes;
  }
}
