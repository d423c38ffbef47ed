/**
 * The append-only, hash-chained audit log (SQLite table `audit_log`).
 *
 * Each record: seq (1, 2, 3, … without gaps), time_ms, actor, action, target, details (canonical
 * JSON: filters, reason, result count …), prev_hash (the previous record's hash, zeros for the
 * first) and hash = sha256(canonical(record) + prev_hash) (see canonical.ts).
 *
 * The chain never forks: an append reads the head and inserts seq + 1 in one transaction on the
 * gateway's single, exclusively locked connection, and the table has UNIQUE(prev_hash) besides.
 * Triggers refuse UPDATE and DELETE through SQL; someone with the file can still drop them,
 * which is what the hash chain and {@link verifyAuditChain} are for.
 *
 * An append inside a caller's transaction (a registry change and its audit record) commits or
 * rolls back with it, so a change is never made without its record.
 */
import type { Logger } from 'pino';
import { GatewayError } from '../errors.ts';
import { Hook } from '../registry/hooks.ts';
import type { Migration, SqliteDb } from '../registry/sqlite.ts';
import { GENESIS_HASH, canonicalJson, recordHash } from './canonical.ts';

/** What is audited. Dotted `area.verb`; stored as text, so new actions need no migration. */
export type AuditAction =
  // Events and evidence (each carries the reason).
  | 'event.search'
  | 'event.get'
  | 'event.stream'
  | 'event.export'
  | 'evidence.fetch'
  | 'snapshot.fetch'
  // Registry.
  | 'site.create'
  | 'site.update'
  | 'site.credentials_rotate'
  | 'camera.create'
  | 'camera.update'
  | 'camera.lifecycle'
  | 'camera.maintenance'
  // Users, sessions, keys.
  | 'auth.login_ok'
  | 'auth.login_failed'
  | 'auth.logout'
  | 'user.create'
  | 'user.update'
  | 'user.password_change'
  | 'api_key.create'
  | 'api_key.revoke'
  // Retention.
  | 'retention.delete'
  // Plate alerts.
  | 'alert_entry.request'
  | 'alert_entry.approve'
  | 'alert_entry.revoke'
  | 'alert_entry.expire'
  | 'alert.raise'
  | 'alert.acknowledge'
  | 'alert.escalate'
  // Audit trail itself.
  | 'audit.read'
  | 'audit.verify';

/** Who did it, as recorded: `user:<username>`, `key:<key id>`, `site:<site id>` or `system`. */
export type AuditActor = string;

/** The system itself (timers, retention, MQTT-driven changes). */
export const SYSTEM_ACTOR: AuditActor = 'system';

/** What a caller appends. */
export interface AuditEntry {
  actor: AuditActor;
  action: AuditAction;
  /** What it was done to: `camera:<id>`, `site:<id>`, `user:<name>`, `events`, … Empty when none. */
  target?: string;
  /** JSON-serialisable facts (snake_case keys): filters, reason, result_count, … Never secrets. */
  details?: Record<string, unknown>;
}

/** A stored audit record. */
export interface AuditRecord {
  seq: number;
  time_ms: number;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** The last record's position: an anchor to keep outside the database (see verifyAuditChain). */
export interface AuditHead {
  /** 0 when the log is empty. */
  seq: number;
  /** GENESIS_HASH when the log is empty. */
  hash: string;
}

/** Filter for {@link AuditLog.list}; newest first. */
export interface AuditQuery {
  /** Only records with seq below this (the cursor: the last seq of the previous page). */
  before_seq?: number;
  actor?: string;
  action?: string;
  target?: string;
  /** Half-open [from_ms, to_ms). */
  from_ms?: number;
  to_ms?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Options for {@link AuditLog}. */
export interface AuditLogOptions {
  /** Clock (ms since epoch); injectable for tests. */
  now?: () => number;
  log?: Logger;
  /** Largest canonical details text accepted, in bytes (default 64 KiB). */
  maxDetailsBytes?: number;
}

/** Schema of the audit module. */
export const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit_log',
    sql: `
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL UNIQUE
      );
      CREATE INDEX audit_log_time ON audit_log (time_ms);
      CREATE INDEX audit_log_actor ON audit_log (actor, seq);
      CREATE INDEX audit_log_action ON audit_log (action, seq);
      CREATE INDEX audit_log_target ON audit_log (target, seq);
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    `,
  },
];

/** A row as stored. */
export interface AuditRow {
  seq: number;
  time_ms: number;
  actor: string;
  action: string;
  target: string;
  details: string;
  prev_hash: string;
  hash: string;
}

function toRecord(row: AuditRow): AuditRecord {
  return { ...row, details: JSON.parse(row.details) as Record<string, unknown> };
}

/** An entry checked and canonicalised, ready to insert. */
interface PreparedEntry {
  entry: AuditEntry;
  detailsText: string;
  details: Record<string, unknown>;
}

function auditWriteError(err: unknown): GatewayError {
  if (err instanceof GatewayError && err.code === 'GATEWAY_ERR_AUDIT_WRITE') return err;
  return new GatewayError('GATEWAY_ERR_AUDIT_WRITE', (err as Error).message, { cause: err });
}

