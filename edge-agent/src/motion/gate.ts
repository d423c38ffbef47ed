/**
 * The motion gate: a cheap frame difference on a small grey grid so still scenes skip the
 * detectors, and motion regions tell the detectors where to look.
 *
 * Per frame (about 1 ms at 720p):
 * - area-average downscale to a grid (160 cells wide by default, 8×8 px cells at 720p);
 * - global gain: the median ratio frame/background over cells that were still in the previous
 *   frame, so auto-exposure and lights dimming do not look like motion (the background takes the
 *   gain at once);
 * - threshold |frame − gain·background|, raised above the frame's own noise (a robust estimate
 *   from the quietest quarter of the cells) so a noisy night picture stays still; masked cells
 *   never count;
 * - dilate, find connected regions, return their boxes in frame pixels (padded, merged, small
 *   ones dropped).
 * The background is an exponential moving average of the still cells; changed cells do not learn
 * until they have stayed changed for ~10 s (a parked vehicle), so a passing one leaves no ghost. When most of the picture
 * changes in a way the gain does not explain (a scene cut, lights on in a dark scene, the camera
 * moved) — at once, or for several frames running — the background is re-seeded from the frame and
 * learns fast for a few frames, instead of reporting motion everywhere for a long time.
 */
import type { Box, RgbImage } from '../detect/types.ts';
import { EdgeError } from '../errors.ts';
import { downscaleGrey, planDownscale } from './grey.ts';
import type { DownscalePlan } from './grey.ts';
import { rasteriseMasks, validateMasks } from './mask.ts';
import type { NormPolygon } from './mask.ts';

/** Options of {@link createMotionGate}; every field has a default. */
export interface MotionGateOptions {
  /** Width of the working grid in cells; its height keeps the frame's aspect. Default 160. */
  gridWidth?: number;
  /** Ignored areas, normalised polygons (AnalysisSettings.masks). Default none. */
  masks?: readonly NormPolygon[];
  /** A cell is changed when it differs from the background by more than this, grey levels 0..255. Default 16. */
  threshold?: number;
  /**
   * The threshold rises to this many standard deviations of the frame's difference noise
   * (estimated from the quietest quarter of the cells), up to 3 × `threshold`, so a noisy night
   * picture does not read as motion everywhere. 0 disables. Default 4.
   */
  noiseFactor?: number;
  /** Background learning rate per frame for still cells, 0..1. Default 0.1 (≈ 5 s at 2 fps). */
  learningRate?: number;
  /**
   * Changed cells do not learn (so a passing vehicle leaves no ghost) until they have stayed the
   * same from frame to frame for this many frames running; then they learn fast, so a parked
   * vehicle joins the background. Default 20 (10 s at 2 fps).
   */
  absorbAfterFrames?: number;
  /** More than this fraction of unmasked cells changed at once re-seeds the background. Default 0.85. */
  resetFraction?: number;
  /** More than this fraction changed for `resetAfterFrames` frames running re-seeds it too. Default 0.5. */
  sustainedResetFraction?: number;
  /** See `sustainedResetFraction`. Default 3. */
  resetAfterFrames?: number;
  /**
   * After a re-seed or an exposure step (gain beyond 1 ± 4%), changed cells that hold still from
   * one frame to the next (revealed background, clipped highlights) learn at 0.5 per frame for
   * this many frames. Default 5.
   */
  warmupFrames?: number;
  /** A region needs at least this many changed cells. Default 3. */
  minRegionCells?: number;
  /** Dilation radius in cells, joining the fragments of one object. Default 1. */
  dilateCells?: number;
  /** Added around each region, frame px. Default 16. */
  paddingPx?: number;
  /** Regions closer than this (after padding) are merged, frame px. Default 8. */
  mergeGapPx?: number;
}

/** What the gate says about one frame. */
export interface MotionResult {
  /** Whether to run the detectors: a region survived, or the background was re-seeded. */
  moving: boolean;
  /**
   * Where to look, frame pixels, clipped to the frame, disjoint after merging. On a re-seed:
   * the whole frame.
   */
  regions: Box[];
  /** Share of unmasked grid cells that changed, 0..1 (on a re-seed: the share that triggered it). */
  changedFraction: number;
  /**
   * Which grid cells changed in this frame (before dilation), when any did and the background was
   * not re-seeded. Lets a consumer ask how much moved under a given box: {@link changedShare}.
   */
  changed?: ChangeGrid;
  /**
   * The background was (re)initialised from this frame: the first frame, a new frame size, or a
   * change of most of the picture. Nothing is known about motion, so `moving` is true and the
   * region is the whole frame: the detectors look once.
   */
  reset: boolean;
}

