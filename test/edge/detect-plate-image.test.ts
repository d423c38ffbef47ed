/** Plate tensor packing and the static-text memo: pure functions on small synthetic images. */
import { describe, expect, it } from 'vitest';
import { resizeBilinear } from '../../edge-agent/src/detect/image.ts';
import { DET_NORM } from '../../edge-agent/src/detect/plate-det.ts';
import {
  BGR_ORDER,
  RGB_ORDER,
  packRecTensor,
  resizeToPaddedChw,
  toPaddedChw,
} from '../../edge-agent/src/detect/plate-image.ts';
import { StaticTextMemo, meanAbsDiff } from '../../edge-agent/src/detect/plate-memo.ts';
import { rectCorners } from '../../edge-agent/src/detect/db-postprocess.ts';
import type { RgbImage } from '../../edge-agent/src/detect/types.ts';
import { makeRng } from '../scene/rng.ts';

/** A seeded random RGB image. */
function noiseImage(width: number, height: number, seed: number): RgbImage {
  const rng = makeRng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  return { data, width, height };
}

/** A solid image. */
function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { data, width, height };
}

describe('toPaddedChw', () => {
  it('writes planes in channel order, normalised, and leaves the padding at 0', () => {
    const img = solid(2, 1, [10, 20, 30]);
    const norm = { mean: [0, 0, 0], std: [1, 2, 10] };
    const rgb = toPaddedChw(img, 3, 2, norm, RGB_ORDER);
    // Plane size 6; image at (0,0) and (1,0).
    expect([...rgb.subarray(0, 6)]).toEqual([10, 10, 0, 0, 0, 0]);
    expect([...rgb.subarray(6, 12)]).toEqual([10, 10, 0, 0, 0, 0]);
    expect([...rgb.subarray(12, 18)]).toEqual([3, 3, 0, 0, 0, 0]);
    const bgr = toPaddedChw(img, 3, 2, { mean: [0, 0, 0], std: [1, 1, 1] }, BGR_ORDER);
    expect([bgr[0], bgr[6], bgr[12]]).toEqual([30, 20, 10]);
  });
});

describe('resizeToPaddedChw', () => {
  it.each<[string, number, number, number, number]>([
    ['720p → 960×540 (the whole-frame detector input)', 128, 72, 96, 54],
    ['no resize', 40, 30, 40, 30],
    ['slight upscale', 30, 20, 45, 30],
  ])('%s matches resizeBilinear + toPaddedChw', (_name, w, h, outW, outH) => {
    const img = noiseImage(w, h, w * 7 + h);
    const region = { x: 0, y: 0, width: w, height: h };
    const tw = Math.ceil(outW / 32) * 32;
    const th = Math.ceil(outH / 32) * 32;
    const fused = resizeToPaddedChw(img, region, outW, outH, tw, th, DET_NORM);
    const twoPass = toPaddedChw(resizeBilinear(img, outW, outH, region), tw, th, DET_NORM);
    let maxDiff = 0;
    for (let i = 0; i < fused.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((fused[i] ?? 0) - (twoPass[i] ?? 0)));
    // resizeBilinear rounds to whole grey levels: at most half a level apart, over std ≈ 57.
    expect(maxDiff).toBeLessThan(0.5 / 57 + 1e-5);
  });

  it('samples a sub-region', () => {
    const img = solid(20, 10, [0, 0, 0]);
    // A white 5×5 square at (10, 5).
    for (let y = 5; y < 10; y++)
      for (let x = 10; x < 15; x++) img.data.set([255, 255, 255], (y * 20 + x) * 3);
    const t = resizeToPaddedChw(img, { x: 10, y: 5, width: 5, height: 5 }, 5, 5, 32, 32, {
      mean: [0, 0, 0],
      std: [255, 255, 255],
    });
    expect(t[0]).toBeCloseTo(1, 6);
    expect(t[4 * 32 + 4]).toBeCloseTo(1, 6);
    expect(t[5]).toBe(0);
  });
});

