/**
 * Text detection with PP-OCRv4 det: image (or a region of it) → normalised tensor with sides
 * multiples of 32 → probability map → DB post-process → quads in image pixels.
 */
import { EdgeError } from '../errors.ts';
import { DEFAULT_DB_PARAMS, convexHull, dbPostprocess, minAreaRect, rectCorners } from './db-postprocess.ts';
import type { DbParams, RotatedRect } from './db-postprocess.ts';
import { clipBox, resizeBilinear } from './image.ts';
import type { Normalisation } from './image.ts';
import { RGB_ORDER, boundsOf, resizeToPaddedChw, toPaddedChw } from './plate-image.ts';
import type { ChannelOrder } from './plate-image.ts';
import type { Box, Point, RgbImage } from './types.ts';

/** One tensor-in, tensor-out model run (what the plate stages need from an ONNX session). */
export interface TensorRunner {
  run(input: Float32Array, dims: readonly number[]): Promise<{ data: Float32Array; dims: readonly number[] }>;
}

/** ImageNet mean/std on 0..255 values, the det model's normalisation (tensor channel order). */
export const DET_NORM: Normalisation = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] };

/** How an image area is fitted into the detector's input. */
export interface DetInputPlan {
  /** Detector pixels per image pixel (≤ 1 unless `allowUpscale`). */
  scale: number;
  /** Size of the resized area inside the tensor. */
  contentW: number;
  contentH: number;
  /** Tensor size: content padded right/bottom to multiples of 32. */
  tensorW: number;
  tensorH: number;
}

/**
 * Fit a `width`×`height` area into at most `maxSide` pixels on its longer side and at most
 * `maxScale` detector pixels per image pixel (never upscaled), padded to multiples of 32.
 * 1280×720 with maxSide 960 → scale 0.75, content 960×540, tensor 960×544.
 */
export function planDetInput(width: number, height: number, maxSide: number, maxScale = 1): DetInputPlan {
  const cap = Math.max(32, Math.floor(maxSide / 32) * 32);
  const scale = Math.min(1, maxScale, cap / Math.max(width, height));
  const contentW = Math.max(1, Math.min(cap, Math.round(width * scale)));
  const contentH = Math.max(1, Math.min(cap, Math.round(height * scale)));
  return {
    scale,
    contentW,
    contentH,
    tensorW: Math.max(32, Math.ceil(contentW / 32) * 32),
    tensorH: Math.max(32, Math.ceil(contentH / 32) * 32),
  };
}

/** A text box in image pixels. */
export interface TextBox {
  /** Corners clockwise from top-left. */
  quad: [Point, Point, Point, Point];
  /** Unclipped rotated rectangle (may extend past the image edge; `quad` is clamped). */
  rect: RotatedRect;
  /** Mean detector probability inside the region. */
  score: number;
}

/** Options of {@link detectText}. */
export interface DetectTextOptions {
  /** Longest tensor side (default 960). */
  maxSide?: number;
  /** Most detector pixels per image pixel (default 1). */
  maxScale?: number;
  db?: Partial<DbParams>;
  /** Normalisation (default {@link DET_NORM}). */
  norm?: Normalisation;
  /** Image channel feeding each tensor channel (default RGB). */
  channelOrder?: ChannelOrder;
}

/**
 * Find text in `area` (default the whole image; clipped to it, snapped out to whole pixels) of
 * `image`. Boxes are in full-image pixels; quads are clamped to the image. An area outside the
 * image finds nothing.
 */