/** The gate's change map of one frame. */
export interface ChangeGrid {
  cols: number;
  rows: number;
  /** Size of one cell in frame pixels. */
  cellWidth: number;
  cellHeight: number;
  /** cols × rows, row-major: 1 = changed. A copy, owned by the result. */
  cells: Uint8Array;
}

/** Share (0..1) of the grid cells under `box` (frame pixels) that changed. */
export function changedShare(grid: ChangeGrid, box: Box): number {
  const x0 = Math.max(0, Math.floor(box.x / grid.cellWidth));
  const y0 = Math.max(0, Math.floor(box.y / grid.cellHeight));
  const x1 = Math.min(grid.cols - 1, Math.floor((box.x + box.width) / grid.cellWidth));
  const y1 = Math.min(grid.rows - 1, Math.floor((box.y + box.height) / grid.cellHeight));
  let changed = 0;
  let all = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      all++;
      if (grid.cells[y * grid.cols + x] === 1) changed++;
    }
  }
  return all === 0 ? 0 : changed / all;
}

/** A per-camera motion gate. Not shared between cameras. */
export interface MotionGate {
  /** Compare `frame` with the background and learn from it. Throws EDGE_ERR_MOTION_INPUT on a malformed frame. */
  update(frame: RgbImage): MotionResult;
  /** Forget the background (the next frame re-seeds it), e.g. after the camera's source changed. */
  reset(): void;
}

interface Resolved {
  gridWidth: number;
  masks: readonly NormPolygon[];
  threshold: number;
  noiseFactor: number;
  learningRate: number;
  absorbAfterFrames: number;
  resetFraction: number;
  sustainedResetFraction: number;
  resetAfterFrames: number;
  warmupFrames: number;
  minRegionCells: number;
  dilateCells: number;
  paddingPx: number;
  mergeGapPx: number;
}

function resolve(opts: MotionGateOptions): Resolved {
  const r: Resolved = {
    gridWidth: opts.gridWidth ?? 160,
    masks: opts.masks ?? [],
    threshold: opts.threshold ?? 16,
    noiseFactor: opts.noiseFactor ?? 4,
    learningRate: opts.learningRate ?? 0.1,
    absorbAfterFrames: opts.absorbAfterFrames ?? 20,
    resetFraction: opts.resetFraction ?? 0.85,
    sustainedResetFraction: opts.sustainedResetFraction ?? 0.5,
    resetAfterFrames: opts.resetAfterFrames ?? 3,
    warmupFrames: opts.warmupFrames ?? 5,
    minRegionCells: opts.minRegionCells ?? 3,
    dilateCells: opts.dilateCells ?? 1,
    paddingPx: opts.paddingPx ?? 16,
    mergeGapPx: opts.mergeGapPx ?? 8,
  };
  const check = (name: string, v: number, min: number, max: number, integer = false): void => {
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw new EdgeError(
        'EDGE_ERR_MOTION_OPTIONS',
        `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`,
      );
    }
  };
  check('gridWidth', r.gridWidth, 8, 1024, true);
  check('threshold', r.threshold, 1, 255);
  check('noiseFactor', r.noiseFactor, 0, 100);
  check('learningRate', r.learningRate, 0, 1);
  check('absorbAfterFrames', r.absorbAfterFrames, 1, 65_535, true);
  check('resetFraction', r.resetFraction, 0.05, 1);
  check('sustainedResetFraction', r.sustainedResetFraction, 0.05, 1);
  check('resetAfterFrames', r.resetAfterFrames, 1, 1000, true);
  check('warmupFrames', r.warmupFrames, 0, 1000, true);
  check('minRegionCells', r.minRegionCells, 1, 1_000_000, true);
  check('dilateCells', r.dilateCells, 0, 8, true);
  check('paddingPx', r.paddingPx, 0, 10_000);
  check('mergeGapPx', r.mergeGapPx, 0, 10_000);
  validateMasks(r.masks);
  return r;
}

