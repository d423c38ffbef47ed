/**
 * Face detector accuracy and speed on real pixels: public-domain photos with hand-measured
 * boxes, and generated 720p scenes with exact ground truth (test/scene), searched two ways —
 * the whole frame, and only the motion regions (as the pipeline does). Prints one JSON line
 * per mode with recall, false positives and per-frame time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaceDetector, type FaceDetector } from '../../edge-agent/src/detect/face.ts';
import { iou } from '../../edge-agent/src/detect/face-decode.ts';
import { decodeImageFile } from '../../edge-agent/src/detect/image.ts';
import type { Box, FaceDetection, RgbImage } from '../../edge-agent/src/detect/types.ts';
import { readFrames } from '../scene/ffmpeg.ts';
import { generateScene } from '../scene/generate.ts';
import { presetScene, type PresetName } from '../scene/presets.ts';
import { boxAt, interpolateBox, type SceneTruth } from '../scene/truth.ts';
import { motionBoxes } from './fixtures/detect-face-motion.ts';
import { ASTRONAUT, CAMERA, CHELSEA } from './fixtures/detect-face-photos.ts';

/** A detection counts as the face when IoU with the truth box reaches this. */
const MATCH_IOU = 0.4;
/** Faces at least this big (px, both sides) must be found (issue 4). */
const MIN_FACE_PX = 24;
/** Analysed frames are this many source frames apart (15 fps → 2.5 fps), and motion compares to the previous one. */
const STEP = 6;

let detector: FaceDetector;
beforeAll(async () => {
  detector = await createFaceDetector();
});
afterAll(async () => {
  await detector.close();
});

describe('photos', () => {
  it.each([
    ['astronaut.png (frontal)', ASTRONAUT],
    ['camera.png (profile, grey)', CAMERA],
  ])('%s: one face, IoU ≥ 0.5 with the hand-measured box', async (_name, photo) => {
    const faces = await detector.detect(await decodeImageFile(photo.path));
    expect(faces).toHaveLength(1);
    const [face] = faces as [FaceDetection];
    expect(iou(face.box, photo.face as Box)).toBeGreaterThanOrEqual(0.5);
    expect(face.confidence).toBeGreaterThan(0.65);
    expect(face.keypoints).toHaveLength(6);
    for (const k of face.keypoints) {
      expect(k.x).toBeGreaterThan(face.box.x - face.box.width * 0.3);
      expect(k.x).toBeLessThan(face.box.x + face.box.width * 1.3);
    }
  });

  it('chelsea.png (a cat) is the known false positive: documented, not hidden', async () => {
    // BlazeFace scores the cat's face ~0.78 (ENVIRONMENT.md: "known false positives: cat faces").
    // If this starts failing, the detector no longer fires on it: update models/README.md.
    const faces = await detector.detect(await decodeImageFile(CHELSEA.path));
    expect(faces).toHaveLength(1);
    expect(faces[0]?.confidence).toBeLessThan(0.85);
  });
});

interface ModeResult {
  frames: number;
  required: number;
  found: number;
  falsePositives: number;
  ms: number[];
  tiles: number[];
  missed: string[];
}

async function evaluate(preset: PresetName, mode: 'whole' | 'motion'): Promise<ModeResult> {
  const { videoPath, truth } = await generateScene(presetScene(preset));
  const numbers: number[] = [];
  for (let n = STEP; n < truth.video.frame_count; n += STEP) numbers.push(n);
  const wanted = mode === 'motion' ? numbers.flatMap((n) => [n - STEP, n]) : numbers;
  const frames: Buffer[] = [];
  // ffmpeg's select expression has a length limit: read in chunks.
  for (let i = 0; i < wanted.length; i += 40) {
    frames.push(...(await readFrames(videoPath, truth.video, 'rgb24', wanted.slice(i, i + 40))).frames);
  }
  const result: ModeResult = {
    frames: 0,
    required: 0,
    found: 0,
    falsePositives: 0,
    ms: [],
    tiles: [],
    missed: [],
  };
  for (const [i, n] of numbers.entries()) {
    const buf = frames[mode === 'motion' ? 2 * i + 1 : i] as Buffer;
    const image: RgbImage = { data: buf, width: truth.video.width, height: truth.video.height };
    const regions =
      mode === 'motion' ? motionBoxes(frames[2 * i] as Buffer, buf, image.width, image.height) : undefined;
    const faces = await detector.detect(image, regions);
    result.frames++;
    result.ms.push(detector.lastStats.totalMs);
    result.tiles.push(detector.lastStats.tiles);
    score(truth, n, mode, faces, result, preset);
  }
  return result;
}

