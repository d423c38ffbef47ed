/**
 * Case-bound plate alert entries. An entry holds a plate or a plate pattern (pattern.ts), a case
 * reference, a reason, an area (within the requester's own scope; default all of it), the
 * requester, and an expiry of at most `maxExpiryMs` (30 days by default). It is inactive until
 * an operator other than the requester approves it (enforced here and by a CHECK in SQLite),
 * and can be revoked. Every step is audited in the same transaction.
 *
 * Guardrails: entries are keyed only by a plate (no person, no category, no place of origin —
 * see pattern.ts), and one case reference holds at most `maxEntriesPerCase` live entries, so a
 * case cannot be turned into a watch list.
 */
import type { Logger } from 'pino';
import type { Place } from '../../../proto/gen/sharpeyes/v1/common.ts';
import { canonicalJson } from '../audit/canonical.ts';
import type { AuditLog } from '../audit/log.ts';
import { requireReason, type ReasonRules } from '../auth/reason.ts';
import { actorOf, assertAuthorized, type Principal } from '../auth/roles.ts';
import { formatScope, inScope, parseScope, type AreaScope } from '../auth/scope.ts';
import { GatewayError } from '../errors.ts';
import { Hook } from '../registry/hooks.ts';
import type { SqliteDb } from '../registry/sqlite.ts';
import { invalid, text, timeMs } from '../registry/validate.ts';
import { DEFAULT_MIN_SPECIFIC_CHARS, compilePlateKey, parsePlateKey } from './pattern.ts';
import { ALERT_MIGRATIONS } from './schema.ts';

/** Limits of alert entries and alerts. */
export interface AlertRules {
  /** Longest time from request to expiry (default 30 days). */
  maxExpiryMs: number;
  /** Fewest literal serial characters of a pattern (default 4; see pattern.ts). */
  minSpecificChars: number;
  /** Most live (pending or active) entries per case reference (default 10). */
  maxEntriesPerCase: number;
  /** Time an operator has to acknowledge an alert before it escalates (default 5 min). */
  ackTimeoutMs: number;
  /** Escalation steps before an alert stops escalating (default 3). */
  maxEscalations: number;
  /** Tolerated edge clock lag: events up to this long before approval still match (default 5 min). */
  clockSkewMs: number;
  /** Rules for the request's reason. */
  reason: Partial<ReasonRules>;
}

/** Defaults of {@link AlertRules}. */
export const DEFAULT_ALERT_RULES: AlertRules = Object.freeze({
  maxExpiryMs: 30 * 86_400_000,
  minSpecificChars: DEFAULT_MIN_SPECIFIC_CHARS,
  maxEntriesPerCase: 10,
  ackTimeoutMs: 5 * 60_000,
  maxEscalations: 3,
  clockSkewMs: 5 * 60_000,
  reason: {},
});

/** Where an entry stands. */
export type AlertEntryStatus = 'pending' | 'active' | 'expired' | 'revoked';

/** An alert entry. */
export interface AlertEntry {
  entryId: number;
  /** Canonical plate or pattern. */
  plate: string;
  kind: 'plate' | 'pattern';
  caseRef: string;
  reason: string;
  /** Where it raises alerts. */
  area: AreaScope;
  requestedBy: string;
  requestedMs: number;
  approvedBy: string | null;
  approvedMs: number | null;
  expiresMs: number;
  revokedBy: string | null;
  revokedMs: number | null;
  revokeReason: string | null;
  /** Status at the time it was read. */
  status: AlertEntryStatus;
}

/** Input of {@link AlertEntryStore.request}. */
export interface AlertEntryRequest {
  plate: string;
  caseRef: string;
  reason: string;
  expiresMs: number;
  /** Default: the requester's whole scope. Must lie inside it. */
  area?: AreaScope;
}

/** What changed about an entry (for live views). */
export interface AlertEntryChange {
  change: 'requested' | 'approved' | 'revoked' | 'expired';
  entry: AlertEntry;
}

