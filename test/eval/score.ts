/**
 * Scoring detection against scene ground truth, for `npm run eval -- detection`. Pure: given the
 * truth, the per-frame detections and the events a run produced, compute the metrics.
 *
 * Matching rules (documented in the eval's output as `rules`):
 * - a face detection matches a truth face in the same frame when IoU ≥ 0.3;
 * - a plate event matches a truth plate pass when the event's box at its best-frame time has
 *   IoU ≥ 0.2 with the truth box at that time (generous: truth is the whole plate, the detector
 *   box may be tighter or rotated) — or, failing that, when its text equals the truth text and
 *   the pass is visible at that time;
 * - a face event matches a truth face pass the same way (IoU ≥ 0.2 at its best frame);
 * - a pass is a plate ≥ 80 px wide at its widest or a face ≥ 24 px (the sizes the issue's
 *   read and recall metrics use); plates 60–80 px wide are counted apart;
 * - a face detection that overlaps any truth face (IoU > 0.05, however clipped or occluded the
 *   truth says it is) is not counted as false; nor is it counted as found unless the face was
 *   whole (≥ 90% in frame), unoccluded and ≥ 24 px wide.
 */
import { iou } from '../../edge-agent/src/detect/face-decode.ts';
import type { Box } from '../../edge-agent/src/detect/types.ts';
import { boxAt, type SceneTruth, type TruthObject } from '../scene/truth.ts';
import { rotateBox } from './variations.ts';

/** A detection in one analysed frame. */
export interface FrameDetection {
  kind: 'face' | 'plate';
  box: Box;
}

/** One analysed frame's detections, at loop time `t_s`. */
export interface FrameResult {
  t_s: number;
  detections: FrameDetection[];
}

/** An emitted event, as the scorer needs it. */
export interface ScoredEvent {
  kind: 'face' | 'plate';
  /** Loop time of the best frame. */
  t_s: number;
  box: Box;
  text?: string;
}

/** One run: a scene (truth) seen through a variation, analysed at `width×height`. */
export interface RunResult {
  truth: SceneTruth;
  /** Analysis frame size (truth is scaled from the video size to it). */
  width: number;
  height: number;
  rotateDeg: number;
  frames: FrameResult[];
  events: ScoredEvent[];
}

/** Counts summed over runs; the metrics are ratios of these. */
export interface Tally {
  platePasses80: number;
  platesRead80: number;
  plateEvents: number;
  plateFalseEvents: number;
  faceTruthInstances: number;
  faceFound: number;
  faceFalse: number;
  frames: number;
  passes: number;
  passesWithOneEvent: number;
  /** Per-pass plate results, for the report: truth text → event texts. */
  misreads: { truth: string; read: string[] }[];
  /** Plate passes 60–80 px wide (not in `passes`), and those with exactly one event. */
  smallPlatePasses: number;
  smallPlatePassesWithOneEvent: number;
  /** Passes with no event or several, for the report: scene, object id, event best-frame times. */
  notOneEvent: { scene: string; object: string; events_t_s: number[] }[];
}

export function emptyTally(): Tally {
  return {
    platePasses80: 0,
    platesRead80: 0,
    plateEvents: 0,
    plateFalseEvents: 0,
    faceTruthInstances: 0,
    faceFound: 0,
    faceFalse: 0,
    frames: 0,
    passes: 0,
    passesWithOneEvent: 0,
    misreads: [],
    smallPlatePasses: 0,
    smallPlatePassesWithOneEvent: 0,
    notOneEvent: [],
  };
}

/**
 * Truth box of `o` at `t_s`, in analysis pixels after rotation; undefined when not visible.
 * `evenIfOccluded` ignores the truth's occlusion intervals, which are conservative (an object
 * whose box touches the bounding rectangle of a sprite drawn over it counts as occluded, though
 * it is often mostly in view): a detection or event of such an object is not false.
 */
function truthBox(
  run: RunResult,
  o: TruthObject,
  t_s: number,
  minVisible = 0.6,
  evenIfOccluded = false,
): Box | undefined {
  const v = run.truth.video;
  const object = evenIfOccluded ? { ...o, occluded_s: [] } : o;
  const vb = boxAt(object, t_s, { width: v.width, height: v.height });
  if (vb === undefined || vb.visibleFraction < minVisible) return undefined;
  const sx = run.width / v.width;
  const sy = run.height / v.height;
  const box = { x: vb.x * sx, y: vb.y * sy, width: vb.w * sx, height: vb.h * sy };
  return rotateBox(box, run.rotateDeg, run.width, run.height);
}