export async function detectText(
  runner: TensorRunner,
  image: RgbImage,
  area: Box = { x: 0, y: 0, width: image.width, height: image.height },
  options: DetectTextOptions = {},
): Promise<TextBox[]> {
  const region = clipBox(area, image.width, image.height);
  if (region === undefined) return [];
  const plan = planDetInput(region.width, region.height, options.maxSide ?? 960, options.maxScale ?? 1);
  const norm = options.norm ?? DET_NORM;
  const order = options.channelOrder ?? RGB_ORDER;
  // Shrinking by 2× or more needs image.ts's box pre-filter; otherwise resize and normalise in one pass.
  const input =
    region.width >= 2 * plan.contentW || region.height >= 2 * plan.contentH
      ? toPaddedChw(
          resizeBilinear(image, plan.contentW, plan.contentH, region),
          plan.tensorW,
          plan.tensorH,
          norm,
          order,
        )
      : resizeToPaddedChw(
          image,
          region,
          plan.contentW,
          plan.contentH,
          plan.tensorW,
          plan.tensorH,
          norm,
          order,
        );
  const { data, dims } = await runner.run(input, [1, 3, plan.tensorH, plan.tensorW]);
  const mapH = dims[2];
  const mapW = dims[3];
  if (dims.length !== 4 || mapH !== plan.tensorH || mapW !== plan.tensorW || data.length < mapH * mapW) {
    throw new EdgeError(
      'EDGE_ERR_DETECT_RUN',
      `text detector returned [${dims.join(',')}] for input [1,3,${plan.tensorH},${plan.tensorW}]`,
    );
  }
  const boxes = dbPostprocess(data.subarray(0, mapH * mapW), mapW, mapH, {
    ...DEFAULT_DB_PARAMS,
    ...options.db,
  });
  // Map cells → image pixels: the content was resized by (contentW/region.width, contentH/region.height).
  const kx = region.width / plan.contentW;
  const ky = region.height / plan.contentH;
  const out: TextBox[] = [];
  for (const b of boxes) {
    // kx and ky differ by under 1% (rounding of the content size): scale the rectangle by their mean.
    const k = Math.sqrt(kx * ky);
    const rect: RotatedRect = {
      cx: region.x + b.rect.cx * kx,
      cy: region.y + b.rect.cy * ky,
      width: b.rect.width * k,
      height: b.rect.height * k,
      angle: b.rect.angle,
    };
    out.push({ quad: clampQuad(rectCorners(rect), image), rect, score: b.score });
  }
  return out;
}

/** A quad with every corner clamped into a `frame.width`×`frame.height` image. */
export function clampQuad(
  quad: readonly [Point, Point, Point, Point],
  frame: { width: number; height: number },
): [Point, Point, Point, Point] {
  const c = (p: Point): Point => ({
    x: Math.min(Math.max(p.x, 0), frame.width),
    y: Math.min(Math.max(p.y, 0), frame.height),
  });
  return [c(quad[0]), c(quad[1]), c(quad[2]), c(quad[3])];
}

/**
 * Turn motion regions into detector areas: each padded by `padFrac` of its size (at least
 * `minPadPx`), clipped to the image, overlapping ones merged into their bounding box, integer
 * pixels. Empty regions vanish.
 */
export function planDetAreas(
  regions: readonly Box[],
  imageW: number,
  imageH: number,
  padFrac = 0.1,
  minPadPx = 16,
): Box[] {
  let boxes: Box[] = [];
  for (const r of regions) {
    if (!(r.width > 0 && r.height > 0) || !Number.isFinite(r.x + r.y + r.width + r.height)) continue;
    const px = Math.max(minPadPx, r.width * padFrac);
    const py = Math.max(minPadPx, r.height * padFrac);
    const x0 = Math.max(0, Math.floor(r.x - px));
    const y0 = Math.max(0, Math.floor(r.y - py));
    const x1 = Math.min(imageW, Math.ceil(r.x + r.width + px));
    const y1 = Math.min(imageH, Math.ceil(r.y + r.height + py));
    if (x1 > x0 && y1 > y0) boxes.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  }
  // Merge until no two overlap: a plate cut by a seam between two areas would be lost.
  let merged = true;
  while (merged) {
    merged = false;
    outer: for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i] as Box;
        const b = boxes[j] as Box;
        if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) {
          const x0 = Math.min(a.x, b.x);
          const y0 = Math.min(a.y, b.y);
          const u: Box = {
            x: x0,
            y: y0,
            width: Math.max(a.x + a.width, b.x + b.width) - x0,
            height: Math.max(a.y + a.height, b.y + b.height) - y0,
          };
          boxes = boxes.filter((_, k) => k !== i && k !== j);
          boxes.push(u);
          merged = true;
          break outer;
        }
      }
    }
  }
  return boxes;
}

/** Intersection over union of two boxes' axis-aligned bounds. */
export function quadIou(a: readonly Point[], b: readonly Point[]): number {
  const ba = boundsOf(a);
  const bb = boundsOf(b);
  const ix = Math.max(0, Math.min(ba.x + ba.width, bb.x + bb.width) - Math.max(ba.x, bb.x));
  const iy = Math.max(0, Math.min(ba.y + ba.height, bb.y + bb.height) - Math.max(ba.y, bb.y));
  const inter = ix * iy;
  const union = ba.width * ba.height + bb.width * bb.height - inter;
  return union <= 0 ? 0 : inter / union;
}

