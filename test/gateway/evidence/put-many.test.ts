/**
 * Batch puts into the content-addressed evidence directory on a real file system: one durability
 * barrier per batch (syncfs through `sync -f`, or fsync file by file), idempotency, per-blob
 * refusals that never touch the file system, and the syncfs helper's group commit. What a power
 * loss would do cannot be shown here; the tests show the barrier runs after every write of its
 * batch and that a batch is not reported stored before it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirEvidenceStore, type EvidenceDurability } from '../../../gateway/src/evidence/dir-store.ts';
import { FsBarrier } from '../../../gateway/src/evidence/fs-barrier.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const crop = (i: number): Buffer => Buffer.from(`\xff\xd8\xff\xe0 crop number ${i}`);

/** Every file under `dir`, relative to it. */
function walk(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((name) => {
    const r = rel === '' ? name : `${rel}/${name}`;
    return statSync(join(dir, r)).isDirectory() ? walk(dir, r) : [r];
  });
}

async function barriers(registry: Registry, mode: EvidenceDurability): Promise<number> {
  const m = await registry.getSingleMetric('sharpeyes_gateway_evidence_barriers_total')?.get();
  return m?.values.find((v) => v.labels.mode === mode)?.value ?? 0;
}

let tmp: TempDir;
const cleanups: (() => void)[] = [];
beforeEach(() => {
  tmp = makeTempDir('evidence-many');
});
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
  tmp.remove();
});

async function open(
  durability: EvidenceDurability,
): Promise<{ store: DirEvidenceStore; registry: Registry }> {
  const registry = new Registry();
  const store = await DirEvidenceStore.open({ dir: join(tmp.path, 'store'), registry, durability });
  cleanups.push(() => {
    store.close();
  });
  return { store, registry };
}