/** Widest the object ever is, in analysis pixels (unrotated). */
function maxWidth(run: RunResult, o: TruthObject): number {
  const sx = run.width / run.truth.video.width;
  return Math.max(...o.keyframes.map((k) => k.w)) * sx;
}

/** Score one run into the tally. */
export function scoreRun(run: RunResult, tally: Tally): void {
  const faces = run.truth.objects.filter((o) => o.kind === 'face');
  const plates = run.truth.objects.filter((o) => o.kind === 'plate');

  // Per-frame face recall and false positives.
  for (const frame of run.frames) {
    tally.frames += 1;
    const dets = frame.detections.filter((d) => d.kind === 'face');
    const used = new Set<FrameDetection>();
    for (const face of faces) {
      const box = truthBox(run, face, frame.t_s, 0.9);
      if (box === undefined || box.width < 24) continue;
      tally.faceTruthInstances += 1;
      const hit = dets.find((d) => !used.has(d) && iou(d.box, box) >= 0.3);
      if (hit !== undefined) {
        used.add(hit);
        tally.faceFound += 1;
      }
    }
    for (const d of dets) {
      if (used.has(d)) continue;
      // Any overlap with a truth face (even a small, clipped or partly hidden one) is not false.
      const nearTruth = faces.some((f) => {
        const b = truthBox(run, f, frame.t_s, 0, true);
        return b !== undefined && iou(d.box, b) > 0.05;
      });
      if (!nearTruth) tally.faceFalse += 1;
    }
  }

  // Events → passes.
  const eventsFor = new Map<TruthObject, ScoredEvent[]>();
  for (const ev of run.events) {
    const candidates = ev.kind === 'plate' ? plates : faces;
    let match: TruthObject | undefined;
    let best = 0.2;
    for (const o of candidates) {
      const b = truthBox(run, o, ev.t_s, 0, true);
      if (b === undefined) continue;
      const score = iou(ev.box, b);
      if (score >= best) {
        best = score;
        match = o;
      }
    }
    if (match === undefined && ev.kind === 'plate') {
      match = plates.find((o) => o.text === ev.text && truthBox(run, o, ev.t_s, 0, true) !== undefined);
    }
    if (ev.kind === 'plate') {
      tally.plateEvents += 1;
      if (match === undefined) tally.plateFalseEvents += 1;
    }
    if (match !== undefined) eventsFor.set(match, [...(eventsFor.get(match) ?? []), ev]);
  }

  for (const o of plates) {
    const evs = eventsFor.get(o) ?? [];
    if (maxWidth(run, o) >= 80) {
      tally.platePasses80 += 1;
      if (evs.some((e) => e.text === o.text)) tally.platesRead80 += 1;
      else tally.misreads.push({ truth: o.text ?? '', read: evs.map((e) => e.text ?? '') });
    }
    // Passes use the readable sizes (plates ≥ 80 px, faces ≥ 24 px); smaller plates
    // (60–80 px, read when clean but often not when degraded) are reported on their own.
    if (maxWidth(run, o) >= 80) countPass(run, tally, o, evs);
    else if (maxWidth(run, o) >= 60) {
      tally.smallPlatePasses += 1;
      if (evs.length === 1) tally.smallPlatePassesWithOneEvent += 1;
    }
  }
  for (const o of faces) {
    if (maxWidth(run, o) >= 24) countPass(run, tally, o, eventsFor.get(o) ?? []);
  }
}

function countPass(run: RunResult, tally: Tally, o: TruthObject, evs: readonly ScoredEvent[]): void {
  tally.passes += 1;
  if (evs.length === 1) tally.passesWithOneEvent += 1;
  else
    tally.notOneEvent.push({
      scene: run.truth.scene?.name ?? run.truth.video.file,
      object: o.id,
      events_t_s: evs.map((e) => e.t_s),
    });
}

/** The metrics from a tally. */
export function metrics(t: Tally): Record<string, number> {
  const ratio = (a: number, b: number) => (b === 0 ? 0 : Math.round((1000 * a) / b) / 1000);
  return {
    plate_exact_read: ratio(t.platesRead80, t.platePasses80),
    plate_false_events: t.plateFalseEvents,
    face_recall: ratio(t.faceFound, t.faceTruthInstances),
    face_false_per_100_frames: t.frames === 0 ? 0 : Math.round((10000 * t.faceFalse) / t.frames) / 100,
    events_per_pass_exact: ratio(t.passesWithOneEvent, t.passes),
  };
}
