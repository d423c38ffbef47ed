/**
 * Since when the event index's per-district copies (`area_events`, decision 10) are complete: one
 * row in the registry's database, read by the index before it answers a district search from
 * them. The copies hold each event under the district its camera had when the event was
 * written, so they answer "every event of the cameras now in district D" only for times after
 * the last camera was registered or changed district, and only while every writer of the index
 * wrote copies.
 *
 * - `begin()` — a gateway that ingests itself (role all) starts: complete from now, unless
 *   already complete (its own earlier runs wrote copies too).
 * - `end()` — a gateway whose events are stored by ingest workers (role api) starts: workers
 *   know no places and write no copies, so they are not complete until a role-all gateway
 *   begins again.
 * - `moved()` — inside the transaction that registers a camera or changes its district.
 * - `declare(ms)` — a loader that wrote copies of everything it loaded (the api bench).
 */
import type { SqliteDb } from './sqlite.ts';

export class AreaCopies {
  /**
   * The stored instant as last read outside a transaction (null: not complete), asked by every
   * district search window: read again after each write here — at once, and after the commit of
   * a write made inside a transaction (a rollback leaves it unread, so the next call reads what
   * was kept).
   */
  private cached: { since: number | null } | undefined;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number,
  ) {}

  /** Since when the copies are complete, ms; undefined when they are not. */
  sinceMs(): number | undefined {
    if (this.cached === undefined) {
      const since =
        this.db.get<{ since_ms: number | null }>('SELECT since_ms FROM area_copies WHERE id = 1')?.since_ms ??
        null;
      // Inside a transaction the row may yet be rolled back: read, but do not keep.
      if (this.db.inTransaction) return since ?? undefined;
      this.cached = { since };
    }
    return this.cached.since ?? undefined;
  }

  private written(): void {
    this.cached = undefined;
    this.db.afterCommit(() => {
      this.cached = undefined;
    });
  }

  /** A gateway writing copies of everything it stores starts (see the module comment). */
  begin(): void {
    if (this.sinceMs() === undefined) this.declare(this.now());
  }

  /** Events are stored without copies from now on. */
  end(): void {
    this.db.run(
      'INSERT INTO area_copies (id, since_ms) VALUES (1, NULL) ON CONFLICT (id) DO UPDATE SET since_ms = NULL',
    );
    this.written();
  }

  /** A camera was registered or changed district: earlier copies no longer say where it is. */
  moved(): void {
    this.db.run('UPDATE area_copies SET since_ms = max(since_ms, ?) WHERE id = 1 AND since_ms IS NOT NULL', [
      this.now(),
    ]);
    this.written();
  }

  /** Copies are complete since `ms`. */
  declare(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`bad time ${ms}`);
    this.db.run(
      'INSERT INTO area_copies (id, since_ms) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET since_ms = excluded.since_ms',
      [ms],
    );
    this.written();
  }
}
