/**
 * The gateway's one SQLite adapter (registry, users, keys, audit, alerts share one database
 * file). Nothing else imports node-sqlite3-wasm.
 *
 * node-sqlite3-wasm is SQLite 3.53 compiled to WebAssembly with a VFS on Node's synchronous `fs`
 * calls: no native build, every call synchronous. Facts that shape this module (measured, see
 * docs/decisions.md, decision 8):
 * - `xSync` is `fs.fsyncSync`, so `synchronous=FULL` really fsyncs; in WAL mode one commit is one
 *   fsync of the WAL file.
 * - Locking is a `<file>.lock` directory made with `mkdir` (any lock level is exclusive) and there
 *   is no shared-memory index, so WAL works only with `locking_mode=EXCLUSIVE`. We use that: the
 *   gateway process holds the database for as long as it is open (5 µs reads instead of 200 µs
 *   with a lock per statement), and no second process can open it.
 * - A process killed while holding the lock leaves the `.lock` directory behind, which would make
 *   every later open fail with "database is locked". {@link openSqlite} therefore writes an owner
 *   file (`<file>.owner`, our pid) before opening, and removes a lock left by a dead owner.
 * - A statement stepped to its first row only (`get`) stays active; the adapter always steps
 *   statements to the end so none is left holding a read transaction.
 * - Native SQLite tools use POSIX locks and do not see the `.lock` directory: never open the file
 *   with them while the gateway runs.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  rmdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { GatewayError } from '../errors.ts';

type Vendor = typeof import('node-sqlite3-wasm');
type VendorDatabase = InstanceType<Vendor['Database']>;
type VendorStatement = ReturnType<VendorDatabase['prepare']>;

const vendor = createRequire(import.meta.url)('node-sqlite3-wasm') as Vendor;

/** A value SQLite stores or returns. Integers beyond 2^53 come back as bigint. */
export type SqlValue = number | bigint | string | Uint8Array | null;

/** Parameters of a statement: positional (`?`) or named (`:name`, `@name`, `$name` keys). */
export type SqlParams = readonly (SqlValue | boolean)[] | Readonly<Record<string, SqlValue | boolean>>;

/** One result row: column name → value. Callers give the row type they selected. */
export type SqlRow = Record<string, SqlValue>;

/** What a write statement changed. */
export interface RunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
  /** Rowid of the last inserted row. */
  lastInsertRowid: number;
}

/** One schema change of one module. Versions start at 1 and increase by 1. */
export interface Migration {
  version: number;
  /** Short description, recorded with the version. */
  name: string;
  /** SQL run in the migration's transaction (several statements allowed). */
  sql: string;
}

/** Options for {@link openSqlite}. */
export interface OpenSqliteOptions {
  /** Wait this long for a live owner to let go before failing with GATEWAY_ERR_DB_LOCKED (default 0). */
  waitForLockMs?: number;
  /** Where errors thrown by {@link SqliteDb.afterCommit} callbacks are logged (default: silent). */
  log?: Logger;
}

/** A prepared statement with typed rows. */
export interface Statement<R extends object = SqlRow> {
  /** All rows. */
  all(params?: SqlParams): R[];
  /** The first row, or undefined. The statement is stepped to its end, so select one row (LIMIT 1). */
  get(params?: SqlParams): R | undefined;
  /** Run a write statement. */
  run(params?: SqlParams): RunResult;
}

