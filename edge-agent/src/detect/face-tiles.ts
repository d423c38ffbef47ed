/**
 * Where the face detector looks: square tiles over the whole frame or over motion regions.
 * Pure geometry, table-tested (test/edge/detect-face-tiles.test.ts).
 *
 * BlazeFace sees a 256² square. A whole 720p frame letterboxed into it shrinks a 30 px face
 * to 6 px, below what the model finds, so the frame is cut into overlapping square tiles
 * (`tileSize`, 512 by default: 2× downscale, so a 24 px face is 12 px in the model). Tiles
 * overlap by `overlap` px, so any face up to that size lies whole in some tile; faces larger
 * than the overlap are found by one extra "coarse" pass over the whole area, where they are
 * big enough. Motion regions are expanded (a moving shoulder is near a still head), merged
 * when they touch, and tiled the same way; a small region becomes one tile of at least
 * `minTileSize` (context for the model, bounded upscale).
 */
import type { Box } from './types.ts';

/** Tiling parameters. */
export interface TilingOptions {
  /** Side of a square tile in image pixels. */
  tileSize: number;
  /** Overlap of neighbouring tiles, px (the largest face a tile must hold whole). */
  overlap: number;
  /** Smallest tile for a small region, px. */
  minTileSize: number;
  /** Add a pass over each area larger than one tile, for faces larger than `overlap`… */
  coarsePass: boolean;
  /**
   * …when the tiles of that area overlap by less than this (px): an area a little larger
   * than one tile is covered by tiles that overlap a lot and needs no coarse pass.
   */
  coarseBelowOverlap: number;
  /** Grow each motion region by this fraction of its larger side on every side… */
  regionMarginFraction: number;
  /** …and by at least this many px. */
  regionMarginPx: number;
  /** When merged regions cover more than this share of the frame, tile the whole frame. */
  wholeFrameShare: number;
}

/** Defaults measured on the bench scenes (see models/README.md). */
export const DEFAULT_TILING: TilingOptions = {
  tileSize: 512,
  overlap: 128,
  minTileSize: 192,
  coarsePass: true,
  coarseBelowOverlap: 240,
  regionMarginFraction: 0.15,
  regionMarginPx: 32,
  wholeFrameShare: 0.6,
};

/** One square (or, at a small frame's edge, clipped) area to letterbox into the model. */
export interface Tile extends Box {
  /** `tile` = part of a grid; `coarse` = a whole area shrunk (finds large faces). */
  pass: 'tile' | 'coarse';
  /**
   * Edges of this tile that are inside the searched area (another tile continues there).
   * A face cut by such an edge is found whole in the neighbouring tile or the coarse pass.
   */
  innerEdges: { left: boolean; top: boolean; right: boolean; bottom: boolean };
}

/** Start positions of `n` windows of `size` evenly covering `[0, length)`. */
function positions(length: number, size: number, overlap: number): number[] {
  if (length <= size) return [0];
  const n = Math.ceil((length - overlap) / (size - overlap));
  const step = (length - size) / (n - 1);
  return Array.from({ length: n }, (_, i) => Math.round(i * step));
}

/** Smallest overlap between neighbouring windows (Infinity for a single window). */
function minOverlap(starts: readonly number[], size: number): number {
  let min = Infinity;
  for (let i = 1; i < starts.length; i++)
    min = Math.min(min, size - ((starts[i] ?? 0) - (starts[i - 1] ?? 0)));
  return min;
}

/** Tiles covering `area` (inside a `width`×`height` image). */
export function tileArea(
  area: Box,
  width: number,
  height: number,
  opts: TilingOptions = DEFAULT_TILING,
): Tile[] {
  const tiles: Tile[] = [];
  const big = area.width > opts.tileSize || area.height > opts.tileSize;
  if (!big) {
    // One tile, square where the image allows, at least minTileSize, centred on the area.
    const side = Math.max(area.width, area.height, opts.minTileSize);
    const w = Math.min(side, width);
    const h = Math.min(side, height);
    const x = Math.round(Math.min(Math.max(0, area.x + area.width / 2 - w / 2), width - w));
    const y = Math.round(Math.min(Math.max(0, area.y + area.height / 2 - h / 2), height - h));
    tiles.push({
      x,
      y,
      width: w,
      height: h,
      pass: 'tile',
      innerEdges: { left: false, top: false, right: false, bottom: false },
    });
    return tiles;
  }
  const tw = Math.min(opts.tileSize, area.width);
  const th = Math.min(opts.tileSize, area.height);
  const xs = positions(area.width, tw, opts.overlap);
  const ys = positions(area.height, th, opts.overlap);
  for (const [j, py] of ys.entries()) {
    for (const [i, px] of xs.entries()) {
      tiles.push({
        x: area.x + px,
        y: area.y + py,
        width: tw,
        height: th,
        pass: 'tile',
        innerEdges: { left: i > 0, top: j > 0, right: i < xs.length - 1, bottom: j < ys.length - 1 },
      });
    }
  }
  if (opts.coarsePass && Math.min(minOverlap(xs, tw), minOverlap(ys, th)) < opts.coarseBelowOverlap) {
    tiles.push({
      ...area,
      pass: 'coarse',
      innerEdges: { left: false, top: false, right: false, bottom: false },
    });
  }
  return tiles;
}

function overlapsOrTouches(a: Box, b: Box): boolean {
  return a.x <= b.x + b.width && b.x <= a.x + a.width && a.y <= b.y + b.height && b.y <= a.y + a.height;
}

