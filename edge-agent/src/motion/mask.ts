/**
 * Per-camera masks: polygons in normalised frame coordinates (AnalysisSettings.masks) that the
 * motion gate ignores, such as a swaying tree or the camera's timestamp overlay. Rasterised once
 * per grid size.
 */
import { EdgeError } from '../errors.ts';

/** A point in normalised frame coordinates: 0..1 from the left and from the top. */
export interface NormPoint {
  x: number;
  y: number;
}

/** A polygon in normalised frame coordinates, the shape of proto `sharpeyes.v1.Polygon`. */
export interface NormPolygon {
  points: readonly NormPoint[];
}

/** Throws EDGE_ERR_MOTION_OPTIONS unless every polygon has ≥ 3 finite points. */
export function validateMasks(masks: readonly NormPolygon[]): void {
  masks.forEach((m, i) => {
    if (m.points.length < 3) {
      throw new EdgeError('EDGE_ERR_MOTION_OPTIONS', `masks[${i}] needs at least 3 points`);
    }
    m.points.forEach((p, j) => {
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) {
        throw new EdgeError('EDGE_ERR_MOTION_OPTIONS', `masks[${i}].points[${j}] is not a finite point`);
      }
    });
  });
}

/** Whether normalised (`x`, `y`) lies inside `polygon` (even-odd rule). */
export function pointInPolygon(polygon: NormPolygon, x: number, y: number): boolean {
  const pts = polygon.points;
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const a = pts[i];
    const b = pts[j];
    if (a === undefined || b === undefined) continue;
    if (a.y > y !== b.y > y && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** Whether normalised (`x`, `y`) lies inside any of `masks` (for filtering detections too). */
export function isMasked(masks: readonly NormPolygon[], x: number, y: number): boolean {
  return masks.some((m) => pointInPolygon(m, x, y));
}

/**
 * Rasterise `masks` onto a `width`×`height` grid: 1 = ignored cell. A cell is ignored when any of
 * 3×3 sample points in it is inside a mask, so a thin overlay never slips between cell centres.
 */
export function rasteriseMasks(masks: readonly NormPolygon[], width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  if (masks.length === 0) return out;
  const offsets = [1 / 6, 1 / 2, 5 / 6];
  for (let gy = 0; gy < height; gy++) {
    for (let gx = 0; gx < width; gx++) {
      let hit = false;
      for (const oy of offsets) {
        for (const ox of offsets) {
          if (isMasked(masks, (gx + ox) / width, (gy + oy) / height)) {
            hit = true;
            break;
          }
        }
        if (hit) break;
      }
      if (hit) out[gy * width + gx] = 1;
    }
  }
  return out;
}
