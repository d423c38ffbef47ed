/** Where the face detector looks (face-tiles.ts): grid tiles, coarse pass, motion regions. */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CANVAS,
  DEFAULT_TILING,
  planCanvases,
  planTiles,
  searchAreas,
  tileArea,
  type Tile,
} from '../../edge-agent/src/detect/face-tiles.ts';
import type { Box } from '../../edge-agent/src/detect/types.ts';

const contains = (t: Box, b: Box): boolean =>
  b.x >= t.x && b.y >= t.y && b.x + b.width <= t.x + t.width && b.y + b.height <= t.y + t.height;

/** Deterministic pseudo-random numbers (no Math.random in tests). */
function* lcg(seed: number): Generator<number> {
  let s = seed >>> 0;
  for (;;) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    yield s / 2 ** 32;
  }
}

describe('planTiles over a whole frame', () => {
  it.each([
    // width, height, grid tiles, coarse pass (when tiles overlap by less than 240 px)
    { w: 1280, h: 720, grid: 6, coarse: 1 },
    { w: 1920, h: 1080, grid: 15, coarse: 1 },
    { w: 640, h: 360, grid: 2, coarse: 0 }, // two tiles overlapping by 384 px
    { w: 512, h: 512, grid: 1, coarse: 0 },
    { w: 300, h: 200, grid: 1, coarse: 0 },
  ])('$w×$h → $grid grid tiles, $coarse coarse', ({ w, h, grid, coarse }) => {
    const tiles = planTiles(w, h);
    expect(tiles.filter((t) => t.pass === 'tile')).toHaveLength(grid);
    expect(tiles.filter((t) => t.pass === 'coarse')).toHaveLength(coarse);
    for (const t of tiles) expect(contains({ x: 0, y: 0, width: w, height: h }, t)).toBe(true);
  });

  it('720p: 3×2 tiles of 512 at even steps, inner edges marked, plus the whole frame', () => {
    const tiles = planTiles(1280, 720);
    const grid = tiles.filter((t) => t.pass === 'tile');
    expect(grid.map((t) => [t.x, t.y, t.width, t.height])).toEqual([
      [0, 0, 512, 512],
      [384, 0, 512, 512],
      [768, 0, 512, 512],
      [0, 208, 512, 512],
      [384, 208, 512, 512],
      [768, 208, 512, 512],
    ]);
    expect(grid[0]?.innerEdges).toEqual({ left: false, top: false, right: true, bottom: true });
    expect(grid[4]?.innerEdges).toEqual({ left: true, top: true, right: true, bottom: false });
    expect(tiles.at(-1)).toMatchObject({ x: 0, y: 0, width: 1280, height: 720, pass: 'coarse' });
  });

  it('every face up to the overlap lies whole in some tile (1000 random placements)', () => {
    const rnd = lcg(42);
    for (const [w, h] of [
      [1280, 720],
      [1920, 1080],
    ] as const) {
      const grid = planTiles(w, h).filter((t) => t.pass === 'tile');
      for (let i = 0; i < 1000; i++) {
        const size = 24 + Math.floor((rnd.next().value as number) * (DEFAULT_TILING.overlap - 24));
        const face = {
          x: Math.floor((rnd.next().value as number) * (w - size)),
          y: Math.floor((rnd.next().value as number) * (h - size)),
          width: size,
          height: size,
        };
        expect(
          grid.some((t) => contains(t, face)),
          JSON.stringify(face),
        ).toBe(true);
      }
    }
  });
});

