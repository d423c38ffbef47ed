/**
 * Image degradations for the detection eval, applied to decoded rgb24 frames: blur, night
 * noise, JPEG re-compression and rotation (with the matching transform of truth boxes), each
 * seeded so a run is repeatable.
 */
import sharp from 'sharp';
import type { Box } from '../../edge-agent/src/detect/types.ts';
import { makeRng } from '../scene/rng.ts';

/** One frame as the eval handles it. */
export interface RgbFrame {
  data: Buffer;
  width: number;
  height: number;
}

/** A named set of degradations. */
export interface Variation {
  name: string;
  /** Box-blur radius in px (0 = none). */
  blurPx: number;
  /** Night: darken to this factor (1 = none) and add Gaussian noise of this sigma. */
  darken: number;
  noiseSigma: number;
  /** JPEG quality to re-compress at (0 = none). */
  jpegQuality: number;
  /** Rotation of the whole frame about its centre, degrees (0 = none). */
  rotateDeg: number;
}

/** The eval's variations: clean, and each degradation the issue names, alone and mixed. */
export const VARIATIONS: readonly Variation[] = [
  { name: 'clean', blurPx: 0, darken: 1, noiseSigma: 0, jpegQuality: 0, rotateDeg: 0 },
  { name: 'blur-jpeg30', blurPx: 1, darken: 1, noiseSigma: 0, jpegQuality: 30, rotateDeg: 0 },
  { name: 'night', blurPx: 0, darken: 0.45, noiseSigma: 10, jpegQuality: 0, rotateDeg: 0 },
  { name: 'rotate-12', blurPx: 0, darken: 1, noiseSigma: 0, jpegQuality: 0, rotateDeg: 12 },
  { name: 'rotate-minus-15-jpeg50', blurPx: 0, darken: 1, noiseSigma: 0, jpegQuality: 50, rotateDeg: -15 },
];

/** Separable box blur of radius r (in place on a copy). */
export function boxBlur(frame: RgbFrame, r: number): RgbFrame {
  if (r <= 0) return frame;
  const { width: w, height: h } = frame;
  const src = frame.data;
  const tmp = Buffer.alloc(src.length);
  const out = Buffer.alloc(src.length);
  const n = 2 * r + 1;
  for (let y = 0; y < h; y++) {
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let x = -r; x <= r; x++) sum += src[(y * w + Math.min(w - 1, Math.max(0, x))) * 3 + c] ?? 0;
      for (let x = 0; x < w; x++) {
        tmp[(y * w + x) * 3 + c] = Math.round(sum / n);
        const add = Math.min(w - 1, x + r + 1);
        const sub = Math.max(0, x - r);
        sum += (src[(y * w + add) * 3 + c] ?? 0) - (src[(y * w + sub) * 3 + c] ?? 0);
      }
    }
  }
  for (let x = 0; x < w; x++) {
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let y = -r; y <= r; y++) sum += tmp[(Math.min(h - 1, Math.max(0, y)) * w + x) * 3 + c] ?? 0;
      for (let y = 0; y < h; y++) {
        out[(y * w + x) * 3 + c] = Math.round(sum / n);
        const add = Math.min(h - 1, y + r + 1);
        const sub = Math.max(0, y - r);
        sum += (tmp[(add * w + x) * 3 + c] ?? 0) - (tmp[(sub * w + x) * 3 + c] ?? 0);
      }
    }
  }
  return { ...frame, data: out };
}

/** Darken and add seeded Gaussian noise (a night scene from a small sensor). */
export function night(frame: RgbFrame, darken: number, sigma: number, seed: number): RgbFrame {
  if (darken === 1 && sigma === 0) return frame;
  const rng = makeRng(seed);
  const rand = (): number => rng.next();
  const out = Buffer.alloc(frame.data.length);
  for (let i = 0; i < frame.data.length; i++) {
    // Box–Muller; one normal sample per byte is plenty for an eval.
    const u = Math.max(rand(), 1e-9);
    const v = rand();
    const noise = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    out[i] = Math.max(0, Math.min(255, Math.round((frame.data[i] ?? 0) * darken + noise)));
  }
  return { ...frame, data: out };
}

/** Re-compress as JPEG at `quality` and decode again. */
export async function jpegRoundTrip(frame: RgbFrame, quality: number): Promise<RgbFrame> {
  if (quality <= 0) return frame;
  const raw = { raw: { width: frame.width, height: frame.height, channels: 3 as const } };
  const jpeg = await sharp(frame.data, raw).jpeg({ quality }).toBuffer();
  const data = await sharp(jpeg).removeAlpha().raw().toBuffer();
  return { ...frame, data };
}

/** Rotate about the frame centre by `deg` (positive = clockwise on screen), same size, grey fill. */
export function rotate(frame: RgbFrame, deg: number): RgbFrame {
  if (deg === 0) return frame;
  const { width: w, height: h, data } = frame;
  const out = Buffer.alloc(data.length, 96);
  const a = (-deg * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Inverse map: where in the source does this output pixel come from (nearest neighbour).
      const sx = Math.round(cos * (x - cx) - sin * (y - cy) + cx);
      const sy = Math.round(sin * (x - cx) + cos * (y - cy) + cy);
      if (sx < 0 || sy < 0 || sx >= w || sy >= h) continue;
      data.copy(out, (y * w + x) * 3, (sy * w + sx) * 3, (sy * w + sx) * 3 + 3);
    }
  }
  return { ...frame, data: out };
}

/** Where a truth box lands after {@link rotate}: the bounds of its rotated corners. */
export function rotateBox(box: Box, deg: number, width: number, height: number): Box {
  if (deg === 0) return box;
  const a = (deg * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const corners = [
    [box.x, box.y],
    [box.x + box.width, box.y],
    [box.x, box.y + box.height],
    [box.x + box.width, box.y + box.height],
  ].map(
    ([x = 0, y = 0]) => [cos * (x - cx) - sin * (y - cy) + cx, sin * (x - cx) + cos * (y - cy) + cy] as const,
  );
  const xs = corners.map((c) => c[0]);
  const ys = corners.map((c) => c[1]);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
}

/** Apply a variation to a frame. */
export async function applyVariation(frame: RgbFrame, v: Variation, seed: number): Promise<RgbFrame> {
  let f = rotate(frame, v.rotateDeg);
  f = boxBlur(f, v.blurPx);
  f = night(f, v.darken, v.noiseSigma, seed);
  return jpegRoundTrip(f, v.jpegQuality);
}
