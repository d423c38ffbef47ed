/** The eval's degradations: deterministic, size-preserving, and rotation moves truth correctly. */
import { describe, expect, it } from 'vitest';
import {
  applyVariation,
  boxBlur,
  night,
  rotate,
  rotateBox,
  VARIATIONS,
  type RgbFrame,
} from './variations.ts';

function frameWithSquare(w: number, h: number, sq: { x: number; y: number; size: number }): RgbFrame {
  const data = Buffer.alloc(w * h * 3, 0);
  for (let y = sq.y; y < sq.y + sq.size; y++) {
    for (let x = sq.x; x < sq.x + sq.size; x++) data.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
  }
  return { data, width: w, height: h };
}

function brightBounds(f: RgbFrame): { x0: number; y0: number; x1: number; y1: number } {
  let x0 = f.width;
  let y0 = f.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < f.height; y++) {
    for (let x = 0; x < f.width; x++) {
      if ((f.data[(y * f.width + x) * 3] ?? 0) > 200) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
    }
  }
  return { x0, y0, x1, y1 };
}

describe('variations', () => {
  it('rotation moves a bright square to where rotateBox says', () => {
    const f = frameWithSquare(200, 100, { x: 140, y: 30, size: 20 });
    for (const deg of [12, -15]) {
      const b = brightBounds(rotate(f, deg));
      const t = rotateBox({ x: 140, y: 30, width: 20, height: 20 }, deg, 200, 100);
      expect(Math.abs(b.x0 - t.x)).toBeLessThanOrEqual(2);
      expect(Math.abs(b.y0 - t.y)).toBeLessThanOrEqual(2);
      expect(Math.abs(b.x1 + 1 - (t.x + t.width))).toBeLessThanOrEqual(2);
      expect(Math.abs(b.y1 + 1 - (t.y + t.height))).toBeLessThanOrEqual(2);
    }
  });

  it('blur spreads an edge; night darkens and is repeatable for a seed', () => {
    const f = frameWithSquare(40, 40, { x: 10, y: 10, size: 20 });
    const blurred = boxBlur(f, 2);
    const v = blurred.data[(20 * 40 + 9) * 3] ?? 0;
    expect(v).toBeGreaterThan(0);
    expect(v).toBeLessThan(255);
    const a = night(f, 0.5, 8, 7);
    expect(a.data.equals(night(f, 0.5, 8, 7).data)).toBe(true);
    expect(a.data.equals(night(f, 0.5, 8, 8).data)).toBe(false);
    expect(a.data[(20 * 40 + 20) * 3] ?? 255).toBeLessThan(200);
  });

  it('every variation keeps the frame size', async () => {
    const f = frameWithSquare(64, 48, { x: 8, y: 8, size: 16 });
    for (const v of VARIATIONS) {
      const out = await applyVariation(f, v, 1);
      expect([out.width, out.height, out.data.length], v.name).toEqual([64, 48, 64 * 48 * 3]);
    }
  });
});
