/** The per-camera ingest figures of the data-quality report. */
import { describe, expect, it } from 'vitest';
import { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { IngestStatsWindow } from '../../../gateway/src/wiring/ingest-stats.ts';

const HOUR = 3_600_000;

function event(cameraId: string, timeMs: number, withEvidence: boolean): Event {
  return Event.fromPartial({
    eventId: `e-${cameraId}-${timeMs}`,
    cameraId,
    timeMs,
    ...(withEvidence && { evidence: { sha256: 'a'.repeat(64) } }),
  });
}

describe('IngestStatsWindow', () => {
  it('counts events, the evidence share and the lag per camera over the window asked', () => {
    const w = new IngestStatsWindow();
    const t0 = 100 * HOUR;
    w.record([event('c1', t0 - 1000, true), event('c1', t0 - 3000, false), event('c2', t0, true)], t0);
    w.record([event('c1', t0 + 2 * HOUR - 500, true)], t0 + 2 * HOUR);
    const all = w.stats(t0 - HOUR, t0 + 3 * HOUR);
    expect(all.get('c1')).toEqual({ events: 3, eventsWithEvidence: 2, lagMsMean: 1500, lagMsMax: 3000 });
    expect(all.get('c2')).toEqual({ events: 1, eventsWithEvidence: 1, lagMsMean: 0, lagMsMax: 0 });
    // Only the later hour.
    expect(w.stats(t0 + HOUR, t0 + 3 * HOUR).get('c1')?.events).toBe(1);
    expect(w.stats(t0 + HOUR, t0 + 3 * HOUR).has('c2')).toBe(false);
  });

  it('forgets hours older than a day and a bit', () => {
    const w = new IngestStatsWindow();
    const t0 = 100 * HOUR;
    w.record([event('c1', t0, true)], t0);
    w.record([event('c2', t0 + 30 * HOUR, true)], t0 + 30 * HOUR);
    expect(w.stats(0, t0 + 31 * HOUR).has('c1')).toBe(false);
    expect(w.stats(0, t0 + 31 * HOUR).has('c2')).toBe(true);
  });
});
