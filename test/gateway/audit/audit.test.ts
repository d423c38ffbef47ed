/**
 * The audit trail against a real SQLite file: canonical JSON, appends, the chain, and
 * verification that pinpoints a record altered, removed or relinked directly in SQLite (the
 * append-only triggers are dropped first, as someone with the file could), plus truncation
 * caught against an anchor, and the `gateway audit verify` command.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditAccess } from '../../../gateway/src/audit/access.ts';
import { GENESIS_HASH, canonicalJson, recordHash } from '../../../gateway/src/audit/canonical.ts';
import type { AuditEntry } from '../../../gateway/src/audit/log.ts';
import { verifyAuditChain } from '../../../gateway/src/audit/verify.ts';
import { runAudit } from '../../../gateway/src/cli/audit.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { openSqlite } from '../../../gateway/src/registry/sqlite.ts';
import { openTestDb, type TestDb } from '../registry/helpers.ts';

describe('canonicalJson', () => {
  const cases: [string, unknown, string][] = [
    ['sorted keys, nested', { b: 1, a: { d: [1, 'x'], c: null } }, '{"a":{"c":null,"d":[1,"x"]},"b":1}'],
    ['undefined members dropped', { a: undefined, b: true }, '{"b":true}'],
    [
      'unicode kept, escaped as JSON does',
      { plate: '粤B12345', q: 'say "hi"\n' },
      '{"plate":"粤B12345","q":"say \\"hi\\"\\n"}',
    ],
    ['numbers as JSON', { n: -0.5, i: 1e21, z: 0 }, '{"i":1e+21,"n":-0.5,"z":0}'],
    ['empty', {}, '{}'],
    ['dates as ISO strings', { t: new Date(Date.UTC(2025, 0, 2)) }, '{"t":"2025-01-02T00:00:00.000Z"}'],
  ];
  it.each(cases)('%s', (_name, value, text) => {
    expect(canonicalJson(value)).toBe(text);
  });

  const refused: [string, unknown][] = [
    ['NaN', { n: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['bigint', { n: 1n }],
    ['function', { f: () => 1 }],
    ['undefined in an array', [undefined]],
    ['class instance', { m: new Map() }],
  ];
  it.each(refused)('refuses %s', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });

  it('refuses cycles but allows shared references', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => canonicalJson(cyc)).toThrow(/cycle/);
  });

  it('recordHash covers every field and the previous hash', () => {
    const base = {
      seq: 1,
      time_ms: 5,
      actor: 'user:a',
      action: 'event.search',
      target: 'events',
      details: { reason: 'r' },
    };
    const h = recordHash(base, GENESIS_HASH);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    const variants = [
      { ...base, seq: 2 },
      { ...base, time_ms: 6 },
      { ...base, actor: 'user:b' },
      { ...base, action: 'event.get' },
      { ...base, target: 'x' },
      { ...base, details: { reason: 'R' } },
    ];
    for (const v of variants) expect(recordHash(v, GENESIS_HASH)).not.toBe(h);
    expect(recordHash(base, '1'.repeat(64))).not.toBe(h);
  });
});

describe('audit log in SQLite', () => {
  let t: TestDb;
  beforeEach(() => {
    t = openTestDb('audit');
  });
  afterEach(() => {
    t.close();
  });

  function fill(n: number): void {
    for (let i = 1; i <= n; i++) {
      t.clock.advance(1000);
      const entry: AuditEntry = {
        actor: `user:op${i % 3}`,
        action: i % 2 === 0 ? 'event.search' : 'evidence.fetch',
        target: i % 2 === 0 ? 'events' : `event:e${i}`,
        details: {
          reason: `case 2025-${i}`,
          filters: { plate: '粤B12345', kinds: ['plate'] },
          result_count: i,
        },
      };
      t.audit.append(entry);
    }
  }

  function dropTriggers(): void {
    t.db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
  }

  it('appends a gapless chain that verifies, and survives a reopen', () => {
    fill(20);
    const head = t.audit.head();
    expect(head.seq).toBe(20);
    const first = t.audit.get(1);
    expect(first?.prev_hash).toBe(GENESIS_HASH);
    expect(t.audit.get(2)?.prev_hash).toBe(first?.hash);
    expect(verifyAuditChain(t.db)).toEqual({ ok: true, records: 20, head });
    t.reopen();
    expect(verifyAuditChain(t.db, { expectedHead: head })).toEqual({ ok: true, records: 20, head });
    t.audit.append({ actor: 'system', action: 'retention.delete', details: { kind: 'plate', points: 1000 } });
    expect(t.audit.head().seq).toBe(21);
  });

  it('lists newest first with filters and a cursor', () => {
    fill(10);
    const page1 = t.audit.list({ action: 'event.search', limit: 3 });
    expect(page1.map((r) => r.seq)).toEqual([10, 8, 6]);
    const page2 = t.audit.list({ action: 'event.search', limit: 3, before_seq: 6 });
    expect(page2.map((r) => r.seq)).toEqual([4, 2]);
    expect(t.audit.list({ actor: 'user:op1' }).every((r) => r.actor === 'user:op1')).toBe(true);
    expect(page1[0]?.details).toEqual({
      reason: 'case 2025-10',
      filters: { plate: '粤B12345', kinds: ['plate'] },
      result_count: 10,
    });
  });

  it('records data access in one shape, undefined facts left out', async () => {
    const rec = await auditAccess(t.audit, 'user:op1', {
      action: 'event.search',
      reason: 'case 2025-0815',
      target: 'events',
      filters: { plate: '粤B12345', from_ms: 1, to_ms: 2 },
      resultCount: 3,
      via: 'rest',
    });
    expect(rec).toMatchObject({ seq: 1, actor: 'user:op1', action: 'event.search', target: 'events' });
    expect(t.audit.get(1)?.details).toEqual({
      reason: 'case 2025-0815',
      filters: { plate: '粤B12345', from_ms: 1, to_ms: 2 },
      result_count: 3,
      via: 'rest',
    });
  });

  it('grouped appends of one moment share one commit, in order, and a failed commit refuses the whole group', async () => {
    fill(2);
    const transaction = t.db.transaction.bind(t.db);
    let commits = 0;
    t.db.transaction = <T>(fn: () => T): T => {
      if (!t.db.inTransaction) commits++;
      return transaction(fn);
    };
    const fired: number[] = [];
    t.audit.appended.on((r) => fired.push(r.seq));
    const entry = (i: number, actor = `user:op${i}`): AuditEntry => ({
      actor,
      action: 'event.search',
      target: 'events',
      details: { reason: `case ${i}`, result_count: i },
    });
    const recs = await Promise.all(Array.from({ length: 30 }, (_, i) => t.audit.appendGrouped(entry(i))));
    expect(commits).toBe(1);
    expect(recs.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 3));
    expect(recs.map((r) => r.actor)).toEqual(Array.from({ length: 30 }, (_, i) => `user:op${i}`));
    expect(fired).toEqual(recs.map((r) => r.seq));
    expect(verifyAuditChain(t.db).ok).toBe(true);
    // An entry refused before it joins a group fails alone.
    await expect(t.audit.appendGrouped(entry(1, ''))).rejects.toMatchObject({
      code: 'GATEWAY_ERR_AUDIT_WRITE',
    });
    // A commit that fails refuses every record of its group; none is stored; the next group goes in.
    t.db.exec(
      "CREATE TRIGGER audit_log_boom BEFORE INSERT ON audit_log WHEN NEW.actor = 'user:bad' BEGIN SELECT RAISE(ABORT, 'disk gone'); END",
    );
    const group = [entry(1), entry(2, 'user:bad'), entry(3)].map((e) => t.audit.appendGrouped(e));
    const settled = await Promise.allSettled(group);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const r of settled) {
      if (r.status === 'rejected') expect(isGatewayError(r.reason, 'GATEWAY_ERR_AUDIT_WRITE')).toBe(true);
    }
    expect(t.audit.head().seq).toBe(32);
    expect((await t.audit.appendGrouped(entry(4))).seq).toBe(33);
    expect(verifyAuditChain(t.db).ok).toBe(true);
  });

  it('refuses UPDATE and DELETE through SQL (triggers)', () => {
    fill(2);
    expect(() => t.db.run("UPDATE audit_log SET actor = 'x' WHERE seq = 1")).toThrow(/append-only/);
    expect(() => t.db.run('DELETE FROM audit_log WHERE seq = 1')).toThrow(/append-only/);
  });

  it('refuses details that are not JSON data, and an empty actor', () => {
    let caught: unknown;
    try {
      t.audit.append({ actor: 'system', action: 'audit.read', details: { n: Number.NaN } });
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_AUDIT_WRITE')).toBe(true);
    expect(() => t.audit.append({ actor: '', action: 'audit.read' })).toThrow(/actor/);
    expect(() =>
      t.audit.append({ actor: 'system', action: 'audit.read', details: { big: 'x'.repeat(70_000) } }),
    ).toThrow(/exceed/);
    expect(t.audit.head().seq).toBe(0);
  });

  it('commits with an enclosing transaction or not at all; the hook fires only after commit', () => {
    const seen: number[] = [];
    t.audit.appended.on((r) => seen.push(r.seq));
    expect(() =>
      t.db.transaction(() => {
        t.audit.append({ actor: 'user:a', action: 'camera.update', target: 'camera:c1' });
        throw new Error('the change failed');
      }),
    ).toThrow('the change failed');
    expect(t.audit.head().seq).toBe(0);
    expect(seen).toEqual([]);
    t.db.transaction(() => {
      t.audit.append({ actor: 'user:a', action: 'camera.update', target: 'camera:c1' });
      expect(seen).toEqual([]);
    });
    expect(seen).toEqual([1]);
    expect(verifyAuditChain(t.db).ok).toBe(true);
  });

  const tampering: [string, (t: TestDb) => void, number, string][] = [
    [
      'details altered',
      (x) => x.db.run(`UPDATE audit_log SET details = '{"reason":"nothing to see"}' WHERE seq = 7`),
      7,
      'altered',
    ],
    [
      'details made invalid JSON',
      (x) => x.db.run("UPDATE audit_log SET details = '{' WHERE seq = 4"),
      4,
      'altered',
    ],
    [
      'actor altered',
      (x) => x.db.run("UPDATE audit_log SET actor = 'user:nobody' WHERE seq = 12"),
      12,
      'altered',
    ],
    [
      'time altered',
      (x) => x.db.run('UPDATE audit_log SET time_ms = time_ms - 1 WHERE seq = 3'),
      3,
      'altered',
    ],
    [
      'hash altered',
      (x) => x.db.run(`UPDATE audit_log SET hash = '${'a'.repeat(64)}' WHERE seq = 9`),
      9,
      'altered',
    ],
    ['a record deleted', (x) => x.db.run('DELETE FROM audit_log WHERE seq = 5'), 5, 'removed'],
    [
      'three records deleted',
      (x) => x.db.run('DELETE FROM audit_log WHERE seq BETWEEN 10 AND 12'),
      10,
      'removed',
    ],
    ['the first record deleted', (x) => x.db.run('DELETE FROM audit_log WHERE seq = 1'), 1, 'removed'],
    [
      'two records swapped (seq renumbered)',
      (x) => {
        x.db.run('UPDATE audit_log SET seq = -6 WHERE seq = 6');
        x.db.run('UPDATE audit_log SET seq = 6 WHERE seq = 7');
        x.db.run('UPDATE audit_log SET seq = 7 WHERE seq = -6');
      },
      6,
      'altered',
    ],
    [
      'a record rewritten with a recomputed hash',
      (x) => {
        const r = x.audit.get(8);
        if (r === undefined) throw new Error('no record 8');
        const details = { ...r.details, result_count: 0 };
        const hash = recordHash({ ...r, details }, r.prev_hash);
        x.db.run('UPDATE audit_log SET details = ?, hash = ? WHERE seq = 8', [canonicalJson(details), hash]);
      },
      8,
      'relinked',
    ],
  ];

  it.each(tampering)('pinpoints tampering: %s', (_name, tamper, seq, kind) => {
    fill(15);
    dropTriggers();
    tamper(t);
    const result = verifyAuditChain(t.db);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.seq).toBe(seq);
      expect(result.kind).toBe(kind);
      expect(result.records).toBe(seq - 1);
      expect(result.message).toContain(String(seq));
    }
  });

  it('catches records cut off the end, or a rewritten tail, only against an anchor', () => {
    fill(15);
    const anchor = t.audit.head();
    dropTriggers();
    t.db.run('DELETE FROM audit_log WHERE seq > 12');
    expect(verifyAuditChain(t.db).ok).toBe(true);
    const truncated = verifyAuditChain(t.db, { expectedHead: anchor });
    expect(truncated).toMatchObject({ ok: false, seq: 13, kind: 'truncated' });

    // Rewrite the last three records consistently (new content, recomputed chain).
    const head12 = t.audit.head();
    t.db.run('DELETE FROM audit_log WHERE seq > 9');
    let prev = t.audit.head().hash;
    for (let seq = 10; seq <= 15; seq++) {
      const fields = { seq, time_ms: 1, actor: 'user:forger', action: 'audit.read', target: '', details: {} };
      const hash = recordHash(fields, prev);
      t.db.run(
        'INSERT INTO audit_log (seq, time_ms, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [seq, 1, 'user:forger', 'audit.read', '', '{}', prev, hash],
      );
      prev = hash;
    }
    expect(verifyAuditChain(t.db).ok).toBe(true);
    expect(verifyAuditChain(t.db, { expectedHead: head12 })).toMatchObject({
      ok: false,
      seq: 12,
      kind: 'anchor_mismatch',
    });
    expect(verifyAuditChain(t.db, { expectedHead: anchor })).toMatchObject({
      ok: false,
      seq: 15,
      kind: 'anchor_mismatch',
    });
  });

  it('never forks: a second record with the same predecessor is refused by the schema', () => {
    fill(3);
    const last = t.audit.get(3);
    if (last === undefined) throw new Error('no record 3');
    expect(() =>
      t.db.run(
        'INSERT INTO audit_log (seq, time_ms, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [4, 1, 'x', 'audit.read', '', '{}', last.prev_hash, 'f'.repeat(64)],
      ),
    ).toThrow(/UNIQUE/);
  });
});

describe('gateway audit verify', () => {
  let t: TestDb;
  beforeEach(() => {
    t = openTestDb('audit-cli');
  });
  afterEach(() => {
    t.close();
  });

  function run(args: string[]): { code: number; out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    const code = runAudit(
      args,
      (l) => out.push(l),
      (l) => err.push(l),
    );
    return { code, out, err };
  }

  it('exit 0 with the head on a sound chain, exit 1 naming the record on tamper', () => {
    for (let i = 0; i < 6; i++) t.audit.append({ actor: 'user:a', action: 'event.search', details: { i } });
    const head = t.audit.head();
    t.db.exec('DROP TRIGGER audit_log_no_update');
    t.db.close();

    const ok = run(['verify', '--db', t.path]);
    expect(ok.code).toBe(0);
    expect(ok.out.join('\n')).toContain('audit chain OK: 6 records');
    expect(ok.out.join('\n')).toContain(`head: seq 6 hash ${head.hash}`);
    const anchored = run(['verify', '--db', t.path, '--expect-seq', '6', '--expect-hash', head.hash]);
    expect(anchored.code).toBe(0);

    const db = openSqlite(t.path);
    db.run(`UPDATE audit_log SET details = '{"i":99}' WHERE seq = 4`);
    db.close();
    const bad = run(['verify', '--db', t.path]);
    expect(bad.code).toBe(1);
    expect(bad.out[0]).toMatch(/TAMPERED at record 4 \(altered\)/);
    const json = run(['verify', '--db', t.path, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out[0] ?? '')).toMatchObject({ ok: false, seq: 4, kind: 'altered' });
    t.db = openSqlite(t.path);
  });

  it('exit 3 while the database is open elsewhere or missing, exit 2 on bad arguments', () => {
    t.audit.append({ actor: 'user:a', action: 'event.search' });
    const locked = run(['verify', '--db', t.path]);
    expect(locked.code).toBe(3);
    expect(locked.err.join('\n')).toMatch(/in use|already open/);
    expect(run(['verify', '--db', join(t.dir.path, 'nope.sqlite')]).code).toBe(3);
    expect(run(['verify']).code).toBe(2);
    expect(run(['verify', '--db', t.path, '--expect-seq', '3']).code).toBe(2);
    expect(run(['verify', '--db', t.path, '--expect-seq', 'x', '--expect-hash', 'y']).code).toBe(2);
    expect(run(['verify', '--bogus']).code).toBe(2);
    expect(run(['frobnicate']).code).toBe(2);
    expect(run([]).code).toBe(2);
    expect(run(['--help']).code).toBe(0);
  });
});