/** Per-frame-size state: plan, mask, background and scratch arrays. */
interface SizeState {
  plan: DownscalePlan;
  mask: Uint8Array;
  unmaskedCells: number;
  background: Float32Array;
  grey: Float32Array;
  /** Signed difference frame − gain·background per cell. */
  diff: Float32Array;
  changed: Uint8Array;
  /** The previous frame's grid. */
  prevGrey: Float32Array;
  /** Consecutive frames each cell has stayed the same from frame to frame. */
  staticRun: Uint16Array;
  /** Dilated `changed`; from the previous frame, it excludes moving cells from the gain estimate. */
  dilated: Uint8Array;
  scratch: Uint8Array;
  labels: Int32Array;
  stack: Int32Array;
  /** Frames left with fast learning after a re-seed. */
  warmup: number;
  /** Consecutive frames above `sustainedResetFraction`. */
  overFrames: number;
}

const GAIN_BINS = 400;
const GAIN_BIN_WIDTH = 0.01;
/** Cells darker than this in the background say little about gain (ratios of noise). */
const GAIN_MIN_LEVEL = 12;
/** Cells this bright may be clipped by the sensor. */
const GAIN_MAX_LEVEL = 245;
/** |difference| histogram: quarter grey levels, so the noise of a clean picture (< 1 level) resolves. */
const NOISE_BINS = 1024;
const NOISE_BIN_WIDTH = 0.25;
/** The quietest quarter: the 25th percentile of |N(0, σ)| is 0.3186 σ. */
const NOISE_QUANTILE = 0.25;
const NOISE_QUANTILE_Z = 0.3186;
const WARMUP_RATE = 0.5;
/**
 * During warm-up a changed cell must have held still for this many frames to be learnt: a
 * moving object's texture rarely repeats three frames running, revealed background does.
 */
const WARMUP_MIN_RUN = 2;
/** A frame-to-frame gain beyond 1 ± this is an exposure step. */
const EXPOSURE_STEP = 0.04;

