/**
 * The SQLite adapter against real files: migrations, transactions, after-commit callbacks,
 * locking between processes (a real second process holding the file, then killed with SIGKILL
 * as in a crash), durability of committed rows, backups.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { openSqlite, type Migration, type SqliteDb } from '../../../gateway/src/registry/sqlite.ts';
import { makeTempDir, spawnManaged, type ManagedChild, type TempDir } from '../../bench/lifetime.ts';

const HOLD = fileURLToPath(new URL('./fixtures/hold-db.ts', import.meta.url));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): TempDir {
  const dir = makeTempDir('sqlite');
  cleanups.push(() => {
    dir.remove();
  });
  return dir;
}

function open(path: string): SqliteDb {
  const db = openSqlite(path);
  cleanups.push(() => {
    db.close();
  });
  return db;
}

function holdInChild(path: string, rows: number): { child: ManagedChild; ready: Promise<void> } {
  const child = spawnManaged(process.execPath, ['--import', 'tsx', HOLD, path, String(rows)], {
    name: 'hold-db',
    pipeStdout: true,
    stopSignal: 'SIGKILL',
  });
  cleanups.push(() => child.stop());
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.process.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    });
    void child.exited.then((e) => {
      reject(new Error(`hold-db exited early: ${JSON.stringify(e)}`));
    });
  });
  return { child, ready };
}

const M1: Migration = { version: 1, name: 'one', sql: 'CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)' };
const M2: Migration = {
  version: 2,
  name: 'two',
  sql: 'ALTER TABLE a ADD COLUMN w INTEGER NOT NULL DEFAULT 7',
};

describe('migrations', () => {
  it('apply in order, once, per module, and survive a reopen', () => {
    const path = join(tempDir().path, 'm.sqlite');
    let db = openSqlite(path);
    db.migrate('mod', [M1]);
    db.migrate('mod', [M1]);
    expect(db.schemaVersion('mod')).toBe(1);
    expect(db.schemaVersion('other')).toBe(0);
    db.run('INSERT INTO a (v) VALUES (?)', ['x']);
    db.close();
    db = open(path);
    db.migrate('mod', [M2, M1]);
    expect(db.schemaVersion('mod')).toBe(2);
    expect(db.get<{ v: string; w: number }>('SELECT v, w FROM a')).toEqual({ v: 'x', w: 7 });
  });

  it('refuse a database newer than the code (downgrade) and lists with gaps', () => {
    const db = open(join(tempDir().path, 'm.sqlite'));
    db.migrate('mod', [M1, M2]);
    expect(() => {
      db.migrate('mod', [M1]);
    }).toThrow(/downgrade/);
    expect(() => {
      db.migrate('gap', [M2]);
    }).toThrow(/without gaps/);
  });

  it('roll back a failing migration entirely', () => {
    const db = open(join(tempDir().path, 'm.sqlite'));
    const bad: Migration = {
      version: 1,
      name: 'bad',
      sql: 'CREATE TABLE b (id INTEGER); CREATE TABLE b (id INTEGER)',
    };
    let caught: unknown;
    try {
      db.migrate('bad', [bad]);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_DB_MIGRATION')).toBe(true);
    expect(db.schemaVersion('bad')).toBe(0);
    expect(db.get("SELECT name FROM sqlite_master WHERE name = 'b'")).toBeUndefined();
  });
});

describe('statements and transactions', () => {
  it('bind positional and named parameters and report changes', () => {
    const db = open(join(tempDir().path, 's.sqlite'));
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n INTEGER)');
    expect(db.run('INSERT INTO t (v, n) VALUES (?, ?)', ['a', 1])).toEqual({
      changes: 1,
      lastInsertRowid: 1,
    });
    db.run('INSERT INTO t (v, n) VALUES (:v, :n)', { ':v': 'b', ':n': 2 });
    expect(db.all<{ v: string }>('SELECT v FROM t ORDER BY id').map((r) => r.v)).toEqual(['a', 'b']);
    expect(db.get('SELECT * FROM t WHERE v = ?', ['zz'])).toBeUndefined();
    expect(db.prepare<{ n: number }>('SELECT n FROM t WHERE v = ?').get(['b'])).toEqual({ n: 2 });
    let caught: unknown;
    try {
      db.run('INSERT INTO t (v, n) VALUES (?, ?)', ['a', 3]);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_CONFLICT')).toBe(true);
    // The statement that failed works again on its next use.
    expect(db.run('INSERT INTO t (v, n) VALUES (?, ?)', ['c', 3]).changes).toBe(1);
    expect(() => db.run('INSERT INTO t (v, n) VALUES (?, ?)', ['c', 4])).toThrow(/UNIQUE/);
    expect(db.run('INSERT INTO t (v, n) VALUES (?, ?)', ['d', 4]).changes).toBe(1);
  });

  it('commit, roll back on throw, nest as savepoints, refuse async bodies', () => {
    const db = open(join(tempDir().path, 's.sqlite'));
    db.exec('CREATE TABLE t (v TEXT)');
    db.transaction(() => db.run('INSERT INTO t VALUES (?)', ['kept']));
    expect(() =>
      db.transaction(() => {
        db.run('INSERT INTO t VALUES (?)', ['undone']);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    db.transaction(() => {
      db.run('INSERT INTO t VALUES (?)', ['outer']);
      expect(() =>
        db.transaction(() => {
          db.run('INSERT INTO t VALUES (?)', ['inner undone']);
          throw new Error('inner');
        }),
      ).toThrow('inner');
      db.transaction(() => db.run('INSERT INTO t VALUES (?)', ['inner kept']));
    });
    expect(() => db.transaction(() => Promise.resolve(1))).toThrow(/synchronous/);
    expect(db.inTransaction).toBe(false);
    expect(db.all<{ v: string }>('SELECT v FROM t').map((r) => r.v)).toEqual(['kept', 'outer', 'inner kept']);
  });

  it('run after-commit callbacks only for committed work', () => {
    const db = open(join(tempDir().path, 's.sqlite'));
    const seen: string[] = [];
    db.afterCommit(() => seen.push('immediate'));
    db.transaction(() => {
      db.afterCommit(() => seen.push('outer'));
      expect(() =>
        db.transaction(() => {
          db.afterCommit(() => seen.push('rolled back savepoint'));
          throw new Error('x');
        }),
      ).toThrow('x');
      db.transaction(() => {
        db.afterCommit(() => seen.push('kept savepoint'));
      });
      expect(seen).toEqual(['immediate']);
    });
    expect(() =>
      db.transaction(() => {
        db.afterCommit(() => seen.push('rolled back'));
        throw new Error('y');
      }),
    ).toThrow('y');
    db.transaction(() => {
      db.afterCommit(() => {
        throw new Error('a failing callback is logged, not thrown');
      });
      db.afterCommit(() => seen.push('after a failing one'));
    });
    expect(seen).toEqual(['immediate', 'outer', 'kept savepoint', 'after a failing one']);
  });

  it('runs before-commit work once per key, inside the transaction, dropped on rollback', () => {
    const db = open(join(tempDir().path, 's.sqlite'));
    db.exec('CREATE TABLE t (v TEXT); CREATE TABLE derived (n INTEGER)');
    let runs = 0;
    const derive = (): void => {
      runs++;
      expect(db.inTransaction).toBe(true);
      db.run('DELETE FROM derived');
      db.run('INSERT INTO derived SELECT COUNT(*) FROM t');
    };
    db.transaction(() => {
      for (let i = 0; i < 5; i++) {
        db.run('INSERT INTO t VALUES (?)', [`v${i}`]);
        db.beforeCommit('derived', derive);
      }
      expect(runs).toBe(0);
    });
    expect(runs).toBe(1);
    expect(db.get<{ n: number }>('SELECT n FROM derived')?.n).toBe(5);
    expect(() =>
      db.transaction(() => {
        db.run('INSERT INTO t VALUES (?)', ['x']);
        db.beforeCommit('derived', derive);
        throw new Error('undo');
      }),
    ).toThrow('undo');
    db.transaction(() => {
      expect(() =>
        db.transaction(() => {
          db.beforeCommit('derived', derive);
          throw new Error('inner');
        }),
      ).toThrow('inner');
    });
    expect(runs).toBe(1);
    expect(() => {
      db.transaction(() => {
        db.run('INSERT INTO t VALUES (?)', ['y']);
        db.beforeCommit('fails', () => {
          throw new Error('derived state failed');
        });
      });
    }).toThrow('derived state failed');
    expect(db.get<{ c: number }>('SELECT COUNT(*) AS c FROM t')?.c).toBe(5);
    // Outside a transaction it runs at once.
    db.beforeCommit('now', () => {
      runs++;
    });
    expect(runs).toBe(2);
  });

  it('iterate can stop early without leaving the statement open', () => {
    const db = open(join(tempDir().path, 's.sqlite'));
    db.exec('CREATE TABLE t (n INTEGER)');
    db.transaction(() => {
      for (let i = 0; i < 100; i++) db.run('INSERT INTO t VALUES (?)', [i]);
    });
    let count = 0;
    for (const row of db.iterate<{ n: number }>('SELECT n FROM t ORDER BY n')) {
      if (row.n >= 9) break;
      count++;
    }
    expect(count).toBe(9);
    db.transaction(() => db.run('DELETE FROM t WHERE n < 50'));
    expect(db.get<{ c: number }>('SELECT COUNT(*) AS c FROM t')?.c).toBe(50);
  });
});

describe('files, locking and durability', () => {
  it('uses WAL with exclusive locking and synchronous=FULL', () => {
    const db = open(join(tempDir().path, 'p.sqlite'));
    expect(db.get<{ journal_mode: string }>('PRAGMA journal_mode')?.journal_mode).toBe('wal');
    expect(db.get<{ locking_mode: string }>('PRAGMA locking_mode')?.locking_mode).toBe('exclusive');
    expect(db.get<{ synchronous: number }>('PRAGMA synchronous')?.synchronous).toBe(2);
    expect(db.get<{ foreign_keys: number }>('PRAGMA foreign_keys')?.foreign_keys).toBe(1);
  });

  it('a commit made durable later: visible at once, no fsync on the event loop, durable after the WAL fsync, synchronous=FULL again', async () => {
    const db = open(join(tempDir().path, 'p.sqlite'));
    db.exec('CREATE TABLE t (x INTEGER)');
    // The vendor's VFS calls node:fs's fsyncSync (CommonJS module object) for every xSync.
    const fsCjs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
    const fsync = vi.spyOn(fsCjs, 'fsyncSync');
    try {
      db.transaction(() => db.run('INSERT INTO t VALUES (1)'));
      expect(fsync.mock.calls.length).toBeGreaterThan(0);
      fsync.mockClear();
      const { result, durable } = db.transactionDurableLater(
        () => db.run('INSERT INTO t VALUES (2)').changes,
      );
      expect(result).toBe(1);
      expect(fsync).not.toHaveBeenCalled();
      expect(db.all('SELECT x FROM t ORDER BY x')).toEqual([{ x: 1 }, { x: 2 }]);
      await expect(durable).resolves.toBeUndefined();
      expect(db.get<{ synchronous: number }>('PRAGMA synchronous')?.synchronous).toBe(2);
      // A failing body rolls back, and the next plain commit syncs as before.
      expect(() =>
        db.transactionDurableLater(() => {
          db.run('INSERT INTO t VALUES (3)');
          throw new Error('no');
        }),
      ).toThrow('no');
      expect(db.get<{ synchronous: number }>('PRAGMA synchronous')?.synchronous).toBe(2);
      expect(db.all('SELECT x FROM t ORDER BY x')).toEqual([{ x: 1 }, { x: 2 }]);
      expect(() => db.transaction(() => db.transactionDurableLater(() => 1))).toThrow(TypeError);
    } finally {
      fsync.mockRestore();
    }
  });

  it('refuses a second open of the same file in this process, allows it after close', () => {
    const path = join(tempDir().path, 'p.sqlite');
    const db = openSqlite(path);
    let caught: unknown;
    try {
      openSqlite(path);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_DB_LOCKED')).toBe(true);
    db.close();
    db.close();
    open(path).exec('SELECT 1');
    expect(existsSync(`${path}.owner`)).toBe(true);
  });

  it('refuses a file another live process holds, and recovers it after that process is killed', async () => {
    const path = join(tempDir().path, 'p.sqlite');
    const { child, ready } = holdInChild(path, 25);
    await ready;
    let caught: unknown;
    try {
      openSqlite(path);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_DB_LOCKED')).toBe(true);
    expect((caught as Error).message).toContain(String(child.pid));

    const exit = await child.stop();
    expect(exit.signal).toBe('SIGKILL');
    // A crash leaves the lock directory and the owner file behind.
    expect(existsSync(`${path}.lock`)).toBe(true);
    expect(existsSync(`${path}.owner`)).toBe(true);

    const db = open(path);
    expect(db.get<{ c: number }>('SELECT COUNT(*) AS c FROM t')?.c).toBe(25);
    expect(db.get<{ integrity_check: string }>('PRAGMA integrity_check')?.integrity_check).toBe('ok');
  });

  it('keeps committed rows across close and reopen; backupTo makes a usable copy', () => {
    const dir = tempDir();
    const path = join(dir.path, 'p.sqlite');
    let db = openSqlite(path);
    db.exec('CREATE TABLE t (v TEXT)');
    db.transaction(() => {
      for (let i = 0; i < 10; i++) db.run('INSERT INTO t VALUES (?)', [`v${i}`]);
    });
    const copy = join(dir.path, 'copy.sqlite');
    db.backupTo(copy);
    let caught: unknown;
    try {
      db.backupTo(copy);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_CONFLICT')).toBe(true);
    db.close();
    db = open(path);
    expect(db.get<{ c: number }>('SELECT COUNT(*) AS c FROM t')?.c).toBe(10);
    const backup = open(copy);
    expect(backup.all<{ v: string }>('SELECT v FROM t').length).toBe(10);
  });

  it('reports an unusable path as GATEWAY_ERR_DB_OPEN', () => {
    const dir = tempDir();
    let caught: unknown;
    try {
      openSqlite(join(dir.path, 'no', 'such', 'dir', 'x.sqlite'));
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_DB_OPEN')).toBe(true);
  });
});
