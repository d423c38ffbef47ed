/**
 * Evidence retention on a real directory and a real SQLite audit log: expired crops go, recent
 * ones and foreign files stay, and the deletion is an audited, chain-verified record.
 */
import { mkdirSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../gateway/src/audit/log.ts';
import { verifyAuditChain } from '../../../gateway/src/audit/verify.ts';
import { silentLogger } from '../../../gateway/src/log.ts';
import { openSqlite } from '../../../gateway/src/registry/index.ts';
import { sweepEvidence } from '../../../gateway/src/wiring/evidence-retention.ts';
import { makeTempDir } from '../../bench/lifetime.ts';

const DAY = 86_400_000;
const tmp = makeTempDir('evidence-retention');
afterAll(() => {
  tmp.remove();
});

function crop(dir: string, hex: string, ageMs: number, now: number): string {
  const leaf = join(dir, hex.slice(0, 2), hex.slice(2, 4));
  mkdirSync(leaf, { recursive: true });
  const path = join(leaf, `${hex}.jpg`);
  writeFileSync(path, 'jpeg');
  const t = (now - ageMs) / 1000;
  utimesSync(path, t, t);
  return path;
}

describe('evidence retention', () => {
  it('deletes crops past retention, keeps the rest, and audits the deletion', async () => {
    const now = Date.now();
    const dir = join(tmp.path, 'evidence');
    const old = crop(dir, 'a'.repeat(64), 40 * DAY, now);
    const recent = crop(dir, 'b'.repeat(64), 2 * DAY, now);
    const foreign = join(dir, 'aa', 'README');
    writeFileSync(foreign, 'not evidence');
    const db = openSqlite(join(tmp.path, 'registry.sqlite'));
    try {
      const audit = new AuditLog(db);
      const n = await sweepEvidence({ dir, keepMs: 31 * DAY, audit, logger: silentLogger(), now: () => now });
      expect(n).toBe(1);
      expect(existsSync(old)).toBe(false);
      expect(existsSync(recent)).toBe(true);
      expect(existsSync(foreign)).toBe(true);
      const rows = db.all<{ action: string; details: string }>('SELECT action, details FROM audit_log');
      const deletion = rows.find((r) => r.action === 'retention.delete');
      expect(JSON.parse(deletion?.details ?? '{}')).toMatchObject({ files: 1, bytes: 4 });
      expect(verifyAuditChain(db).ok).toBe(true);
      // Nothing more to delete: no second record.
      expect(
        await sweepEvidence({ dir, keepMs: 31 * DAY, audit, logger: silentLogger(), now: () => now }),
      ).toBe(0);
    } finally {
      db.close();
    }
  });

  it('copes with a store that has no files yet', async () => {
    const db = openSqlite(join(tmp.path, 'r2.sqlite'));
    try {
      const n = await sweepEvidence({
        dir: join(tmp.path, 'missing'),
        keepMs: DAY,
        audit: new AuditLog(db),
        logger: silentLogger(),
      });
      expect(n).toBe(0);
    } finally {
      db.close();
    }
  });
});