/** An open SQLite database (synchronous, single connection, exclusive to this process). */
export interface SqliteDb {
  /** Absolute path of the database file. */
  readonly path: string;
  /** A cached prepared statement for `sql` (finalized on close). */
  prepare<R extends object = SqlRow>(sql: string): Statement<R>;
  /** Run one write statement. */
  run(sql: string, params?: SqlParams): RunResult;
  /** The first row of a query, or undefined. `R` is the caller's statement of the row it selects. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- R names the selected row's shape
  get<R extends object = SqlRow>(sql: string, params?: SqlParams): R | undefined;
  /** All rows of a query. */
  all<R extends object = SqlRow>(sql: string, params?: SqlParams): R[];
  /**
   * Rows one at a time (large scans such as audit verification). Breaking out early is fine:
   * the statement is finalized then.
   */
  iterate<R extends object = SqlRow>(sql: string, params?: SqlParams): Generator<R, void, undefined>;
  /** Run SQL without results (several statements allowed); no parameters. */
  exec(sql: string): void;
  /**
   * Run `fn` in a transaction (a savepoint when already inside one): committed when `fn` returns,
   * rolled back when it throws. `fn` must be synchronous — a returned promise is refused, since
   * awaiting inside a transaction would let other work interleave with it.
   */
  transaction<T>(fn: () => T): T;
  /**
   * Like {@link transaction}, but the commit is made durable off the event loop: its WAL frames
   * are written without an fsync (`synchronous=NORMAL` for this one commit) and `durable` resolves
   * once an fsync of the WAL file, run on libuv's thread pool, has completed — the guarantee of
   * `synchronous=FULL`, without the event loop waiting 1–3 ms for the disk. Checkpoints still sync
   * as SQLite makes them. The change is visible at once (the next transaction builds on it);
   * whoever must not act before it is durable awaits `durable`, which rejects when the fsync
   * fails. Not inside another transaction.
   */
  transactionDurableLater<T>(fn: () => T): { result: T; durable: Promise<void> };
  /** Whether a transaction is open. */
  readonly inTransaction: boolean;
  /**
   * Run `fn` once the current transaction commits (at once when none is open); dropped when it
   * rolls back. For notifications (config push, live alerts) that must never announce a change
   * that was undone. An error thrown by `fn` is logged, not rethrown.
   */
  afterCommit(fn: () => void): void;
  /**
   * Run `fn` once, inside the current transaction, just before it commits (at once when none is
   * open); several calls with the same `key` in one transaction run it once. For derived state
   * that many changes of one transaction would each recompute (a site's config after a bulk
   * registration). An error thrown by `fn` rolls the transaction back.
   */
  beforeCommit(key: string, fn: () => void): void;
  /**
   * Apply `migrations` of `module` that are not applied yet, each in its own transaction, in
   * version order. Idempotent. Fails when the database has a newer version than the code knows
   * (a downgrade), or when the list has gaps.
   */
  migrate(module: string, migrations: readonly Migration[]): void;
  /** Highest applied migration version of `module` (0 = none). */
  schemaVersion(module: string): number;
  /** A consistent copy of the whole database at `path` (`VACUUM INTO`), e.g. for offline checks. */
  backupTo(path: string): void;
  /** Close the database and release the lock. Idempotent. */
  close(): void;
  /** Whether the database is open. */
  readonly isOpen: boolean;
}

