/**
 * Evidence crops in a content-addressed directory: `<dir>/<aa>/<bb>/<sha256>.jpg`, where aa and
 * bb are the hash's first two byte pairs (65 536 leaf directories, so no directory grows huge).
 *
 * Durability, per BATCH ({@link DirEvidenceStore.putMany}; `put` is a batch of one, and
 * concurrent calls share a barrier): every file of the batch is written to a temp file in its
 * final directory (same file system) and renamed over its final name (atomic); then ONE
 * durability barrier covers the whole batch, and only then does the call resolve — after that
 * every file survives a crash or power loss.
 * - `durability: 'syncfs'` (default): the barrier is syncfs(2) of the store's file system
 *   (fs-barrier.ts), one journal commit for the whole batch, group-committed across concurrent
 *   batches. If `sync -f` is not available, the store falls back to 'fsync' (logged once).
 * - `durability: 'fsync'`: every file of the batch is fsynced (in parallel), then every directory
 *   that gained an entry, once each.
 * A crash before the barrier can leave a `.tmp` file (removed by {@link removeStaleTempFiles}) or
 * a final file whose data never reached the disk (empty or partial): the caller was not told it
 * was stored, so it stores it again, and a present file is trusted only if it holds exactly the
 * expected bytes (else it is rewritten); a reader verifies the hash on every read. A failed write
 * (ENOSPC, EIO) removes its temp file and rejects with GATEWAY_ERR_EVIDENCE_WRITE.
 *
 * Safety: an id is accepted only as /^[0-9a-f]{64}$/, and the path is built from it alone, so
 * no input can name a file outside the store (`../`, absolute paths, NUL, separators are all
 * refused before any file system call).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Counter, Histogram, type Registry } from 'prom-client';
import { GatewayError, isGatewayError } from '../errors.ts';
import type { EvidenceStore } from '../index/types.ts';
import { silentLogger, type Logger } from '../log.ts';
import { FsBarrier } from './fs-barrier.ts';

/** What an evidence id looks like: lower-case hex sha256. */
export const EVIDENCE_ID = /^[0-9a-f]{64}$/;

/** Options of {@link DirEvidenceStore}. */
export interface DirEvidenceStoreOptions {
  /** Root directory; created if missing. */
  dir: string;
  logger?: Logger;
  /** Where the store's metrics are registered. Default: nowhere. */
  registry?: Registry;
  /**
   * How a batch is made durable: one syncfs of the file system (default), or an fsync of every
   * file and of every directory that gained an entry. See the module comment.
   */
  durability?: EvidenceDurability;
  /** Files written at once within a batch (default 16). */
  writeConcurrency?: number;
}

/** How {@link DirEvidenceStore} makes a batch durable. */
export type EvidenceDurability = 'syncfs' | 'fsync';

/** One blob of {@link BatchEvidenceStore.putMany}. */
export interface EvidencePut {
  readonly bytes: Uint8Array;
  /** Its sha256 (lower-case hex). Required with `hashesVerified`; else computed when absent, checked when given. */
  readonly sha256?: string;
}

/** Options of {@link BatchEvidenceStore.putMany}. */
export interface PutManyOptions {
  /**
   * The caller has just hashed every blob itself and each `sha256` is that hash (ingest's
   * validation does): the store does not hash them again. Ids are still checked.
   */
  hashesVerified?: boolean;
}

/** What {@link BatchEvidenceStore.putMany} did. */
export interface PutManyResult {
  /** sha256 of each blob in the order given, `undefined` where it was refused. */
  readonly ids: (string | undefined)[];
  /** Blobs refused for good (bad id, bytes not matching their sha256), by index in the input. */
  readonly refused: { readonly index: number; readonly error: GatewayError }[];
  /** Files written now, and blobs found already stored (replays, shared crops). */
  readonly written: number;
  readonly duplicates: number;
}

/** An {@link EvidenceStore} that can store a batch with one durability barrier. */
export interface BatchEvidenceStore extends EvidenceStore {
  /**
   * Store every blob, then make them all durable at once; resolves only when every blob not
   * refused is durable (as after `put`). Idempotent: blobs already stored are verified, not
   * rewritten. Refusals of single blobs are reported in the result and do not stop the others;
   * a write failure (ENOSPC, EIO, the barrier failing) rejects the whole call
   * (GATEWAY_ERR_EVIDENCE_WRITE), and a retry of the same call is safe.
   */
  putMany(blobs: readonly EvidencePut[], opts?: PutManyOptions): Promise<PutManyResult>;
}

