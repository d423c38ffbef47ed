/** DB post-processing and detector geometry: table tests on synthetic probability maps. */
import { describe, expect, it } from 'vitest';
import {
  binarize,
  componentOutline,
  convexHull,
  dbPostprocess,
  labelComponents,
  meanInsideQuad,
  minAreaRect,
  rectCorners,
  unclipRect,
} from '../../edge-agent/src/detect/db-postprocess.ts';
import type { RotatedRect } from '../../edge-agent/src/detect/db-postprocess.ts';
import {
  mergeLineFragments,
  planDetAreas,
  planDetInput,
  quadIou,
} from '../../edge-agent/src/detect/plate-det.ts';
import type { TextBox } from '../../edge-agent/src/detect/plate-det.ts';
import type { Point } from '../../edge-agent/src/detect/types.ts';

/** A mask from rows of '#' (set) and '.' (clear). */
function maskOf(rows: string[]): { mask: Uint8Array; width: number; height: number } {
  const width = rows[0]?.length ?? 0;
  const mask = new Uint8Array(width * rows.length);
  rows.forEach((row, y) => {
    for (let x = 0; x < width; x++) mask[y * width + x] = row[x] === '#' ? 1 : 0;
  });
  return { mask, width, height: rows.length };
}

/** A probability map with filled rotated rectangles of given probability. */
function mapWith(width: number, height: number, rects: { rect: RotatedRect; p: number }[]): Float32Array {
  const prob = new Float32Array(width * height);
  for (const { rect, p } of rects) {
    const ux = Math.cos(rect.angle);
    const uy = Math.sin(rect.angle);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const dx = x + 0.5 - rect.cx;
        const dy = y + 0.5 - rect.cy;
        const u = dx * ux + dy * uy;
        const v = -dx * uy + dy * ux;
        if (Math.abs(u) <= rect.width / 2 && Math.abs(v) <= rect.height / 2) prob[y * width + x] = p;
      }
    }
  }
  return prob;
}

const deg = (d: number): number => (d * Math.PI) / 180;

describe('binarize', () => {
  it.each([
    // Values exactly representable in float32, so "above" is unambiguous.
    [[0.125, 0.25, 0.375, 0.875], 0.25, [0, 0, 1, 1]],
    [[0, 1], 0.5, [0, 1]],
    [[0.5, 0.5], 0.5, [0, 0]],
  ])('%j > %d', (prob, threshold, expected) => {
    expect([...binarize(Float32Array.from(prob), threshold)]).toEqual(expected);
  });
});

describe('labelComponents', () => {
  it.each<[string, string[], number[]]>([
    ['empty', ['....', '....'], []],
    ['one pixel', ['....', '.#..'], [1]],
    ['two separate blobs', ['##..##', '##..##'], [4, 4]],
    ['diagonal touch is 8-connected', ['#...', '.#..', '..#.'], [3]],
    ['U shape joins at the bottom (two runs merge later)', ['#..#', '#..#', '####'], [8]],
    ['spiral-ish: W joined by a late run', ['#.#.#', '#.#.#', '#####'], [11]],
    ['row edges do not wrap', ['...#', '#...'], [1, 1]],
    ['full map', ['###', '###'], [6]],
  ])('%s', (_name, rows, areas) => {
    const { mask, width, height } = maskOf(rows);
    const comps = labelComponents(mask, width, height);
    expect(comps.map((c) => c.area)).toEqual(areas);
  });

  it('reports bounding boxes and runs', () => {
    const { mask, width, height } = maskOf(['......', '.###..', '..##..', '......']);
    const [c] = labelComponents(mask, width, height);
    expect(c).toMatchObject({ minX: 1, maxX: 4, minY: 1, maxY: 3, area: 5 });
    expect(c?.runs).toEqual([
      { y: 1, x0: 1, x1: 4 },
      { y: 2, x0: 2, x1: 4 },
    ]);
  });

  it('labels a 960×544 map of many blobs quickly and completely', () => {
    const width = 960;
    const height = 544;
    const mask = new Uint8Array(width * height);
    // 30×17 blobs of 20×20 cells on a 32-cell pitch.
    for (let by = 0; by < 17; by++) {
      for (let bx = 0; bx < 30; bx++) {
        for (let y = 0; y < 20; y++)
          mask.fill(1, (by * 32 + y) * width + bx * 32, (by * 32 + y) * width + bx * 32 + 20);
      }
    }
    const comps = labelComponents(mask, width, height);
    expect(comps).toHaveLength(510);
    expect(comps.every((c) => c.area === 400)).toBe(true);
  });
});

