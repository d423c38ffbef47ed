/**
 * People who log in: user name, display name, role, area scope, scrypt password hash. Every
 * change is audited in the same transaction. Integrators are not users (they hold API keys).
 */
import { GatewayError } from '../errors.ts';
import { canonicalJson } from '../audit/canonical.ts';
import type { AuditActor, AuditLog } from '../audit/log.ts';
import type { SqliteDb } from '../registry/sqlite.ts';
import { chars, invalid, oneOf, text } from '../registry/validate.ts';
import { AUTH_MIGRATIONS } from './schema.ts';
import { USER_ROLES, type Principal, type Role } from './roles.ts';
import { formatScope, parseScope, type AreaScope } from './scope.ts';
import { PASSWORD_SCRYPT, hashPassword, type ScryptParams } from './secrets.ts';

/** A user as the API shows it (no hash). */
export interface User {
  username: string;
  displayName: string;
  role: Role;
  scope: AreaScope;
  disabled: boolean;
  createdMs: number;
  updatedMs: number;
  passwordChangedMs: number;
}

/** Input of {@link UserStore.create}. */
export interface NewUser {
  username: string;
  displayName?: string;
  role: Role;
  scope?: AreaScope;
  password: string;
}

/** Input of {@link UserStore.update}: fields left out are unchanged. */
export interface UserPatch {
  displayName?: string;
  role?: Role;
  scope?: AreaScope;
  disabled?: boolean;
}

/** Password rules. */
export interface PasswordRules {
  /** Default 12. */
  minLength: number;
  /** Default 256 (bounds the hashing work an attacker can ask for). */
  maxLength: number;
}

/** Defaults of {@link PasswordRules}. */
export const DEFAULT_PASSWORD_RULES: PasswordRules = Object.freeze({ minLength: 12, maxLength: 256 });

/** User names: lower-case letters, digits, `.`, `_`, `-`; 2–64 characters. */
export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,63}$/;

interface UserRow {
  username: string;
  display_name: string;
  role: string;
  scope: string;
  password_hash: string;
  disabled: number;
  created_ms: number;
  updated_ms: number;
  password_changed_ms: number;
}

function toUser(row: UserRow): User {
  return {
    username: row.username,
    displayName: row.display_name,
    role: row.role as Role,
    scope: JSON.parse(row.scope) as AreaScope,
    disabled: row.disabled !== 0,
    createdMs: row.created_ms,
    updatedMs: row.updated_ms,
    passwordChangedMs: row.password_changed_ms,
  };
}

/** The principal a logged-in user acts as. */
export function userPrincipal(user: User): Principal {
  return { kind: 'user', id: user.username, name: user.displayName, role: user.role, scope: user.scope };
}

/** Check a new password against `rules`; returns it unchanged. */
export function checkPassword(
  password: unknown,
  rules: PasswordRules = DEFAULT_PASSWORD_RULES,
  field = 'password',
): string {
  if (typeof password !== 'string') return invalid(field, 'must be a string');
  const length = chars(password).length;
  if (length < rules.minLength) return invalid(field, `must be at least ${rules.minLength} characters`);
  if (length > rules.maxLength) return invalid(field, `must be at most ${rules.maxLength} characters`);
  if (new Set(password).size < 4) return invalid(field, 'must contain at least 4 different characters');
  return password;
}

/** Normalise a user name as typed at login (trim, lower-case). */
export function normaliseUsername(username: string): string {
  return username.normalize('NFC').trim().toLowerCase();
}

/** Options of {@link UserStore}. */
export interface UserStoreOptions {
  now?: () => number;
  passwordRules?: Partial<PasswordRules>;
  /** scrypt cost of new hashes (default {@link PASSWORD_SCRYPT}). */
  scrypt?: ScryptParams;
}

/** Users in SQLite. */
export class UserStore {
  private readonly now: () => number;
  private readonly rules: PasswordRules;
  /** scrypt cost of new hashes. */
  readonly scrypt: ScryptParams;

  constructor(
    private readonly db: SqliteDb,
    private readonly audit: AuditLog,
    options: UserStoreOptions = {},
  ) {
    db.migrate('auth', AUTH_MIGRATIONS);
    this.now = options.now ?? Date.now;
    this.rules = { ...DEFAULT_PASSWORD_RULES, ...options.passwordRules };
    this.scrypt = options.scrypt ?? PASSWORD_SCRYPT;
  }

