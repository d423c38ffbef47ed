/**
 * Shared helpers of the registry, auth, audit and alert tests: a real SQLite file in a temp dir
 * (removed even if the test process dies, see test/bench/lifetime.ts), a settable clock, and
 * principals.
 */
import { join } from 'node:path';
import { AuditLog } from '../../../gateway/src/audit/log.ts';
import type { ApiService, Principal, Role } from '../../../gateway/src/auth/roles.ts';
import type { AreaScope } from '../../../gateway/src/auth/scope.ts';
import type { ScryptParams } from '../../../gateway/src/auth/secrets.ts';
import { openSqlite, type SqliteDb } from '../../../gateway/src/registry/sqlite.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';

/** The cheapest scrypt cost the code accepts, so tests that hash many passwords stay fast. */
export const FAST_SCRYPT: ScryptParams = { ln: 10, r: 8, p: 1 };

/** A clock tests move by hand. */
export class TestClock {
  constructor(public t = Date.UTC(2025, 5, 1, 8, 0, 0)) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** An open database in a fresh temp dir, with an audit log on it. */
export interface TestDb {
  dir: TempDir;
  path: string;
  db: SqliteDb;
  audit: AuditLog;
  clock: TestClock;
  /** Close and reopen the same file (persistence checks). */
  reopen(): void;
  close(): void;
}

/** Open a database in a temp dir; `close()` in afterEach removes it. */
export function openTestDb(purpose = 'registry'): TestDb {
  const dir = makeTempDir(purpose);
  const path = join(dir.path, 'gateway.sqlite');
  const clock = new TestClock();
  const t: TestDb = {
    dir,
    path,
    db: openSqlite(path),
    audit: undefined as unknown as AuditLog,
    clock,
    reopen() {
      t.db.close();
      t.db = openSqlite(path);
      t.audit = new AuditLog(t.db, { now: clock.now });
    },
    close() {
      try {
        t.db.close();
      } finally {
        dir.remove();
      }
    },
  };
  t.audit = new AuditLog(t.db, { now: clock.now });
  return t;
}

/** A user principal. */
export function user(id: string, role: Role, scope: AreaScope = {}): Principal {
  return { kind: 'user', id, name: id, role, scope };
}

/** An API key principal (integrator). */
export function apiKey(id: string, services: readonly ApiService[], scope: AreaScope = {}): Principal {
  return { kind: 'api_key', id, name: id, role: 'integrator', scope, services };
}
