/**
 * A durability barrier over a whole file system: syncfs(2), which writes back every dirty page
 * and inode of the file system holding a directory and commits its journal once. Node has no
 * binding for it, so it runs coreutils' `sync -f DIR` (Linux ≥ 2.6.39, coreutils ≥ 8.24; since
 * Linux 5.8 it also reports writeback errors).
 *
 * One long-lived `sh` child reads a line per request and answers `0` (synced) or `1` (failed):
 * a fork of a small shell per barrier instead of a fork of the (large) gateway process. It ends
 * by itself when our end of its stdin closes (our process exits or is killed).
 *
 * Group commit: concurrent callers share one run, but a caller never joins a run that started
 * before it asked (its writes might not be in it): it waits for the next.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { GatewayError } from '../errors.ts';

/** One request per line on stdin; `sync -f`'s exit status per line on stdout. */
const SCRIPT = 'while read -r _; do sync -f -- "$1"; echo "$?"; done';

/** A `sync -f DIR` loop in a child shell, with group commit. */
export class FsBarrier {
  readonly dir: string;
  #child: ChildProcessByStdio<Writable, Readable, Readable> | undefined;
  #pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #stderr = '';
  #current: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #runs = 0;
  #closed = false;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Barriers run so far (each covers every write finished before it started). */
  get runs(): number {
    return this.#runs;
  }

  /**
   * Resolves once everything written to the file system before this call is durable; rejects
   * (GATEWAY_ERR_EVIDENCE_WRITE) when syncfs or the helper fails.
   */
  sync(): Promise<void> {
    if (this.#queued !== undefined) return this.#queued;
    if (this.#current === undefined) return this.#launch();
    const queued = this.#current
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.#launch();
      });
    this.#queued = queued;
    return queued;
  }

  /** End the helper (it would also end by itself when this process exits). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#child?.stdin.end();
    this.#child = undefined;
  }

  #launch(): Promise<void> {
    const run = this.#runOnce();
    this.#current = run;
    const clear = (): void => {
      if (this.#current === run) this.#current = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  #runOnce(): Promise<void> {
    if (this.#closed) return Promise.reject(new GatewayError('GATEWAY_ERR_EVIDENCE_WRITE', 'barrier closed'));
    const child = this.#child ?? this.#spawn();
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#setRef(true);
      child.stdin.write('\n');
    });
  }

  #spawn(): ChildProcessByStdio<Writable, Readable, Readable> {
    const child = spawn('sh', ['-c', SCRIPT, 'fs-barrier', this.dir], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child = child;
    const fail = (why: string): void => {
      if (this.#child === child) this.#child = undefined;
      for (const p of this.#pending.splice(0)) {
        p.reject(new GatewayError('GATEWAY_ERR_EVIDENCE_WRITE', `syncfs helper: ${why}`));
      }
    };
    child.on('error', (err) => {
      fail(err.message);
    });
    child.on('exit', (code, signal) => {
      fail(`exited (${signal ?? `code ${String(code)}`})`);
    });
    child.stdin.on('error', (err) => {
      fail(err.message);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-512);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const p = this.#pending.shift();
      if (this.#pending.length === 0) this.#setRef(false);
      if (p === undefined) return;
      if (line.trim() === '0') {
        this.#runs += 1;
        this.#stderr = '';
        p.resolve();
      } else {
        const detail = this.#stderr.trim() || `sync -f exited ${line.trim()}`;
        this.#stderr = '';
        p.reject(new GatewayError('GATEWAY_ERR_EVIDENCE_WRITE', `syncfs of ${this.dir} failed: ${detail}`));
      }
    });
    return child;
  }

  /** Keep this process alive only while a barrier is awaited. */
  #setRef(on: boolean): void {
    const child = this.#child;
    if (child === undefined) return;
    for (const h of [child, child.stdin, child.stdout, child.stderr] as unknown as {
      ref?: () => void;
      unref?: () => void;
    }[]) {
      if (on) h.ref?.();
      else h.unref?.();
    }
  }
}
