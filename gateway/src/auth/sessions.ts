/**
 * Login sessions: a random token given to the browser (as a cookie), stored as its sha256 with
 * the user, an absolute expiry and an idle timeout; revocable one by one or per user. The user
 * row is read on every authentication, so role, scope and disabled changes apply at once.
 */
import type { SqliteDb } from '../registry/sqlite.ts';
import { AUTH_MIGRATIONS } from './schema.ts';
import type { Principal } from './roles.ts';
import { randomToken, tokenHash } from './secrets.ts';
import type { AreaScope } from './scope.ts';
import type { Role } from './roles.ts';

/** Session lifetimes. */
export interface SessionRules {
  /** Absolute lifetime (default 12 h). */
  ttlMs: number;
  /** Ends after this long without a request (default 30 min). */
  idleMs: number;
  /** last_seen is written at most this often (default 60 s), to spare the disk. */
  touchIntervalMs: number;
}

/** Defaults of {@link SessionRules}. */
export const DEFAULT_SESSION_RULES: SessionRules = Object.freeze({
  ttlMs: 12 * 3_600_000,
  idleMs: 30 * 60_000,
  touchIntervalMs: 60_000,
});

/** A new session: the token is given to the client once and never stored. */
export interface NewSession {
  token: string;
  expiresMs: number;
}

/** A session as listed (no token). */
export interface SessionInfo {
  /** sha256 of the token (an id for revocation by an admin). */
  id: string;
  username: string;
  createdMs: number;
  expiresMs: number;
  lastSeenMs: number;
  sourceAddress: string;
}

interface JoinedRow {
  token_hash: string;
  username: string;
  expires_ms: number;
  last_seen_ms: number;
  revoked_ms: number | null;
  display_name: string;
  role: string;
  scope: string;
  disabled: number;
}

/** Sessions in SQLite. */
export class SessionStore {
  private readonly rules: SessionRules;

  constructor(
    private readonly db: SqliteDb,
    rules: Partial<SessionRules> = {},
    private readonly now: () => number = Date.now,
  ) {
    db.migrate('auth', AUTH_MIGRATIONS);
    this.rules = { ...DEFAULT_SESSION_RULES, ...rules };
  }

  /** Open a session for an existing user. */
  create(username: string, sourceAddress: string): NewSession {
    const token = randomToken();
    const now = this.now();
    const expiresMs = now + this.rules.ttlMs;
    this.db.run(
      'INSERT INTO sessions (token_hash, username, created_ms, expires_ms, last_seen_ms, source_address) VALUES (?, ?, ?, ?, ?, ?)',
      [tokenHash(token), username, now, expiresMs, now, sourceAddress],
    );
    return { token, expiresMs };
  }

  /** The principal of a valid session token, or undefined (unknown, expired, idle, revoked, user disabled). */
  authenticate(token: string): Principal | undefined {
    if (token.length === 0 || token.length > 128) return undefined;
    const row = this.db.get<JoinedRow>(
      `SELECT s.token_hash, s.username, s.expires_ms, s.last_seen_ms, s.revoked_ms, u.display_name, u.role, u.scope, u.disabled
       FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = ?`,
      [tokenHash(token)],
    );
    const now = this.now();
    if (row === undefined || row.revoked_ms !== null || row.disabled !== 0) return undefined;
    if (now >= row.expires_ms || now - row.last_seen_ms >= this.rules.idleMs) return undefined;
    if (now - row.last_seen_ms >= this.rules.touchIntervalMs) {
      this.db.run('UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ?', [now, row.token_hash]);
    }
    return {
      kind: 'user',
      id: row.username,
      name: row.display_name,
      role: row.role as Role,
      scope: JSON.parse(row.scope) as AreaScope,
    };
  }

  /** The user name of a token's session, valid or not (for the logout audit record). */
  usernameOf(token: string): string | undefined {
    return this.db.get<{ username: string }>('SELECT username FROM sessions WHERE token_hash = ?', [
      tokenHash(token),
    ])?.username;
  }

  /** End one session; true when it was active. */
  revoke(token: string): boolean {
    return (
      this.db.run('UPDATE sessions SET revoked_ms = ? WHERE token_hash = ? AND revoked_ms IS NULL', [
        this.now(),
        tokenHash(token),
      ]).changes > 0
    );
  }

  /** End every session of a user; returns how many. */
  revokeAll(username: string): number {
    return this.db.run('UPDATE sessions SET revoked_ms = ? WHERE username = ? AND revoked_ms IS NULL', [
      this.now(),
      username,
    ]).changes;
  }

  /** Active sessions of a user. */
  list(username: string): SessionInfo[] {
    const now = this.now();
    return this.db
      .all<{
        token_hash: string;
        username: string;
        created_ms: number;
        expires_ms: number;
        last_seen_ms: number;
        source_address: string;
      }>(
        'SELECT * FROM sessions WHERE username = ? AND revoked_ms IS NULL AND expires_ms > ? AND last_seen_ms > ? ORDER BY created_ms',
        [username, now, now - this.rules.idleMs],
      )
      .map((r) => ({
        id: r.token_hash,
        username: r.username,
        createdMs: r.created_ms,
        expiresMs: r.expires_ms,
        lastSeenMs: r.last_seen_ms,
        sourceAddress: r.source_address,
      }));
  }

  /** Delete sessions that ended more than `keepMs` ago (default 7 days); returns how many. */
  prune(keepMs = 7 * 86_400_000): number {
    const cutoff = this.now() - keepMs;
    return this.db.run(
      'DELETE FROM sessions WHERE expires_ms < ? OR last_seen_ms < ? OR (revoked_ms IS NOT NULL AND revoked_ms < ?)',
      [cutoff, cutoff - this.rules.idleMs, cutoff],
    ).changes;
  }
}
