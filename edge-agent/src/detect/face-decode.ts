/**
 * BlazeFace (back camera, 256×256) anchors, tensor decoding and weighted non-maximum
 * suppression: pure functions, table-tested with real model outputs
 * (test/edge/detect-face-decode.test.ts).
 *
 * Anchors (ENVIRONMENT.md): 896 = 16×16 cells × 2, then 8×8 cells × 6. Anchor i of a layer
 * with C×C cells and A anchors per cell sits in cell floor(i/A), centred at
 * ((cx + .5)/C, (cy + .5)/C) in units of the input square. Each anchor's 16 regressors are
 * dx, dy, w, h, then six keypoints (x, y), all in input pixels (÷ 256): box centre = anchor +
 * (dx, dy)/256, size (w, h)/256, keypoint k = anchor + (kx, ky)/256. Scores are logits.
 *
 * The model opened to a W×H input (face-graph.ts) has the same two layers at strides 16 and 32:
 * (W/16)·(H/16)·2 then (W/32)·(H/32)·6 anchors, cells row by row, regressors in input pixels.
 */
import type { Box, Point } from './types.ts';

/** Side of the model's square input, pixels. */
export const BLAZEFACE_INPUT_SIZE = 256;
/** 16·16·2 + 8·8·6. */
export const BLAZEFACE_ANCHOR_COUNT = 896;
/** Values per anchor in the regressor outputs: box (4) + 6 keypoints × 2. */
export const BLAZEFACE_REGRESSORS = 16;
/** Keypoints per face: right eye, left eye, nose tip, mouth, right ear tragion, left ear tragion. */
export const BLAZEFACE_KEYPOINTS = 6;

/** Anchor centres, normalised 0..1: `[cx0, cy0, cx1, cy1, …]`, 896 pairs in output order. */
export function blazefaceAnchors(): Float32Array {
  const px = anchorCentres(BLAZEFACE_INPUT_SIZE, BLAZEFACE_INPUT_SIZE);
  return px.map((v) => v / BLAZEFACE_INPUT_SIZE);
}

/** Cell sides of the two anchor layers (px), and anchors per cell. */
const LAYER_STRIDES: readonly { stride: number; perCell: number }[] = [
  { stride: 16, perCell: 2 },
  { stride: 32, perCell: 6 },
];

/** Anchors of each layer for a `width`×`height` input: cells of the layer × anchors per cell. */
export function anchorCounts(width: number, height: number): [number, number] {
  const [a, b] = LAYER_STRIDES.map(
    ({ stride, perCell }) => Math.floor(width / stride) * Math.floor(height / stride) * perCell,
  );
  return [a ?? 0, b ?? 0];
}

const anchorCache = new Map<string, Float32Array>();

/**
 * Anchor centres in input pixels for a `width`×`height` input (the model opened to any size by
 * face-graph.ts; 256×256 is the original): `[cx0, cy0, …]` in output order, cells row by row.
 */
export function anchorCentres(width: number, height: number): Float32Array {
  const key = `${width}x${height}`;
  const cached = anchorCache.get(key);
  if (cached !== undefined) return cached;
  const [n1, n2] = anchorCounts(width, height);
  const out = new Float32Array((n1 + n2) * 2);
  let i = 0;
  for (const { stride, perCell } of LAYER_STRIDES) {
    const cols = Math.floor(width / stride);
    const cells = cols * Math.floor(height / stride);
    for (let a = 0; a < cells * perCell; a++) {
      const cell = Math.floor(a / perCell);
      out[i++] = ((cell % cols) + 0.5) * stride;
      out[i++] = (Math.floor(cell / cols) + 0.5) * stride;
    }
  }
  if (anchorCache.size > 64) anchorCache.clear();
  anchorCache.set(key, out);
  return out;
}

/** A face candidate in the model's input square, coordinates normalised 0..1. */
export interface RawFace {
  /** 0..1 (sigmoid of the logit). */
  score: number;
  /** Top-left and size, normalised. */
  box: Box;
  keypoints: Point[];
  /** Anchor index 0..895 (for tests and debugging). */
  anchor: number;
}

/** The model's four outputs (`Identity:0` … `Identity_3:0`) as flat float arrays. */
export interface BlazefaceOutputs {
  /** 512 logits (16×16×2 anchors) at 256². */
  scores16: Float32Array;
  /** 384 logits (8×8×6 anchors) at 256². */
  scores8: Float32Array;
  /** 512×16 regressors at 256². */
  boxes16: Float32Array;
  /** 384×16 regressors at 256². */
  boxes8: Float32Array;
}

/** Logistic function; the logit is clamped to ±100 as MediaPipe does (no overflow to Infinity). */
export function sigmoid(logit: number): number {
  const x = Math.max(-100, Math.min(100, logit));
  return 1 / (1 + Math.exp(-x));
}

/** The logit whose sigmoid is `p` (to compare raw logits against a probability threshold). */
export function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/**
 * Decode every anchor whose score reaches `minScore` into a face candidate in input pixels, for
 * a `width`×`height` input (default the model's 256²). Throws RangeError if the arrays do not
 * have the sizes that input gives.
 */
