/**
 * BlazeFace anchors, decoding and weighted NMS (face-decode.ts): table-driven, plus real
 * tensors recorded from the real model on astronaut.png (fixtures/detect-face-astronaut.json,
 * made by fixtures/detect-face-record.ts) — decoded here without the model, and checked
 * against the live model so the fixture cannot silently go stale.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaceDetector, type FaceDetector } from '../../edge-agent/src/detect/face.ts';
import {
  BLAZEFACE_ANCHOR_COUNT,
  BLAZEFACE_REGRESSORS,
  anchorCentres,
  anchorCounts,
  blazefaceAnchors,
  decodeBlazeface,
  decodeBlazefacePx,
  iou,
  logit,
  sigmoid,
  weightedNms,
  type BlazefaceOutputs,
  type ScoredFace,
} from '../../edge-agent/src/detect/face-decode.ts';
import { boxFromLetterbox, decodeImageFile, letterbox } from '../../edge-agent/src/detect/image.ts';
import type { Box } from '../../edge-agent/src/detect/types.ts';
import { ASTRONAUT, type FaceFixture } from './fixtures/detect-face-photos.ts';

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/detect-face-astronaut.json', import.meta.url), 'utf8'),
) as FaceFixture;

/** Empty outputs (every logit very negative) with the given anchors set. */
function outputs(
  anchors: { index: number; logit: number; regressors: readonly number[] }[],
): BlazefaceOutputs {
  const out: BlazefaceOutputs = {
    scores16: new Float32Array(512).fill(-50),
    scores8: new Float32Array(384).fill(-50),
    boxes16: new Float32Array(512 * BLAZEFACE_REGRESSORS),
    boxes8: new Float32Array(384 * BLAZEFACE_REGRESSORS),
  };
  for (const a of anchors) {
    const first = a.index < 512;
    const i = first ? a.index : a.index - 512;
    (first ? out.scores16 : out.scores8)[i] = a.logit;
    (first ? out.boxes16 : out.boxes8).set(a.regressors, i * BLAZEFACE_REGRESSORS);
  }
  return out;
}

describe('anchors', () => {
  const anchors = blazefaceAnchors();
  it.each([
    // index, cx, cy — 16×16 cells × 2, then 8×8 cells × 6
    [0, 0.5 / 16, 0.5 / 16],
    [1, 0.5 / 16, 0.5 / 16],
    [2, 1.5 / 16, 0.5 / 16],
    [31, 15.5 / 16, 0.5 / 16],
    [32, 0.5 / 16, 1.5 / 16],
    [511, 15.5 / 16, 15.5 / 16],
    [512, 0.5 / 8, 0.5 / 8],
    [517, 0.5 / 8, 0.5 / 8],
    [518, 1.5 / 8, 0.5 / 8],
    [512 + 6 * 8, 0.5 / 8, 1.5 / 8],
    [895, 7.5 / 8, 7.5 / 8],
  ])('anchor %i is centred at (%f, %f)', (i, cx, cy) => {
    expect(anchors[2 * i]).toBeCloseTo(cx, 6);
    expect(anchors[2 * i + 1]).toBeCloseTo(cy, 6);
  });

  it('has 896 anchors', () => {
    expect(anchors.length).toBe(2 * BLAZEFACE_ANCHOR_COUNT);
  });
});

describe('anchors of the opened model (any input size)', () => {
  it.each([
    // width, height, stride-16 anchors, stride-32 anchors
    [256, 256, 512, 384],
    [640, 384, 40 * 24 * 2, 20 * 12 * 6],
    [64, 96, 4 * 6 * 2, 2 * 3 * 6],
  ])('%i×%i has %i + %i anchors', (w, h, n16, n8) => {
    expect(anchorCounts(w, h)).toEqual([n16, n8]);
    expect(anchorCentres(w, h).length).toBe(2 * (n16 + n8));
  });

  it.each([
    // index, cx, cy (input px) for 640×384: 40 cells a row at stride 16, then 20 at stride 32
    [0, 8, 8],
    [2, 24, 8],
    [79, 632, 8],
    [80, 8, 24],
    [1919, 632, 376],
    [1920, 16, 16],
    [1920 + 6, 48, 16],
    [1920 + 6 * 20, 16, 48],
    [1920 + 1439, 624, 368],
  ])('640×384 anchor %i is centred at (%f, %f)', (i, cx, cy) => {
    const a = anchorCentres(640, 384);
    expect(a[2 * i]).toBe(cx);
    expect(a[2 * i + 1]).toBe(cy);
  });

  it('decodes in input pixels what decodeBlazeface gives normalised at 256²', () => {
    const out = outputs(fixture.anchors);
    const norm = decodeBlazeface(out, 0.5);
    const px = decodeBlazefacePx(out, 0.5);
    expect(px.map((f) => f.anchor)).toEqual(norm.map((f) => f.anchor));
    for (const [k, f] of px.entries()) {
      expect(f.box.x / 256).toBeCloseTo(norm[k]?.box.x ?? NaN, 6);
      expect(f.box.width / 256).toBeCloseTo(norm[k]?.box.width ?? NaN, 6);
    }
  });

  it('refuses outputs of another size than the input gives', () => {
    expect(() => decodeBlazefacePx(outputs([]), 0.5, 640, 384)).toThrow(/expected 1920\/1440/);
  });
});

