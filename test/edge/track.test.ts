/**
 * The tracker: association across big jumps, separate objects and kinds, one report per pass,
 * the plate vote, track end (unseen, left the frame, lifetime), updates, direction, errors, speed.
 */
import { describe, expect, it } from 'vitest';
import type { Box, FaceDetection, PlateDetection } from '../../edge-agent/src/detect/types.ts';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { createTracker, isUlid, ulidTimeMs } from '../../edge-agent/src/track/index.ts';
import type {
  PlateTrackReport,
  TrackReport,
  Tracker,
  TrackerOptions,
} from '../../edge-agent/src/track/index.ts';
import { box, face, frameClock, plate } from './fixtures/track-detections.ts';

type Det = FaceDetection | PlateDetection;

/** Feed `frames` (one detection list per analysed frame, 500 ms apart) and collect every report. */
function feed(
  tracker: Tracker,
  frames: readonly (readonly Det[])[],
  start = 0,
  motionShare?: (box: Box) => number,
): TrackReport[] {
  const at = frameClock();
  const out: TrackReport[] = [];
  frames.forEach((dets, i) => out.push(...tracker.update(at(start + i), dets, motionShare)));
  return out;
}

/** `n` empty frames: time passes, nothing is seen. */
function empty(n: number): Det[][] {
  return Array.from({ length: n }, () => []);
}

function plates(reports: readonly TrackReport[]): PlateTrackReport[] {
  return reports.filter((r): r is PlateTrackReport => r.kind === 'plate');
}

/** A plate 64×19 px (a far car) crossing left to right at `speed` px per analysed frame. */
function crossing(text: string, frames: number, speed: number, y = 390, x0 = 40): Det[][] {
  return Array.from({ length: frames }, (_, i) => [plate(text, box(x0 + i * speed, y, 64, 19))]);
}