/** Whether `store` offers {@link BatchEvidenceStore.putMany}. */
export function isBatchEvidenceStore(store: EvidenceStore): store is BatchEvidenceStore {
  return typeof (store as Partial<BatchEvidenceStore>).putMany === 'function';
}

/** Lower-case hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `id` if it is a valid evidence id, else GATEWAY_ERR_EVIDENCE_ID. */
export function checkEvidenceId(id: unknown): string {
  if (typeof id !== 'string' || !EVIDENCE_ID.test(id)) {
    throw new GatewayError('GATEWAY_ERR_EVIDENCE_ID', 'expected 64 lower-case hex digits');
  }
  return id;
}

/** The content-addressed evidence directory. */
export class DirEvidenceStore implements BatchEvidenceStore {
  /** Root directory. */
  readonly dir: string;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof createMetrics>;
  private durability: EvidenceDurability;
  private readonly writeConcurrency: number;
  private barrier: FsBarrier | undefined;
  /** Whether a syncfs barrier has succeeded once (after that a failure is a write error, not "unsupported"). */
  private barrierProven = false;
  /** Leaf directories known to exist (at most 65 536), so a write needs no mkdir. */
  private readonly leaves = new Set<string>();

  constructor(opts: DirEvidenceStoreOptions) {
    this.dir = opts.dir;
    this.log = (opts.logger ?? silentLogger()).child({ module: 'evidence' });
    this.metrics = createMetrics(opts.registry);
    this.durability = opts.durability ?? 'syncfs';
    this.writeConcurrency = Math.max(1, opts.writeConcurrency ?? 16);
  }

  /** Create the store, making its root directory if needed. */
  static async open(opts: DirEvidenceStoreOptions): Promise<DirEvidenceStore> {
    const store = new DirEvidenceStore(opts);
    try {
      await mkdir(store.dir, { recursive: true });
    } catch (err) {
      throw new GatewayError('GATEWAY_ERR_EVIDENCE_WRITE', `cannot create ${store.dir}: ${errCode(err)}`, {
        cause: err,
      });
    }
    return store;
  }

  /** How batches are made durable now ('syncfs' may have fallen back to 'fsync'). */
  get durabilityMode(): EvidenceDurability {
    return this.durability;
  }

  /** Stop the syncfs helper (it also ends by itself with this process). Puts after this still work. */
  close(): void {
    this.barrier?.close();
    this.barrier = undefined;
  }

  /** The file of evidence `sha256` (validated). */
  pathOf(sha256: string): string {
    const id = checkEvidenceId(sha256);
    return join(this.dir, id.slice(0, 2), id.slice(2, 4), `${id}.jpg`);
  }

  /** Store `bytes` under their sha256 (see {@link EvidenceStore.put}): a batch of one. */
  async put(bytes: Uint8Array, expectedSha256?: string): Promise<string> {
    const r = await this.putMany([
      { bytes, ...(expectedSha256 !== undefined && { sha256: expectedSha256 }) },
    ]);
    const refused = r.refused[0];
    if (refused !== undefined) throw refused.error;
    return r.ids[0] as string;
  }