describe('decodeBlazeface', () => {
  it.each([
    // index, regressors (dx, dy, w, h, kp0x, kp0y), expected box (normalised) and keypoint 0
    {
      index: 0,
      regs: [0, 0, 32, 64, 0, 0],
      box: [0.5 / 16 - 1 / 16, 0.5 / 16 - 2 / 16, 1 / 8, 1 / 4],
      kp: [0.5 / 16, 0.5 / 16],
    },
    {
      index: 2,
      regs: [25.6, -12.8, 51.2, 51.2, 8, 16],
      box: [1.5 / 16 + 0.1 - 0.1, 0.5 / 16 - 0.05 - 0.1, 0.2, 0.2],
      kp: [1.5 / 16 + 8 / 256, 0.5 / 16 + 16 / 256],
    },
    {
      index: 895,
      regs: [0, 0, 256, 256, -128, -128],
      box: [7.5 / 8 - 0.5, 7.5 / 8 - 0.5, 1, 1],
      kp: [7.5 / 8 - 0.5, 7.5 / 8 - 0.5],
    },
  ])('anchor $index: box = anchor + (dx,dy)/256, size (w,h)/256', ({ index, regs, box, kp }) => {
    const regressors = [...regs, ...new Array<number>(16 - regs.length).fill(0)];
    const faces = decodeBlazeface(outputs([{ index, logit: 3, regressors }]), 0.5);
    expect(faces).toHaveLength(1);
    const f = faces[0];
    expect(f?.anchor).toBe(index);
    expect(f?.score).toBeCloseTo(sigmoid(3), 6);
    expect(f?.box.x).toBeCloseTo(box[0] ?? NaN, 6);
    expect(f?.box.y).toBeCloseTo(box[1] ?? NaN, 6);
    expect(f?.box.width).toBeCloseTo(box[2] ?? NaN, 6);
    expect(f?.box.height).toBeCloseTo(box[3] ?? NaN, 6);
    expect(f?.keypoints).toHaveLength(6);
    expect(f?.keypoints[0]?.x).toBeCloseTo(kp[0] ?? NaN, 6);
    expect(f?.keypoints[0]?.y).toBeCloseTo(kp[1] ?? NaN, 6);
  });

  it.each([
    { logit: logit(0.75) + 1e-4, threshold: 0.75, found: 1 },
    { logit: logit(0.75) - 1e-4, threshold: 0.75, found: 0 },
    { logit: 0, threshold: 0.5, found: 1 },
    { logit: -200, threshold: 0.01, found: 0 },
  ])('score threshold: logit $logit vs $threshold → $found', ({ logit: l, threshold, found }) => {
    const regressors = [0, 0, 20, 20, ...new Array<number>(12).fill(0)];
    expect(decodeBlazeface(outputs([{ index: 7, logit: l, regressors }]), threshold)).toHaveLength(found);
  });

  it('drops boxes with no size and rejects outputs of the wrong shape', () => {
    expect(
      decodeBlazeface(outputs([{ index: 7, logit: 5, regressors: new Array<number>(16).fill(0) }]), 0.5),
    ).toEqual([]);
    const bad = { ...outputs([]), scores8: new Float32Array(10) };
    expect(() => decodeBlazeface(bad, 0.5)).toThrow(RangeError);
  });

  it('sigmoid saturates without overflow', () => {
    expect(sigmoid(1e6)).toBe(1);
    expect(sigmoid(-1e6)).toBeGreaterThan(0);
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(logit(0.3))).toBeCloseTo(0.3, 10);
  });
});

describe('recorded tensors from astronaut.png', () => {
  it('decode into one face matching the hand-measured box after NMS', async () => {
    const image = await decodeImageFile(ASTRONAUT.path);
    const { transform } = letterbox(image, 256, fixture.tile);
    const raw = decodeBlazeface(outputs(fixture.anchors), 0.5);
    expect(raw.length).toBe(fixture.anchors.length);
    const mapped = raw.map((f) => ({
      ...f,
      box: boxFromLetterbox(transform, {
        x: f.box.x * 256,
        y: f.box.y * 256,
        width: f.box.width * 256,
        height: f.box.height * 256,
      }),
    }));
    const faces = weightedNms(mapped, 0.3);
    expect(faces).toHaveLength(1);
    const face = faces[0] as ScoredFace;
    expect(iou(face.box, ASTRONAUT.face as Box)).toBeGreaterThan(0.75);
    // The eyes are level, left of the nose in image terms: right eye (kp 0) has the smaller x.
    const [rightEye, leftEye, nose] = face.keypoints;
    expect(rightEye?.x).toBeLessThan(nose?.x ?? 0);
    expect(leftEye?.x).toBeGreaterThan(nose?.x ?? Infinity);
    expect(Math.abs((rightEye?.y ?? 0) - (leftEye?.y ?? 0))).toBeLessThan(6);
    expect(face.score).toBeCloseTo(Math.max(...raw.map((r) => r.score)), 10);
  });

  describe('the live model still produces them', () => {
    let detector: FaceDetector;
    beforeAll(async () => {
      detector = await createFaceDetector();
    });
    afterAll(async () => {
      await detector.close();
    });

    it('matches every recorded anchor (logit and regressors within 1e-3)', async () => {
      const image = await decodeImageFile(ASTRONAUT.path);
      const live = await detector.runTileRaw(image, fixture.tile);
      const above = [...live.scores16, ...live.scores8].flatMap((v, i) => (v >= logit(0.5) ? [i] : []));
      expect(above).toEqual(fixture.anchors.map((a) => a.index));
      for (const a of fixture.anchors) {
        const first = a.index < 512;
        const i = first ? a.index : a.index - 512;
        expect((first ? live.scores16 : live.scores8)[i]).toBeCloseTo(a.logit, 3);
        const regs = (first ? live.boxes16 : live.boxes8).subarray(i * 16, i * 16 + 16);
        a.regressors.forEach((v, k) => {
          expect(regs[k]).toBeCloseTo(v, 2);
        });
      }
    });
  });
});

