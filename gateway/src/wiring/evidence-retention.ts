/**
 * Evidence retention: crops and context frames older than the longest event retention (plus the
 * index's shard length, which is how long InfluxDB may still hold an expired event) are deleted,
 * once an hour, and each sweep that deletes anything is audited (`retention.delete`, with the
 * count and the cut-off). A file's age is its modification time; the store refreshes it when a
 * later event stores the same bytes again, so a crop still referenced by a live event is kept.
 */
import { opendir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditLog } from '../audit/log.ts';
import { SYSTEM_ACTOR } from '../audit/log.ts';
import type { Logger } from '../log.ts';

const HEX2 = /^[0-9a-f]{2}$/;
const FILE = /^[0-9a-f]{64}\.jpg$/;

/** Options of {@link sweepEvidence} and {@link startEvidenceRetention}. */
export interface EvidenceRetentionOptions {
  dir: string;
  /** Files older than this are deleted. */
  keepMs: number;
  audit: AuditLog;
  logger: Logger;
  now?: () => number;
}

/** One sweep; resolves with the number of files deleted. */
export async function sweepEvidence(opts: EvidenceRetentionOptions): Promise<number> {
  const cutoff = (opts.now ?? Date.now)() - opts.keepMs;
  let deleted = 0;
  let bytes = 0;
  const dirs = async (path: string): Promise<string[]> => {
    const out: string[] = [];
    try {
      for await (const d of await opendir(path)) if (d.isDirectory() && HEX2.test(d.name)) out.push(d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return out;
  };
  for (const aa of await dirs(opts.dir)) {
    for (const bb of await dirs(join(opts.dir, aa))) {
      const leaf = join(opts.dir, aa, bb);
      for await (const f of await opendir(leaf)) {
        if (!f.isFile() || !FILE.test(f.name)) continue;
        const path = join(leaf, f.name);
        const st = await stat(path);
        if (st.mtimeMs >= cutoff) continue;
        await unlink(path);
        deleted += 1;
        bytes += st.size;
      }
    }
  }
  if (deleted > 0) {
    opts.audit.append({
      actor: SYSTEM_ACTOR,
      action: 'retention.delete',
      target: 'evidence',
      details: { files: deleted, bytes, older_than_ms: cutoff },
    });
    opts.logger.info({ module: 'evidence-retention', files: deleted, bytes }, 'expired evidence deleted');
  }
  return deleted;
}

/** Sweep now and then hourly; returns the stop function. */
export function startEvidenceRetention(opts: EvidenceRetentionOptions & { intervalMs?: number }): () => void {
  const log = opts.logger.child({ module: 'evidence-retention' });
  let running = false;
  const run = (): void => {
    if (running) return;
    running = true;
    sweepEvidence(opts)
      .catch((err: unknown) => {
        log.error({ err }, 'evidence retention sweep failed; retried at the next one');
      })
      .finally(() => {
        running = false;
      });
  };
  const timer = setInterval(run, opts.intervalMs ?? 3_600_000);
  timer.unref();
  run();
  return () => {
    clearInterval(timer);
  };
}