  /** Create a user. GATEWAY_ERR_CONFLICT when the name is taken. */
  async create(actor: AuditActor, input: NewUser): Promise<User> {
    const username = text(input.username, 'username', {
      min: 2,
      max: 64,
      pattern: USERNAME_RE,
      patternHint:
        'must be 2–64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    });
    const displayName = text(input.displayName ?? username, 'display_name', { max: 100 });
    const role = oneOf(input.role, 'role', USER_ROLES);
    const scope = parseScope(input.scope, 'scope');
    const password = checkPassword(input.password, this.rules);
    const hash = await hashPassword(password, this.scrypt);
    const now = this.now();
    return this.db.transaction(() => {
      if (this.get(username) !== undefined) {
        throw new GatewayError('GATEWAY_ERR_CONFLICT', `user ${username} exists`);
      }
      this.db.run(
        `INSERT INTO users (username, display_name, role, scope, password_hash, disabled, created_ms, updated_ms, password_changed_ms)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`,
        [username, displayName, role, canonicalJson(scope), hash, now, now, now],
      );
      this.audit.append({
        actor,
        action: 'user.create',
        target: `user:${username}`,
        details: { role, scope, display_name: displayName },
      });
      return this.mustGet(username);
    });
  }

  /** A user by name (case-insensitive), or undefined. */
  get(username: string): User | undefined {
    const row = this.db.get<UserRow>('SELECT * FROM users WHERE username = ?', [normaliseUsername(username)]);
    return row === undefined ? undefined : toUser(row);
  }

  /** The stored password hash of a user (login only). */
  passwordHash(username: string): string | undefined {
    return this.db.get<{ password_hash: string }>('SELECT password_hash FROM users WHERE username = ?', [
      normaliseUsername(username),
    ])?.password_hash;
  }

  private mustGet(username: string): User {
    const user = this.get(username);
    if (user === undefined) throw new GatewayError('GATEWAY_ERR_NOT_FOUND', `user ${username}`);
    return user;
  }

  /** All users, by name. */
  list(): User[] {
    return this.db.all<UserRow>('SELECT * FROM users ORDER BY username').map(toUser);
  }

  /** Number of users (0 = first start: bootstrap an admin). */
  count(): number {
    return this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM users')?.n ?? 0;
  }

  /**
   * Change display name, role, scope or disabled. Takes effect on the user's next request
   * (sessions read the user each time); disabling also revokes the user's sessions.
   */
  update(actor: AuditActor, username: string, patch: UserPatch): User {
    return this.db.transaction(() => {
      const before = this.mustGet(username);
      const after: User = {
        ...before,
        displayName:
          patch.displayName === undefined
            ? before.displayName
            : text(patch.displayName, 'display_name', { max: 100 }),
        role: patch.role === undefined ? before.role : oneOf(patch.role, 'role', USER_ROLES),
        scope: patch.scope === undefined ? before.scope : parseScope(patch.scope, 'scope'),
        disabled: patch.disabled ?? before.disabled,
        updatedMs: this.now(),
      };
      this.db.run(
        'UPDATE users SET display_name = ?, role = ?, scope = ?, disabled = ?, updated_ms = ? WHERE username = ?',
        [
          after.displayName,
          after.role,
          canonicalJson(after.scope),
          after.disabled ? 1 : 0,
          after.updatedMs,
          before.username,
        ],
      );
      if (after.disabled && !before.disabled) {
        this.db.run('UPDATE sessions SET revoked_ms = ? WHERE username = ? AND revoked_ms IS NULL', [
          after.updatedMs,
          before.username,
        ]);
      }
      const changes: Record<string, unknown> = {};
      if (after.displayName !== before.displayName)
        changes.display_name = { from: before.displayName, to: after.displayName };
      if (after.role !== before.role) changes.role = { from: before.role, to: after.role };
      if (formatScope(after.scope) !== formatScope(before.scope))
        changes.scope = { from: before.scope, to: after.scope };
      if (after.disabled !== before.disabled)
        changes.disabled = { from: before.disabled, to: after.disabled };
      this.audit.append({
        actor,
        action: 'user.update',
        target: `user:${before.username}`,
        details: { changes },
      });
      return after;
    });
  }

  /** Set a new password (checked against the rules) and revoke the user's sessions. */
  async setPassword(actor: AuditActor, username: string, password: string): Promise<void> {
    checkPassword(password, this.rules);
    this.mustGet(username);
    const hash = await hashPassword(password, this.scrypt);
    this.db.transaction(() => {
      const user = this.mustGet(username);
      const now = this.now();
      this.db.run(
        'UPDATE users SET password_hash = ?, password_changed_ms = ?, updated_ms = ? WHERE username = ?',
        [hash, now, now, user.username],
      );
      this.db.run('UPDATE sessions SET revoked_ms = ? WHERE username = ? AND revoked_ms IS NULL', [
        now,
        user.username,
      ]);
      this.audit.append({ actor, action: 'user.password_change', target: `user:${user.username}` });
    });
  }

  /**
   * Replace `oldHash` by `newHash` (same password, current cost) after a login; not audited as a
   * change. A no-op when the password changed meanwhile.
   */
  rehash(username: string, oldHash: string, newHash: string): void {
    this.db.run('UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?', [
      newHash,
      normaliseUsername(username),
      oldHash,
    ]);
  }
}