function score(
  truth: SceneTruth,
  n: number,
  mode: 'whole' | 'motion',
  faces: FaceDetection[],
  r: ModeResult,
  preset: string,
): void {
  const t = n / truth.video.fps;
  const tPrev = (n - STEP) / truth.video.fps;
  const objects = truth.objects.filter((o) => o.kind === 'face');
  const claimed = new Set<number>();
  for (const o of objects) {
    const visible = boxAt(o, t, truth.video);
    if (visible === undefined) continue;
    const box = { x: visible.x, y: visible.y, width: visible.w, height: visible.h };
    let best = -1;
    let bestIou = 0;
    faces.forEach((f, j) => {
      const v = iou(f.box, box);
      if (v > bestIou) {
        bestIou = v;
        best = j;
      }
    });
    if (bestIou >= MATCH_IOU) claimed.add(best);
    const prev = interpolateBox(o, tPrev);
    const now = interpolateBox(o, t);
    // A face that did not move makes no motion: the motion-gated pipeline is not asked to find it
    // (the tracker keeps what it already saw).
    const moving = Math.abs(prev.x - now.x) + Math.abs(prev.y - now.y) + Math.abs(prev.w - now.w) > 1;
    const required =
      !visible.clipped && Math.min(visible.w, visible.h) >= MIN_FACE_PX && (mode === 'whole' || moving);
    if (!required) continue;
    r.required++;
    if (bestIou >= MATCH_IOU) r.found++;
    else r.missed.push(`${preset}#${n} ${o.id} ${Math.round(visible.w)}px`);
  }
  faces.forEach((f, j) => {
    if (claimed.has(j)) return;
    // Not a false positive if it sits on any face at all (occluded, clipped, under 24 px).
    const onAFace = objects.some((o) => {
      if (t < o.appear_s || t > o.disappear_s) return false;
      const b = interpolateBox(o, t);
      return iou(f.box, { x: b.x, y: b.y, width: b.w, height: b.h }) >= 0.2;
    });
    if (!onAFace) r.falsePositives++;
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

describe('generated 720p scenes (street, village-entrance)', () => {
  it.each(['whole', 'motion'] as const)(
    '%s frame: recall of faces ≥ 24 px ≥ 0.9, ≤ 1 false positive per 100 frames',
    async (mode) => {
      const parts = [await evaluate('street', mode), await evaluate('village-entrance', mode)];
      const all = parts.reduce((a, b) => ({
        frames: a.frames + b.frames,
        required: a.required + b.required,
        found: a.found + b.found,
        falsePositives: a.falsePositives + b.falsePositives,
        ms: [...a.ms, ...b.ms],
        tiles: [...a.tiles, ...b.tiles],
        missed: [...a.missed, ...b.missed],
      }));
      const recall = all.found / all.required;
      const fpPer100 = (100 * all.falsePositives) / all.frames;
      console.log(
        JSON.stringify({
          face_eval: mode,
          frames: all.frames,
          faces_required: all.required,
          recall: Number(recall.toFixed(3)),
          false_positives: all.falsePositives,
          false_per_100_frames: Number(fpPer100.toFixed(2)),
          median_ms: Number(median(all.ms).toFixed(1)),
          p90_ms: Number(
            ([...all.ms].sort((a, b) => a - b)[Math.floor(all.ms.length * 0.9)] ?? NaN).toFixed(1),
          ),
          mean_tiles: Number((all.tiles.reduce((a, b) => a + b, 0) / all.tiles.length).toFixed(2)),
          missed: all.missed,
        }),
      );
      expect(all.required).toBeGreaterThan(20);
      expect(recall).toBeGreaterThanOrEqual(0.9);
      expect(fpPer100).toBeLessThanOrEqual(1);
      // Not the 40 ms target (a shared 2-core machine cannot promise it in a test): a bound
      // that catches a pathological slowdown.
      expect(median(all.ms)).toBeLessThan(500);
    },
    240_000,
  );
});
