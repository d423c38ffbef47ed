/**
 * Per-camera ingest counts for the data-quality report: events stored, the share with an
 * evidence crop, and ingest lag (stored time − event time). Kept in memory in hourly buckets for
 * the last 25 hours, from what ingest stored since this gateway started; a restarted gateway
 * reports the hours since its start (the report says which window it covers).
 */
import type { IndexedEvent } from '../index/types.ts';
import type { IngestStats } from '../registry/index.ts';

const HOUR_MS = 3_600_000;
const KEEP_HOURS = 25;

interface Bucket {
  events: number;
  withEvidence: number;
  lagSumMs: number;
  lagMaxMs: number;
}

/** The window of counts. */
export class IngestStatsWindow {
  /** camera id → hour start → bucket */
  readonly #cameras = new Map<string, Map<number, Bucket>>();
  #pruneAt = 0;

  /** Count events just stored at `storedMs`. */
  record(events: readonly IndexedEvent[], storedMs: number): void {
    const hour = Math.floor(storedMs / HOUR_MS) * HOUR_MS;
    for (const e of events) {
      let hours = this.#cameras.get(e.cameraId);
      if (hours === undefined) this.#cameras.set(e.cameraId, (hours = new Map<number, Bucket>()));
      let b = hours.get(hour);
      if (b === undefined) hours.set(hour, (b = { events: 0, withEvidence: 0, lagSumMs: 0, lagMaxMs: 0 }));
      const eventMs = e.timeMs > 0 ? e.timeMs : e.lastSeenMs;
      const lag = Math.max(0, storedMs - eventMs);
      b.events += 1;
      if ((e.evidence?.sha256 ?? '') !== '') b.withEvidence += 1;
      b.lagSumMs += lag;
      b.lagMaxMs = Math.max(b.lagMaxMs, lag);
    }
    if (storedMs >= this.#pruneAt) this.#prune(storedMs);
  }

  /** Counts per camera over the hours overlapping [fromMs, toMs). */
  stats(fromMs: number, toMs: number): Map<string, IngestStats> {
    const out = new Map<string, IngestStats>();
    for (const [cameraId, hours] of this.#cameras) {
      let events = 0;
      let withEvidence = 0;
      let lagSum = 0;
      let lagMax = 0;
      for (const [hour, b] of hours) {
        if (hour + HOUR_MS <= fromMs || hour >= toMs) continue;
        events += b.events;
        withEvidence += b.withEvidence;
        lagSum += b.lagSumMs;
        lagMax = Math.max(lagMax, b.lagMaxMs);
      }
      if (events > 0) {
        out.set(cameraId, {
          events,
          eventsWithEvidence: withEvidence,
          lagMsMean: lagSum / events,
          lagMsMax: lagMax,
        });
      }
    }
    return out;
  }

  #prune(nowMs: number): void {
    const oldest = Math.floor(nowMs / HOUR_MS) * HOUR_MS - KEEP_HOURS * HOUR_MS;
    for (const [cameraId, hours] of this.#cameras) {
      for (const hour of hours.keys()) if (hour < oldest) hours.delete(hour);
      if (hours.size === 0) this.#cameras.delete(cameraId);
    }
    this.#pruneAt = nowMs + HOUR_MS / 4;
  }
}
