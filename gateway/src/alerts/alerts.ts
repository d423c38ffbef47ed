/**
 * Alerts: what an active entry's hit raises. {@link AlertService.processEvent} takes each
 * indexed plate event with its camera's place, matches it against the active entries and
 * records one alert per (entry, event) — a re-delivered event or a later revision raises
 * nothing new. Each alert has an acknowledgement deadline; {@link AlertService.escalateDue},
 * called by the lead on a timer, escalates the unacknowledged ones whose deadline passed
 * (up to `maxEscalations` times, each with a fresh deadline). An operator whose area contains
 * the camera acknowledges it. Raising, escalating and acknowledging are audited, and announced
 * on `changed` (after commit) for the live stream and gRPC StreamAlerts.
 */
import type { Logger } from 'pino';
import type { Place } from '../../../proto/gen/sharpeyes/v1/common.ts';
import { EventKind, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { actorOf, assertAuthorized, type Principal } from '../auth/roles.ts';
import { inScope, type AreaScope } from '../auth/scope.ts';
import { GatewayError } from '../errors.ts';
import { Hook } from '../registry/hooks.ts';
import type { SqliteDb } from '../registry/sqlite.ts';
import { optionalText } from '../registry/validate.ts';
import { matchEntries, type AlertEntryStore } from './entries.ts';
import { normalisePlate } from './pattern.ts';

/** An alert raised by an entry's hit. */
export interface Alert {
  alertId: number;
  entryId: number;
  /** The entry's case reference (context for the operator). */
  caseRef: string;
  eventId: string;
  cameraId: string;
  siteId: string;
  /** The camera's place (who may see and acknowledge it). */
  place: Place;
  plate: string;
  eventTimeMs: number;
  raisedMs: number;
  ackDeadlineMs: number;
  acknowledgedBy: string | null;
  acknowledgedMs: number | null;
  ackNote: string | null;
  /** 0 until the first escalation. */
  escalationLevel: number;
  escalatedMs: number | null;
}

/** A change of an alert, for live views. */
export interface AlertChange {
  change: 'raised' | 'escalated' | 'acknowledged';
  alert: Alert;
}

/** Filter of {@link AlertService.list}; newest first. */
export interface AlertQuery {
  /** Only alerts at cameras inside this area. */
  scope?: AreaScope;
  /** Only unacknowledged alerts. */
  open?: boolean;
  /** Cursor: only alerts with a smaller id. */
  beforeId?: number;
  /** Only alerts with a larger id (catch up after a reconnect). */
  afterId?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

interface AlertRow {
  alert_id: number;
  entry_id: number;
  case_ref: string;
  event_id: string;
  camera_id: string;
  site_id: string;
  district: string;
  street: string;
  community: string;
  grid: string;
  plate: string;
  event_time_ms: number;
  raised_ms: number;
  ack_deadline_ms: number;
  acknowledged_by: string | null;
  acknowledged_ms: number | null;
  ack_note: string | null;
  escalation_level: number;
  escalated_ms: number | null;
}

function toAlert(r: AlertRow): Alert {
  return {
    alertId: r.alert_id,
    entryId: r.entry_id,
    caseRef: r.case_ref,
    eventId: r.event_id,
    cameraId: r.camera_id,
    siteId: r.site_id,
    place: { district: r.district, street: r.street, community: r.community, grid: r.grid },
    plate: r.plate,
    eventTimeMs: r.event_time_ms,
    raisedMs: r.raised_ms,
    ackDeadlineMs: r.ack_deadline_ms,
    acknowledgedBy: r.acknowledged_by,
    acknowledgedMs: r.acknowledged_ms,
    ackNote: r.ack_note,
    escalationLevel: r.escalation_level,
    escalatedMs: r.escalated_ms,
  };
}

const SELECT = 'SELECT a.*, e.case_ref FROM alerts a JOIN alert_entries e ON e.entry_id = a.entry_id';

/** Alerts in SQLite. */
export class AlertService {
  /** Fired after commit for each raised, escalated or acknowledged alert. */
  readonly changed: Hook<AlertChange>;

  constructor(
    private readonly db: SqliteDb,
    private readonly audit: AuditLog,
    private readonly entries: AlertEntryStore,
    private readonly now: () => number = Date.now,
    log?: Logger,
  ) {
    this.changed = new Hook('alerts.alert_changed', log);
  }

  private notify(change: AlertChange['change'], alertId: number): Alert {
    const alert = this.mustGet(alertId);
    this.db.afterCommit(() => {
      this.changed.emit({ change, alert });
    });
    return alert;
  }

  /** An alert by id. */
  get(alertId: number): Alert | undefined {
    const row = this.db.get<AlertRow>(`${SELECT} WHERE a.alert_id = ?`, [alertId]);
    return row === undefined ? undefined : toAlert(row);
  }

  private mustGet(alertId: number): Alert {
    const a = this.get(alertId);
    if (a === undefined) throw new GatewayError('GATEWAY_ERR_NOT_FOUND', `alert ${alertId}`);
    return a;
  }

  /**
   * Match a plate event seen at `place` (its camera's place; undefined for an unregistered
   * camera, which then only hits entries covering everything) and raise the new alerts.
   * Face events and events without a plate text raise nothing.
   */
  processEvent(event: Event, place: Place | undefined): Alert[] {
    if (event.kind !== EventKind.EVENT_KIND_PLATE || event.detail?.$case !== 'plate') return [];
    const plate = normalisePlate(event.detail.value.text);
    if (plate === '') return [];
    const now = this.now();
    const rules = this.entries.alertRules;
    const hits = matchEntries(this.entries.active(), plate, place, event.timeMs, now, rules.clockSkewMs);
    if (hits.length === 0) return [];
    return this.db.transaction(() => {
      const raised: Alert[] = [];
      for (const entry of hits) {
        const { changes, lastInsertRowid } = this.db.run(
          `INSERT INTO alerts (entry_id, event_id, camera_id, site_id, district, street, community, grid, plate, event_time_ms,
           raised_ms, ack_deadline_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (entry_id, event_id) DO NOTHING`,
          [
            entry.entryId,
            event.eventId,
            event.cameraId,
            event.siteId,
            place?.district ?? '',
            place?.street ?? '',
            place?.community ?? '',
            place?.grid ?? '',
            plate,
            event.timeMs,
            now,
            now + rules.ackTimeoutMs,
          ],
        );
        if (changes === 0) continue;
        this.audit.append({
          actor: 'system',
          action: 'alert.raise',
          target: `alert:${lastInsertRowid}`,
          details: {
            entry_id: entry.entryId,
            case_ref: entry.caseRef,
            event_id: event.eventId,
            camera_id: event.cameraId,
            plate,
            event_time_ms: event.timeMs,
          },
        });
        raised.push(this.notify('raised', lastInsertRowid));
      }
      return raised;
    });
  }

  /** Acknowledge an alert (an operator or alerts-key whose area contains the camera). */
  acknowledge(principal: Principal, alertId: number, note?: string): Alert {
    return this.db.transaction(() => {
      const alert = this.mustGet(alertId);
      assertAuthorized(principal, 'alert.acknowledge', alert.place);
      if (alert.acknowledgedMs !== null) {
        throw new GatewayError(
          'GATEWAY_ERR_ALERT_STATE',
          `alert ${alertId} was acknowledged by ${alert.acknowledgedBy ?? '?'}`,
        );
      }
      const text = optionalText(note, 'note', { max: 500 });
      this.db.run(
        'UPDATE alerts SET acknowledged_by = ?, acknowledged_ms = ?, ack_note = ? WHERE alert_id = ?',
        [actorOf(principal), this.now(), text === '' ? null : text, alertId],
      );
      this.audit.append({
        actor: actorOf(principal),
        action: 'alert.acknowledge',
        target: `alert:${alertId}`,
        details: {
          entry_id: alert.entryId,
          case_ref: alert.caseRef,
          escalation_level: alert.escalationLevel,
          note: text,
        },
      });
      return this.notify('acknowledged', alertId);
    });
  }

  /**
   * Escalate every unacknowledged alert whose deadline has passed (and that has escalated
   * fewer than `maxEscalations` times): level + 1 and a new deadline. Returns them; call on a
   * timer (e.g. every 10 s).
   */
  escalateDue(): Alert[] {
    const now = this.now();
    const rules = this.entries.alertRules;
    return this.db.transaction(() => {
      const due = this.db.all<{ alert_id: number; escalation_level: number }>(
        `SELECT alert_id, escalation_level FROM alerts WHERE acknowledged_ms IS NULL AND ack_deadline_ms <= ?
         AND escalation_level < ? ORDER BY alert_id`,
        [now, rules.maxEscalations],
      );
      return due.map((d) => {
        const level = d.escalation_level + 1;
        this.db.run(
          'UPDATE alerts SET escalation_level = ?, escalated_ms = ?, ack_deadline_ms = ? WHERE alert_id = ?',
          [level, now, now + rules.ackTimeoutMs, d.alert_id],
        );
        this.audit.append({
          actor: 'system',
          action: 'alert.escalate',
          target: `alert:${d.alert_id}`,
          details: { level },
        });
        return this.notify('escalated', d.alert_id);
      });
    });
  }

  /** Alerts matching `query`, newest first. */
  list(query: AlertQuery = {}): Alert[] {
    const where: string[] = [];
    const params: number[] = [];
    if (query.open === true) where.push('a.acknowledged_ms IS NULL');
    if (query.beforeId !== undefined) {
      where.push('a.alert_id < ?');
      params.push(query.beforeId);
    }
    if (query.afterId !== undefined) {
      where.push('a.alert_id > ?');
      params.push(query.afterId);
    }
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 100), 1), 1000);
    const rows = this.db.all<AlertRow>(
      `${SELECT} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY a.alert_id DESC`,
      params,
    );
    const out: Alert[] = [];
    for (const r of rows) {
      const a = toAlert(r);
      if (query.scope !== undefined && !inScope(query.scope, a.place)) continue;
      out.push(a);
      if (out.length >= limit) break;
    }
    return out;
  }
}