function union(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(a.x + a.width, b.x + b.width) - x,
    height: Math.max(a.y + a.height, b.y + b.height) - y,
  };
}

/**
 * Motion regions → search areas: each grown by its margin and clipped to the image; areas that
 * overlap or touch merge (repeatedly, since a merge can reach a third). Whole pixels.
 */
export function searchAreas(
  regions: readonly Box[],
  width: number,
  height: number,
  opts: TilingOptions = DEFAULT_TILING,
): Box[] {
  let areas: Box[] = [];
  for (const r of regions) {
    if (!(r.width > 0 && r.height > 0) || !Number.isFinite(r.x + r.y + r.width + r.height)) continue;
    const m = Math.max(opts.regionMarginPx, opts.regionMarginFraction * Math.max(r.width, r.height));
    const x0 = Math.max(0, Math.floor(r.x - m));
    const y0 = Math.max(0, Math.floor(r.y - m));
    const x1 = Math.min(width, Math.ceil(r.x + r.width + m));
    const y1 = Math.min(height, Math.ceil(r.y + r.height + m));
    if (x1 > x0 && y1 > y0) areas.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  }
  for (let merged = true; merged;) {
    merged = false;
    const next: Box[] = [];
    for (const a of areas) {
      const i = next.findIndex((b) => overlapsOrTouches(a, b));
      const hit = i >= 0 ? next[i] : undefined;
      if (hit === undefined) {
        next.push(a);
      } else {
        next[i] = union(hit, a);
        merged = true;
      }
    }
    areas = next;
  }
  return areas;
}

/**
 * Where to search: the whole frame when `regions` is omitted or covers most of it (more than
 * `wholeFrameShare`); the merged motion areas otherwise; nothing for an empty list (no motion).
 */
export function searchPlan(
  width: number,
  height: number,
  regions: readonly Box[] | undefined,
  opts: TilingOptions,
  wholeFrameShare: number,
): Box[] {
  const whole: Box = { x: 0, y: 0, width, height };
  if (regions === undefined) return [whole];
  const areas = searchAreas(regions, width, height, opts);
  const covered = areas.reduce((s, a) => s + a.width * a.height, 0);
  return covered > wholeFrameShare * width * height ? [whole] : areas;
}

/**
 * Everything to run for one frame with the 256² model: tiles over each area of
 * {@link searchPlan}.
 */
export function planTiles(
  width: number,
  height: number,
  regions?: readonly Box[],
  opts: TilingOptions = DEFAULT_TILING,
): Tile[] {
  return searchPlan(width, height, regions, opts, opts.wholeFrameShare).flatMap((a) =>
    tileArea(a, width, height, opts),
  );
}

/** Sizing of the runs of the model opened to any input size (face-graph.ts). */
export interface CanvasOptions {
  /**
   * Model pixels per image pixel of a large area (0.5: a 24 px face is 12 px to the model, as in
   * a 512 px tile)…
   */
  scale: number;
  /**
   * …while a smaller area is scaled until its longer side is this many model px (what one 256²
   * tile did for it)…
   */
  fitSide: number;
  /** …but by at most this (a tiny area is not blown up). */
  maxScale: number;
  /**
   * Also search an area at this coarser scale, for faces too large for the fine run (at half
   * size the model still found a 376 px face, 188 px to it: a 720p or 1080p frame needs none)…
   */
  coarseScale: number;
  /** …when the area at its fine scale is longer than this many model px (a 4K frame). */
  coarseAboveSide: number;
  /**
   * Search the whole frame once when the motion areas cover more than this share of it. A run
   * costs about its input area, so only near-whole coverage is cheaper as one run; tiles (whose
   * count grows in steps) use {@link TilingOptions.wholeFrameShare} instead.
   */
  wholeFrameShare: number;
}

/** Defaults measured on the bench scenes (see models/README.md). */
export const DEFAULT_CANVAS: CanvasOptions = {
  scale: 0.5,
  fitSide: 256,
  maxScale: 256 / 192,
  coarseScale: 0.2,
  coarseAboveSide: 1024,
  wholeFrameShare: 0.9,
};

/** One run of the opened model: an image area and the input size it is letterboxed into. */
export interface Canvas extends Box {
  pass: 'fine' | 'coarse';
  /** Model input size, multiples of 32. */
  inputWidth: number;
  inputHeight: number;
}

/** Side of the model input holding `side` image px at `scale`: a multiple of 32, at least 64. */
function inputSide(side: number, scale: number): number {
  return Math.max(64, Math.ceil((side * scale) / 32) * 32);
}

/** The runs for one frame with the opened model: each area of {@link searchPlan}, whole. */
export function planCanvases(
  width: number,
  height: number,
  regions?: readonly Box[],
  tiling: TilingOptions = DEFAULT_TILING,
  canvas: CanvasOptions = DEFAULT_CANVAS,
): Canvas[] {
  return searchPlan(width, height, regions, tiling, canvas.wholeFrameShare).flatMap((a): Canvas[] => {
    const longer = Math.max(a.width, a.height);
    const scale = Math.max(canvas.scale, Math.min(canvas.maxScale, canvas.fitSide / longer));
    const run = (pass: Canvas['pass'], s: number): Canvas => ({
      ...a,
      pass,
      inputWidth: inputSide(a.width, s),
      inputHeight: inputSide(a.height, s),
    });
    const fine = run('fine', scale);
    return longer * scale <= canvas.coarseAboveSide ? [fine] : [fine, run('coarse', canvas.coarseScale)];
  });
}
