/**
 * The gateway's periodic work, on one timer:
 * - alerts past their acknowledgement deadline escalate (every tick);
 * - expired alert entries are audited as such (every minute; they stop matching at expiry anyway);
 * - temporary cameras whose window opened or closed get a new site config (pushed to the edge);
 * - camera last-seen times are flushed to SQLite (`registry.status_flush_interval_ms`);
 * - once an hour: old status changes and ended sessions are pruned;
 * - once a day (and at start): a consistent online copy of the registry database
 *   (`VACUUM INTO`) in `backupDir`, keeping the newest `backupKeep`.
 * A failing task is logged and retried on the next tick; it never stops the others.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { Stores } from './stores.ts';

/** Options of {@link startMaintenance}. */
export interface MaintenanceOptions {
  stores: Stores;
  statusFlushIntervalMs: number;
  statusRetentionDays: number;
  /** Where daily registry backups go (none when undefined). */
  backupDir?: string;
  /** Backups kept. */
  backupKeep?: number;
  logger: Logger;
  /** Tick period (default 2 s). */
  tickMs?: number;
  now?: () => number;
}

/** Start the timer; returns the function that stops it (and flushes statuses once more). */
export function startMaintenance(opts: MaintenanceOptions): () => void {
  const { stores } = opts;
  const log = opts.logger.child({ module: 'maintenance' });
  const now = opts.now ?? Date.now;
  const due = new Map<string, number>();
  const every = (name: string, periodMs: number, task: () => void): void => {
    const t = now();
    if ((due.get(name) ?? 0) > t) return;
    due.set(name, t + periodMs);
    try {
      task();
    } catch (err) {
      log.error({ err, task: name }, 'maintenance task failed');
    }
  };
  const tick = (): void => {
    every('escalate', 0, () => {
      const escalated = stores.alerts.escalateDue();
      if (escalated.length > 0) log.warn({ alerts: escalated.map((a) => a.alertId) }, 'alerts escalated');
    });
    every('expired-entries', 60_000, () => {
      stores.alertEntries.auditExpired();
    });
    every('temporary-cameras', 10_000, () => {
      const boundary = stores.registry.nextConfigBoundary();
      if (boundary !== undefined && boundary <= now()) stores.registry.refreshSiteConfigs();
    });
    every('status-flush', opts.statusFlushIntervalMs, () => {
      stores.registry.reports.flush();
    });
    if (opts.backupDir !== undefined) {
      const dir = opts.backupDir;
      every('backup', 86_400_000, () => {
        backupRegistry(stores, dir, opts.backupKeep ?? 7, now());
        log.info({ dir }, 'registry backed up');
      });
    }
    every('prune', 3_600_000, () => {
      stores.registry.reports.prune(opts.statusRetentionDays * 86_400_000);
      stores.sessions.prune();
    });
  };
  const timer = setInterval(tick, opts.tickMs ?? 2000);
  timer.unref();
  return () => {
    clearInterval(timer);
    try {
      stores.registry.reports.flush();
    } catch (err) {
      log.error({ err }, 'final status flush failed');
    }
  };
}

/** Copy the registry database to `<dir>/registry-<UTC time>.sqlite`; keep the newest `keep`. */
export function backupRegistry(stores: Stores, dir: string, keep: number, nowMs: number): string {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const target = join(dir, `registry-${stamp}.sqlite`);
  stores.db.backupTo(target);
  const old = readdirSync(dir)
    .filter((f) => /^registry-\d{8}T\d{6}Z\.sqlite$/.test(f))
    .sort()
    .slice(0, -keep);
  for (const f of old) rmSync(join(dir, f), { force: true });
  return target;
}