/** Limits for joining a text fragment to its neighbour on the same line (see {@link mergeLineFragments}). */
export interface MergeParams {
  /** A box narrower than this aspect (width/height) is a fragment: one or two characters. */
  fragmentMaxAspect: number;
  /** Smaller height / larger height at least this. */
  minHeightRatio: number;
  /** Angles differ by at most this (radians), unless the fragment is near-square (no reliable angle). */
  maxAngleDiff: number;
  /** Centre offset across the line at most this × the larger height. */
  maxOffsetAcross: number;
  /** Gap along the line between the two rectangles at most this × the larger height. */
  maxGap: number;
}

/**
 * Defaults: the widest gap inside a plate is the dot between the 2nd and 3rd characters, about
 * 0.4 of the character height; 0.6 leaves room for the detector's own slack. A fragment may
 * cover only part of a glyph (the top strokes of 黑), so half the line's height is enough.
 */
export const DEFAULT_MERGE_PARAMS: Readonly<MergeParams> = {
  fragmentMaxAspect: 2.2,
  minHeightRatio: 0.5,
  maxAngleDiff: (10 * Math.PI) / 180,
  maxOffsetAcross: 0.35,
  maxGap: 0.6,
};

/** Extent of a rectangle's corners projected on the unit axis (ux, uy). */
function extentOn(r: RotatedRect, ux: number, uy: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of rectCorners(r)) {
    const t = p.x * ux + p.y * uy;
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  return [lo, hi];
}

function mergeable(a: TextBox, b: TextBox, p: Readonly<MergeParams>): boolean {
  const aspectA = a.rect.width / a.rect.height;
  const aspectB = b.rect.width / b.rect.height;
  if (aspectA >= p.fragmentMaxAspect && aspectB >= p.fragmentMaxAspect) return false;
  // The longer box carries the line's direction and height: a one-glyph fragment's own
  // rectangle says little about either (a rotated square glyph has no preferred axis).
  const [line, frag] = a.rect.width >= b.rect.width ? [a.rect, b.rect] : [b.rect, a.rect];
  if (frag.width / frag.height >= 1.5) {
    let dAngle = Math.abs(line.angle - frag.angle);
    dAngle = Math.min(dAngle, Math.PI - dAngle);
    if (dAngle > p.maxAngleDiff) return false;
  }
  const ux = Math.cos(line.angle);
  const uy = Math.sin(line.angle);
  const vx = -uy;
  const vy = ux;
  const [fv0, fv1] = extentOn(frag, vx, vy);
  const h = line.height;
  const fragH = fv1 - fv0;
  if (Math.min(fragH, h) / Math.max(fragH, h) < p.minHeightRatio) return false;
  const across = Math.abs((frag.cx - line.cx) * vx + (frag.cy - line.cy) * vy);
  if (across > p.maxOffsetAcross * h) return false;
  const [lu0, lu1] = extentOn(line, ux, uy);
  const [fu0, fu1] = extentOn(frag, ux, uy);
  const gap = Math.max(fu0 - lu1, lu0 - fu1);
  return gap <= p.maxGap * h;
}

/**
 * Join text boxes that are pieces of one line: the detector often gives a plate's province
 * character (or "province + letter") a box of its own, and neither piece reads as a plate. A
 * fragment (narrow box) is joined to an aligned neighbour of similar height across a small gap;
 * repeated until nothing joins. The joined box is the minimum-area rectangle of both.
 */
export function mergeLineFragments(
  boxes: readonly TextBox[],
  frame: { width: number; height: number },
  params: Readonly<MergeParams> = DEFAULT_MERGE_PARAMS,
): TextBox[] {
  const out = [...boxes];
  for (;;) {
    let joined = false;
    for (let i = 0; i < out.length && !joined; i++) {
      for (let j = i + 1; j < out.length && !joined; j++) {
        const a = out[i] as TextBox;
        const b = out[j] as TextBox;
        if (!mergeable(a, b, params)) continue;
        const rect = minAreaRect(convexHull([...rectCorners(a.rect), ...rectCorners(b.rect)]));
        const areaA = a.rect.width * a.rect.height;
        const areaB = b.rect.width * b.rect.height;
        const score = (a.score * areaA + b.score * areaB) / Math.max(areaA + areaB, 1e-9);
        out.splice(j, 1);
        out.splice(i, 1, { rect, quad: clampQuad(rectCorners(rect), frame), score });
        joined = true;
      }
    }
    if (!joined) return out;
  }
}
