/**
 * DB (Differentiable Binarization) post-processing for the PP-OCRv4 text detector: probability
 * map → binary mask → connected regions → minimum-area rotated rectangles → box score filter →
 * unclip. Pure functions over typed arrays, in the detector's map coordinates (one map cell = one
 * input pixel); the caller maps the quads back to image pixels.
 *
 * Geometry is in continuous coordinates where map cell (x, y) covers [x, x+1) × [y, y+1).
 */
import type { Point } from './types.ts';

/** A horizontal run of set mask cells `[x0, x1)` in row `y`. */
export interface MaskRun {
  y: number;
  x0: number;
  x1: number;
}

/** One 8-connected region of the mask. */
export interface MaskComponent {
  /** Runs of the region, in row order. */
  runs: MaskRun[];
  /** Number of cells. */
  area: number;
  /** Bounding box in cells: `[minX, maxX)` × `[minY, maxY)`. */
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** A rotated rectangle. `angle` (radians, within ±π/4) turns the width axis from +x towards +y. */
export interface RotatedRect {
  cx: number;
  cy: number;
  width: number;
  height: number;
  angle: number;
}

/** DB post-processing parameters (PaddleOCR's defaults for PP-OCRv4). */
export interface DbParams {
  /** Probability above which a cell is text. */
  threshold: number;
  /** Minimum mean probability inside a region's rectangle. */
  boxThreshold: number;
  /** Unclip expansion: distance = area · ratio / perimeter. */
  unclipRatio: number;
  /** Rectangles whose short side (map cells) is below this are dropped, before unclip. */
  minSide: number;
  /** At most this many regions are examined (largest first). */
  maxCandidates: number;
}

/** PaddleOCR's DBPostProcess defaults. */
export const DEFAULT_DB_PARAMS: Readonly<DbParams> = {
  threshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  minSide: 3,
  maxCandidates: 1000,
};

/** A text box found in a probability map, in map coordinates. */
export interface DbBox {
  /** Corners clockwise from top-left (the corner nearest the top-left of the width axis). */
  quad: [Point, Point, Point, Point];
  /** The unclipped rectangle. */
  rect: RotatedRect;
  /** Mean probability inside the (pre-unclip) rectangle. */
  score: number;
}

/** `prob > threshold` as a 0/1 mask. */
export function binarize(prob: Float32Array, threshold: number): Uint8Array {
  const mask = new Uint8Array(prob.length);
  for (let i = 0; i < prob.length; i++) mask[i] = (prob[i] ?? 0) > threshold ? 1 : 0;
  return mask;
}

/**
 * 8-connected regions of a `width`×`height` 0/1 mask, by run-length labelling: each row's runs
 * are joined (union-find) to the runs of the row above that touch them, diagonals included.
 * Regions come out ordered by their first run (top to bottom, left to right).
 */
export function labelComponents(mask: Uint8Array, width: number, height: number): MaskComponent[] {
  const runs: MaskRun[] = [];
  const parent: number[] = [];
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r] ?? r;
    // Path compression keeps later finds O(1)-ish on long regions.
    let j = i;
    while (parent[j] !== r) {
      const next = parent[j] ?? r;
      parent[j] = r;
      j = next;
    }
    return r;
  };
  let prevStart = 0;
  let prevEnd = 0;
  for (let y = 0; y < height; y++) {
    const rowStart = runs.length;
    const base = y * width;
    let x = 0;
    while (x < width) {
      if (mask[base + x] === 0) {
        x++;
        continue;
      }
      const x0 = x;
      while (x < width && mask[base + x] !== 0) x++;
      const id = runs.length;
      runs.push({ y, x0, x1: x });
      parent.push(id);
      // Runs of the previous row touching [x0-1, x+1) are 8-connected to this one.
      for (let p = prevStart; p < prevEnd; p++) {
        const prev = runs[p];
        if (prev === undefined || prev.x0 > x) continue;
        if (prev.x1 < x0) continue;
        const a = find(p);
        const b = find(id);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
    prevStart = rowStart;
    prevEnd = runs.length;
  }
  const byRoot = new Map<number, MaskComponent>();
  const out: MaskComponent[] = [];
  runs.forEach((run, i) => {
    const root = find(i);
    let c = byRoot.get(root);
    if (c === undefined) {
      c = { runs: [], area: 0, minX: run.x0, minY: run.y, maxX: run.x1, maxY: run.y + 1 };
      byRoot.set(root, c);
      out.push(c);
    }
    c.runs.push(run);
    c.area += run.x1 - run.x0;
    c.minX = Math.min(c.minX, run.x0);
    c.maxX = Math.max(c.maxX, run.x1);
    c.minY = Math.min(c.minY, run.y);
    c.maxY = Math.max(c.maxY, run.y + 1);
  });
  return out;
}

/**
 * The centres of every run's end cells: enough points for the region's convex hull. Centres, as
 * OpenCV's contours (which PaddleOCR's post-process and its unclip ratio were tuned on) use.
 */
export function componentOutline(c: MaskComponent): Point[] {
  const pts: Point[] = [];
  for (const r of c.runs) {
    pts.push({ x: r.x0 + 0.5, y: r.y + 0.5 });
    if (r.x1 - 1 > r.x0) pts.push({ x: r.x1 - 0.5, y: r.y + 0.5 });
  }
  return pts;
}

function cross(o: Point, a: Point, b: Point): number {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

/**
 * Convex hull (Andrew's monotone chain), counter-clockwise in a y-up frame, without collinear or
 * duplicate points. Fewer than 3 distinct points come back as they are (deduplicated).
 */
export function convexHull(points: readonly Point[]): Point[] {
  const pts = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
  const uniq: Point[] = [];
  for (const p of pts) {
    const last = uniq[uniq.length - 1];
    if (last === undefined || last.x !== p.x || last.y !== p.y) uniq.push(p);
  }
  if (uniq.length < 3) return uniq;
  const lower: Point[] = [];
  for (const p of uniq) {
    while (
      lower.length >= 2 &&
      cross(lower[lower.length - 2] as Point, lower[lower.length - 1] as Point, p) <= 0
    ) {
      lower.pop();
    }
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = uniq.length - 1; i >= 0; i--) {
    const p = uniq[i] as Point;
    while (
      upper.length >= 2 &&
      cross(upper[upper.length - 2] as Point, upper[upper.length - 1] as Point, p) <= 0
    ) {
      upper.pop();
    }
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper);
}

/** Bring an angle (radians) into [-π/2, π/2). */
function wrapHalfTurn(a: number): number {
  let r = a;
  while (r >= Math.PI / 2) r -= Math.PI;
  while (r < -Math.PI / 2) r += Math.PI;
  return r;
}

/**
 * Minimum-area enclosing rectangle of a convex hull (rotating calipers: the optimum has a side on
 * a hull edge, so each edge direction is tried). The result's width axis is the side nearer the
 * horizontal (|angle| ≤ π/4). An empty hull gives a zero rectangle at the origin.
 */
export function minAreaRect(hull: readonly Point[]): RotatedRect {
  const first = hull[0];
  if (first === undefined) return { cx: 0, cy: 0, width: 0, height: 0, angle: 0 };
  if (hull.length === 1) return { cx: first.x, cy: first.y, width: 0, height: 0, angle: 0 };
  let best:
    | { area: number; ux: number; uy: number; minU: number; maxU: number; minV: number; maxV: number }
    | undefined;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i] as Point;
    const b = hull[(i + 1) % hull.length] as Point;
    const len = Math.hypot(b.x - a.x, b.y - a.y);
    if (len === 0) continue;
    const ux = (b.x - a.x) / len;
    const uy = (b.y - a.y) / len;
    let minU = Infinity;
    let maxU = -Infinity;
    let minV = Infinity;
    let maxV = -Infinity;
    for (const p of hull) {
      const u = p.x * ux + p.y * uy;
      const v = -p.x * uy + p.y * ux;
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (best === undefined || area < best.area - 1e-9) best = { area, ux, uy, minU, maxU, minV, maxV };
  }
  if (best === undefined) return { cx: first.x, cy: first.y, width: 0, height: 0, angle: 0 };
  const { ux, uy, minU, maxU, minV, maxV } = best;
  const cu = (minU + maxU) / 2;
  const cv = (minV + maxV) / 2;
  const cx = cu * ux - cv * uy;
  const cy = cu * uy + cv * ux;
  let width = maxU - minU;
  let height = maxV - minV;
  let angle = wrapHalfTurn(Math.atan2(uy, ux));
  // Make the width axis the one nearer horizontal, so corners are ordered the same way always.
  if (Math.abs(angle) > Math.PI / 4 + 1e-12) {
    angle = wrapHalfTurn(angle + Math.PI / 2);
    [width, height] = [height, width];
  }
  return { cx, cy, width, height, angle };
}

/** Corners of `r` clockwise (in image coordinates, y down) from top-left. */
export function rectCorners(r: RotatedRect): [Point, Point, Point, Point] {
  const ux = Math.cos(r.angle);
  const uy = Math.sin(r.angle);
  // v is the width axis turned a quarter clockwise on screen: "down" for an unrotated rect.
  const vx = -uy;
  const vy = ux;
  const hw = r.width / 2;
  const hh = r.height / 2;
  const at = (su: number, sv: number): Point => ({
    x: r.cx + su * hw * ux + sv * hh * vx,
    y: r.cy + su * hw * uy + sv * hh * vy,
  });
  return [at(-1, -1), at(1, -1), at(1, 1), at(-1, 1)];
}

/**
 * Expand a rectangle the way DB's unclip does: offset its outline by `area · ratio / perimeter`.
 * Offsetting a rectangle (round joins) and taking the minimum-area rectangle again adds that
 * distance on every side, so this is exact without a polygon-clipping library.
 */
export function unclipRect(r: RotatedRect, ratio: number): RotatedRect {
  const perimeter = 2 * (r.width + r.height);
  if (perimeter === 0) return { ...r };
  const d = (r.width * r.height * ratio) / perimeter;
  return { ...r, width: r.width + 2 * d, height: r.height + 2 * d };
}

/**
 * Mean of `prob` over the map cells whose centre lies inside the convex polygon `quad`
 * (PaddleOCR's "fast" box score). 0 when no cell centre is inside.
 */
export function meanInsideQuad(
  prob: Float32Array,
  width: number,
  height: number,
  quad: readonly Point[],
): number {
  let minY = Infinity;
  let maxY = -Infinity;
  for (const p of quad) {
    minY = Math.min(minY, p.y);
    maxY = Math.max(maxY, p.y);
  }
  const y0 = Math.max(0, Math.ceil(minY - 0.5));
  const y1 = Math.min(height - 1, Math.floor(maxY - 0.5));
  let sum = 0;
  let n = 0;
  for (let y = y0; y <= y1; y++) {
    const yc = y + 0.5;
    // Horizontal span of the convex polygon at this row's centre line.
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < quad.length; i++) {
      const a = quad[i] as Point;
      const b = quad[(i + 1) % quad.length] as Point;
      if ((a.y <= yc && b.y >= yc) || (b.y <= yc && a.y >= yc)) {
        if (a.y === b.y) {
          lo = Math.min(lo, a.x, b.x);
          hi = Math.max(hi, a.x, b.x);
        } else {
          const x = a.x + ((yc - a.y) / (b.y - a.y)) * (b.x - a.x);
          lo = Math.min(lo, x);
          hi = Math.max(hi, x);
        }
      }
    }
    if (lo > hi) continue;
    const x0 = Math.max(0, Math.ceil(lo - 0.5));
    const x1 = Math.min(width - 1, Math.floor(hi - 0.5));
    const base = y * width;
    for (let x = x0; x <= x1; x++) {
      sum += prob[base + x] ?? 0;
      n++;
    }
  }
  return n === 0 ? 0 : sum / n;
}

/**
 * The whole DB post-process on one `width`×`height` probability map: text boxes in map
 * coordinates, unclipped, in region order.
 */
export function dbPostprocess(
  prob: Float32Array,
  width: number,
  height: number,
  params: Readonly<DbParams> = DEFAULT_DB_PARAMS,
): DbBox[] {
  const mask = binarize(prob, params.threshold);
  let components = labelComponents(mask, width, height);
  if (components.length > params.maxCandidates) {
    components = [...components].sort((a, b) => b.area - a.area).slice(0, params.maxCandidates);
  }
  const out: DbBox[] = [];
  for (const c of components) {
    const rect = minAreaRect(convexHull(componentOutline(c)));
    if (Math.min(rect.width, rect.height) < params.minSide) continue;
    const score = meanInsideQuad(prob, width, height, rectCorners(rect));
    if (score < params.boxThreshold) continue;
    const grown = unclipRect(rect, params.unclipRatio);
    if (Math.min(grown.width, grown.height) < params.minSide + 2) continue;
    out.push({ quad: rectCorners(grown), rect: grown, score });
  }
  return out;
}
