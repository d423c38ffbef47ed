/**
 * The spool on a real full disk: a 2 MiB tmpfs mounted in a private mount namespace (invisible
 * outside the test's child process, gone with it), smaller than the spool's own max_bytes, so
 * the file system says ENOSPC first. The spool must free space (context JPEGs, then the oldest
 * events), count it, keep accepting the newest events, never crash, and reopen cleanly.
 * Needs root (or unprivileged user namespaces) for `unshare -m`; spool.test.ts covers the same
 * with an injected ENOSPC everywhere.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, spawnManaged, type TempDir } from '../../bench/lifetime.ts';
import { makeEvent } from './fixtures.ts';

const CHILD = join(import.meta.dirname, 'fixtures', 'disk-full-child.ts');

function canMountTmpfs(): string | undefined {
  try {
    execFileSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'],
      {
        stdio: 'ignore',
      },
    );
    return undefined;
  } catch (err) {
    return `a private tmpfs cannot be mounted here (${(err as Error).message.split('\n')[0] ?? ''})`;
  }
}

const noTmpfs = canMountTmpfs();

interface ChildResult {
  accepted: number;
  codes: Record<string, number>;
  stats: { events: number; bytes: number; evicted: number; contextsDropped: number };
  reopened: string[];
}

describe('spool on a real full disk', () => {
  let tmp: TempDir;
  beforeEach(() => {
    tmp = makeTempDir('disk-full');
  });
  afterEach(() => {
    tmp.remove();
  });

  it.skipIf(noTmpfs !== undefined)(
    `frees space, counts it and keeps the newest events${noTmpfs === undefined ? '' : ` (skipped: ${noTmpfs})`}`,
    async () => {
      const mountpoint = join(tmp.path, 'disk');
      execFileSync('mkdir', ['-p', mountpoint]);
      const script = `mount -t tmpfs -o size=2m tmpfs "$1" && exec "$2" --import tsx "$3" "$1" 400`;
      const child = spawnManaged(
        'unshare',
        ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', mountpoint, process.execPath, CHILD],
        { name: 'disk-full-child', pipeStdout: true, logFile: join(tmp.path, 'child.log') },
      );
      let out = '';
      child.process.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      const exit = await child.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      const result = JSON.parse(out.trim()) as ChildResult;

      // ~12 KB events, 400 of them (~4.8 MB) on a 2 MiB disk: space had to be made, context
      // JPEGs first (the free space bounds the spool before the disk is full).
      expect(result.stats.contextsDropped).toBeGreaterThan(0);
      expect(result.stats.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
      // Every event is accounted for: kept, evicted or refused (with a clear code).
      const refused = Object.values(result.codes).reduce((a, b) => a + b, 0);
      expect(Object.keys(result.codes).every((c) => c === 'EDGE_ERR_SPOOL_DISK_FULL')).toBe(true);
      expect(result.accepted + refused).toBe(400);
      expect(result.stats.events + result.stats.evicted).toBe(400);
      // The newest event made it, and what was kept survives a reopen, oldest first.
      const ids = result.reopened;
      expect(ids.length).toBe(result.stats.events);
      expect(ids.at(-1)).toBe(makeEvent(399).eventId);
      expect([...ids].sort()).toEqual(ids);
    },
  );
});
