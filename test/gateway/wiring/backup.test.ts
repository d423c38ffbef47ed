/** The daily registry backup: a consistent SQLite copy, opened and read back; old copies pruned. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../gateway/src/config/load.ts';
import { silentLogger } from '../../../gateway/src/log.ts';
import { openSqlite, Registry } from '../../../gateway/src/registry/index.ts';
import { AuditLog } from '../../../gateway/src/audit/log.ts';
import { backupRegistry } from '../../../gateway/src/wiring/maintenance.ts';
import { openStores } from '../../../gateway/src/wiring/stores.ts';
import { makeTempDir } from '../../bench/lifetime.ts';

const tmp = makeTempDir('registry-backup');
afterAll(() => {
  tmp.remove();
});

describe('registry backup', () => {
  it('writes a copy that opens with the same sites, and keeps only the newest copies', async () => {
    const stores = await openStores(parseConfig({ data_dir: join(tmp.path, 'gw') }), silentLogger());
    const dir = join(tmp.path, 'backups');
    let first = '';
    try {
      await stores.registry.sites.create('system', {
        siteId: 'village-7',
        name: 'Village 7',
        place: { district: 'D1' },
      });
      const day = 86_400_000;
      const t0 = Date.UTC(2026, 10, 1);
      first = backupRegistry(stores, dir, 2, t0);
      backupRegistry(stores, dir, 2, t0 + day);
      backupRegistry(stores, dir, 2, t0 + 2 * day);
    } finally {
      stores.close();
    }
    const kept = readdirSync(dir).sort();
    expect(kept).toEqual(['registry-20261102T000000Z.sqlite', 'registry-20261103T000000Z.sqlite']);
    expect(kept).not.toContain(first.split('/').pop());
    const copy = openSqlite(join(dir, kept[1] ?? ''));
    try {
      const registry = new Registry(copy, new AuditLog(copy));
      expect(registry.sites.list().map((s) => s.siteId)).toEqual(['village-7']);
    } finally {
      copy.close();
    }
  });
});