describe('convexHull', () => {
  const p = (x: number, y: number): Point => ({ x, y });
  it.each<[string, Point[], Point[]]>([
    [
      'square with an inner point',
      [p(0, 0), p(2, 0), p(2, 2), p(0, 2), p(1, 1)],
      [p(0, 0), p(2, 0), p(2, 2), p(0, 2)],
    ],
    [
      'collinear edge points dropped',
      [p(0, 0), p(1, 0), p(2, 0), p(2, 1), p(0, 1)],
      [p(0, 0), p(2, 0), p(2, 1), p(0, 1)],
    ],
    ['duplicates', [p(0, 0), p(0, 0), p(1, 1), p(1, 1)], [p(0, 0), p(1, 1)]],
    ['triangle', [p(0, 0), p(4, 0), p(2, 3), p(2, 1)], [p(0, 0), p(4, 0), p(2, 3)]],
    ['single point', [p(3, 4)], [p(3, 4)]],
  ])('%s', (_name, points, hull) => {
    const got = convexHull(points);
    expect(got).toHaveLength(hull.length);
    for (const q of hull) expect(got).toContainEqual(q);
  });
});

describe('minAreaRect', () => {
  it.each<[string, RotatedRect]>([
    ['axis-aligned 40×10', { cx: 50, cy: 30, width: 40, height: 10, angle: 0 }],
    ['rotated +15°', { cx: 50, cy: 30, width: 40, height: 10, angle: deg(15) }],
    ['rotated −12°', { cx: 60, cy: 40, width: 80, height: 24, angle: deg(-12) }],
    ['tall box: width axis stays near horizontal', { cx: 20, cy: 20, width: 10, height: 40, angle: deg(5) }],
  ])('recovers %s from its corners', (_name, rect) => {
    const got = minAreaRect(convexHull(rectCorners(rect)));
    expect(got.cx).toBeCloseTo(rect.cx, 6);
    expect(got.cy).toBeCloseTo(rect.cy, 6);
    expect(got.width).toBeCloseTo(rect.width, 6);
    expect(got.height).toBeCloseTo(rect.height, 6);
    expect(got.angle).toBeCloseTo(rect.angle, 6);
  });

  it('encloses a rotated point cloud with the smallest area', () => {
    // Points of a 30×6 strip at 20°, plus interior points.
    const rect: RotatedRect = { cx: 0, cy: 0, width: 30, height: 6, angle: deg(20) };
    const corners = rectCorners(rect);
    const got = minAreaRect(convexHull([...corners, { x: 0, y: 0 }, { x: 1, y: 1 }]));
    expect(got.width * got.height).toBeCloseTo(180, 6);
    expect(Math.abs(got.angle - deg(20))).toBeLessThan(1e-6);
  });

  it('gives a zero rectangle for no points', () => {
    expect(minAreaRect([])).toEqual({ cx: 0, cy: 0, width: 0, height: 0, angle: 0 });
  });
});

describe('rectCorners', () => {
  it('orders corners clockwise from top-left (y down)', () => {
    const [tl, tr, br, bl] = rectCorners({ cx: 10, cy: 5, width: 20, height: 10, angle: 0 });
    expect([tl, tr, br, bl]).toEqual([
      { x: 0, y: 0 },
      { x: 20, y: 0 },
      { x: 20, y: 10 },
      { x: 0, y: 10 },
    ]);
  });
});

describe('unclipRect', () => {
  it.each<[number, number, number, number, number]>([
    // width, height, ratio → expected width, height: d = w·h·ratio / (2(w+h)).
    [40, 10, 1.5, 40 + 2 * 6, 10 + 2 * 6],
    [100, 100, 1.5, 100 + 2 * 37.5, 100 + 2 * 37.5],
    [30, 6, 2, 30 + 2 * 5, 6 + 2 * 5],
    [0, 0, 1.5, 0, 0],
  ])('%d×%d ratio %d → %d×%d', (w, h, ratio, ew, eh) => {
    const got = unclipRect({ cx: 1, cy: 2, width: w, height: h, angle: 0.1 }, ratio);
    expect(got.width).toBeCloseTo(ew, 9);
    expect(got.height).toBeCloseTo(eh, 9);
    expect(got).toMatchObject({ cx: 1, cy: 2, angle: 0.1 });
  });
});