/** Create a motion gate for one camera. Throws EDGE_ERR_MOTION_OPTIONS on invalid options. */
export function createMotionGate(opts: MotionGateOptions = {}): MotionGate {
  const o = resolve(opts);
  let state: SizeState | undefined;
  const gainHist = new Int32Array(GAIN_BINS);
  const noiseHist = new Int32Array(NOISE_BINS);

  const makeState = (width: number, height: number): SizeState => {
    const plan = planDownscale(width, height, o.gridWidth);
    const n = plan.outWidth * plan.outHeight;
    const mask = rasteriseMasks(o.masks, plan.outWidth, plan.outHeight);
    let unmasked = 0;
    for (let i = 0; i < n; i++) if (mask[i] === 0) unmasked++;
    return {
      plan,
      mask,
      unmaskedCells: unmasked,
      background: new Float32Array(n),
      grey: new Float32Array(n),
      diff: new Float32Array(n),
      changed: new Uint8Array(n),
      prevGrey: new Float32Array(n),
      staticRun: new Uint16Array(n),
      dilated: new Uint8Array(n),
      scratch: new Uint8Array(n),
      labels: new Int32Array(n),
      stack: new Int32Array(n),
      warmup: 0,
      overFrames: 0,
    };
  };

  /**
   * Median of grey/background over unmasked, lit cells that were still in the previous frame
   * (all lit cells if too few were); 1 when too few cells are lit.
   */
  const estimateGain = (s: SizeState): number => {
    const { grey, background, mask, dilated } = s;
    for (const skipMoving of [true, false]) {
      gainHist.fill(0);
      let counted = 0;
      for (let i = 0; i < grey.length; i++) {
        const b = background[i] ?? 0;
        const g = grey[i] ?? 0;
        // Clipped cells (saturated or black) do not follow the gain.
        if (mask[i] !== 0 || b < GAIN_MIN_LEVEL || b > GAIN_MAX_LEVEL || g > GAIN_MAX_LEVEL) continue;
        if (skipMoving && dilated[i] !== 0) continue;
        const bin = Math.min(GAIN_BINS - 1, Math.round(g / b / GAIN_BIN_WIDTH));
        gainHist[bin] = (gainHist[bin] ?? 0) + 1;
        counted++;
      }
      if (counted === 0 || counted < s.unmaskedCells * 0.1) continue;
      const gain = quantileBin(gainHist, counted, 0.5) * GAIN_BIN_WIDTH;
      // Within one bin of 1 is no change: rescaling by it every frame would only add jitter.
      return Math.abs(gain - 1) <= GAIN_BIN_WIDTH ? 1 : gain;
    }
    return 1;
  };

  const reseed = (s: SizeState, changedFraction: number): MotionResult => {
    s.background.set(s.grey);
    s.dilated.fill(0);
    s.prevGrey.set(s.grey);
    s.staticRun.fill(0);
    s.warmup = o.warmupFrames;
    s.overFrames = 0;
    return {
      moving: true,
      regions: [{ x: 0, y: 0, width: s.plan.inWidth, height: s.plan.inHeight }],
      changedFraction,
      reset: true,
    };
  };

  return {
    reset(): void {
      state = undefined;
    },

    update(frame: RgbImage): MotionResult {
      const { width, height, data } = frame;
      if (!Number.isInteger(width) || !Number.isInteger(height) || width < 8 || height < 8) {
        throw new EdgeError('EDGE_ERR_MOTION_INPUT', `frame size ${width}x${height} (needs ≥ 8x8 integers)`);
      }
      if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
        throw new EdgeError(
          'EDGE_ERR_MOTION_INPUT',
          `${data.length} bytes for a ${width}x${height} rgb24 frame (expected ${width * height * 3})`,
        );
      }
      let s = state;
      if (s === undefined || s.plan.inWidth !== width || s.plan.inHeight !== height) {
        s = makeState(width, height);
        state = s;
        downscaleGrey(s.plan, data, s.grey);
        return reseed(s, 0);
      }
      downscaleGrey(s.plan, data, s.grey);

      const gain = estimateGain(s);
      const { grey, background, mask, changed, prevGrey, staticRun, diff } = s;
      const n = grey.length;
      noiseHist.fill(0);
      let overBase = 0;
      for (let i = 0; i < n; i++) {
        // The sensor clips: a background pushed past white by the gain is expected to read white.
        const bg = Math.min(255, (background[i] ?? 0) * gain);
        background[i] = bg;
        const e = (grey[i] ?? 0) - bg;
        diff[i] = e;
        if (mask[i] === 0) {
          const a = Math.abs(e);
          const bin = Math.min(NOISE_BINS - 1, Math.floor(a / NOISE_BIN_WIDTH));
          noiseHist[bin] = (noiseHist[bin] ?? 0) + 1;
          if (a > o.threshold) overBase++;
        }
      }
      // Most of the picture changed beyond what the gain explains: a new scene, not motion.
      const overFraction = s.unmaskedCells > 0 ? overBase / s.unmaskedCells : 0;
      s.overFrames = overFraction > o.sustainedResetFraction ? s.overFrames + 1 : 0;
      if (overFraction > o.resetFraction || s.overFrames >= o.resetAfterFrames)
        return reseed(s, overFraction);

      const noiseSigma =
        s.unmaskedCells > 0
          ? ((quantileBin(noiseHist, s.unmaskedCells, NOISE_QUANTILE) + 0.5) * NOISE_BIN_WIDTH) /
            NOISE_QUANTILE_Z
          : 0;
      const t = Math.min(3 * o.threshold, Math.max(o.threshold, o.noiseFactor * noiseSigma));
      // An exposure step leaves what a single gain does not explain (clipped highlights, a
      // camera's tone curve): learn fast for a few frames so it fades in seconds, not minutes.
      if (Math.abs(gain - 1) > EXPOSURE_STEP) s.warmup = Math.max(s.warmup, o.warmupFrames);
      const warm = s.warmup > 0;
      if (warm) s.warmup--;
      let count = 0;
      for (let i = 0; i < n; i++) {
        const e = diff[i] ?? 0;
        const moved = mask[i] === 0 && Math.abs(e) > t;
        changed[i] = moved ? 1 : 0;
        const g = grey[i] ?? 0;
        const same = Math.abs(g - (prevGrey[i] ?? 0) * gain) <= t;
        const run = same ? Math.min(65_535, (staticRun[i] ?? 0) + 1) : 0;
        staticRun[i] = run;
        prevGrey[i] = g;
        if (moved) count++;
        // A changed cell that holds still is not a passing object: something was revealed or
        // parked (learn it fast: at once after a re-seed or exposure step, after a while otherwise).
        let a = o.learningRate;
        if (moved) a = run >= (warm ? WARMUP_MIN_RUN : o.absorbAfterFrames) ? WARMUP_RATE : 0;
        background[i] = (background[i] ?? 0) + a * e;
      }
      const changedFraction = s.unmaskedCells > 0 ? count / s.unmaskedCells : 0;
      dilate(s, o.dilateCells);
      if (count < o.minRegionCells) return { moving: false, regions: [], changedFraction, reset: false };
      const regions = findRegions(s, o);
      const grid: ChangeGrid = {
        cols: s.plan.outWidth,
        rows: s.plan.outHeight,
        cellWidth: s.plan.inWidth / s.plan.outWidth,
        cellHeight: s.plan.inHeight / s.plan.outHeight,
        cells: changed.slice(),
      };
      return { moving: regions.length > 0, regions, changedFraction, reset: false, changed: grid };
    },
  };
}

