/**
 * The tracker on the bench's generated scenes: a simulated detector (the scene's ground truth at
 * 2 fps, with misses, jitter and one-character misreads) feeds the tracker, which must make one
 * event per plate pass with the true text and the right direction, and one per face pass.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createTracker } from '../../edge-agent/src/track/index.ts';
import type { TrackReport } from '../../edge-agent/src/track/index.ts';
import { iou } from '../../edge-agent/src/track/geometry.ts';
import { generateScene } from '../scene/generate.ts';
import { PRESET_NAMES, presetScene } from '../scene/presets.ts';
import type { PresetName } from '../scene/presets.ts';
import { boxAt } from '../scene/truth.ts';
import type { SceneTruth, TruthObject } from '../scene/truth.ts';
import { simulateDetections } from './fixtures/track-detections.ts';

const FPS = 2;
const START_MS = 1_750_000_000_000;
const truths = new Map<PresetName, SceneTruth>();

beforeAll(async () => {
  for (const name of PRESET_NAMES) truths.set(name, (await generateScene(presetScene(name))).truth);
}, 240_000);

function truthOf(name: PresetName): SceneTruth {
  const t = truths.get(name);
  if (t === undefined) throw new Error(`no truth for ${name}`);
  return t;
}

/** Run the tracker over the simulated detections; returns the reports and the frames' detection counts. */
function track(truth: SceneTruth, seed: number): { reports: TrackReport[]; seen: Map<string, number> } {
  const sim = simulateDetections(truth, FPS, { seed, missRate: 0.1, misreadRate: 0.15, jitterPx: 2 });
  const tracker = createTracker({ inbound: 'left_to_right' });
  const { width, height } = truth.video;
  const data = new Uint8Array(width * height * 3);
  const reports: TrackReport[] = [];
  sim.forEach((f, i) => {
    reports.push(
      ...tracker.update({ data, width, height, capturedAtMs: START_MS + i * (1000 / FPS) }, f.detections),
    );
  });
  reports.push(...tracker.flush());
  // How often each truth object was detected (to know which passes must make an event).
  const seen = new Map<string, number>();
  sim.forEach((f) => {
    for (const d of f.detections) {
      const o = matchObject(truth, d.kind, f.t, d.box);
      if (o !== undefined) seen.set(o.id, (seen.get(o.id) ?? 0) + 1);
    }
  });
  return { reports, seen };
}

/** The truth object of `kind` whose box at `t` overlaps `box` best (IoU ≥ 0.5). */
function matchObject(
  truth: SceneTruth,
  kind: 'face' | 'plate',
  t: number,
  box: { x: number; y: number; width: number; height: number },
): TruthObject | undefined {
  let best: TruthObject | undefined;
  let bestIou = 0.5;
  for (const o of truth.objects) {
    if (o.kind !== kind) continue;
    const b = boxAt(o, t, truth.video);
    if (b === undefined) continue;
    const v = iou({ x: b.x, y: b.y, width: b.w, height: b.h }, box);
    if (v >= bestIou) {
      best = o;
      bestIou = v;
    }
  }
  return best;
}

/** Longest occlusion of an object, s. */
function longestOcclusion(o: TruthObject): number {
  return Math.max(0, ...(o.occluded_s ?? []).map(([a, b]) => b - a));
}

describe('tracker on generated scenes (simulated detector)', () => {
  it.each(PRESET_NAMES.flatMap((name) => [1, 2, 3].map((seed) => [name, seed] as const)))(
    '%s (seed %i): one event per plate pass with the true text and direction, one per face pass',
    (name, seed) => {
      const truth = truthOf(name);
      const { reports, seen } = track(truth, seed);
      const byObject = new Map<string, TrackReport[]>();
      for (const r of reports) {
        const t = (r.best.timeMs - START_MS) / 1000;
        const o = matchObject(truth, r.kind, t, r.best.detection.box);
        expect(o, `${r.kind} event at ${t}s matches no object`).toBeDefined();
        if (o === undefined) continue;
        byObject.set(o.id, [...(byObject.get(o.id) ?? []), r]);
      }
      for (const o of truth.objects) {
        if (o.kind === 'text' || (seen.get(o.id) ?? 0) === 0) continue;
        const events = byObject.get(o.id) ?? [];
        if (o.kind === 'plate') {
          expect(events.length, `${o.id}: ${events.length} events`).toBe(1);
          const e = events[0];
          if (e?.kind !== 'plate') continue;
          expect(e.plate.text).toBe(o.text);
          const first = o.keyframes[0]?.x ?? 0;
          const last = o.keyframes.at(-1)?.x ?? 0;
          expect(e.direction).toBe(last > first ? 'in' : 'out');
          expect(e.plate.agreeingReads).toBeGreaterThanOrEqual(Math.ceil(e.plate.totalReads * 0.6));
        } else if (longestOcclusion(o) < 2) {
          expect(events.length, `${o.id}: ${events.length} events`).toBe(1);
        } else {
          // Hidden longer than the end timeout: a second event after it reappears is expected.
          expect(events.length, `${o.id}: ${events.length} events`).toBeGreaterThanOrEqual(1);
          expect(events.length).toBeLessThanOrEqual(2);
        }
      }
    },
  );
});