describe('meanInsideQuad', () => {
  it('averages cells whose centres lie inside', () => {
    const prob = new Float32Array(16).fill(0);
    prob[5] = 1; // (1,1)
    prob[6] = 0.5; // (2,1)
    const quad = rectCorners({ cx: 2, cy: 1.5, width: 2, height: 1, angle: 0 });
    expect(meanInsideQuad(prob, 4, 4, quad)).toBeCloseTo(0.75, 6);
  });
  it('is 0 when no cell centre is inside', () => {
    const quad = rectCorners({ cx: 1, cy: 1, width: 0.4, height: 0.4, angle: 0 });
    expect(meanInsideQuad(new Float32Array(16).fill(1), 4, 4, quad)).toBe(0);
  });
});

describe('dbPostprocess', () => {
  it.each<[string, RotatedRect]>([
    ['a horizontal line', { cx: 60, cy: 40, width: 60, height: 12, angle: 0 }],
    ['a line at 14°', { cx: 64, cy: 48, width: 70, height: 14, angle: deg(14) }],
    ['a line at −10°', { cx: 64, cy: 48, width: 50, height: 10, angle: deg(-10) }],
  ])('finds %s and unclips it', (_name, rect) => {
    const prob = mapWith(128, 96, [{ rect, p: 0.9 }]);
    const boxes = dbPostprocess(prob, 128, 96);
    expect(boxes).toHaveLength(1);
    const [b] = boxes;
    // The unclipped box is the region grown by d = w·h·1.5/(2(w+h)) per side (±1 cell of rasterisation).
    const d = (rect.width * rect.height * 1.5) / (2 * (rect.width + rect.height));
    expect(b?.rect.cx).toBeCloseTo(rect.cx, 0);
    expect(b?.rect.cy).toBeCloseTo(rect.cy, 0);
    expect(Math.abs((b?.rect.width ?? 0) - (rect.width + 2 * d))).toBeLessThan(2.5);
    expect(Math.abs((b?.rect.height ?? 0) - (rect.height + 2 * d))).toBeLessThan(2.5);
    expect(Math.abs((b?.rect.angle ?? 0) - rect.angle)).toBeLessThan(deg(3));
    expect(b?.score).toBeCloseTo(0.9, 1);
  });

  it('drops regions whose mean probability is below the box threshold', () => {
    const prob = mapWith(128, 64, [
      { rect: { cx: 30, cy: 30, width: 40, height: 10, angle: 0 }, p: 0.5 },
      { rect: { cx: 90, cy: 30, width: 40, height: 10, angle: 0 }, p: 0.8 },
    ]);
    const boxes = dbPostprocess(prob, 128, 64);
    expect(boxes.map((b) => Math.round(b.rect.cx))).toEqual([90]);
  });

  it('drops specks thinner than minSide', () => {
    const prob = mapWith(64, 64, [{ rect: { cx: 30, cy: 30, width: 30, height: 2, angle: 0 }, p: 0.95 }]);
    expect(dbPostprocess(prob, 64, 64)).toEqual([]);
  });

  it('keeps separate lines separate', () => {
    const prob = mapWith(200, 100, [
      { rect: { cx: 50, cy: 20, width: 60, height: 10, angle: 0 }, p: 0.9 },
      { rect: { cx: 50, cy: 60, width: 60, height: 10, angle: 0 }, p: 0.9 },
      { rect: { cx: 150, cy: 40, width: 60, height: 10, angle: 0 }, p: 0.9 },
    ]);
    expect(dbPostprocess(prob, 200, 100)).toHaveLength(3);
  });

  it("outlines are the centres of each run's end cells", () => {
    const { mask, width, height } = maskOf(['.##.', '####', '..#.']);
    const [c] = labelComponents(mask, width, height);
    expect(c === undefined ? [] : componentOutline(c)).toEqual([
      { x: 1.5, y: 0.5 },
      { x: 2.5, y: 0.5 },
      { x: 0.5, y: 1.5 },
      { x: 3.5, y: 1.5 },
      { x: 2.5, y: 2.5 },
    ]);
  });
});

describe('planDetInput', () => {
  it.each<[number, number, number, [number, number, number, number]]>([
    [1280, 720, 960, [960, 540, 960, 544]],
    [1920, 1080, 960, [960, 540, 960, 544]],
    [640, 360, 960, [640, 360, 640, 384]],
    [300, 120, 960, [300, 120, 320, 128]],
    [10, 5, 960, [10, 5, 32, 32]],
    [1000, 1000, 960, [960, 960, 960, 960]],
  ])('%d×%d (max %d) → content/tensor %j', (w, h, max, [cw, ch, tw, th]) => {
    const plan = planDetInput(w, h, max);
    expect([plan.contentW, plan.contentH, plan.tensorW, plan.tensorH]).toEqual([cw, ch, tw, th]);
    expect(plan.scale).toBeLessThanOrEqual(1);
  });
});