  /** Store a batch with one durability barrier (see {@link BatchEvidenceStore.putMany}). */
  async putMany(blobs: readonly EvidencePut[], opts: PutManyOptions = {}): Promise<PutManyResult> {
    const ids: (string | undefined)[] = [];
    const refused: { index: number; error: GatewayError }[] = [];
    /** sha256 → bytes, each blob once. */
    const todo = new Map<string, Uint8Array>();
    blobs.forEach((blob, index) => {
      try {
        const sha = this.idOf(blob, opts.hashesVerified === true);
        ids.push(sha);
        if (!todo.has(sha)) todo.set(sha, blob.bytes);
      } catch (err) {
        if (!isGatewayError(err)) throw err;
        ids.push(undefined);
        refused.push({ index, error: err });
      }
    });
    if (todo.size === 0) return { ids, refused, written: 0, duplicates: 0 };

    const end = this.metrics.batchSeconds.startTimer();
    const entries = [...todo.entries()];
    const dirsChanged = new Set<string>();
    let written = 0;
    let duplicates = 0;
    let firstError: GatewayError | undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries.length) {
        const [sha, bytes] = entries[next++] as [string, Uint8Array];
        try {
          if (await this.writeOne(sha, bytes, dirsChanged)) written += 1;
          else duplicates += 1;
        } catch (err) {
          firstError ??= this.writeError(sha, err);
        }
      }
    };
    // Every write settles before the call rejects, so no temp file is left half-written.
    await Promise.all(Array.from({ length: Math.min(this.writeConcurrency, entries.length) }, worker));
    if (firstError !== undefined) {
      end();
      throw firstError;
    }
    // Always, even when every blob was already there: an earlier attempt may have written a file
    // and failed before its barrier.
    try {
      await this.makeDurable(
        entries.map(([sha]) => this.pathOf(sha)),
        dirsChanged,
      );
    } catch (err) {
      throw this.writeError(`batch of ${entries.length}`, err);
    } finally {
      end();
    }
    this.metrics.filesWritten.inc(written);
    this.metrics.duplicates.inc(duplicates);
    return { ids, refused, written, duplicates };
  }

  /** The blob's id, verified unless the caller has verified it. */
  private idOf(blob: EvidencePut, hashesVerified: boolean): string {
    if (hashesVerified) {
      if (blob.sha256 === undefined) throw new TypeError('hashesVerified needs every sha256');
      return checkEvidenceId(blob.sha256);
    }
    const sha = sha256Hex(blob.bytes);
    if (blob.sha256 !== undefined) {
      checkEvidenceId(blob.sha256);
      if (blob.sha256 !== sha) {
        this.metrics.hashMismatches.inc();
        throw new GatewayError(
          'GATEWAY_ERR_EVIDENCE_HASH',
          `expected ${blob.sha256}, the bytes hash to ${sha}`,
        );
      }
    }
    return sha;
  }

  /**
   * Write one blob to a temp file and rename it into place (not yet durable). Returns false when
   * the file already held exactly these bytes. Adds to `dirsChanged` each directory that gained
   * an entry.
   */
  private async writeOne(sha: string, bytes: Uint8Array, dirsChanged: Set<string>): Promise<boolean> {
    const file = this.pathOf(sha);
    const leaf = join(this.dir, sha.slice(0, 2), sha.slice(2, 4));
    try {
      // Already stored (a replay)? Only if the file still holds exactly these bytes: a damaged,
      // truncated or never-synced file is replaced, since the caller is about to rely on it.
      const existing = await readFile(file);
      if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(existing)) {
        // Stored again by a newer event (a shared crop): its age restarts, so evidence retention
        // (wiring/evidence-retention.ts, by modification time) keeps it as long as that event.
        const now = new Date();
        await utimes(file, now, now);
        return false;
      }
      this.log.warn({ sha256: sha }, 'stored evidence was damaged; rewriting it');
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
    }
    const tmp = join(leaf, `.${sha}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await this.makeLeaf(leaf, dirsChanged);
      try {
        await writeFile(tmp, bytes, { flag: 'wx', mode: 0o644 });
      } catch (err) {
        // The leaf was removed behind our back (it was cached as existing): make it again.
        if (errCode(err) !== 'ENOENT' || !this.leaves.delete(leaf)) throw err;
        await this.makeLeaf(leaf, dirsChanged);
        await writeFile(tmp, bytes, { flag: 'wx', mode: 0o644 });
      }
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch((unlinkErr: unknown) => {
        // ENOENT: it was never created (or already renamed). Anything else is worth a warning.
        if (errCode(unlinkErr) !== 'ENOENT')
          this.log.warn({ file: tmp, err: errCode(unlinkErr) }, 'temp file not removed');
      });
      throw err;
    }
    dirsChanged.add(leaf);
    this.metrics.bytesWritten.inc(bytes.length);
    return true;
  }

  /** One durability barrier for `files` (and the directories that gained entries). */
  private async makeDurable(files: readonly string[], dirsChanged: ReadonlySet<string>): Promise<void> {
    if (this.durability === 'syncfs') {
      this.barrier ??= new FsBarrier(this.dir);
      try {
        await this.barrier.sync();
        this.barrierProven = true;
        this.metrics.barriers.inc({ mode: 'syncfs' });
        return;
      } catch (err) {
        if (this.barrierProven) throw err;
        // Never worked here (no `sync -f`, or no shell): fsync file by file from now on.
        this.log.warn({ err }, 'syncfs is not available; evidence falls back to fsync per file');
        this.barrier.close();
        this.barrier = undefined;
        this.durability = 'fsync';
      }
    }
    let next = 0;
    const all = [...files, ...dirsChanged];
    const worker = async (): Promise<void> => {
      while (next < all.length) await fsyncPath(all[next++] as string);
    };
    await Promise.all(Array.from({ length: Math.min(this.writeConcurrency, all.length) }, worker));
    this.metrics.barriers.inc({ mode: 'fsync' });
  }

  /**
   * The bytes stored under `sha256`, or undefined when there are none. The content is verified:
   * a file whose bytes no longer hash to its name (disk damage, tampering) is
   * GATEWAY_ERR_EVIDENCE_HASH, never returned as evidence.
   */
  async get(sha256: string): Promise<Uint8Array | undefined> {
    const file = this.pathOf(sha256);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      throw new GatewayError('GATEWAY_ERR_EVIDENCE_READ', `cannot read ${sha256}: ${errCode(err)}`, {
        cause: err,
      });
    }
    const actual = sha256Hex(bytes);
    if (actual !== sha256) {
      this.metrics.hashMismatches.inc();
      this.log.error({ sha256, actual }, 'stored evidence does not match its hash');
      throw new GatewayError('GATEWAY_ERR_EVIDENCE_HASH', `stored file ${sha256} hashes to ${actual}`);
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Whether evidence `sha256` is stored (not verified). */
  async has(sha256: string): Promise<boolean> {
    const file = this.pathOf(sha256);
    try {
      return (await stat(file)).isFile();
    } catch (err) {
      if (errCode(err) === 'ENOENT') return false;
      throw new GatewayError('GATEWAY_ERR_EVIDENCE_READ', `cannot stat ${sha256}: ${errCode(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Remove temp files a crash left behind (older than `olderThanMs`, so a concurrent `put` is
   * not disturbed). Walks every leaf directory: run at startup, not per request. Returns the
   * number removed.
   */
  async removeStaleTempFiles(olderThanMs = 3_600_000, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const a of await listDirs(this.dir)) {
      for (const b of await listDirs(join(this.dir, a))) {
        const leaf = join(this.dir, a, b);
        for (const name of await readdir(leaf)) {
          if (!name.startsWith('.') || !name.endsWith('.tmp')) continue;
          const file = join(leaf, name);
          const st = await stat(file).catch(() => undefined);
          if (st !== undefined && now - st.mtimeMs >= olderThanMs) {
            await unlink(file);
            removed++;
          }
        }
      }
    }
    if (removed > 0) this.log.info({ removed }, 'stale evidence temp files removed');
    return removed;
  }

  /** mkdir -p the leaf directory `<dir>/<aa>/<bb>`, noting each parent that gained an entry. */
  private async makeLeaf(leaf: string, dirsChanged: Set<string>): Promise<void> {
    if (this.leaves.has(leaf)) return;
    const first = await mkdir(leaf, { recursive: true });
    if (first !== undefined) {
      const aa = dirname(leaf);
      // `first` is the topmost directory created; if it is not the leaf, <aa> is new too.
      if (first !== leaf) dirsChanged.add(dirname(aa));
      dirsChanged.add(aa);
    }
    this.leaves.add(leaf);
  }

  private writeError(sha: string, err: unknown): GatewayError {
    const code = isGatewayError(err) ? 'barrier' : errCode(err);
    this.metrics.writeErrors.inc({ errno: code });
    this.log.error({ sha256: sha, err: code }, 'evidence not stored');
    return new GatewayError('GATEWAY_ERR_EVIDENCE_WRITE', `${sha}: ${code}`, { cause: err });
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Two-hex-digit subdirectories of `dir` (the store's fan-out levels). */
async function listDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name)).map((e) => e.name);
}

function errCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).code === 'string') {
    return (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
  }
  return err instanceof Error ? err.message : String(err);
}

