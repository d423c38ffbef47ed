/**
 * The per-camera tracker: ties detections across frames into tracks (one per object pass),
 * collects each track's plate reads and best crop, and reports ONE event per track when it ends.
 *
 * Association is by kind (faces with faces, plates with plates), as an optimal assignment on a
 * score of IoU with the predicted box plus centre closeness (in box diagonals, since at 2 fps an
 * object moves far between frames), plus a Jaro-Winkler bonus or penalty for plate text.
 * Prediction is constant velocity from the last matches, so a track survives a few missed frames
 * (occlusion, a detector miss) and a second object of the same kind beside it stays separate.
 */
import type { Box, FaceDetection, PlateDetection } from '../detect/types.ts';
import { EdgeError } from '../errors.ts';
import { assign } from './assign.ts';
import { travelDirection } from './direction.ts';
import type { DirectionThresholds, InboundDirection } from './direction.ts';
import { area, centre, diagonal, iou, visibleFraction } from './geometry.ts';
import { jaroWinkler } from './jaro-winkler.ts';
import { votePlate } from './plate-vote.ts';
import type {
  PlateTrackReport,
  TrackEndReason,
  TrackFrame,
  TrackObservation,
  TrackReport,
  Tracker,
  TrackerOptions,
  TrackerStats,
} from './types.ts';
import { ulid } from './ulid.ts';
import type { UlidFactory } from './ulid.ts';

type Det = FaceDetection | PlateDetection;

interface Resolved {
  endAfterMissedFrames: number;
  endAfterMs: number;
  maxLifetimeMs: number;
  emitUpdates: boolean;
  updateMinIntervalMs: number;
  inbound: InboundDirection;
  thresholds: DirectionThresholds;
  plateSimilarity: number;
  minReadConfidence: number;
  minConfidence: number;
  minHits: number;
  staticMinHits: number;
  maxJump: number;
  predictedJump: number;
  maxEvidenceTexts: number;
  maxReads: number;
  newEventId: UlidFactory;
}

const INBOUND: readonly InboundDirection[] = [
  'left_to_right',
  'right_to_left',
  'towards',
  'away',
  'unspecified',
];

/**
 * Whether `box` is where a track began: centre less than half a box diagonal away and size within
 * 1.3×. A track that never leaves its first box is scenery a detector mistakes for a face (a
 * window grid at night) or a plate that was parked before the tracker saw it; a pass leaves it
 * (even a person who steps in, waits and steps back out).
 */
function isStill(first: Box, last: Box): boolean {
  const a = centre(first);
  const b = centre(last);
  const moved = Math.hypot(a.x - b.x, a.y - b.y) / ((diagonal(first) + diagonal(last)) / 2);
  const growth = area(last) / Math.max(1e-9, area(first));
  return moved < 0.5 && growth < 1.3 && growth > 1 / 1.3;
}

/** Share of a box that changed (motion map) for its track to count as having moved. */
const MOVED_SHARE = 0.3;