describe('motion regions', () => {
  it('an empty list means no motion: nothing to run', () => {
    expect(planTiles(1280, 720, [])).toEqual([]);
  });

  it('a small region becomes one square tile of at least minTileSize, centred and kept inside', () => {
    const [t, ...rest] = planTiles(1280, 720, [{ x: 600, y: 300, width: 40, height: 60 }]);
    expect(rest).toEqual([]);
    expect(t?.pass).toBe('tile');
    expect(t?.width).toBe(DEFAULT_TILING.minTileSize);
    expect(t?.height).toBe(DEFAULT_TILING.minTileSize);
    expect((t?.x ?? 0) + (t?.width ?? 0) / 2).toBeCloseTo(620, 0);
    const corner = planTiles(1280, 720, [{ x: 1270, y: 710, width: 10, height: 10 }]);
    expect(corner).toHaveLength(1);
    expect(contains({ x: 0, y: 0, width: 1280, height: 720 }, corner[0] as Tile)).toBe(true);
    expect(contains(corner[0] as Tile, { x: 1270, y: 710, width: 10, height: 10 })).toBe(true);
  });

  it('grows regions by their margin and merges those that touch, transitively', () => {
    const areas = searchAreas(
      [
        { x: 100, y: 100, width: 40, height: 40 },
        { x: 200, y: 100, width: 40, height: 40 }, // 60 px apart: margins (32 each) make them touch
        { x: 300, y: 100, width: 40, height: 40 }, // chained to the second
        { x: 900, y: 500, width: 40, height: 40 }, // far away
      ],
      1280,
      720,
    );
    expect(areas).toHaveLength(2);
    expect(areas[0]).toEqual({ x: 68, y: 68, width: 304, height: 104 });
    expect(areas[1]).toEqual({ x: 868, y: 468, width: 104, height: 104 });
  });

  it('ignores empty or non-finite regions', () => {
    expect(
      searchAreas(
        [
          { x: 10, y: 10, width: 0, height: 10 },
          { x: Number.NaN, y: 0, width: 5, height: 5 },
        ],
        100,
        100,
      ),
    ).toEqual([]);
  });

  it.each([
    // a long region: tiles overlap by 226 px → coarse pass for faces larger than that
    { region: { x: 50, y: 50, width: 900, height: 100 }, coarse: 1 },
    // a region a little larger than a tile: its two tiles overlap by 315 px → no coarse pass
    { region: { x: 100, y: 100, width: 700, height: 200 }, coarse: 0 },
  ])(
    'tiles a region larger than a tile ($region.width×$region.height), coarse: $coarse',
    ({ region, coarse }) => {
      const tiles = planTiles(1280, 720, [region]);
      const area = searchAreas([region], 1280, 720)[0] as Box;
      expect(tiles.filter((t) => t.pass === 'tile').length).toBeGreaterThanOrEqual(2);
      for (const t of tiles) expect(contains(area, t)).toBe(true);
      const coarsePasses = tiles.filter((t) => t.pass === 'coarse');
      expect(coarsePasses).toHaveLength(coarse);
      if (coarse > 0) expect(coarsePasses[0]).toMatchObject(area);
    },
  );

  it('falls back to the whole frame when motion covers most of it', () => {
    const tiles = planTiles(1280, 720, [{ x: 0, y: 0, width: 1100, height: 600 }]);
    expect(tiles).toEqual(planTiles(1280, 720));
  });

  it('tileArea of a thin strip keeps tiles inside the strip', () => {
    const strip = { x: 0, y: 300, width: 1280, height: 100 };
    for (const t of tileArea(strip, 1280, 720)) expect(contains(strip, t)).toBe(true);
  });
});

describe('planCanvases (the model opened to any input size)', () => {
  it.each([
    // A whole 720p frame is one run at half size, 640×360 → 640×384; 1080p one 960×544 run; a
    // 4K frame also gets a coarse run at 0.2 (its half-size side is over 1024 model px).
    { w: 1280, h: 720, runs: [{ pass: 'fine', inputWidth: 640, inputHeight: 384 }] },
    { w: 1920, h: 1080, runs: [{ pass: 'fine', inputWidth: 960, inputHeight: 544 }] },
    {
      w: 3840,
      h: 2160,
      runs: [
        { pass: 'fine', inputWidth: 1920, inputHeight: 1088 },
        { pass: 'coarse', inputWidth: 768, inputHeight: 448 },
      ],
    },
    // A small frame is scaled until its longer side fills 256 model px (at most 4/3).
    { w: 400, h: 300, runs: [{ pass: 'fine', inputWidth: 256, inputHeight: 192 }] },
    { w: 100, h: 60, runs: [{ pass: 'fine', inputWidth: 160, inputHeight: 96 }] },
  ])('$w×$h', ({ w, h, runs }) => {
    const got = planCanvases(w, h);
    expect(got.map(({ pass, inputWidth, inputHeight }) => ({ pass, inputWidth, inputHeight }))).toEqual(runs);
    for (const c of got) {
      expect(c).toMatchObject({ x: 0, y: 0, width: w, height: h });
      expect(c.inputWidth % 32).toBe(0);
      expect(c.inputHeight % 32).toBe(0);
    }
  });

  it('searches the same areas as the tiles: merged motion areas, none without motion', () => {
    const regions = [
      { x: 100, y: 100, width: 60, height: 150 },
      { x: 900, y: 300, width: 200, height: 120 },
    ];
    const canvases = planCanvases(1280, 720, regions);
    expect(canvases.map(({ x, y, width, height }) => ({ x, y, width, height }))).toEqual(
      searchAreas(regions, 1280, 720),
    );
    expect(planCanvases(1280, 720, [])).toEqual([]);
    // Regions over most of the frame: the whole frame, once.
    expect(planCanvases(1280, 720, [{ x: 0, y: 0, width: 1200, height: 600 }])).toHaveLength(1);
  });

  it('holds every area at no less than the fine scale (a 24 px face is ≥ 12 model px)', () => {
    const rnd = lcg(7);
    for (let i = 0; i < 200; i++) {
      const w = 32 + Math.floor((rnd.next().value as number) * 1248);
      const h = 32 + Math.floor((rnd.next().value as number) * 688);
      const [fine] = planCanvases(1280, 720, [{ x: 0, y: 0, width: w, height: h }]);
      if (fine === undefined) throw new Error('no run');
      const scale = Math.min(fine.inputWidth / fine.width, fine.inputHeight / fine.height);
      expect(scale).toBeGreaterThanOrEqual(DEFAULT_CANVAS.scale);
    }
  });
});
