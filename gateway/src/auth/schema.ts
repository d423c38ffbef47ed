/** SQLite schema of users, sessions and API keys. */
import type { Migration } from '../registry/sqlite.ts';

/** Migrations of the auth module. */
export const AUTH_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'users, sessions, api_keys',
    sql: `
      CREATE TABLE users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'installer', 'operator', 'auditor')),
        scope TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        password_changed_ms INTEGER NOT NULL
      );
      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        revoked_ms INTEGER,
        source_address TEXT NOT NULL
      );
      CREATE INDEX sessions_user ON sessions (username);
      CREATE INDEX sessions_expires ON sessions (expires_ms);
      CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        scope TEXT NOT NULL,
        services TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        revoked_ms INTEGER,
        revoked_by TEXT,
        last_used_ms INTEGER
      );
    `,
  },
];
