/** SQLite schema of plate alert entries and the alerts they raise. */
import type { Migration } from '../registry/sqlite.ts';

/** Migrations of the alerts module. */
export const ALERT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'alert_entries, alerts',
    sql: `
      CREATE TABLE alert_entries (
        entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
        plate TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('plate', 'pattern')),
        case_ref TEXT NOT NULL,
        reason TEXT NOT NULL,
        area TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_ms INTEGER NOT NULL,
        approved_by TEXT,
        approved_ms INTEGER,
        expires_ms INTEGER NOT NULL,
        revoked_by TEXT,
        revoked_ms INTEGER,
        revoke_reason TEXT,
        expiry_audited INTEGER NOT NULL DEFAULT 0,
        CHECK (approved_by IS NULL OR approved_by <> requested_by)
      );
      CREATE INDEX alert_entries_case ON alert_entries (case_ref);
      CREATE INDEX alert_entries_expires ON alert_entries (expires_ms);
      CREATE TABLE alerts (
        alert_id INTEGER PRIMARY KEY AUTOINCREMENT,
        entry_id INTEGER NOT NULL REFERENCES alert_entries (entry_id),
        event_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        site_id TEXT NOT NULL,
        district TEXT NOT NULL,
        street TEXT NOT NULL,
        community TEXT NOT NULL,
        grid TEXT NOT NULL,
        plate TEXT NOT NULL,
        event_time_ms INTEGER NOT NULL,
        raised_ms INTEGER NOT NULL,
        ack_deadline_ms INTEGER NOT NULL,
        acknowledged_by TEXT,
        acknowledged_ms INTEGER,
        ack_note TEXT,
        escalation_level INTEGER NOT NULL DEFAULT 0,
        escalated_ms INTEGER,
        UNIQUE (entry_id, event_id)
      );
      CREATE INDEX alerts_open ON alerts (acknowledged_ms, ack_deadline_ms);
      CREATE INDEX alerts_raised ON alerts (raised_ms);
    `,
  },
];
