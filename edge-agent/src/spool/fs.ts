/**
 * The file-system operations the spool uses, as one small interface: production passes Node's
 * `fs/promises`; tests wrap it to simulate a full disk (ENOSPC) or a failing fsync, which no
 * unprivileged test can provoke on a real file system.
 */
import * as fsp from 'node:fs/promises';

/** An open file, as the spool uses it (a subset of Node's FileHandle). */
export interface SpoolFile {
  /** Write `length` bytes of `buffer` from `offset` at `position` (null = the end, append mode). */
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesWritten: number }>;
  /** Read into `buffer` from file `position`. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** fsync(2). */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** File-system operations of the spool. */
export interface SpoolFs {
  /** Open `path` with fopen-style `flags` ('r', 'a', 'a+', 'w', …). */
  open(path: string, flags: string): Promise<SpoolFile>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Size in bytes of a file. */
  size(path: string): Promise<number>;
  /** fsync a directory, so that creations, renames and deletions in it survive power loss. */
  syncDir(path: string): Promise<void>;
  /** Bytes free for us on the file system holding `path` (statfs: available blocks × size). */
  freeBytes(path: string): Promise<number>;
}

/** The real file system. */
export const nodeSpoolFs: SpoolFs = {
  open: (path, flags) => fsp.open(path, flags),
  readFile: (path) => fsp.readFile(path),
  readdir: (path) => fsp.readdir(path),
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  size: async (path) => (await fsp.stat(path)).size,
  syncDir: async (path) => {
    const dir = await fsp.open(path, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  },
  freeBytes: async (path) => {
    const s = await fsp.statfs(path);
    return s.bavail * s.bsize;
  },
};

/**
 * The errno code (ENOSPC, EIO, …) of a file-system error, looking through the `cause` of errors
 * that wrap one (an EdgeError's own `code` is not an errno).
 */
export function errnoCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const { code, errno, cause } = e as NodeJS.ErrnoException & { cause?: unknown };
    if (typeof code === 'string' && typeof errno === 'number') return code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    e = cause;
  }
  return undefined;
}