describe('packRecTensor', () => {
  it('packs crops of different widths left-aligned, (v/255 − .5)/.5, padding 0', () => {
    const a = solid(2, 2, [255, 0, 0]);
    const b = solid(1, 2, [0, 255, 255]);
    const t = packRecTensor([a, b], 2, 3);
    const plane = 6;
    // Crop a, channel R: 1 1 0 / 1 1 0.
    expect([...t.subarray(0, plane)]).toEqual([1, 1, 0, 1, 1, 0]);
    // Crop a, channel G: −1.
    expect([...t.subarray(plane, 2 * plane)]).toEqual([-1, -1, 0, -1, -1, 0]);
    // Crop b, channel R (batch 1 starts at 3 planes): −1 then padding.
    expect([...t.subarray(3 * plane, 4 * plane)]).toEqual([-1, 0, 0, -1, 0, 0]);
    expect(t).toHaveLength(2 * 3 * plane);
  });
});

describe('StaticTextMemo', () => {
  const quad = rectCorners({ cx: 100, cy: 50, width: 120, height: 30, angle: 0 });
  const crop = noiseImage(150, 48, 1);

  it('recalls text for the same box and pixels, not for others', () => {
    const memo = new StaticTextMemo();
    memo.nextCall();
    memo.remember(quad, crop, '便利店');
    expect(memo.lookup(quad, crop)).toBe('便利店');
    const slightlyNoisy = { ...crop, data: crop.data.map((v) => Math.min(255, v + 3)) };
    expect(memo.lookup(quad, slightlyNoisy)).toBe('便利店');
    expect(memo.lookup(quad, noiseImage(150, 48, 2))).toBeUndefined();
    expect(memo.lookup(quad, noiseImage(140, 48, 1))).toBeUndefined();
    const elsewhere = rectCorners({ cx: 300, cy: 50, width: 120, height: 30, angle: 0 });
    expect(memo.lookup(elsewhere, crop)).toBeUndefined();
  });

  it('forgets entries not seen for maxIdleCalls calls', () => {
    const memo = new StaticTextMemo({ maxIdleCalls: 2 });
    memo.nextCall();
    memo.remember(quad, crop, 'x');
    memo.nextCall();
    memo.nextCall();
    expect(memo.size).toBe(1);
    memo.nextCall();
    expect(memo.size).toBe(0);
  });

  it('drops the least recently matched entry when full', () => {
    const memo = new StaticTextMemo({ capacity: 2 });
    const q = (cx: number) => rectCorners({ cx, cy: 50, width: 40, height: 20, angle: 0 });
    memo.nextCall();
    memo.remember(q(100), crop, 'a');
    memo.nextCall();
    memo.remember(q(300), crop, 'b');
    memo.nextCall();
    expect(memo.lookup(q(100), crop)).toBe('a');
    memo.remember(q(500), crop, 'c');
    expect(memo.size).toBe(2);
    expect(memo.lookup(q(300), crop)).toBeUndefined();
    expect(memo.lookup(q(100), crop)).toBe('a');
  });

  it.each<[string, number]>([
    ['identical', 0],
    ['all +4', 4],
  ])('meanAbsDiff: %s', (_name, delta) => {
    const b = { ...crop, data: crop.data.map((v) => (v <= 251 ? v + delta : v - delta)) };
    expect(meanAbsDiff(crop, b)).toBeCloseTo(delta, 6);
  });

  it('meanAbsDiff stops early above the limit and is infinite for other sizes', () => {
    expect(meanAbsDiff(solid(4, 4, [0, 0, 0]), solid(4, 4, [100, 100, 100]), 10)).toBe(Infinity);
    expect(meanAbsDiff(solid(4, 4, [0, 0, 0]), solid(4, 3, [0, 0, 0]))).toBe(Infinity);
  });
});