/** Index of the bin holding the `q` quantile of a histogram of `total` samples. */
function quantileBin(hist: Int32Array, total: number, q: number): number {
  let acc = 0;
  const target = total * q;
  for (let bin = 0; bin < hist.length; bin++) {
    acc += hist[bin] ?? 0;
    if (acc >= target && acc > 0) return bin;
  }
  return hist.length - 1;
}

/** Dilate `changed` into `dilated` by `r` cells (separable max: rows into scratch, then columns). */
function dilate(s: SizeState, r: number): void {
  const { changed, dilated, scratch } = s;
  const w = s.plan.outWidth;
  const h = s.plan.outHeight;
  if (r === 0) {
    dilated.set(changed);
    return;
  }
  scratch.fill(0);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (changed[row + x] === 0) continue;
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(w - 1, x + r);
      for (let k = x0; k <= x1; k++) scratch[row + k] = 1;
    }
  }
  dilated.fill(0);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (scratch[y * w + x] === 0) continue;
      const y0 = Math.max(0, y - r);
      const y1 = Math.min(h - 1, y + r);
      for (let k = y0; k <= y1; k++) dilated[k * w + x] = 1;
    }
  }
}

/** Connected regions of the (already) dilated change map → padded, merged boxes in frame pixels. */
function findRegions(s: SizeState, o: Resolved): Box[] {
  const { dilated, changed, labels, stack } = s;
  const w = s.plan.outWidth;
  const h = s.plan.outHeight;
  const sx = s.plan.inWidth / w;
  const sy = s.plan.inHeight / h;
  labels.fill(0);
  const boxes: Box[] = [];
  let label = 0;
  for (let start = 0; start < dilated.length; start++) {
    if (dilated[start] === 0 || labels[start] !== 0) continue;
    label++;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    // Bounds of the changed cells (not the dilation) keep the box tight to the object.
    let x0 = w;
    let y0 = h;
    let x1 = -1;
    let y1 = -1;
    let cells = 0;
    while (top > 0) {
      const i = stack[--top] ?? 0;
      const x = i % w;
      const y = (i - x) / w;
      if (changed[i] === 1) {
        cells++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= w) continue;
          const j = ny * w + nx;
          if (dilated[j] === 1 && labels[j] === 0) {
            labels[j] = label;
            stack[top++] = j;
          }
        }
      }
    }
    if (cells < o.minRegionCells) continue;
    boxes.push(
      clipBox(
        {
          x: x0 * sx - o.paddingPx,
          y: y0 * sy - o.paddingPx,
          width: (x1 - x0 + 1) * sx + 2 * o.paddingPx,
          height: (y1 - y0 + 1) * sy + 2 * o.paddingPx,
        },
        s.plan.inWidth,
        s.plan.inHeight,
      ),
    );
  }
  return mergeBoxes(boxes, o.mergeGapPx);
}

/** Round outward to whole pixels and clip to the frame. */
function clipBox(b: Box, width: number, height: number): Box {
  const x0 = Math.max(0, Math.floor(b.x));
  const y0 = Math.max(0, Math.floor(b.y));
  const x1 = Math.min(width, Math.ceil(b.x + b.width));
  const y1 = Math.min(height, Math.ceil(b.y + b.height));
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}

/** Merge boxes that overlap or lie within `gap` px of each other, until none do. */
export function mergeBoxes(input: readonly Box[], gap: number): Box[] {
  const boxes = input.map((b) => ({ ...b }));
  let merged = true;
  while (merged) {
    merged = false;
    outer: for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        if (a === undefined || b === undefined) continue;
        const apart =
          a.x > b.x + b.width + gap ||
          b.x > a.x + a.width + gap ||
          a.y > b.y + b.height + gap ||
          b.y > a.y + a.height + gap;
        if (apart) continue;
        const x0 = Math.min(a.x, b.x);
        const y0 = Math.min(a.y, b.y);
        const x1 = Math.max(a.x + a.width, b.x + b.width);
        const y1 = Math.max(a.y + a.height, b.y + b.height);
        boxes[i] = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
        boxes.splice(j, 1);
        merged = true;
        break outer;
      }
    }
  }
  return boxes;
}
