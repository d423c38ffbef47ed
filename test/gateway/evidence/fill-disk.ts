/**
 * Child of dir-store.test.ts, run inside a private mount namespace on a tiny tmpfs (the disk
 * that fills up): stores blobs until the file system is full, then reports on stdout, as one
 * JSON line, what each put did and what is left on disk.
 *
 *   node --import tsx fill-disk.ts <store dir> <blob bytes> <blobs>
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DirEvidenceStore } from '../../../gateway/src/evidence/dir-store.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const [dir = '', size = '0', count = '0'] = process.argv.slice(2);
const store = await DirEvidenceStore.open({ dir });
const results: Array<{ sha256: string; ok: boolean; code?: string; message?: string }> = [];
for (let i = 0; i < Number(count); i++) {
  const bytes = Buffer.alloc(Number(size), i + 1);
  try {
    results.push({ sha256: await store.put(bytes), ok: true });
  } catch (err) {
    results.push({
      sha256: '',
      ok: false,
      code: isGatewayError(err) ? err.code : 'not a GatewayError',
      message: (err as Error).message,
    });
  }
}
// What a reader sees afterwards: every stored blob verifies.
const verified = [];
for (const r of results.filter((x) => x.ok)) verified.push((await store.get(r.sha256))?.length ?? -1);
console.log(JSON.stringify({ results, files: walk(dir).map((f) => f.slice(dir.length + 1)), verified }));