interface EntryRow {
  entry_id: number;
  plate: string;
  kind: string;
  case_ref: string;
  reason: string;
  area: string;
  requested_by: string;
  requested_ms: number;
  approved_by: string | null;
  approved_ms: number | null;
  expires_ms: number;
  revoked_by: string | null;
  revoked_ms: number | null;
  revoke_reason: string | null;
}

/** Status of an entry at `nowMs`. */
export function entryStatus(
  e: Pick<AlertEntry, 'revokedMs' | 'expiresMs' | 'approvedMs'>,
  nowMs: number,
): AlertEntryStatus {
  if (e.revokedMs !== null) return 'revoked';
  if (nowMs >= e.expiresMs) return 'expired';
  return e.approvedMs === null ? 'pending' : 'active';
}

function toEntry(r: EntryRow, nowMs: number): AlertEntry {
  const e = {
    entryId: r.entry_id,
    plate: r.plate,
    kind: r.kind as 'plate' | 'pattern',
    caseRef: r.case_ref,
    reason: r.reason,
    area: JSON.parse(r.area) as AreaScope,
    requestedBy: r.requested_by,
    requestedMs: r.requested_ms,
    approvedBy: r.approved_by,
    approvedMs: r.approved_ms,
    expiresMs: r.expires_ms,
    revokedBy: r.revoked_by,
    revokedMs: r.revoked_ms,
    revokeReason: r.revoke_reason,
  };
  return { ...e, status: entryStatus(e, nowMs) };
}

/** An active entry ready to match. */
export interface CompiledEntry {
  entry: AlertEntry;
  test: (plate: string) => boolean;
}

/**
 * The entries among `active` that `plate`, seen at `place` at `eventTimeMs`, hits at `nowMs`:
 * approved, not revoked, not expired now, the event inside the entry's area and inside
 * [approved − skew, expiry). Pure.
 */
export function matchEntries(
  active: readonly CompiledEntry[],
  plate: string,
  place: Place | undefined,
  eventTimeMs: number,
  nowMs: number,
  clockSkewMs: number,
): AlertEntry[] {
  const hits: AlertEntry[] = [];
  for (const { entry, test } of active) {
    if (entry.revokedMs !== null || entry.approvedMs === null) continue;
    if (nowMs >= entry.expiresMs || nowMs < entry.approvedMs) continue;
    if (eventTimeMs >= entry.expiresMs || eventTimeMs < entry.approvedMs - clockSkewMs) continue;
    if (!inScope(entry.area, place)) continue;
    if (test(plate)) hits.push(entry);
  }
  return hits;
}

const CASE_REF_RULES = { min: 3, max: 100 };

/** Alert entries in SQLite. */
export class AlertEntryStore {
  /** Fired after commit on each request, approval, revocation and expiry. */
  readonly changed: Hook<AlertEntryChange>;
  private readonly rules: AlertRules;
  private compiled: CompiledEntry[] | undefined;

  constructor(
    private readonly db: SqliteDb,
    private readonly audit: AuditLog,
    rules: Partial<AlertRules> = {},
    private readonly now: () => number = Date.now,
    log?: Logger,
  ) {
    db.migrate('alerts', ALERT_MIGRATIONS);
    this.rules = { ...DEFAULT_ALERT_RULES, ...rules };
    this.changed = new Hook('alerts.entry_changed', log);
  }

  /** The rules in force. */
  get alertRules(): AlertRules {
    return this.rules;
  }

  private notify(change: AlertEntryChange['change'], entryId: number): void {
    const entry = this.mustGet(entryId);
    this.db.afterCommit(() => {
      this.compiled = undefined;
      this.changed.emit({ change, entry });
    });
  }

  /** An entry by id. */
  get(entryId: number): AlertEntry | undefined {
    const row = this.db.get<EntryRow>('SELECT * FROM alert_entries WHERE entry_id = ?', [entryId]);
    return row === undefined ? undefined : toEntry(row, this.now());
  }