describe('tracker', () => {
  it('one vehicle across 10 frames, jumping ~2 plate widths per frame, is exactly one event', () => {
    const tracker = createTracker();
    const reports = feed(tracker, [...crossing('京A12345', 10, 120), ...empty(6)]);
    expect(reports).toHaveLength(1);
    const r = plates(reports)[0];
    expect(r?.plate.text).toBe('京A12345');
    expect(r?.hits).toBe(10);
    expect(r?.final).toBe(true);
    expect(r?.revision).toBe(0);
    expect(r?.plate).toMatchObject({ agreeingReads: 10, totalReads: 10, colour: 'blue' });
    expect(r?.plate.charConfidences).toHaveLength(7);
    expect(isUlid(r?.eventId ?? '')).toBe(true);
    // The id is made from the first sighting, so ids sort by pass start.
    expect(ulidTimeMs(r?.eventId ?? '')).toBe(r?.firstSeenMs);
    expect((r?.lastSeenMs ?? 0) - (r?.firstSeenMs ?? 0)).toBe(9 * 500);
    expect(tracker.stats()).toMatchObject({ activeTracks: 0, endedTracks: 1, reports: 1 });
  });

  it('a plate that leaves the frame ends at once (no waiting for the timeout)', () => {
    const tracker = createTracker();
    // 1100 → 1250 → 1400: the next predicted position is off the right edge.
    const reports = feed(tracker, [...crossing('京A12345', 3, 150, 390, 1100), []]);
    expect(reports).toHaveLength(1);
    expect(reports[0]?.endReason).toBe('left_frame');
  });

  it('a track survives a short occlusion (2 missed frames) and stays one event', () => {
    const tracker = createTracker();
    const pass = crossing('京A12345', 12, 80);
    pass[5] = [];
    pass[6] = [];
    const reports = feed(tracker, [...pass, ...empty(6)]);
    expect(reports).toHaveLength(1);
    expect(reports[0]?.hits).toBe(10);
  });

  it('two passes of the same plate separated by more than the end timeout are two events', () => {
    const tracker = createTracker();
    const reports = feed(tracker, [
      ...crossing('京A12345', 6, 100),
      ...empty(8),
      ...crossing('京A12345', 6, 100),
      ...empty(8),
    ]);
    const ps = plates(reports);
    expect(ps).toHaveLength(2);
    expect(ps.map((r) => r.plate.text)).toEqual(['京A12345', '京A12345']);
    expect(ps[0]?.eventId).not.toBe(ps[1]?.eventId);
    expect((ps[0]?.eventId ?? '') < (ps[1]?.eventId ?? '')).toBe(true);
  });

  it('two plates side by side, moving together with big jumps, stay two tracks with their own reads', () => {
    const tracker = createTracker();
    const frames: Det[][] = Array.from({ length: 8 }, (_, i) => [
      plate('京A12345', box(100 + i * 110, 400, 130, 41)),
      plate('沪B67890', box(250 + i * 110, 400, 130, 41)),
    ]);
    const reports = plates(feed(tracker, [...frames, ...empty(6)]));
    expect(reports).toHaveLength(2);
    expect(reports.map((r) => r.plate.text).sort()).toEqual(['京A12345', '沪B67890']);
    for (const r of reports) expect(r.plate).toMatchObject({ agreeingReads: 8, totalReads: 8 });
  });

  it('two plates passing each other in opposite directions do not swap', () => {
    const tracker = createTracker({ inbound: 'left_to_right' });
    const frames: Det[][] = Array.from({ length: 10 }, (_, i) => [
      plate('京A12345', box(100 + i * 110, 380, 100, 32)),
      plate('沪B67890', box(1100 - i * 110, 420, 100, 32)),
    ]);
    const reports = plates(feed(tracker, [...frames, ...empty(6)]));
    expect(reports).toHaveLength(2);
    const byText = new Map(reports.map((r) => [r.plate.text, r]));
    expect(byText.get('京A12345')?.direction).toBe('in');
    expect(byText.get('沪B67890')?.direction).toBe('out');
    for (const r of reports) expect(r.plate.agreeingReads).toBe(10);
  });

  it('reads 京A12345 ×3, 京A12346, 京A1234 → 京A12345 with its per-character confidences', () => {
    const tracker = createTracker();
    const texts = ['京A12345', '京A12346', '京A12345', '京A1234', '京A12345'];
    const frames = texts.map((t, i) => [
      plate(t, box(100 + i * 90, 400, 100, 32), { confidence: t === '京A12346' ? 0.98 : 0.85 }),
    ]);
    // The chosen read's own confidences, not the misread's.
    const chosen = frames[2]?.[0];
    if (chosen?.kind === 'plate') chosen.charConfidences = [0.99, 0.8, 0.85, 0.85, 0.85, 0.85, 0.86];
    if (chosen?.kind === 'plate') chosen.confidence = 0.864;
    const [r] = plates(feed(tracker, [...frames, ...empty(6)]));
    expect(r?.plate.text).toBe('京A12345');
    expect(r?.plate.agreeingReads).toBe(5);
    expect(r?.plate.totalReads).toBe(5);
    expect(r?.plate.charConfidences).toEqual([0.99, 0.8, 0.85, 0.85, 0.85, 0.85, 0.86]);
    // The evidence is the chosen read's detection, in its frame.
    expect(r?.best.detection).toBe(chosen);
    expect(r?.best.timeMs).toBe(frameClock()(2).capturedAtMs);
  });

  it('a plate track that never got a valid read makes no event', () => {
    const tracker = createTracker({ minReadConfidence: 0.5 });
    const frames = Array.from({ length: 6 }, (_, i) => [
      plate('京A12345', box(100 + i * 80, 400, 100, 32), { confidence: 0.3 }),
    ]);
    expect(feed(tracker, [...frames, ...empty(6)])).toEqual([]);
    expect(tracker.stats()).toMatchObject({ endedTracks: 1, droppedNoRead: 1, reports: 0 });
  });

  it('low-confidence reads still extend the track; only valid ones vote', () => {
    const tracker = createTracker({ minReadConfidence: 0.5 });
    const frames = Array.from({ length: 6 }, (_, i) => [
      plate(i === 3 ? '京A12345' : '京A1Z3A5', box(100 + i * 80, 400, 100, 32), {
        confidence: i === 3 ? 0.9 : 0.3,
      }),
    ]);
    const [r] = plates(feed(tracker, [...frames, ...empty(6)]));
    expect(r?.plate).toMatchObject({ text: '京A12345', agreeingReads: 1, totalReads: 1 });
    expect(r?.hits).toBe(6);
  });

  it('a duplicate box on the same object in one frame does not start a second track', () => {
    const tracker = createTracker();
    const frames: Det[][] = Array.from({ length: 5 }, (_, i) => [
      plate('京A12345', box(100 + i * 90, 400, 100, 32)),
      // The same plate found twice (e.g. by two overlapping tiles), from the first frame on.
      plate('京A12345', box(102 + i * 90, 401, 98, 31), { confidence: 0.8 }),
    ]);
    const reports = feed(tracker, [...frames, ...empty(6)]);
    expect(reports).toHaveLength(1);
  });

  it('faces and plates are tracked separately even where they overlap', () => {
    const tracker = createTracker();
    const frames: Det[][] = Array.from({ length: 5 }, (_, i) => [
      plate('京A12345', box(300 + i * 40, 400, 100, 32)),
      face(box(300 + i * 40, 390, 60, 64)),
    ]);
    const reports = feed(tracker, [...frames, ...empty(6)]);
    expect(reports.map((r) => r.kind).sort()).toEqual(['face', 'plate']);
    for (const r of reports) expect(r.hits).toBe(5);
  });

  it('a face pass is one event whose best crop is the most confident and largest face', () => {
    const tracker = createTracker({ inbound: 'towards' });
    // Approaching: moves down and grows. Frame 3 is the largest confident one.
    const sizes = [40, 50, 60, 90, 80];
    const confs = [0.9, 0.9, 0.9, 0.85, 0.6];
    const frames = sizes.map((s, i) => [face(box(600, 200 + i * 60, s, s * 1.1), confs[i])]);
    const reports = feed(tracker, [...frames, ...empty(6)]);
    expect(reports).toHaveLength(1);
    const r = reports[0];
    expect(r?.kind).toBe('face');
    expect(r?.best.detection.box.width).toBe(90);
    expect(r?.direction).toBe('in');
  });

  it.each([
    ['left_to_right', 'in'],
    ['right_to_left', 'out'],
    ['towards', 'unknown'],
    ['away', 'unknown'],
    ['unspecified', 'unknown'],
  ] as const)('a plate moving left to right with inbound %s is %s', (inbound, direction) => {
    const tracker = createTracker({ inbound });
    const [r] = feed(tracker, [...crossing('京A12345', 8, 100), ...empty(6)]);
    expect(r?.direction).toBe(direction);
  });

  it('a vehicle that drives in and parks is reported at its maximum lifetime, once', () => {
    const tracker = createTracker({ maxLifetimeMs: 5000 });
    const arriving = [0, 1, 2].map((i) => [plate('京A12345', box(200 + i * 100, 400, 100, 32))]);
    const parked = Array.from({ length: 13 }, () => [plate('京A12345', box(500, 400, 100, 32))]);
    const reports = feed(tracker, [...arriving, ...parked, ...empty(6)], 0, () => 0);
    expect(reports.map((r) => r.endReason)).toEqual(['max_lifetime']);
    // Seen on after that, it starts a new track that never moves: scenery, no second event.
    expect(tracker.stats().droppedStatic).toBe(1);
  });

  it('something that never leaves its first box is not a pass (staticMinHits)', () => {
    const still = Array.from({ length: 5 }, () => [face(box(300, 100, 120, 120))]);
    const jitter = still.map((_, i) => [face(box(300 + (i % 2) * 20, 100, 120 + i * 2, 120 + i * 2))]);
    const noMotion = (): number => 0;
    const tracker = createTracker();
    expect(feed(tracker, [...jitter, ...empty(6)], 0, noMotion)).toEqual([]);
    expect(tracker.stats().droppedStatic).toBe(1);
    expect(feed(createTracker({ staticMinHits: 0 }), [...still, ...empty(6)], 0, noMotion)).toHaveLength(1);
    // Two hits are too few to call it still.
    expect(feed(createTracker(), [...still.slice(0, 2), ...empty(6)], 0, noMotion)).toHaveLength(1);
    // Most of the box changed in one frame: it moved there (a person who steps in and waits).
    const arrived = (b: { x: number }): number => (b.x === 300 ? 0.9 : 0);
    expect(feed(createTracker(), [...still, ...empty(6)], 0, arrived)).toHaveLength(1);
    // Without a motion map nothing is known to be still.
    expect(feed(createTracker(), [...still, ...empty(6)])).toHaveLength(1);
  });

  it('with emitUpdates, a better read is reported early under the same event id, revision +1', () => {
    const tracker = createTracker({ emitUpdates: true, updateMinIntervalMs: 0 });
    const texts = ['京A1234', '京A12345', '京A12345', '京A12345', '京A12345'];
    const confs = [0.7, 0.8, 0.95, 0.9, 0.9];
    const frames = texts.map((t, i) => [plate(t, box(100 + i * 90, 400, 100, 32), { confidence: confs[i] })]);
    const reports = plates(feed(tracker, [...frames, ...empty(6)]));
    expect(new Set(reports.map((r) => r.eventId)).size).toBe(1);
    expect(reports.map((r) => r.revision)).toEqual(reports.map((_, i) => i));
    expect(reports.map((r) => r.final)).toEqual([...reports.slice(1).map(() => false), true]);
    // First the only read; then each better one; the last update and the final agree.
    expect(reports.map((r) => r.plate.text)).toEqual(['京A1234', '京A12345', '京A12345', '京A12345']);
    expect(reports.at(-1)?.plate.readConfidence).toBe(0.95);
  });

  it('without emitUpdates there is one report, revision 0', () => {
    const tracker = createTracker();
    const frames = crossing('京A12345', 6, 90);
    const reports = feed(tracker, [...frames, ...empty(6)]);
    expect(reports.map((r) => [r.revision, r.final])).toEqual([[0, true]]);
  });

  it('updates are rate-limited', () => {
    const tracker = createTracker({ emitUpdates: true, updateMinIntervalMs: 2000 });
    const frames = Array.from({ length: 8 }, (_, i) => [
      plate('京A12345', box(100 + i * 60, 400, 100, 32), { confidence: 0.5 + i * 0.05 }),
    ]);
    const updates = feed(tracker, frames).filter((r) => !r.final);
    // 8 frames over 3.5 s, each better than the last, at most one update per 2 s.
    expect(updates.length).toBe(2);
  });

  it('minConfidence drops weak passes; minHits drops one-frame flickers', () => {
    const weak = createTracker({ minConfidence: 0.95 });
    expect(feed(weak, [...crossing('京A12345', 5, 90), ...empty(6)])).toEqual([]);
    expect(weak.stats().droppedWeak).toBe(1);
    const flicker = createTracker({ minHits: 2 });
    expect(feed(flicker, [[face(box(100, 100, 50, 50))], ...empty(6)])).toEqual([]);
    expect(
      feed(flicker, [...[0, 1, 2].map((i) => [face(box(100 + i * 40, 100, 50, 50))]), ...empty(6)], 20),
    ).toHaveLength(1);
  });

  it('flush() ends every active track; activeRegions() says where to keep looking', () => {
    const tracker = createTracker();
    feed(tracker, crossing('京A12345', 3, 100));
    const at = frameClock();
    const regions = tracker.activeRegions(at(3).capturedAtMs);
    expect(regions).toHaveLength(1);
    // Predicted one step further (x ≈ 340) and grown by half.
    expect(regions[0]?.x).toBeGreaterThan(300);
    expect(regions[0]?.x).toBeLessThan(340);
    expect(regions[0]?.width).toBe(96);
    const reports = tracker.flush();
    expect(reports.map((r) => r.endReason)).toEqual(['flushed']);
    expect(tracker.stats().activeTracks).toBe(0);
    expect(tracker.activeRegions(at(4).capturedAtMs)).toEqual([]);
  });

  it('a change of frame size ends the tracks of the old size', () => {
    const tracker = createTracker();
    feed(tracker, crossing('京A12345', 3, 100));
    const small = {
      data: new Uint8Array(640 * 360 * 3),
      width: 640,
      height: 360,
      capturedAtMs: frameClock()(3).capturedAtMs,
    };
    const reports = tracker.update(small, [plate('沪B67890', box(10, 10, 50, 16))]);
    expect(reports.map((r) => r.endReason)).toEqual(['flushed']);
    expect(tracker.stats().activeTracks).toBe(1);
  });

  it('a clock that steps back does not make negative durations', () => {
    const tracker = createTracker();
    const at = frameClock();
    tracker.update(at(10), [plate('京A12345', box(100, 400, 100, 32))]);
    tracker.update(at(5), [plate('京A12345', box(180, 400, 100, 32))]);
    const [r] = tracker.flush();
    expect((r?.lastSeenMs ?? 0) >= (r?.firstSeenMs ?? 1)).toBe(true);
  });

  it.each([
    ['an empty box', [plate('京A12345', box(0, 0, 0, 10))]],
    ['a NaN box', [face(box(Number.NaN, 0, 10, 10))]],
    [
      'char confidences of the wrong length',
      [{ ...plate('京A12345', box(0, 0, 10, 10)), charConfidences: [0.9] }],
    ],
    ['an unknown kind', [{ ...face(box(0, 0, 10, 10)), kind: 'person' } as unknown as Det]],
  ])('a detection with %s is EDGE_ERR_TRACK_INPUT and changes nothing', (_name, dets) => {
    const tracker = createTracker();
    const at = frameClock();
    tracker.update(at(0), [face(box(10, 10, 40, 40))]);
    let err: unknown;
    try {
      tracker.update(at(1), [face(box(12, 10, 40, 40)), ...dets]);
    } catch (e) {
      err = e;
    }
    expect(isEdgeError(err, 'EDGE_ERR_TRACK_INPUT')).toBe(true);
    const [r] = tracker.flush();
    expect(r?.hits).toBe(1);
  });

  it('an invalid frame is EDGE_ERR_TRACK_INPUT', () => {
    const tracker = createTracker();
    expect(() =>
      tracker.update({ data: new Uint8Array(0), width: 0, height: 0, capturedAtMs: 0 }, []),
    ).toThrow(expect.objectContaining({ code: 'EDGE_ERR_TRACK_INPUT' }));
  });

  it.each<[string, TrackerOptions]>([
    ['endAfterMissedFrames 0', { endAfterMissedFrames: 0 }],
    ['plateSimilarity 2', { plateSimilarity: 2 }],
    ['maxJump NaN', { maxJump: Number.NaN }],
    ['inbound sideways', { inbound: 'sideways' as TrackerOptions['inbound'] }],
  ])('invalid options (%s) are EDGE_ERR_TRACK_OPTIONS', (_name, opts) => {
    let err: unknown;
    try {
      createTracker(opts);
    } catch (e) {
      err = e;
    }
    expect(isEdgeError(err, 'EDGE_ERR_TRACK_OPTIONS')).toBe(true);
  });

  it('costs well under a millisecond per frame with ~5 objects', () => {
    const tracker = createTracker();
    const at = frameClock();
    const texts = ['京A12345', '沪B67890', '粤BD12345'];
    const frames: Det[][] = Array.from({ length: 2000 }, (_, i) => {
      const k = i % 40;
      return [
        ...texts.map((t, j) => plate(t, box(50 + k * 30, 200 + j * 120, 100, 32))),
        face(box(1000 - k * 20, 100, 60, 64)),
        face(box(1100 - k * 20, 500, 70, 76)),
      ];
    });
    for (let i = 0; i < 200; i++) tracker.update(at(i), frames[i] ?? []);
    const t0 = performance.now();
    for (let i = 200; i < frames.length; i++) tracker.update(at(i), frames[i] ?? []);
    const ms = (performance.now() - t0) / (frames.length - 200);
    console.log(`tracker: ${ms.toFixed(3)} ms per frame with 5 objects`);
    expect(ms).toBeLessThan(2);
  });
});