describe.each(['syncfs', 'fsync'] as const)('putMany with %s durability', (durability) => {
  it('stores a batch with one barrier, ids in input order, each blob once', async () => {
    const { store, registry } = await open(durability);
    const blobs = Array.from({ length: 200 }, (_, i) => crop(i));
    const input = [...blobs, blobs[0] as Buffer].map((bytes) => ({ bytes, sha256: sha(bytes) }));
    const r = await store.putMany(input, { hashesVerified: true });
    expect(r.ids).toEqual(input.map((b) => b.sha256));
    expect(r).toMatchObject({ refused: [], written: 200, duplicates: 0 });
    expect(await barriers(registry, durability)).toBe(1);
    expect(walk(store.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(walk(store.dir)).toHaveLength(200);
    for (const b of blobs) expect(Buffer.from((await store.get(sha(b))) ?? [])).toEqual(b);
    expect(store.durabilityMode).toBe(durability);
  });

  it('is idempotent: a replay writes nothing, still waits for a barrier, and repairs a damaged file', async () => {
    const { store, registry } = await open(durability);
    const input = Array.from({ length: 20 }, (_, i) => ({ bytes: crop(i) }));
    await store.putMany(input);
    const damaged = sha(crop(3));
    writeFileSync(store.pathOf(damaged), Buffer.alloc(0)); // as if its data never reached the disk
    const r = await store.putMany(input);
    expect(r).toMatchObject({ written: 1, duplicates: 19 });
    expect(await barriers(registry, durability)).toBe(2);
    expect(readFileSync(store.pathOf(damaged))).toEqual(crop(3));
  });

  it('refuses bad ids and wrong hashes one by one, stores the rest, and writes nothing outside', async () => {
    const { store } = await open(durability);
    const good = crop(1);
    const hostile = [
      '../../../../etc/passwd',
      `../${'a'.repeat(61)}`,
      'A'.repeat(64),
      `${'a'.repeat(64)}\u0000`,
    ];
    const input = [
      ...hostile.map((id) => ({ bytes: good, sha256: id })),
      { bytes: good, sha256: sha(crop(2)) }, // hash mismatch
      { bytes: good, sha256: sha(good) },
    ];
    const r = await store.putMany(input);
    expect(r.refused.map((x) => [x.index, x.error.code])).toEqual([
      [0, 'GATEWAY_ERR_EVIDENCE_ID'],
      [1, 'GATEWAY_ERR_EVIDENCE_ID'],
      [2, 'GATEWAY_ERR_EVIDENCE_ID'],
      [3, 'GATEWAY_ERR_EVIDENCE_ID'],
      [4, 'GATEWAY_ERR_EVIDENCE_HASH'],
    ]);
    expect(r.ids).toEqual([undefined, undefined, undefined, undefined, undefined, sha(good)]);
    // Trusting the caller's hashes never trusts its ids.
    const trusted = await store.putMany(
      hostile.map((id) => ({ bytes: good, sha256: id })),
      { hashesVerified: true },
    );
    expect(trusted.refused.map((x) => x.error.code)).toEqual(hostile.map(() => 'GATEWAY_ERR_EVIDENCE_ID'));
    expect(readdirSync(tmp.path)).toEqual(['store']);
    expect(walk(store.dir)).toEqual([`${sha(good).slice(0, 2)}/${sha(good).slice(2, 4)}/${sha(good)}.jpg`]);
  });

  it('rejects the whole batch when a write fails, and a retry stores it', async () => {
    const { store } = await open(durability);
    const input = Array.from({ length: 10 }, (_, i) => ({ bytes: crop(i) }));
    const blocked = sha(crop(4));
    // Its <aa> directory is a plain file: the write fails (ENOTDIR), as a bad disk would.
    writeFileSync(join(store.dir, blocked.slice(0, 2)), 'not a directory');
    await expect(store.putMany(input)).rejects.toMatchObject({ code: 'GATEWAY_ERR_EVIDENCE_WRITE' });
    expect(walk(store.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    rmSync(join(store.dir, blocked.slice(0, 2)), { recursive: true, force: true });
    const r = await store.putMany(input);
    expect(r.written + r.duplicates).toBe(10);
    for (const { bytes } of input) expect(Buffer.from((await store.get(sha(bytes))) ?? [])).toEqual(bytes);
  });
});

describe('syncfs barrier', () => {
  it('runs once for concurrent callers, and once more for a caller that came during a run', async () => {
    const barrier = new FsBarrier(tmp.path);
    cleanups.push(() => {
      barrier.close();
    });
    await barrier.sync();
    expect(barrier.runs).toBe(1);
    // The first call starts a run at once; the nine after it cannot join that run (their writes
    // might not be in it): they share the next one.
    await Promise.all(Array.from({ length: 10 }, () => barrier.sync()));
    expect(barrier.runs).toBe(3);
  });

  it('reports a failing syncfs as GATEWAY_ERR_EVIDENCE_WRITE and keeps working after', async () => {
    const dir = join(tmp.path, 'gone');
    mkdirSync(dir);
    const barrier = new FsBarrier(dir);
    cleanups.push(() => {
      barrier.close();
    });
    await barrier.sync();
    rmSync(dir, { recursive: true });
    await expect(barrier.sync()).rejects.toMatchObject({ code: 'GATEWAY_ERR_EVIDENCE_WRITE' });
    mkdirSync(dir);
    await barrier.sync();
    expect(barrier.runs).toBe(2);
  });

  it('falls back to fsync per file where `sync -f` does not work', async () => {
    // A STAND-IN `sync` that always fails, first on PATH: a system without syncfs cannot be had here.
    const bin = join(tmp.path, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'sync'), '#!/bin/sh\necho "sync: unrecognized option -f" >&2\nexit 1\n', {
      mode: 0o755,
    });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path ?? ''}`;
    cleanups.push(() => {
      process.env.PATH = path;
    });
    const { store, registry } = await open('syncfs');
    const r = await store.putMany([{ bytes: crop(1) }, { bytes: crop(2) }]);
    expect(r.written).toBe(2);
    expect(store.durabilityMode).toBe('fsync');
    expect(await barriers(registry, 'fsync')).toBe(1);
    expect(await barriers(registry, 'syncfs')).toBe(0);
    expect(Buffer.from((await store.get(sha(crop(2)))) ?? [])).toEqual(crop(2));
  });
});
