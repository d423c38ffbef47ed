/**
 * API keys for integrators. A key is `se_<key id>.<secret>`: the id (16 hex) names the key in
 * lists, logs and the audit trail; the secret (32 random bytes, base64url) is stored only as its
 * sha256 and compared in constant time. The whole key is shown once, at creation. A key carries
 * an area scope and the services it may call, may expire, and can be revoked. Creation and
 * revocation are audited.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { canonicalJson } from '../audit/canonical.ts';
import type { AuditActor, AuditLog } from '../audit/log.ts';
import type { SqliteDb } from '../registry/sqlite.ts';
import { invalid, text, timeMs } from '../registry/validate.ts';
import { API_SERVICES, type ApiService, type Principal } from './roles.ts';
import { AUTH_MIGRATIONS } from './schema.ts';
import { parseScope, type AreaScope } from './scope.ts';
import { digestsEqual, randomToken, tokenHash } from './secrets.ts';

/** An API key as listed (never the secret). */
export interface ApiKey {
  keyId: string;
  name: string;
  scope: AreaScope;
  services: ApiService[];
  createdBy: string;
  createdMs: number;
  expiresMs: number | null;
  revokedMs: number | null;
  revokedBy: string | null;
  lastUsedMs: number | null;
}

/** Input of {@link ApiKeyStore.create}. */
export interface NewApiKey {
  /** Who it is for, e.g. "county traffic bureau integration". */
  name: string;
  scope?: AreaScope;
  services: readonly ApiService[];
  /** Optional expiry. */
  expiresMs?: number;
}

/** Result of {@link ApiKeyStore.create}: `key` is shown to the admin once. */
export interface CreatedApiKey {
  key: string;
  record: ApiKey;
}

const KEY_RE = /^se_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

interface KeyRow {
  key_id: string;
  name: string;
  secret_hash: string;
  scope: string;
  services: string;
  created_by: string;
  created_ms: number;
  expires_ms: number | null;
  revoked_ms: number | null;
  revoked_by: string | null;
  last_used_ms: number | null;
}

function toKey(row: KeyRow): ApiKey {
  return {
    keyId: row.key_id,
    name: row.name,
    scope: JSON.parse(row.scope) as AreaScope,
    services: JSON.parse(row.services) as ApiService[],
    createdBy: row.created_by,
    createdMs: row.created_ms,
    expiresMs: row.expires_ms,
    revokedMs: row.revoked_ms,
    revokedBy: row.revoked_by,
    lastUsedMs: row.last_used_ms,
  };
}

/** The principal an API key acts as. */
export function keyPrincipal(key: ApiKey): Principal {
  return {
    kind: 'api_key',
    id: key.keyId,
    name: key.name,
    role: 'integrator',
    scope: key.scope,
    services: key.services,
  };
}

/** API keys in SQLite. */
export class ApiKeyStore {
  constructor(
    private readonly db: SqliteDb,
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
    /** last_used is written at most this often. */
    private readonly touchIntervalMs = 60_000,
  ) {
    db.migrate('auth', AUTH_MIGRATIONS);
  }

  /** Make a key. The returned `key` is not stored anywhere: hand it over now. */
  create(actor: AuditActor, input: NewApiKey): CreatedApiKey {
    const name = text(input.name, 'name', { max: 100 });
    const scope = parseScope(input.scope, 'scope');
    const given: unknown = input.services;
    if (!Array.isArray(given) || given.length === 0) {
      return invalid('services', `must list at least one of ${API_SERVICES.join(', ')}`);
    }
    const services: ApiService[] = [];
    for (const s of new Set<unknown>(given)) {
      if (!(API_SERVICES as readonly unknown[]).includes(s))
        invalid('services', `has unknown service ${JSON.stringify(s)}`);
      services.push(s as ApiService);
    }
    services.sort();
    const now = this.now();
    let expiresMs: number | null = null;
    if (input.expiresMs !== undefined) {
      expiresMs = timeMs(input.expiresMs, 'expires_ms');
      if (expiresMs <= now) invalid('expires_ms', 'must be in the future');
    }
    const keyId = randomBytes(8).toString('hex');
    const secret = randomToken();
    return this.db.transaction(() => {
      this.db.run(
        `INSERT INTO api_keys (key_id, name, secret_hash, scope, services, created_by, created_ms, expires_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          keyId,
          name,
          tokenHash(secret),
          canonicalJson(scope),
          JSON.stringify(services),
          actor,
          now,
          expiresMs,
        ],
      );
      this.audit.append({
        actor,
        action: 'api_key.create',
        target: `api_key:${keyId}`,
        details: { name, scope, services, expires_ms: expiresMs },
      });
      return { key: `se_${keyId}.${secret}`, record: this.mustGet(keyId) };
    });
  }

  /** A key by id. */
  get(keyId: string): ApiKey | undefined {
    const row = this.db.get<KeyRow>('SELECT * FROM api_keys WHERE key_id = ?', [keyId]);
    return row === undefined ? undefined : toKey(row);
  }

  private mustGet(keyId: string): ApiKey {
    const key = this.get(keyId);
    if (key === undefined) throw new GatewayError('GATEWAY_ERR_NOT_FOUND', `API key ${keyId}`);
    return key;
  }

  /** Every key, newest first. */
  list(): ApiKey[] {
    return this.db.all<KeyRow>('SELECT * FROM api_keys ORDER BY created_ms DESC, key_id').map(toKey);
  }

  /** Revoke a key (effective on its next call). Revoking a revoked key is a no-op, not audited again. */
  revoke(actor: AuditActor, keyId: string, reason?: string): ApiKey {
    return this.db.transaction(() => {
      const key = this.mustGet(keyId);
      if (key.revokedMs !== null) return key;
      this.db.run('UPDATE api_keys SET revoked_ms = ?, revoked_by = ? WHERE key_id = ?', [
        this.now(),
        actor,
        keyId,
      ]);
      this.audit.append({
        actor,
        action: 'api_key.revoke',
        target: `api_key:${keyId}`,
        details: reason === undefined ? {} : { reason },
      });
      return this.mustGet(keyId);
    });
  }

  /**
   * The principal of a presented key (`se_<id>.<secret>`, with or without a `Bearer ` prefix),
   * or undefined when malformed, unknown, wrong, expired or revoked.
   */
  authenticate(presented: string): Principal | undefined {
    const m = KEY_RE.exec(presented.replace(/^Bearer\s+/i, '').trim());
    if (m === null) return undefined;
    const keyId = m[1] ?? '';
    const row = this.db.get<KeyRow>('SELECT * FROM api_keys WHERE key_id = ?', [keyId]);
    if (row === undefined || !digestsEqual(row.secret_hash, tokenHash(m[2] ?? ''))) return undefined;
    const now = this.now();
    if (row.revoked_ms !== null || (row.expires_ms !== null && now >= row.expires_ms)) return undefined;
    if (row.last_used_ms === null || now - row.last_used_ms >= this.touchIntervalMs) {
      this.db.run('UPDATE api_keys SET last_used_ms = ? WHERE key_id = ?', [now, keyId]);
    }
    return keyPrincipal(toKey(row));
  }
}