const openPaths = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwnerPid(ownerPath: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(ownerPath, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'pid' in parsed && typeof parsed.pid === 'number') {
      return parsed.pid;
    }
    return undefined;
  } catch (err) {
    // Gone, half-written or garbled: treated like a dead owner's file.
    if (err instanceof Error) return undefined;
    throw err;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Take ownership of `path` for this process: create `<path>.owner` exclusively, replacing the
 * file of an owner that no longer runs, and remove a `.lock` directory such an owner left.
 */
function takeOwnership(path: string, waitForLockMs: number): string {
  const ownerPath = `${path}.owner`;
  const deadline = Date.now() + waitForLockMs;
  for (;;) {
    try {
      const fd = openSync(ownerPath, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, since_ms: Date.now() }));
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new GatewayError('GATEWAY_ERR_DB_OPEN', `${ownerPath}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    const pid = readOwnerPid(ownerPath);
    if (pid !== undefined && pid !== process.pid && pidAlive(pid)) {
      if (Date.now() >= deadline) {
        throw new GatewayError('GATEWAY_ERR_DB_LOCKED', `${path} is open in process ${pid}`);
      }
      sleepSync(50);
      continue;
    }
    // The owner is gone (or is this process, which has closed the file: openPaths says so).
    try {
      unlinkSync(ownerPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  // We own the file now, so a lock directory can only be a dead owner's.
  const lockPath = `${path}.lock`;
  if (existsSync(lockPath)) rmdirSync(lockPath);
  return ownerPath;
}

function asNumber(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

function dbError(err: unknown, sql: string): GatewayError {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const conflict = /UNIQUE constraint failed|PRIMARY KEY/i.test(message);
  return new GatewayError(
    conflict ? 'GATEWAY_ERR_CONFLICT' : 'GATEWAY_ERR_DB',
    `${message} (in: ${sql.slice(0, 80)})`,
    {
      cause: err,
    },
  );
}

function isPositional(params: SqlParams): params is readonly (SqlValue | boolean)[] {
  return Array.isArray(params);
}

function toVendorParams(params: SqlParams | undefined): Parameters<VendorStatement['run']>[0] {
  if (params === undefined) return undefined;
  return isPositional(params) ? [...params] : { ...params };
}

/**
 * Open (creating if missing) the SQLite database at `path`: WAL journal, exclusive locking,
 * `synchronous=FULL` (every commit is fsynced), foreign keys on. Throws GATEWAY_ERR_DB_LOCKED
 * when another live process has it open, GATEWAY_ERR_DB_OPEN when it cannot be opened.
 */
export function openSqlite(file: string, options: OpenSqliteOptions = {}): SqliteDb {
  const path = resolve(file);
  const log = options.log ?? pino({ level: 'silent' });
  if (openPaths.has(path))
    throw new GatewayError('GATEWAY_ERR_DB_LOCKED', `${path} is already open in this process`);
  const ownerPath = takeOwnership(path, options.waitForLockMs ?? 0);
  let raw: VendorDatabase;
  try {
    raw = new vendor.Database(path);
    raw.exec('PRAGMA locking_mode=EXCLUSIVE');
    const mode = raw.get('PRAGMA journal_mode=WAL') as { journal_mode?: string } | null;
    if (mode?.journal_mode !== 'wal')
      throw new Error(`journal_mode is ${String(mode?.journal_mode)}, not wal`);
    raw.exec('PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=0');
    // Takes the exclusive lock now rather than at the first write.
    raw.exec('BEGIN IMMEDIATE; COMMIT');
  } catch (err) {
    rmSync(ownerPath, { force: true });
    if (err instanceof GatewayError) throw err;
    const locked = err instanceof Error && /locked|busy/i.test(err.message);
    throw new GatewayError(
      locked ? 'GATEWAY_ERR_DB_LOCKED' : 'GATEWAY_ERR_DB_OPEN',
      `${path}: ${String(err)}`,
      {
        cause: err,
      },
    );
  }
  openPaths.add(path);
  const db: VendorDatabase = raw;
  const cache = new Map<string, VendorStatement>();
  let savepointDepth = 0;
  let pending: (() => void)[] = [];
  let beforeCommits: { key: string; fn: () => void }[] = [];
  /** Close a file handle once open (FileHandle.close waits for an fsync in flight); errors are moot. */
  function closeHandle(handle: Promise<FileHandle>): void {
    handle.then((h) => h.close()).catch(() => undefined);
  }
  /** The WAL file, opened for {@link SqliteDb.transactionDurableLater}'s fsyncs. */
  let wal: Promise<FileHandle> | undefined;

  async function syncWal(): Promise<void> {
    wal ??= open(`${path}-wal`, 'r+');
    const opened = wal;
    try {
      await (await opened).sync();
    } catch (err) {
      // Opened again by the next sync: a failed open is not cached, a failing file not kept.
      if (wal === opened) {
        wal = undefined;
        closeHandle(opened);
      }
      throw err;
    }
  }

  function runBeforeCommits(): void {
    // A callback may queue more (and run nested transactions): drain until nothing is left.
    while (beforeCommits.length > 0) {
      const batch = beforeCommits;
      beforeCommits = [];
      const seen = new Set<string>();
      for (const { key, fn } of batch) {
        if (seen.has(key)) continue;
        seen.add(key);
        fn();
      }
    }
  }

  function runCallbacks(fns: (() => void)[]): void {
    for (const fn of fns) {
      try {
        fn();
      } catch (err) {
        log.error({ err }, 'after-commit callback failed');
      }
    }
  }

  function statement(sql: string): VendorStatement {
    let s = cache.get(sql);
    if (s === undefined) {
      try {
        s = db.prepare(sql);
      } catch (err) {
        throw dbError(err, sql);
      }
      cache.set(sql, s);
    }
    return s;
  }

  /**
   * Finalize a statement. sqlite3_finalize repeats the error of the statement's last step, which
   * the library throws; that error was already reported when it happened.
   */
  function finalize(s: VendorStatement): void {
    if (s.isFinalized) return;
    try {
      s.finalize();
    } catch (err) {
      log.debug({ err }, 'finalize repeated the last step error');
    }
  }

  /**
   * After a failed step a statement cannot be reset for its next use (reset repeats the error),
   * so a failed cached statement is dropped and prepared afresh next time.
   */
  function failed(sql: string, err: unknown): GatewayError {
    const s = cache.get(sql);
    if (s !== undefined) {
      cache.delete(sql);
      finalize(s);
    }
    return dbError(err, sql);
  }

  function makeStatement<R extends object>(sql: string): Statement<R> {
    return {
      all(params) {
        try {
          return statement(sql).all(toVendorParams(params)) as unknown as R[];
        } catch (err) {
          throw failed(sql, err);
        }
      },
      get(params) {
        try {
          let first: R | undefined;
          // Step to the end: a statement left on its first row keeps a read transaction open.
          for (const row of statement(sql).iterate(toVendorParams(params))) {
            first ??= row as unknown as R;
          }
          return first;
        } catch (err) {
          throw failed(sql, err);
        }
      },
      run(params) {
        try {
          const r = statement(sql).run(toVendorParams(params));
          return { changes: r.changes, lastInsertRowid: asNumber(r.lastInsertRowid) };
        } catch (err) {
          throw failed(sql, err);
        }
      },
    };
  }

  const api: SqliteDb = {
    path,
    prepare: makeStatement,
    run: (sql, params) => makeStatement(sql).run(params),
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- R names the selected row's shape
    get: <R extends object>(sql: string, params?: SqlParams) => makeStatement<R>(sql).get(params),
    all: <R extends object>(sql: string, params?: SqlParams) => makeStatement<R>(sql).all(params),
    *iterate<R extends object>(sql: string, params?: SqlParams): Generator<R, void, undefined> {
      let s: VendorStatement;
      try {
        s = db.prepare(sql);
      } catch (err) {
        throw dbError(err, sql);
      }
      try {
        for (const row of s.iterate(toVendorParams(params))) yield row as unknown as R;
      } catch (err) {
        throw dbError(err, sql);
      } finally {
        finalize(s);
      }
    },
    exec(sql) {
      try {
        db.exec(sql);
      } catch (err) {
        throw dbError(err, sql);
      }
    },
    transaction<T>(fn: () => T): T {
      const nested = db.inTransaction;
      const name = `sp${savepointDepth}`;
      const pendingBefore = pending.length;
      const beforeCommitsBefore = beforeCommits.length;
      api.exec(nested ? `SAVEPOINT ${name}` : 'BEGIN IMMEDIATE');
      savepointDepth++;
      let result: T;
      try {
        result = fn();
        if (result instanceof Promise) {
          // The promise's own outcome is moot once the transaction is undone; never leave it unhandled.
          result.catch(() => undefined);
          throw new TypeError('transaction(fn): fn must be synchronous');
        }
        if (!nested) runBeforeCommits();
        api.exec(nested ? `RELEASE ${name}` : 'COMMIT');
      } catch (err) {
        if (db.inTransaction) {
          db.exec(nested ? `ROLLBACK TO ${name}; RELEASE ${name}` : 'ROLLBACK');
        }
        pending.length = nested ? pendingBefore : 0;
        beforeCommits.length = nested ? Math.min(beforeCommitsBefore, beforeCommits.length) : 0;
        throw err;
      } finally {
        savepointDepth--;
      }
      if (!nested) {
        const fns = pending;
        pending = [];
        runCallbacks(fns);
      }
      return result;
    },
    transactionDurableLater<T>(fn: () => T): { result: T; durable: Promise<void> } {
      if (db.inTransaction) throw new TypeError('transactionDurableLater: already inside a transaction');
      api.exec('PRAGMA synchronous=NORMAL');
      let result: T;
      try {
        result = api.transaction(fn);
      } finally {
        api.exec('PRAGMA synchronous=FULL');
      }
      return { result, durable: syncWal() };
    },
    get inTransaction() {
      return db.inTransaction;
    },
    afterCommit(fn) {
      if (db.inTransaction) pending.push(fn);
      else runCallbacks([fn]);
    },
    beforeCommit(key, fn) {
      if (db.inTransaction) beforeCommits.push({ key, fn });
      else fn();
    },
    migrate(module, migrations) {
      api.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, ' +
          'name TEXT NOT NULL, applied_ms INTEGER NOT NULL, PRIMARY KEY (module, version))',
      );
      const sorted = [...migrations].sort((a, b) => a.version - b.version);
      sorted.forEach((m, i) => {
        if (m.version !== i + 1) {
          throw new GatewayError('GATEWAY_ERR_DB_MIGRATION', `${module}: versions must be 1..n without gaps`);
        }
      });
      const current = api.schemaVersion(module);
      if (current > sorted.length) {
        throw new GatewayError(
          'GATEWAY_ERR_DB_MIGRATION',
          `${module}: the database is at version ${current}, this gateway knows only ${sorted.length} (downgrade?)`,
        );
      }
      for (const m of sorted.slice(current)) {
        try {
          api.transaction(() => {
            api.exec(m.sql);
            api.run('INSERT INTO schema_migrations (module, version, name, applied_ms) VALUES (?, ?, ?, ?)', [
              module,
              m.version,
              m.name,
              Date.now(),
            ]);
          });
        } catch (err) {
          throw new GatewayError(
            'GATEWAY_ERR_DB_MIGRATION',
            `${module} v${m.version} (${m.name}): ${String(err)}`,
            {
              cause: err,
            },
          );
        }
      }
    },
    schemaVersion(module) {
      const exists = api.get(
        "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
      );
      if (exists === undefined) return 0;
      const row = api.get<{ v: number | null }>(
        'SELECT MAX(version) AS v FROM schema_migrations WHERE module = ?',
        [module],
      );
      return row?.v ?? 0;
    },
    backupTo(target) {
      if (existsSync(target)) throw new GatewayError('GATEWAY_ERR_CONFLICT', `${target} exists`);
      api.run('VACUUM INTO ?', [target]);
    },
    close() {
      if (!db.isOpen) return;
      for (const s of cache.values()) finalize(s);
      cache.clear();
      if (wal !== undefined) closeHandle(wal);
      wal = undefined;
      try {
        db.close();
      } finally {
        openPaths.delete(path);
        rmSync(ownerPath, { force: true });
      }
    },
    get isOpen() {
      return db.isOpen;
    },
  };
  return api;
}
