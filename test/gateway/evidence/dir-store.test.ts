/**
 * The content-addressed evidence directory on a real file system: layout, hashing, idempotent
 * puts, verification on read, refusal of every id that is not a sha256 (path traversal), and a
 * full disk (a real ENOSPC from a tiny tmpfs in a private mount namespace).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirEvidenceStore } from '../../../gateway/src/evidence/dir-store.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Every file under `dir`, relative to it. */
function walk(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((name) => {
    const r = rel === '' ? name : `${rel}/${name}`;
    return statSync(join(dir, r)).isDirectory() ? walk(dir, r) : [r];
  });
}

let tmp: TempDir;
let store: DirEvidenceStore;
let registry: Registry;
beforeEach(async () => {
  tmp = makeTempDir('evidence');
  registry = new Registry();
  store = await DirEvidenceStore.open({ dir: join(tmp.path, 'store'), registry });
});
afterEach(() => {
  store.close();
  tmp.remove();
});

describe('put and get', () => {
  it('stores bytes at <aa>/<bb>/<sha256>.jpg and reads them back', async () => {
    const bytes = Buffer.from('\xff\xd8\xff\xe0 a jpeg, more or less');
    const id = await store.put(bytes);
    expect(id).toBe(sha(bytes));
    expect(walk(store.dir)).toEqual([`${id.slice(0, 2)}/${id.slice(2, 4)}/${id}.jpg`]);
    expect(readFileSync(store.pathOf(id))).toEqual(bytes);
    expect(Buffer.from((await store.get(id)) ?? [])).toEqual(bytes);
    expect(await store.has(id)).toBe(true);
    expect(await store.put(bytes, id)).toBe(id);
  });

  it('refuses bytes that do not match the expected hash, storing nothing', async () => {
    const bytes = Buffer.from('crop');
    await expect(store.put(bytes, sha(Buffer.from('other')))).rejects.toMatchObject({
      code: 'GATEWAY_ERR_EVIDENCE_HASH',
    });
    await expect(store.put(bytes, 'ABC')).rejects.toMatchObject({ code: 'GATEWAY_ERR_EVIDENCE_ID' });
    expect(walk(store.dir)).toEqual([]);
    expect(
      await registry.getSingleMetricAsString('sharpeyes_gateway_evidence_hash_mismatches_total'),
    ).toContain(' 1');
  });

  it('storing what is there is a no-op; concurrent puts of the same bytes leave one file', async () => {
    const bytes = Buffer.alloc(50_000, 7);
    const id = await store.put(bytes);
    const before = statSync(store.pathOf(id));
    expect(await store.put(bytes)).toBe(id);
    expect(statSync(store.pathOf(id)).ino).toBe(before.ino);
    const other = Buffer.alloc(40_000, 9);
    const ids = await Promise.all(Array.from({ length: 8 }, () => store.put(other)));
    expect(new Set(ids)).toEqual(new Set([sha(other)]));
    expect(walk(store.dir).sort()).toEqual(
      [id, sha(other)].map((s) => `${s.slice(0, 2)}/${s.slice(2, 4)}/${s}.jpg`).sort(),
    );
  });

  it('storing the same bytes again restarts their age (evidence retention goes by it)', async () => {
    const bytes = Buffer.alloc(1000, 3);
    const id = await store.put(bytes);
    const old = new Date(Date.now() - 40 * 86_400_000);
    utimesSync(store.pathOf(id), old, old);
    await store.put(bytes);
    expect(statSync(store.pathOf(id)).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('a file that cannot be read is GATEWAY_ERR_EVIDENCE_READ, not missing', async () => {
    const id = sha(Buffer.from('in the way'));
    mkdirSync(store.pathOf(id), { recursive: true });
    await expect(store.get(id)).rejects.toMatchObject({ code: 'GATEWAY_ERR_EVIDENCE_READ' });
    expect(await store.has(id)).toBe(false);
  });

  it('an unknown id reads as undefined', async () => {
    expect(await store.get('0'.repeat(64))).toBeUndefined();
    expect(await store.has('0'.repeat(64))).toBe(false);
  });

  it('a damaged file is never returned as evidence, and a put repairs it', async () => {
    const bytes = Buffer.alloc(1000, 3);
    const id = await store.put(bytes);
    writeFileSync(store.pathOf(id), Buffer.alloc(1000, 4)); // same size, other content
    await expect(store.get(id)).rejects.toMatchObject({ code: 'GATEWAY_ERR_EVIDENCE_HASH' });
    await store.put(bytes);
    expect(Buffer.from((await store.get(id)) ?? [])).toEqual(bytes);
    writeFileSync(store.pathOf(id), Buffer.alloc(10, 3)); // truncated
    await store.put(bytes);
    expect(Buffer.from((await store.get(id)) ?? [])).toEqual(bytes);
  });
});

describe('ids are sha256 or nothing: no path traversal', () => {
  const hex = 'a'.repeat(64);
  const hostile: unknown[] = [
    '',
    '..',
    '../../../../etc/passwd',
    '/etc/passwd',
    `../${hex.slice(3)}`,
    `${hex.slice(0, 62)}/.`,
    `${hex}/../x`,
    `${hex}\u0000`,
    `\u0000${hex.slice(1)}`,
    hex.toUpperCase(),
    `${hex.slice(1)}g`,
    ` ${hex.slice(1)}`,
    `${hex}\n`,
    `${hex}.jpg`,
    hex.slice(1),
    `${hex}a`,
    '..%2f..%2fetc%2fpasswd',
    'C:\\Windows\\win.ini',
    null,
    undefined,
    64,
    {},
    [hex],
  ];
  const label = (h: unknown): string => (h === undefined ? 'undefined' : JSON.stringify(h));
  it.each(hostile.map((h) => [label(h), h]))('refuses %s everywhere', async (_name, id) => {
    const s = id as string;
    expect(() => store.pathOf(s)).toThrow(
      expect.objectContaining({ code: 'GATEWAY_ERR_EVIDENCE_ID' }) as Error,
    );
    await expect(store.get(s)).rejects.toMatchObject({ code: 'GATEWAY_ERR_EVIDENCE_ID' });
    await expect(store.has(s)).rejects.toMatchObject({ code: 'GATEWAY_ERR_EVIDENCE_ID' });
    if (id !== undefined)
      await expect(store.put(Buffer.from('x'), s)).rejects.toMatchObject({
        code: 'GATEWAY_ERR_EVIDENCE_ID',
      });
  });

  it('every path it builds lies inside the store', () => {
    for (let i = 0; i < 200; i++) {
      const id = sha(Buffer.from(String(i)));
      expect(store.pathOf(id).startsWith(`${store.dir}/`)).toBe(true);
    }
    expect(readdirSync(tmp.path)).toEqual(['store']);
  });
});

describe('temp files', () => {
  it('removes stale temp files a crash left, keeps fresh ones and evidence', async () => {
    const id = await store.put(Buffer.from('keep me'));
    const leaf = join(store.dir, id.slice(0, 2), id.slice(2, 4));
    const stale = join(leaf, `.${id}.1.aaaa.tmp`);
    const fresh = join(leaf, `.${id}.2.bbbb.tmp`);
    writeFileSync(stale, 'partial');
    writeFileSync(fresh, 'partial');
    const old = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(stale, old, old);
    mkdirSync(join(store.dir, 'not-hex'));
    expect(await store.removeStaleTempFiles()).toBe(1);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(await store.get(id)).toBeDefined();
  });
});

/** Whether we may make a private mount namespace with a tmpfs (root, or a user namespace). */
function canMountTmpfs(): string | undefined {
  const r = spawnSync(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'],
    {
      encoding: 'utf8',
    },
  );
  return r.status === 0
    ? undefined
    : `cannot mount a tmpfs in a private mount namespace: ${(r.stderr || r.error?.message) ?? ''}`;
}

const noTmpfs = canMountTmpfs();
describe('a full disk', () => {
  // Needs a mount namespace (root here); without one there is no way to fill a disk safely.
  it.skipIf(noTmpfs !== undefined)(
    `reports ENOSPC as GATEWAY_ERR_EVIDENCE_WRITE and leaves no partial file${noTmpfs ? ` (skipped: ${noTmpfs})` : ''}`,
    () => {
      const dir = join(tmp.path, 'small');
      mkdirSync(dir);
      const script = join(import.meta.dirname, 'fill-disk.ts');
      // The tmpfs exists only in the child's private mount namespace: it goes away with the child.
      const r = spawnSync(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" --import tsx "$3" "$1/store" 30000 20',
          'sh',
          dir,
          process.execPath,
          script,
        ],
        { encoding: 'utf8', cwd: join(import.meta.dirname, '..', '..', '..'), timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as {
        results: Array<{ ok: boolean; code?: string; message?: string }>;
        files: string[];
        verified: number[];
      };
      const stored = out.results.filter((x) => x.ok);
      const failed = out.results.filter((x) => !x.ok);
      expect(stored.length).toBeGreaterThan(2);
      expect(failed.length).toBeGreaterThan(2);
      for (const f of failed) {
        expect(f.code).toBe('GATEWAY_ERR_EVIDENCE_WRITE');
        expect(f.message).toContain('ENOSPC');
      }
      // Only complete evidence files: no temp file, no partial .jpg, each verifying.
      expect(out.files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(out.files).toHaveLength(stored.length);
      expect(out.verified).toEqual(stored.map(() => 30_000));
      // Nothing of the tmpfs is visible out here.
      expect(readdirSync(dir)).toEqual([]);
    },
  );
});
