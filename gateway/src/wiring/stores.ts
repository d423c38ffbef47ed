/**
 * The gateway's SQLite stores, opened together on one database (registry.db_path, default
 * `<data_dir>/registry.sqlite`): the registry, users, sessions, API keys, the audit trail and
 * the alert entries and alerts. On a first start (no users) the configured bootstrap admin is
 * created, audited as done by `system`.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AlertEntryStore, AlertService, alertRulesFromConfig } from '../alerts/index.ts';
import { AuditLog, SYSTEM_ACTOR } from '../audit/log.ts';
import {
  ApiKeyStore,
  LoginRateLimiter,
  LoginService,
  SessionStore,
  UserStore,
  authRulesFromConfig,
} from '../auth/index.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { openSqlite, Registry, registryOptionsFromConfig, type SqliteDb } from '../registry/index.ts';

/** The stores, over one database. */
export interface Stores {
  readonly db: SqliteDb;
  readonly audit: AuditLog;
  readonly registry: Registry;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly apiKeys: ApiKeyStore;
  readonly login: LoginService;
  readonly alertEntries: AlertEntryStore;
  readonly alerts: AlertService;
  /** The registry database's path. */
  readonly dbPath: string;
  close(): void;
}

/** Where the registry database is. */
export function registryDbPath(config: GatewayConfig): string {
  return config.registry.db_path ?? join(config.data_dir, 'registry.sqlite');
}

/** Open the database and build the stores; create the bootstrap admin on a first start. */
export async function openStores(config: GatewayConfig, logger: Logger): Promise<Stores> {
  const log = logger.child({ module: 'stores' });
  const dbPath = registryDbPath(config);
  mkdirSync(dirname(dbPath), { recursive: true });
  const db = openSqlite(dbPath, { log, waitForLockMs: 10_000 });
  try {
    const rules = authRulesFromConfig(config.auth);
    const audit = new AuditLog(db, { log });
    const registry = new Registry(db, audit, { ...registryOptionsFromConfig(config.registry), log });
    const users = new UserStore(db, audit, { passwordRules: rules.passwords });
    const sessions = new SessionStore(db, rules.sessions);
    const apiKeys = new ApiKeyStore(db, audit);
    const login = new LoginService(users, sessions, new LoginRateLimiter(rules.rateLimit), audit, log);
    const alertEntries = new AlertEntryStore(db, audit, alertRulesFromConfig(config.alerts), Date.now, log);
    const alerts = new AlertService(db, audit, alertEntries, Date.now, log);

    const bootstrap = config.auth.bootstrap_admin;
    if (bootstrap !== undefined && users.count() === 0) {
      let password: string;
      try {
        password = readFileSync(bootstrap.password_file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new GatewayError(
          'GATEWAY_ERR_CONFIG',
          `/auth/bootstrap_admin/password_file cannot be read: ${(err as Error).message}`,
        );
      }
      await users.create(SYSTEM_ACTOR, {
        username: bootstrap.username,
        displayName: bootstrap.username,
        role: 'admin',
        scope: {},
        password,
      });
      log.warn({ username: bootstrap.username }, 'first start: bootstrap admin created');
    } else if (users.count() === 0) {
      log.warn('no users and no auth.bootstrap_admin: nobody can sign in to the UI or the REST API');
    }
    return {
      db,
      audit,
      registry,
      users,
      sessions,
      apiKeys,
      login,
      alertEntries,
      alerts,
      dbPath,
      close() {
        registry.reports.flush();
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
