/** Box arithmetic for the tracker (pixels, origin top-left). */
import type { Box } from '../detect/types.ts';

/** Centre of `b`. */
export function centre(b: Box): { x: number; y: number } {
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

/** Length of `b`'s diagonal. */
export function diagonal(b: Box): number {
  return Math.hypot(b.width, b.height);
}

/** Area of `b` (0 for an empty box). */
export function area(b: Box): number {
  return Math.max(0, b.width) * Math.max(0, b.height);
}

/** Area of the intersection of `a` and `b`. */
export function intersection(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Intersection over union, 0..1 (one definition for the agent: the detectors'). */
export { iou } from '../detect/face-decode.ts';

/** Share of `b`'s area inside a `width`×`height` frame, 0..1. */
export function visibleFraction(b: Box, width: number, height: number): number {
  const a = area(b);
  if (a === 0) return 0;
  return intersection(b, { x: 0, y: 0, width, height }) / a;
}