function resolveOptions(opts: TrackerOptions): Resolved {
  const r: Resolved = {
    endAfterMissedFrames: opts.endAfterMissedFrames ?? 6,
    endAfterMs: opts.endAfterMs ?? 3000,
    maxLifetimeMs: opts.maxLifetimeMs ?? 120_000,
    emitUpdates: opts.emitUpdates ?? false,
    updateMinIntervalMs: opts.updateMinIntervalMs ?? 1000,
    inbound: opts.inbound ?? 'unspecified',
    thresholds: { minMoveFraction: opts.minMoveFraction ?? 0.08, minGrowth: opts.minGrowth ?? 1.3 },
    plateSimilarity: opts.plateSimilarity ?? 0.85,
    minReadConfidence: opts.minReadConfidence ?? 0.5,
    minConfidence: opts.minConfidence ?? 0,
    minHits: opts.minHits ?? 1,
    staticMinHits: opts.staticMinHits ?? 3,
    maxJump: opts.maxJump ?? 3,
    predictedJump: opts.predictedJump ?? 1.5,
    maxEvidenceTexts: opts.maxEvidenceTexts ?? 3,
    maxReads: opts.maxReads ?? 200,
    newEventId: opts.newEventId ?? ulid,
  };
  const check = (name: string, v: number, min: number, max: number, integer = false): void => {
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw new EdgeError(
        'EDGE_ERR_TRACK_OPTIONS',
        `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`,
      );
    }
  };
  check('endAfterMissedFrames', r.endAfterMissedFrames, 1, 10_000, true);
  check('endAfterMs', r.endAfterMs, 0, 3_600_000);
  check('maxLifetimeMs', r.maxLifetimeMs, 1, 86_400_000);
  check('updateMinIntervalMs', r.updateMinIntervalMs, 0, 3_600_000);
  check('minMoveFraction', r.thresholds.minMoveFraction, 0.001, 1);
  check('minGrowth', r.thresholds.minGrowth, 1.01, 100);
  check('plateSimilarity', r.plateSimilarity, 0, 1);
  check('minReadConfidence', r.minReadConfidence, 0, 1);
  check('minConfidence', r.minConfidence, 0, 1);
  check('minHits', r.minHits, 1, 10_000, true);
  check('staticMinHits', r.staticMinHits, 0, 10_000, true);
  check('maxJump', r.maxJump, 0.1, 100);
  check('predictedJump', r.predictedJump, 0.1, 100);
  check('maxEvidenceTexts', r.maxEvidenceTexts, 1, 100, true);
  check('maxReads', r.maxReads, 1, 100_000, true);
  if (!INBOUND.includes(r.inbound)) {
    throw new EdgeError('EDGE_ERR_TRACK_OPTIONS', `inbound must be one of ${INBOUND.join(', ')}`);
  }
  return r;
}

/** One plate read kept for the vote. */
interface ReadRec {
  text: string;
  /** Recogniser × detector confidence: the vote's ranking. */
  confidence: number;
  detection: PlateDetection;
}

interface Kept<D> {
  obs: TrackObservation<D>;
  quality: number;
}

interface Track {
  kind: 'face' | 'plate';
  trackId: string;
  eventId: string;
  firstSeenMs: number;
  lastSeenMs: number;
  hits: number;
  missed: number;
  firstBox: Box;
  /** Seen at least once away from where it began (see `isStill`). */
  moved: boolean;
  lastBox: Box;
  frameWidth: number;
  frameHeight: number;
  /** Centre velocity, px/ms, once matched twice. */
  velocity: { x: number; y: number } | undefined;
  /** Text of the latest valid read, for association. */
  matchText: string | undefined;
  bestFace: Kept<FaceDetection> | undefined;
  /** Best observation per plate text (bounded). */
  plateEvidence: Map<string, Kept<PlateDetection>>;
  reads: ReadRec[];
  nextRevision: number;
  lastUpdateMs: number | undefined;
  lastSignature: string | undefined;
}

function isFiniteBox(b: Box): boolean {
  return (
    Number.isFinite(b.x) && Number.isFinite(b.y) && Number.isFinite(b.width) && Number.isFinite(b.height)
  );
}

function validateDetection(d: Det, i: number): void {
  const bad = (why: string): never => {
    throw new EdgeError('EDGE_ERR_TRACK_INPUT', `detections[${i}] ${why}`);
  };
  // Detections may come from a worker thread: check the shape the types promise.
  const kind: unknown = d.kind;
  if (kind !== 'face' && kind !== 'plate') bad('has an unknown kind');
  if (!isFiniteBox(d.box) || d.box.width <= 0 || d.box.height <= 0) bad('has an empty or non-finite box');
  if (!Number.isFinite(d.confidence)) bad('has a non-finite confidence');
  if (d.kind === 'plate') {
    if (!Number.isFinite(d.detConfidence)) bad('has a non-finite detConfidence');
    if (Array.from(d.text).length !== d.charConfidences.length) {
      bad('has charConfidences of a different length than its text');
    }
  }
}

function shift(b: Box, dx: number, dy: number): Box {
  return { x: b.x + dx, y: b.y + dy, width: b.width, height: b.height };
}