/** The audit log. Appends are durable (fsynced) when they return or resolve. */
export class AuditLog {
  /** Fired after each appended record is committed (anchoring, live audit views). */
  readonly appended: Hook<AuditRecord>;
  /** Grouped appends waiting for their commit (see {@link appendGrouped}). */
  private readonly group: Array<{
    prepared: PreparedEntry;
    resolve: (rec: AuditRecord) => void;
    reject: (err: GatewayError) => void;
  }> = [];
  private readonly now: () => number;
  private readonly maxDetailsBytes: number;

  constructor(
    private readonly db: SqliteDb,
    options: AuditLogOptions = {},
  ) {
    db.migrate('audit', AUDIT_MIGRATIONS);
    this.now = options.now ?? Date.now;
    this.maxDetailsBytes = options.maxDetailsBytes ?? 64 * 1024;
    this.appended = new Hook('audit.appended', options.log);
  }

  /**
   * Append one record and return it. Throws GATEWAY_ERR_AUDIT_WRITE when it cannot be written
   * (the caller must then not perform or report the audited operation).
   */
  append(entry: AuditEntry): AuditRecord {
    const prepared = this.prepare(entry);
    try {
      return this.db.transaction(() => this.insert(prepared));
    } catch (err) {
      throw auditWriteError(err);
    }
  }

  /**
   * Append one record like {@link append}, committed together with the other grouped appends of
   * the same turn of the event loop: one transaction and one fsync (on the thread pool, see
   * {@link SqliteDb.transactionDurableLater}) for all of them, instead of
   * one each — what data access (searches, fetches) uses, as many run at once. Resolves once the
   * record is durable; rejects with GATEWAY_ERR_AUDIT_WRITE when it cannot be written (then every
   * record of its group is refused: none is in the log — or, if only the fsync failed, they are
   * there, recording operations that were then refused).
   */
  appendGrouped(entry: AuditEntry): Promise<AuditRecord> {
    let prepared: PreparedEntry;
    try {
      prepared = this.prepare(entry);
    } catch (err) {
      return Promise.reject(auditWriteError(err));
    }
    return new Promise((resolve, reject) => {
      this.group.push({ prepared, resolve, reject });
      if (this.group.length === 1) {
        setImmediate(() => {
          this.commitGroup();
        });
      }
    });
  }

  private commitGroup(): void {
    const group = this.group.splice(0);
    let committed: { result: AuditRecord[]; durable: Promise<void> };
    try {
      // The fsync runs off the event loop; each caller still waits for it.
      committed = this.db.transactionDurableLater(() => group.map((g) => this.insert(g.prepared)));
    } catch (err) {
      const error = auditWriteError(err);
      for (const g of group) g.reject(error);
      return;
    }
    committed.durable.then(
      () => {
        group.forEach((g, i) => {
          const rec = committed.result[i];
          if (rec !== undefined) g.resolve(rec);
        });
      },
      (err: unknown) => {
        // In the log but maybe not on disk: the operations are refused (logged, never done).
        const error = auditWriteError(err);
        for (const g of group) g.reject(error);
      },
    );
  }

  /** Check and canonicalise an entry before it goes in. */
  private prepare(entry: AuditEntry): PreparedEntry {
    let detailsText: string;
    try {
      detailsText = canonicalJson(entry.details ?? {});
    } catch (err) {
      throw new GatewayError('GATEWAY_ERR_AUDIT_WRITE', `details: ${(err as Error).message}`, { cause: err });
    }
    if (Buffer.byteLength(detailsText) > this.maxDetailsBytes) {
      throw new GatewayError('GATEWAY_ERR_AUDIT_WRITE', `details exceed ${this.maxDetailsBytes} bytes`);
    }
    if (entry.actor.length === 0) throw new GatewayError('GATEWAY_ERR_AUDIT_WRITE', 'actor is empty');
    return { entry, detailsText, details: JSON.parse(detailsText) as Record<string, unknown> };
  }

  /** Insert the next record of the chain; inside a transaction. */
  private insert({ entry, detailsText, details }: PreparedEntry): AuditRecord {
    const head = this.head();
    const fields = {
      seq: head.seq + 1,
      time_ms: this.now(),
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? '',
      details,
    };
    const hash = recordHash(fields, head.hash);
    this.db.run(
      'INSERT INTO audit_log (seq, time_ms, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [fields.seq, fields.time_ms, fields.actor, fields.action, fields.target, detailsText, head.hash, hash],
    );
    const rec: AuditRecord = { ...fields, prev_hash: head.hash, hash };
    this.db.afterCommit(() => {
      this.appended.emit(rec);
    });
    return rec;
  }

  /** The last record's seq and hash. */
  head(): AuditHead {
    const row = this.db.get<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    return row === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: row.seq, hash: row.hash };
  }

  /** One record by seq. */
  get(seq: number): AuditRecord | undefined {
    const row = this.db.get<AuditRow>('SELECT * FROM audit_log WHERE seq = ?', [seq]);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Records matching `query`, newest first; page on with `before_seq` = the last seq returned. */
  list(query: AuditQuery = {}): AuditRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, value: string | number | undefined): void => {
      if (value === undefined) return;
      where.push(clause);
      params.push(value);
    };
    add('seq < ?', query.before_seq);
    add('actor = ?', query.actor);
    add('action = ?', query.action);
    add('target = ?', query.target);
    add('time_ms >= ?', query.from_ms);
    add('time_ms < ?', query.to_ms);
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 100), 1), 1000);
    const sql = `SELECT * FROM audit_log ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${limit}`;
    return this.db.all<AuditRow>(sql, params).map(toRecord);
  }
}