  private mustGet(entryId: number): AlertEntry {
    const e = this.get(entryId);
    if (e === undefined) throw new GatewayError('GATEWAY_ERR_NOT_FOUND', `alert entry ${entryId}`);
    return e;
  }

  /** Entries whose area lies inside `scope` (all when omitted), newest first, optionally by status. */
  list(options: { scope?: AreaScope; status?: AlertEntryStatus; caseRef?: string } = {}): AlertEntry[] {
    const now = this.now();
    return this.db
      .all<EntryRow>('SELECT * FROM alert_entries ORDER BY entry_id DESC')
      .map((r) => toEntry(r, now))
      .filter(
        (e) =>
          (options.scope === undefined || inScope(options.scope, e.area)) &&
          (options.status === undefined || e.status === options.status) &&
          (options.caseRef === undefined || e.caseRef === options.caseRef),
      );
  }

  /** Request an entry (inactive until approved by someone else). */
  request(principal: Principal, input: AlertEntryRequest): AlertEntry {
    assertAuthorized(principal, 'alert_entry.request');
    const key = parsePlateKey(input.plate, this.rules.minSpecificChars);
    const caseRef = text(input.caseRef, 'case_ref', CASE_REF_RULES);
    const reason = requireReason(input.reason, this.rules.reason);
    const area = input.area === undefined ? principal.scope : parseScope(input.area, 'area');
    assertAuthorized(principal, 'alert_entry.request', area);
    if (!inScope(principal.scope, area))
      invalid('area', `must lie inside your own area (${formatScope(principal.scope)})`);
    if (principal.kind !== 'user')
      throw new GatewayError('GATEWAY_ERR_FORBIDDEN', 'alert entries are requested by people');
    const now = this.now();
    const expiresMs = timeMs(input.expiresMs, 'expires_ms');
    if (expiresMs <= now) invalid('expires_ms', 'must be in the future');
    if (expiresMs - now > this.rules.maxExpiryMs) {
      invalid(
        'expires_ms',
        `must be at most ${Math.round(this.rules.maxExpiryMs / 86_400_000)} days from now`,
      );
    }
    return this.db.transaction(() => {
      const live =
        this.db.get<{ n: number }>(
          'SELECT COUNT(*) AS n FROM alert_entries WHERE case_ref = ? AND revoked_ms IS NULL AND expires_ms > ?',
          [caseRef, now],
        )?.n ?? 0;
      if (live >= this.rules.maxEntriesPerCase) {
        throw new GatewayError(
          'GATEWAY_ERR_ALERT_PATTERN',
          `case ${caseRef} already has ${live} live entries (at most ${this.rules.maxEntriesPerCase}): alerts are per vehicle, not lists`,
        );
      }
      const { lastInsertRowid } = this.db.run(
        `INSERT INTO alert_entries (plate, kind, case_ref, reason, area, requested_by, requested_ms, expires_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [key.value, key.kind, caseRef, reason, canonicalJson(area), principal.id, now, expiresMs],
      );
      this.audit.append({
        actor: actorOf(principal),
        action: 'alert_entry.request',
        target: `alert_entry:${lastInsertRowid}`,
        details: { plate: key.value, kind: key.kind, case_ref: caseRef, reason, area, expires_ms: expiresMs },
      });
      this.notify('requested', lastInsertRowid);
      return this.mustGet(lastInsertRowid);
    });
  }

  /**
   * Approve a pending entry. The approver must be a person other than the requester
   * (GATEWAY_ERR_ALERT_APPROVAL) whose area covers the entry's.
   */
  approve(principal: Principal, entryId: number): AlertEntry {
    return this.db.transaction(() => {
      const entry = this.mustGet(entryId);
      assertAuthorized(principal, 'alert_entry.approve', entry.area);
      if (principal.kind !== 'user')
        throw new GatewayError('GATEWAY_ERR_FORBIDDEN', 'alert entries are approved by people');
      if (principal.id === entry.requestedBy) {
        throw new GatewayError('GATEWAY_ERR_ALERT_APPROVAL', `${principal.id} requested entry ${entryId}`);
      }
      if (entry.status !== 'pending') {
        throw new GatewayError(
          'GATEWAY_ERR_ALERT_STATE',
          `entry ${entryId} is ${entry.status}, only a pending entry can be approved`,
        );
      }
      this.db.run('UPDATE alert_entries SET approved_by = ?, approved_ms = ? WHERE entry_id = ?', [
        principal.id,
        this.now(),
        entryId,
      ]);
      this.audit.append({
        actor: actorOf(principal),
        action: 'alert_entry.approve',
        target: `alert_entry:${entryId}`,
        details: {
          plate: entry.plate,
          case_ref: entry.caseRef,
          requested_by: entry.requestedBy,
          expires_ms: entry.expiresMs,
        },
      });
      this.notify('approved', entryId);
      return this.mustGet(entryId);
    });
  }

  /** Revoke a pending or active entry (it stops matching at once). */
  revoke(principal: Principal, entryId: number, reason: string): AlertEntry {
    return this.db.transaction(() => {
      const entry = this.mustGet(entryId);
      assertAuthorized(principal, 'alert_entry.revoke', entry.area);
      const why = requireReason(reason, this.rules.reason);
      if (entry.status !== 'pending' && entry.status !== 'active') {
        throw new GatewayError('GATEWAY_ERR_ALERT_STATE', `entry ${entryId} is already ${entry.status}`);
      }
      this.db.run(
        'UPDATE alert_entries SET revoked_by = ?, revoked_ms = ?, revoke_reason = ? WHERE entry_id = ?',
        [principal.id, this.now(), why, entryId],
      );
      this.audit.append({
        actor: actorOf(principal),
        action: 'alert_entry.revoke',
        target: `alert_entry:${entryId}`,
        details: { plate: entry.plate, case_ref: entry.caseRef, reason: why, was: entry.status },
      });
      this.notify('revoked', entryId);
      return this.mustGet(entryId);
    });
  }

  /**
   * Audit the entries that expired since the last call (`alert_entry.expire`, system) and notify;
   * call on a timer. Matching never depends on it: an expired entry stops matching at its
   * expiry whether or not this ran.
   */
  auditExpired(): AlertEntry[] {
    const now = this.now();
    return this.db.transaction(() => {
      const rows = this.db.all<EntryRow>(
        'SELECT * FROM alert_entries WHERE expires_ms <= ? AND revoked_ms IS NULL AND expiry_audited = 0 ORDER BY entry_id',
        [now],
      );
      for (const r of rows) {
        this.db.run('UPDATE alert_entries SET expiry_audited = 1 WHERE entry_id = ?', [r.entry_id]);
        this.audit.append({
          actor: 'system',
          action: 'alert_entry.expire',
          target: `alert_entry:${r.entry_id}`,
          details: {
            plate: r.plate,
            case_ref: r.case_ref,
            expires_ms: r.expires_ms,
            was_approved: r.approved_ms !== null,
          },
        });
        this.notify('expired', r.entry_id);
      }
      return rows.map((r) => toEntry(r, now));
    });
  }

  /** Approved, unrevoked, unexpired entries, compiled (cached until the next change). */
  active(): CompiledEntry[] {
    const now = this.now();
    if (this.compiled === undefined) {
      this.compiled = this.db
        .all<EntryRow>(
          'SELECT * FROM alert_entries WHERE approved_ms IS NOT NULL AND revoked_ms IS NULL AND expires_ms > ? ORDER BY entry_id',
          [now],
        )
        .map((r) => {
          const entry = toEntry(r, now);
          return { entry, test: compilePlateKey({ value: entry.plate, kind: entry.kind }) };
        });
    }
    // Expiry is checked again at match time; drop the expired ones from the cache as they go.
    this.compiled = this.compiled.filter((c) => c.entry.expiresMs > now);
    return this.compiled;
  }
}