function createMetrics(registry: Registry | undefined) {
  const registers = registry === undefined ? [] : [registry];
  return {
    filesWritten: new Counter({
      name: 'sharpeyes_gateway_evidence_files_written_total',
      help: 'Evidence files written.',
      registers,
    }),
    bytesWritten: new Counter({
      name: 'sharpeyes_gateway_evidence_bytes_written_total',
      help: 'Bytes of evidence written.',
      registers,
    }),
    duplicates: new Counter({
      name: 'sharpeyes_gateway_evidence_duplicates_total',
      help: 'Evidence puts of bytes already stored (replays, shared crops).',
      registers,
    }),
    writeErrors: new Counter({
      name: 'sharpeyes_gateway_evidence_write_errors_total',
      help: 'Evidence writes that failed, by errno code (ENOSPC, EIO, …).',
      labelNames: ['errno'],
      registers,
    }),
    barriers: new Counter({
      name: 'sharpeyes_gateway_evidence_barriers_total',
      help: 'Durability barriers run for evidence batches, by mode (syncfs, fsync).',
      labelNames: ['mode'],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'sharpeyes_gateway_evidence_batch_seconds',
      help: 'Time to store one evidence batch (writes and its durability barrier).',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    hashMismatches: new Counter({
      name: 'sharpeyes_gateway_evidence_hash_mismatches_total',
      help: 'Evidence whose bytes did not match the expected or stored sha256.',
      registers,
    }),
  };
}
