/**
 * Evidence crops in a content-addressed directory: `<dir>/<aa>/<bb>/<sha256>.jpg`, where aa and
 * bb are the hash's first two byte pairs (65 536 leaf directories, so no directory grows huge).
 *
 * Durability: bytes go to a temp file in the final directory (same file system), which is
 * fsynced, renamed over the final name (atomic), and the directory fsynced — after `put`
 * resolves, the file survives a crash or power loss, and a crash mid-way leaves at most a
 * `.tmp` file, never a partial `<sha256>.jpg`. A failed write (ENOSPC, EIO) removes its temp
 * file and rejects with GATEWAY_ERR_EVIDENCE_WRITE.
 *
 * Safety: an id is accepted only as /^[0-9a-f]{64}$/, and the path is built from it alone, so
 * no input can name a file outside the store (`../`, absolute paths, NUL, separators are all
 * refused before any file system call).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { GatewayError } from '../errors.ts';
import type { EvidenceStore } from '../index/types.ts';
import { silentLogger, type Logger } from '../log.ts';

/** What an evidence id looks like: lower-case hex sha256. */
export const EVIDENCE_ID = /^[0-9a-f]{64}$/;

/** Options of {@link DirEvidenceStore}. */
export interface DirEvidenceStoreOptions {
  /** Root directory; created if missing. */
  dir: string;
  logger?: Logger;
  /** Where the store's metrics are registered. Default: nowhere. */
  registry?: Registry;
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
export class DirEvidenceStore implements EvidenceStore {
  /** Root directory. */
  readonly dir: string;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof createMetrics>;

  constructor(opts: DirEvidenceStoreOptions) {
    this.dir = opts.dir;
    this.log = (opts.logger ?? silentLogger()).child({ module: 'evidence' });
    this.metrics = createMetrics(opts.registry);
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

  /** The file of evidence `sha256` (validated). */
  pathOf(sha256: string): string {
    const id = checkEvidenceId(sha256);
    return join(this.dir, id.slice(0, 2), id.slice(2, 4), `${id}.jpg`);
  }

  /** Store `bytes` under their sha256 (see {@link EvidenceStore.put}). */
  async put(bytes: Uint8Array, expectedSha256?: string): Promise<string> {
    const sha = sha256Hex(bytes);
    if (expectedSha256 !== undefined) {
      checkEvidenceId(expectedSha256);
      if (expectedSha256 !== sha) {
        this.metrics.hashMismatches.inc();
        throw new GatewayError(
          'GATEWAY_ERR_EVIDENCE_HASH',
          `expected ${expectedSha256}, the bytes hash to ${sha}`,
        );
      }
    }
    const file = this.pathOf(sha);
    const leaf = join(this.dir, sha.slice(0, 2), sha.slice(2, 4));
    try {
      // Already stored (a replay)? Only if the file still holds exactly these bytes: a damaged
      // or truncated file is replaced, since the caller is about to rely on it.
      const existing = await readFile(file);
      if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(existing)) {
        this.metrics.duplicates.inc();
        return sha;
      }
      this.log.warn({ sha256: sha }, 'stored evidence was damaged; rewriting it');
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw this.writeError(sha, err);
    }
    const tmp = join(leaf, `.${sha}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let fh: FileHandle | undefined;
    try {
      await this.makeLeaf(leaf);
      fh = await open(tmp, 'wx', 0o644);
      await fh.writeFile(bytes);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, file);
      await fsyncDir(leaf);
    } catch (err) {
      await fh?.close().catch((closeErr: unknown) => {
        this.log.debug({ err: errCode(closeErr) }, 'closing a failed temp file failed; removing it anyway');
      });
      await unlink(tmp).catch((unlinkErr: unknown) => {
        // ENOENT: it was never created (or already renamed). Anything else is worth a warning.
        if (errCode(unlinkErr) !== 'ENOENT')
          this.log.warn({ file: tmp, err: errCode(unlinkErr) }, 'temp file not removed');
      });
      throw this.writeError(sha, err);
    }
    this.metrics.filesWritten.inc();
    this.metrics.bytesWritten.inc(bytes.length);
    return sha;
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

  /** mkdir -p the leaf directory `<dir>/<aa>/<bb>`, fsyncing each parent that gained an entry. */
  private async makeLeaf(leaf: string): Promise<void> {
    const first = await mkdir(leaf, { recursive: true });
    if (first === undefined) return;
    const aa = dirname(leaf);
    // `first` is the topmost directory created; if it is not the leaf, <aa> is new too.
    if (first !== leaf) await fsyncDir(dirname(aa));
    await fsyncDir(aa);
  }

  private writeError(sha: string, err: unknown): GatewayError {
    const code = errCode(err);
    this.metrics.writeErrors.inc({ errno: code });
    this.log.error({ sha256: sha, err: code }, 'evidence not stored');
    return new GatewayError('GATEWAY_ERR_EVIDENCE_WRITE', `${sha}: ${code}`, { cause: err });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
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
    hashMismatches: new Counter({
      name: 'sharpeyes_gateway_evidence_hash_mismatches_total',
      help: 'Evidence whose bytes did not match the expected or stored sha256.',
      registers,
    }),
  };
}