describe('weightedNms', () => {
  const face = (x: number, y: number, size: number, score: number, kp = 0): ScoredFace => ({
    score,
    box: { x, y, width: size, height: size },
    keypoints: [{ x: x + kp, y: y + kp }],
  });

  it('returns nothing for nothing', () => {
    expect(weightedNms([], 0.3)).toEqual([]);
  });

  it('keeps a single face as it is', () => {
    expect(weightedNms([face(10, 10, 20, 0.9, 5)], 0.3)).toEqual([face(10, 10, 20, 0.9, 5)]);
  });

  it('merges overlapping faces into the score-weighted mean, keeping the top score', () => {
    // IoU of (0,0,100) and (10,0,100) = 90·100 / (2·10000 − 9000) ≈ 0.82
    const out = weightedNms([face(0, 0, 100, 0.6, 10), face(10, 0, 100, 0.9, 20)], 0.3);
    expect(out).toHaveLength(1);
    expect(out[0]?.score).toBe(0.9);
    expect(out[0]?.box.x).toBeCloseTo((0 * 0.6 + 10 * 0.9) / 1.5, 10);
    expect(out[0]?.box.width).toBeCloseTo(100, 10);
    expect(out[0]?.keypoints[0]?.x).toBeCloseTo((10 * 0.6 + 30 * 0.9) / 1.5, 10);
  });

  it.each([
    // second box offset → IoU; merged iff IoU > 0.3
    { dx: 50, merged: true }, // IoU = 50/150 ≈ 0.333
    { dx: 54, merged: false }, // IoU = 46/154 ≈ 0.299
    { dx: 100, merged: false }, // touching
    { dx: 300, merged: false }, // disjoint
  ])('offset $dx → merged: $merged', ({ dx, merged }) => {
    const out = weightedNms([face(0, 0, 100, 0.9), face(dx, 0, 100, 0.8)], 0.3);
    expect(out).toHaveLength(merged ? 1 : 2);
  });

  it('clusters around the best face only: a chain A–B–C leaves C when it does not overlap A', () => {
    // B (best) overlaps A and C; A and C do not overlap each other → one cluster {A,B,C}.
    const out1 = weightedNms([face(0, 0, 100, 0.7), face(40, 0, 100, 0.9), face(80, 0, 100, 0.7)], 0.3);
    expect(out1).toHaveLength(1);
    // A (best) overlaps B; C overlaps only B → A's cluster takes B, C stays.
    const out2 = weightedNms([face(0, 0, 100, 0.9), face(40, 0, 100, 0.7), face(80, 0, 100, 0.6)], 0.3);
    expect(out2).toHaveLength(2);
    expect(out2.map((f) => f.score)).toEqual([0.9, 0.6]);
  });

  it('orders output by score', () => {
    const out = weightedNms([face(0, 0, 10, 0.7), face(100, 0, 10, 0.95), face(200, 0, 10, 0.8)], 0.3);
    expect(out.map((f) => f.score)).toEqual([0.95, 0.8, 0.7]);
  });
});

describe('iou', () => {
  it.each([
    { a: [0, 0, 10, 10], b: [0, 0, 10, 10], v: 1 },
    { a: [0, 0, 10, 10], b: [5, 0, 10, 10], v: 50 / 150 },
    { a: [0, 0, 10, 10], b: [10, 10, 10, 10], v: 0 },
    { a: [0, 0, 0, 0], b: [0, 0, 0, 0], v: 0 },
    { a: [0, 0, 10, 10], b: [2, 2, 5, 5], v: 25 / 100 },
  ])('$a vs $b = $v', ({ a, b, v }) => {
    const box = (q: number[]): Box => ({ x: q[0] ?? 0, y: q[1] ?? 0, width: q[2] ?? 0, height: q[3] ?? 0 });
    expect(iou(box(a), box(b))).toBeCloseTo(v, 10);
  });
});
