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
 */
import type { Box, Point } from './types.ts';

/** Side of the model's square input, pixels. */
export const BLAZEFACE_INPUT_SIZE = 256;
/** Anchor layers of the back-camera model: cells per side and anchors per cell. */
export const BLAZEFACE_LAYERS: readonly { cells: number; perCell: number }[] = [
  { cells: 16, perCell: 2 },
  { cells: 8, perCell: 6 },
];
/** 16·16·2 + 8·8·6. */
export const BLAZEFACE_ANCHOR_COUNT = 896;
/** Values per anchor in the regressor outputs: box (4) + 6 keypoints × 2. */
export const BLAZEFACE_REGRESSORS = 16;
/** Keypoints per face: right eye, left eye, nose tip, mouth, right ear tragion, left ear tragion. */
export const BLAZEFACE_KEYPOINTS = 6;

/** Anchor centres, normalised 0..1: `[cx0, cy0, cx1, cy1, …]`, 896 pairs in output order. */
export function blazefaceAnchors(): Float32Array {
  const out = new Float32Array(BLAZEFACE_ANCHOR_COUNT * 2);
  let i = 0;
  for (const { cells, perCell } of BLAZEFACE_LAYERS) {
    for (let a = 0; a < cells * cells * perCell; a++) {
      const cell = Math.floor(a / perCell);
      out[i++] = ((cell % cells) + 0.5) / cells;
      out[i++] = (Math.floor(cell / cells) + 0.5) / cells;
    }
  }
  return out;
}

const ANCHORS = blazefaceAnchors();

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
  /** 512 logits (16×16×2 anchors). */
  scores16: Float32Array;
  /** 384 logits (8×8×6 anchors). */
  scores8: Float32Array;
  /** 512×16 regressors. */
  boxes16: Float32Array;
  /** 384×16 regressors. */
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
 * Decode every anchor whose score reaches `minScore` into a normalised face candidate.
 * Throws RangeError if the arrays do not have the model's sizes.
 */
export function decodeBlazeface(out: BlazefaceOutputs, minScore: number): RawFace[] {
  const n16 = 16 * 16 * 2;
  const n8 = 8 * 8 * 6;
  if (
    out.scores16.length !== n16 ||
    out.scores8.length !== n8 ||
    out.boxes16.length !== n16 * BLAZEFACE_REGRESSORS ||
    out.boxes8.length !== n8 * BLAZEFACE_REGRESSORS
  ) {
    throw new RangeError(
      `BlazeFace outputs have sizes ${out.scores16.length}/${out.scores8.length}/${out.boxes16.length}/${out.boxes8.length}, ` +
        `expected ${n16}/${n8}/${n16 * BLAZEFACE_REGRESSORS}/${n8 * BLAZEFACE_REGRESSORS}`,
    );
  }
  const minLogit = minScore <= 0 ? -Infinity : minScore >= 1 ? Infinity : logit(minScore);
  const faces: RawFace[] = [];
  const s = BLAZEFACE_INPUT_SIZE;
  for (let i = 0; i < BLAZEFACE_ANCHOR_COUNT; i++) {
    const inFirst = i < n16;
    const raw = inFirst ? (out.scores16[i] ?? -Infinity) : (out.scores8[i - n16] ?? -Infinity);
    if (raw < minLogit) continue;
    const regs = inFirst ? out.boxes16 : out.boxes8;
    const r = (inFirst ? i : i - n16) * BLAZEFACE_REGRESSORS;
    const ax = ANCHORS[2 * i] ?? 0;
    const ay = ANCHORS[2 * i + 1] ?? 0;
    const cx = ax + (regs[r] ?? 0) / s;
    const cy = ay + (regs[r + 1] ?? 0) / s;
    const w = (regs[r + 2] ?? 0) / s;
    const h = (regs[r + 3] ?? 0) / s;
    if (!(w > 0 && h > 0)) continue;
    const keypoints: Point[] = [];
    for (let k = 0; k < BLAZEFACE_KEYPOINTS; k++) {
      keypoints.push({ x: ax + (regs[r + 4 + 2 * k] ?? 0) / s, y: ay + (regs[r + 5 + 2 * k] ?? 0) / s });
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