/** Create a tracker for one camera. Throws EDGE_ERR_TRACK_OPTIONS on invalid options. */
export function createTracker(opts: TrackerOptions = {}): Tracker {
  const o = resolveOptions(opts);
  let tracks: Track[] = [];
  let lastNow = Number.NEGATIVE_INFINITY;
  let counter = 0;
  const stats: TrackerStats = {
    activeTracks: 0,
    endedTracks: 0,
    reports: 0,
    droppedNoRead: 0,
    droppedWeak: 0,
    droppedStatic: 0,
  };

  const predicted = (t: Track, now: number): Box => {
    if (t.velocity === undefined) return t.lastBox;
    const dt = now - t.lastSeenMs;
    return shift(t.lastBox, t.velocity.x * dt, t.velocity.y * dt);
  };

  const score = (t: Track, d: Det, now: number): number => {
    const pred = predicted(t, now);
    const scale = (diagonal(t.lastBox) + diagonal(d.box)) / 2;
    const misses = Math.min(t.missed, 4);
    const gate = (t.velocity === undefined ? o.maxJump : o.predictedJump) * (1 + 0.5 * misses);
    const pc = centre(pred);
    const dc = centre(d.box);
    const dist = Math.hypot(pc.x - dc.x, pc.y - dc.y) / scale;
    if (dist > gate) return Number.NEGATIVE_INFINITY;
    const ratio = area(d.box) / area(t.lastBox);
    if (ratio > 4 || ratio < 0.25) return Number.NEGATIVE_INFINITY;
    let s = iou(pred, d.box) + (1 - dist / gate);
    if (d.kind === 'plate' && t.matchText !== undefined && d.text !== '') {
      // Same plate read slightly differently: bonus; clearly another plate: penalty.
      const jw = jaroWinkler(t.matchText, d.text);
      s += Math.max(-0.5, Math.min(0.5, (jw - 0.7) * 2));
    }
    return s > 0.05 ? s : Number.NEGATIVE_INFINITY;
  };

  const observe = (
    t: Track,
    d: Det,
    frame: TrackFrame,
    now: number,
    first: boolean,
    motionShare: ((box: Box) => number) | undefined,
  ): void => {
    if (!first) {
      const dt = now - t.lastSeenMs;
      if (dt > 0) {
        const a = centre(t.lastBox);
        const b = centre(d.box);
        const inst = { x: (b.x - a.x) / dt, y: (b.y - a.y) / dt };
        t.velocity =
          t.velocity === undefined
            ? inst
            : { x: 0.6 * inst.x + 0.4 * t.velocity.x, y: 0.6 * inst.y + 0.4 * t.velocity.y };
      }
    }
    t.lastBox = { ...d.box };
    t.lastSeenMs = now;
    t.hits++;
    // Without a motion map nothing is known to be still. With one, a box most of which changed
    // since the background is something that moved there, even if it then waits.
    if (
      !t.moved &&
      (motionShare === undefined || motionShare(d.box) >= MOVED_SHARE || !isStill(t.firstBox, d.box))
    ) {
      t.moved = true;
    }
    t.missed = 0;
    if (d.kind === 'face') {
      const quality = d.confidence * Math.sqrt(area(d.box));
      if (t.bestFace === undefined || quality > t.bestFace.quality) {
        t.bestFace = { obs: { detection: d, frame, timeMs: now }, quality };
      }
      return;
    }
    if (d.text === '' || d.confidence < o.minReadConfidence) return;
    const confidence = d.confidence * d.detConfidence;
    t.matchText = d.text;
    t.reads.push({ text: d.text, confidence, detection: d });
    if (t.reads.length > o.maxReads) {
      let worst = 0;
      t.reads.forEach((r, i) => {
        if (r.confidence < (t.reads[worst]?.confidence ?? Number.POSITIVE_INFINITY)) worst = i;
      });
      t.reads.splice(worst, 1);
    }
    const kept = t.plateEvidence.get(d.text);
    if (kept === undefined || confidence > kept.quality) {
      t.plateEvidence.set(d.text, { obs: { detection: d, frame, timeMs: now }, quality: confidence });
    }
    if (t.plateEvidence.size > o.maxEvidenceTexts) {
      // Drop the frame of the text with the fewest reads (ties: the weakest crop).
      const counts = new Map<string, number>();
      for (const r of t.reads) counts.set(r.text, (counts.get(r.text) ?? 0) + 1);
      let victim: string | undefined;
      let victimKey: [number, number] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
      for (const [text, k] of t.plateEvidence) {
        const key: [number, number] = [counts.get(text) ?? 0, k.quality];
        if (key[0] < victimKey[0] || (key[0] === victimKey[0] && key[1] < victimKey[1])) {
          victim = text;
          victimKey = key;
        }
      }
      if (victim !== undefined) t.plateEvidence.delete(victim);
    }
  };

  const startTrack = (
    d: Det,
    frame: TrackFrame,
    now: number,
    motionShare: ((box: Box) => number) | undefined,
  ): Track => {
    counter++;
    const t: Track = {
      kind: d.kind,
      trackId: `${d.kind === 'face' ? 'f' : 'p'}${counter}`,
      eventId: o.newEventId(now),
      firstSeenMs: now,
      lastSeenMs: now,
      hits: 0,
      missed: 0,
      firstBox: { ...d.box },
      moved: false,
      lastBox: { ...d.box },
      frameWidth: frame.width,
      frameHeight: frame.height,
      velocity: undefined,
      matchText: undefined,
      bestFace: undefined,
      plateEvidence: new Map(),
      reads: [],
      nextRevision: 0,
      lastUpdateMs: undefined,
      lastSignature: undefined,
    };
    observe(t, d, frame, now, true, motionShare);
    return t;
  };

  /** The report the track would make now, without a revision; undefined when it makes none. */
  const currentReport = (
    t: Track,
  ): { report: TrackReport; signature: string } | { drop: 'no_read' | 'weak' | 'static' } => {
    const base = {
      eventId: t.eventId,
      trackId: t.trackId,
      revision: 0,
      final: false,
      endReason: undefined,
      firstSeenMs: t.firstSeenMs,
      lastSeenMs: t.lastSeenMs,
      hits: t.hits,
      direction: travelDirection(
        t.firstBox,
        t.lastBox,
        { width: t.frameWidth, height: t.frameHeight },
        o.inbound,
        o.thresholds,
      ),
    };
    if (t.hits < o.minHits) return { drop: 'weak' };
    if (o.staticMinHits > 0 && t.hits >= o.staticMinHits && !t.moved) {
      return { drop: 'static' };
    }
    if (t.kind === 'face') {
      const best = t.bestFace;
      if (best === undefined) return { drop: 'weak' };
      if (best.obs.detection.confidence < o.minConfidence) return { drop: 'weak' };
      return { report: { ...base, kind: 'face', best: best.obs }, signature: String(best.obs.timeMs) };
    }
    const vote = votePlate(t.reads, o.plateSimilarity);
    if (vote === undefined) return { drop: 'no_read' };
    const chosen = vote.read;
    let kept = t.plateEvidence.get(chosen.text);
    if (kept === undefined) {
      // The chosen text's frame was evicted: use the best kept frame of a similar text.
      for (const [text, k] of t.plateEvidence) {
        const similar = jaroWinkler(text, chosen.text) >= o.plateSimilarity;
        if (similar && (kept === undefined || k.quality > kept.quality)) kept = k;
      }
    }
    if (kept === undefined) {
      for (const k of t.plateEvidence.values()) if (kept === undefined || k.quality > kept.quality) kept = k;
    }
    if (kept === undefined) return { drop: 'no_read' };
    if (kept.obs.detection.detConfidence < o.minConfidence) return { drop: 'weak' };
    const report: PlateTrackReport = {
      ...base,
      kind: 'plate',
      best: kept.obs,
      plate: {
        text: chosen.detection.text,
        colour: chosen.detection.colour,
        charConfidences: [...chosen.detection.charConfidences],
        readConfidence: chosen.detection.confidence,
        agreeingReads: vote.agreeing,
        totalReads: vote.total,
      },
    };
    return { report, signature: `${chosen.text}|${chosen.confidence}|${kept.obs.timeMs}` };
  };

  const end = (t: Track, reason: TrackEndReason, out: TrackReport[]): void => {
    stats.endedTracks++;
    const r = currentReport(t);
    if ('drop' in r) {
      if (r.drop === 'no_read') stats.droppedNoRead++;
      else if (r.drop === 'static') stats.droppedStatic++;
      else stats.droppedWeak++;
      return;
    }
    r.report.final = true;
    r.report.endReason = reason;
    r.report.revision = t.nextRevision++;
    stats.reports++;
    out.push(r.report);
  };

  const maybeUpdate = (t: Track, now: number, out: TrackReport[]): void => {
    if (t.lastUpdateMs !== undefined && now - t.lastUpdateMs < o.updateMinIntervalMs) return;
    const r = currentReport(t);
    if ('drop' in r || r.signature === t.lastSignature) return;
    r.report.revision = t.nextRevision++;
    t.lastSignature = r.signature;
    t.lastUpdateMs = now;
    stats.reports++;
    out.push(r.report);
  };

  const flushAll = (out: TrackReport[]): void => {
    for (const t of tracks) end(t, 'flushed', out);
    tracks = [];
  };

  return {
    update(frame, detections, motionShare) {
      if (
        !Number.isInteger(frame.width) ||
        !Number.isInteger(frame.height) ||
        frame.width <= 0 ||
        frame.height <= 0 ||
        !Number.isFinite(frame.capturedAtMs)
      ) {
        throw new EdgeError(
          'EDGE_ERR_TRACK_INPUT',
          `frame ${frame.width}x${frame.height} at ${frame.capturedAtMs} ms is not a valid frame`,
        );
      }
      detections.forEach(validateDetection);
      const out: TrackReport[] = [];
      // A stepped-back wall clock must not make durations negative.
      const now = Math.max(frame.capturedAtMs, lastNow);
      lastNow = now;
      const first = tracks[0];
      if (first !== undefined && (first.frameWidth !== frame.width || first.frameHeight !== frame.height)) {
        // Boxes of another frame size are not comparable: the capture was reconfigured.
        flushAll(out);
      }
      const matched = new Set<Track>();
      const created = new Set<Track>();
      for (const kind of ['face', 'plate'] as const) {
        const ts = tracks.filter((t) => t.kind === kind);
        const ds = detections.filter((d) => d.kind === kind);
        if (ds.length === 0) continue;
        const used = new Set<number>();
        if (ts.length > 0) {
          const pairs = assign(ts.map((t) => ds.map((d) => score(t, d, now))));
          for (const [ti, di] of pairs) {
            const t = ts[ti];
            const d = ds[di];
            if (t === undefined || d === undefined) continue;
            observe(t, d, frame, now, false, motionShare);
            matched.add(t);
            used.add(di);
          }
        }
        const taken = ds.filter((_, i) => used.has(i));
        ds.forEach((d, i) => {
          if (used.has(i)) return;
          // A second box on an object already matched this frame (overlapping tiles, a double
          // read) is the same object, not a new pass.
          if (taken.some((m) => iou(m.box, d.box) > 0.5)) return;
          taken.push(d);
          const t = startTrack(d, frame, now, motionShare);
          tracks.push(t);
          created.add(t);
        });
      }
      const alive: Track[] = [];
      for (const t of tracks) {
        let reason: TrackEndReason | undefined;
        if (!matched.has(t) && !created.has(t)) {
          t.missed++;
          if (
            t.velocity !== undefined &&
            visibleFraction(predicted(t, now), frame.width, frame.height) < 0.5
          ) {
            reason = 'left_frame';
          } else if (t.missed >= o.endAfterMissedFrames && now - t.lastSeenMs >= o.endAfterMs) {
            reason = 'unseen';
          }
        }
        if (reason === undefined && now - t.firstSeenMs >= o.maxLifetimeMs) reason = 'max_lifetime';
        if (reason === undefined) alive.push(t);
        else end(t, reason, out);
      }
      tracks = alive;
      if (o.emitUpdates)
        for (const t of tracks) if (matched.has(t) || created.has(t)) maybeUpdate(t, now, out);
      return out;
    },

    activeRegions(nowMs) {
      return tracks
        .map((t) => {
          const p = predicted(t, Math.max(nowMs, t.lastSeenMs));
          const grown = {
            x: p.x - p.width / 4,
            y: p.y - p.height / 4,
            width: p.width * 1.5,
            height: p.height * 1.5,
          };
          const x0 = Math.max(0, Math.floor(grown.x));
          const y0 = Math.max(0, Math.floor(grown.y));
          const x1 = Math.min(t.frameWidth, Math.ceil(grown.x + grown.width));
          const y1 = Math.min(t.frameHeight, Math.ceil(grown.y + grown.height));
          return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
        })
        .filter((b) => b.width > 0 && b.height > 0);
    },

    flush() {
      const out: TrackReport[] = [];
      flushAll(out);
      return out;
    },

    stats() {
      return { ...stats, activeTracks: tracks.length };
    },
  };
}