describe('planDetAreas', () => {
  it('pads, clips and keeps disjoint regions apart', () => {
    const areas = planDetAreas(
      [
        { x: 100, y: 100, width: 100, height: 50 },
        { x: 800, y: 400, width: 200, height: 100 },
      ],
      1280,
      720,
      0.1,
      16,
    );
    expect(areas).toEqual([
      { x: 84, y: 84, width: 132, height: 82 },
      { x: 780, y: 384, width: 240, height: 132 },
    ]);
  });

  it('merges overlapping regions and clips at the frame edge', () => {
    const areas = planDetAreas(
      [
        { x: 0, y: 0, width: 100, height: 100 },
        { x: 90, y: 90, width: 100, height: 100 },
      ],
      150,
      150,
      0,
      0,
    );
    expect(areas).toEqual([{ x: 0, y: 0, width: 150, height: 150 }]);
  });

  it('drops empty and non-finite regions', () => {
    expect(
      planDetAreas(
        [
          { x: 10, y: 10, width: 0, height: 10 },
          { x: Number.NaN, y: 0, width: 5, height: 5 },
          { x: 2000, y: 2000, width: 5, height: 5 },
        ],
        100,
        100,
      ),
    ).toEqual([]);
  });
});

describe('mergeLineFragments', () => {
  const box = (rect: RotatedRect): TextBox => ({ rect, quad: rectCorners(rect), score: 0.9 });
  const frame = { width: 1000, height: 1000 };

  it('joins a lone province glyph to the rest of its plate line', () => {
    const province = box({ cx: 153, cy: 174, width: 45, height: 77, angle: 0 });
    const rest = box({ cx: 344, cy: 174, width: 323, height: 84, angle: 0 });
    const merged = mergeLineFragments([province, rest], frame);
    expect(merged).toHaveLength(1);
    expect(merged[0]?.rect.width).toBeCloseTo(344 + 323 / 2 - (153 - 45 / 2), 0);
  });

  it('joins a glyph whose own box is square even when the line is rotated', () => {
    const angle = deg(12.8);
    const rest = box({ cx: 336, cy: 184, width: 332, height: 76, angle });
    const province = box({ cx: 160, cy: 142, width: 56, height: 75, angle: 0 });
    expect(mergeLineFragments([rest, province], frame)).toHaveLength(1);
  });

  it('joins a fragment that covers only the top of a glyph (黑 found as 31×44 in a 79-px line)', () => {
    const top = box({ cx: 156, cy: 169, width: 31.5, height: 44.5, angle: 0 });
    const rest = box({ cx: 344, cy: 180, width: 318.4, height: 79.4, angle: 0 });
    const merged = mergeLineFragments([top, rest], frame);
    expect(merged).toHaveLength(1);
    expect(merged[0]?.rect.height).toBeGreaterThanOrEqual(79);
  });

  it.each<[string, RotatedRect]>([
    ['too far along the line', { cx: 100, cy: 174, width: 45, height: 77, angle: 0 }],
    ['off the line', { cx: 153, cy: 230, width: 45, height: 77, angle: 0 }],
    ['much smaller', { cx: 170, cy: 174, width: 20, height: 30, angle: 0 }],
  ])('leaves a fragment %s alone', (_name, frag) => {
    const rest = box({ cx: 344, cy: 174, width: 323, height: 84, angle: 0 });
    expect(mergeLineFragments([box(frag), rest], frame)).toHaveLength(2);
  });

  it('never joins two long lines', () => {
    const a = box({ cx: 100, cy: 100, width: 150, height: 30, angle: 0 });
    const b = box({ cx: 260, cy: 100, width: 150, height: 30, angle: 0 });
    expect(mergeLineFragments([a, b], frame)).toHaveLength(2);
  });
});

describe('quadIou', () => {
  it('is 1 for the same quad, 0 for disjoint ones', () => {
    const a = rectCorners({ cx: 10, cy: 10, width: 10, height: 10, angle: 0 });
    const b = rectCorners({ cx: 30, cy: 10, width: 10, height: 10, angle: 0 });
    expect(quadIou(a, a)).toBe(1);
    expect(quadIou(a, b)).toBe(0);
  });
});