export function decodeBlazefacePx(
  out: BlazefaceOutputs,
  minScore: number,
  width = BLAZEFACE_INPUT_SIZE,
  height = BLAZEFACE_INPUT_SIZE,
): RawFace[] {
  const [n16, n8] = anchorCounts(width, height);
  if (
    out.scores16.length !== n16 ||
    out.scores8.length !== n8 ||
    out.boxes16.length !== n16 * BLAZEFACE_REGRESSORS ||
    out.boxes8.length !== n8 * BLAZEFACE_REGRESSORS
  ) {
    throw new RangeError(
      `BlazeFace outputs have sizes ${out.scores16.length}/${out.scores8.length}/${out.boxes16.length}/${out.boxes8.length}, ` +
        `expected ${n16}/${n8}/${n16 * BLAZEFACE_REGRESSORS}/${n8 * BLAZEFACE_REGRESSORS} for ${width}×${height}`,
    );
  }
  const anchors = anchorCentres(width, height);
  const minLogit = minScore <= 0 ? -Infinity : minScore >= 1 ? Infinity : logit(minScore);
  const faces: RawFace[] = [];
  for (let i = 0; i < n16 + n8; i++) {
    const inFirst = i < n16;
    const raw = inFirst ? (out.scores16[i] ?? -Infinity) : (out.scores8[i - n16] ?? -Infinity);
    if (raw < minLogit) continue;
    const regs = inFirst ? out.boxes16 : out.boxes8;
    const r = (inFirst ? i : i - n16) * BLAZEFACE_REGRESSORS;
    const ax = anchors[2 * i] ?? 0;
    const ay = anchors[2 * i + 1] ?? 0;
    const cx = ax + (regs[r] ?? 0);
    const cy = ay + (regs[r + 1] ?? 0);
    const w = regs[r + 2] ?? 0;
    const h = regs[r + 3] ?? 0;
    if (!(w > 0 && h > 0)) continue;
    const keypoints: Point[] = [];
    for (let k = 0; k < BLAZEFACE_KEYPOINTS; k++) {
      keypoints.push({ x: ax + (regs[r + 4 + 2 * k] ?? 0), y: ay + (regs[r + 5 + 2 * k] ?? 0) });
    }
    faces.push({
      score: sigmoid(raw),
      box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h },
      keypoints,
      anchor: i,
    });
  }
  return faces;
}

/**
 * {@link decodeBlazefacePx} for the model's 256² input, coordinates normalised 0..1.
 * Throws RangeError if the arrays do not have the model's sizes.
 */
export function decodeBlazeface(out: BlazefaceOutputs, minScore: number): RawFace[] {
  const s = BLAZEFACE_INPUT_SIZE;
  return decodeBlazefacePx(out, minScore).map((f) => ({
    ...f,
    box: { x: f.box.x / s, y: f.box.y / s, width: f.box.width / s, height: f.box.height / s },
    keypoints: f.keypoints.map((p) => ({ x: p.x / s, y: p.y / s })),
  }));
}

/** Intersection over union of two boxes (0 when either is empty). */
export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width);
  const y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** A scored box with keypoints, as weighted NMS takes and returns it. */
export interface ScoredFace {
  score: number;
  box: Box;
  keypoints: Point[];
}

/**
 * MediaPipe's weighted non-maximum suppression. Repeatedly: take the highest-scoring remaining
 * candidate; every remaining candidate overlapping it with IoU > `iouThreshold` joins its
 * cluster and is removed; the cluster becomes one face whose box and keypoints are the
 * score-weighted means of its members and whose score is the top member's. Output is sorted by
 * score, highest first. Ties in score keep input order.
 */
export function weightedNms(candidates: readonly ScoredFace[], iouThreshold: number): ScoredFace[] {
  const order = candidates.map((c, i) => ({ c, i })).sort((a, b) => b.c.score - a.c.score || a.i - b.i);
  let remaining = order.map((o) => o.c);
  const out: ScoredFace[] = [];
  while (remaining.length > 0) {
    const top = remaining[0] as ScoredFace;
    const cluster: ScoredFace[] = [];
    const rest: ScoredFace[] = [];
    for (const c of remaining) (c === top || iou(top.box, c.box) > iouThreshold ? cluster : rest).push(c);
    remaining = rest;
    let total = 0;
    let x0 = 0;
    let y0 = 0;
    let x1 = 0;
    let y1 = 0;
    const kps = top.keypoints.map(() => ({ x: 0, y: 0 }));
    for (const c of cluster) {
      total += c.score;
      x0 += c.box.x * c.score;
      y0 += c.box.y * c.score;
      x1 += (c.box.x + c.box.width) * c.score;
      y1 += (c.box.y + c.box.height) * c.score;
      for (const [k, kp] of kps.entries()) {
        const p = c.keypoints[k];
        if (p === undefined) continue;
        kp.x += p.x * c.score;
        kp.y += p.y * c.score;
      }
    }
    if (total <= 0) {
      out.push({ score: top.score, box: { ...top.box }, keypoints: top.keypoints.map((p) => ({ ...p })) });
      continue;
    }
    out.push({
      score: top.score,
      box: { x: x0 / total, y: y0 / total, width: (x1 - x0) / total, height: (y1 - y0) / total },
      keypoints: kps.map((p) => ({ x: p.x / total, y: p.y / total })),
    });
  }
  return out;
}
