/**
 * Face detection with MediaPipe BlazeFace (back camera, 256×256) at half size, so faces down to
 * ~24 px are found in a 720p frame.
 *
 * Per frame, by default (`search: 'canvas'`): the model, opened in memory to any input size
 * (face-graph.ts), runs once on each search area (face-tiles.ts: the whole frame, or the merged
 * motion areas) letterboxed at half size into the next multiple of 32 — a 720p frame is one
 * 640×384 run; an area over 2048 px also gets a coarse run for faces too big at half size →
 * decode the anchors above the score threshold (face-decode.ts) → map to image pixels → weighted
 * NMS.
 *
 * `search: 'tiles'` (and the fallback for a model that cannot be opened) plans overlapping 256²
 * tiles instead → letterbox each into 256² → run the model on each (its batch dimension is fixed
 * at 1) → decode → drop faces cut by a tile edge that another tile covers → weighted NMS. On the
 * bench scenes it costs ~1.8× the canvas search (models/README.md).
 *
 * Guardrail: this finds where faces are. It does not identify, match or describe anyone, and
 * its output (box, score, six keypoints) must not be used to.
 */
import { EdgeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import {
  BLAZEFACE_INPUT_SIZE,
  decodeBlazeface,
  decodeBlazefacePx,
  weightedNms,
  type BlazefaceOutputs,
  type RawFace,
  type ScoredFace,
} from './face-decode.ts';
import { openBlazefaceInput } from './face-graph.ts';
import {
  DEFAULT_CANVAS,
  DEFAULT_TILING,
  planCanvases,
  planTiles,
  type CanvasOptions,
  type Tile,
  type TilingOptions,
} from './face-tiles.ts';
import {
  assertRgbImage,
  boxFromLetterbox,
  fromLetterbox,
  letterboxTensor,
  type Normalisation,
} from './image.ts';
import { resolveModel, type ResolveModelOptions } from './models.ts';
import { createSession, output, type OnnxSession, type SessionOptions } from './onnx.ts';
import type { Box, Detector, FaceDetection, RgbImage } from './types.ts';

/** Manifest id of the model. */
export const FACE_MODEL_ID = 'blazeface-back-256';

/**
 * Default minimum score. ENVIRONMENT.md suggests ≈ 0.75; on the bench scenes 0.75 misses the
 * 30 px profile face (whole-frame recall of faces ≥ 24 px 0.86) where 0.6 finds it (0.98), with
 * no false positive in either case. On 18 public-domain photos without people, everything but
 * the known cat scored ≤ 0.68 (a coffee cup 0.68, a logo 0.66, a cell 0.65; next 0.55): a site
 * with much clutter may raise it; motion gating and tracking already filter still objects.
 */
export const DEFAULT_FACE_SCORE_THRESHOLD = 0.6;
/** Weighted-NMS IoU (ENVIRONMENT.md). */
export const DEFAULT_FACE_IOU_THRESHOLD = 0.3;

/** Options of {@link createFaceDetector}. */
export interface FaceDetectorOptions {
  /** Minimum score (after sigmoid) of a face. Default {@link DEFAULT_FACE_SCORE_THRESHOLD}. */
  scoreThreshold?: number;
  /** IoU above which candidates merge in weighted NMS. Default 0.3. */
  iouThreshold?: number;
  /**
   * `canvas` (default): one run per search area with the model opened to any input size;
   * `tiles`: overlapping 256² tiles (also used when the model cannot be opened).
   */
  search?: 'canvas' | 'tiles';
  /** Canvas sizing (see face-tiles.ts); missing fields take {@link DEFAULT_CANVAS}. */
  canvas?: Partial<CanvasOptions>;
  /** Search areas and tiling (see face-tiles.ts); missing fields take {@link DEFAULT_TILING}. */
  tiling?: Partial<TilingOptions>;
  /**
   * A face whose box comes within this many px of a tile edge that another tile covers is
   * dropped from that tile (it is cut there; the neighbour or the coarse pass sees it whole).
   * Default 2.
   */
  innerEdgeMarginPx?: number;
  /**
   * Faces smaller than this (box width, image px) are dropped. Default 18: the model finds faces
   * from ~22 px; smaller boxes were nearly all false (rotation corners, JPEG blocks) in the eval.
   */
  minFaceSizePx?: number;
  /** onnxruntime session options (threads). */
  session?: SessionOptions;
  /** Where the model comes from (manifest, overrides). */
  models?: ResolveModelOptions;
  logger?: Logger;
}

/** Timing of the last {@link FaceDetector.detect} call, ms. */
export interface FaceRunStats {
  /** Model runs (tiles or canvases). */
  tiles: number;
  /** Model input pixels over all runs, in 256² units (the cost of one tile). */
  inputTiles: number;
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  totalMs: number;
}

/** A BlazeFace face candidate mapped to image pixels, with the tile that produced it. */
export interface TileFace extends ScoredFace {
  tile: Tile;
}

/** The model's input normalisation when the manifest has none (it always has). */
const BLAZEFACE_NORM: Normalisation = { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] };

/** A face detector over one BlazeFace session. Calls are serialised. */
export class FaceDetector implements Detector<FaceDetection> {
  readonly modelIds: readonly string[] = [FACE_MODEL_ID];
  /** Timing of the last completed detect(). */
  lastStats: FaceRunStats = {
    tiles: 0,
    inputTiles: 0,
    preprocessMs: 0,
    inferenceMs: 0,
    postprocessMs: 0,
    totalMs: 0,
  };
  /** How frames are searched (`tiles` when the model could not be opened). */
  readonly search: 'canvas' | 'tiles';

  readonly #session: OnnxSession;
  readonly #norm: Normalisation;
  readonly #inputName: string;
  readonly #tiling: TilingOptions;
  readonly #canvas: CanvasOptions;
  readonly #scoreThreshold: number;
  readonly #iouThreshold: number;
  readonly #edgeMargin: number;
  readonly #minFace: number;
  #tensor = new Float32Array(BLAZEFACE_INPUT_SIZE * BLAZEFACE_INPUT_SIZE * 3);
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** Use {@link createFaceDetector}. `search` is how `session` can be used. */
  constructor(
    session: OnnxSession,
    inputName: string,
    norm: Normalisation,
    opts: FaceDetectorOptions = {},
    search: 'canvas' | 'tiles' = 'tiles',
  ) {
    this.search = search;
    this.#session = session;
    this.#inputName = inputName;
    this.#norm = norm;
    this.#tiling = { ...DEFAULT_TILING, ...opts.tiling };
    this.#canvas = { ...DEFAULT_CANVAS, ...opts.canvas };
    this.#scoreThreshold = opts.scoreThreshold ?? DEFAULT_FACE_SCORE_THRESHOLD;
    this.#iouThreshold = opts.iouThreshold ?? DEFAULT_FACE_IOU_THRESHOLD;
    this.#edgeMargin = opts.innerEdgeMarginPx ?? 2;
    this.#minFace = opts.minFaceSizePx ?? 18;
    validateOptions(this.#tiling, this.#canvas, this.#scoreThreshold, this.#iouThreshold);
  }

  /** Faces in `image`, searching `regions` (motion) or the whole frame; highest score first. */
  detect(image: RgbImage, regions?: readonly Box[]): Promise<FaceDetection[]> {
    return this.#serial(() => this.#detect(image, regions));
  }

  /** Run `fn` after every earlier call: they share one input tensor. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Run the model on one tile and return every candidate at or above `minScore`, in image
   * pixels, before NMS (for tests, fixtures and tuning).
   */
  async detectTile(image: RgbImage, tile: Box, minScore = this.#scoreThreshold): Promise<RawFace[]> {
    const { outputs, transform } = await this.#serial(() => this.#runTile(image, tile));
    return decodeBlazeface(outputs, minScore).map((f) => ({
      ...f,
      box: boxFromLetterbox(transform, scaleBox(f.box, BLAZEFACE_INPUT_SIZE)),
      keypoints: f.keypoints.map((p) =>
        fromLetterbox(transform, { x: p.x * BLAZEFACE_INPUT_SIZE, y: p.y * BLAZEFACE_INPUT_SIZE }),
      ),
    }));
  }

  /** The model's four raw outputs for one tile, letterboxed to 256² (fixtures, tests). */
  async runTileRaw(image: RgbImage, tile: Box): Promise<BlazefaceOutputs> {
    return (await this.#serial(() => this.#runTile(image, tile))).outputs;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    await this.#session.release();
  }

  async #runTile(image: RgbImage, tile: Box, width = BLAZEFACE_INPUT_SIZE, height = BLAZEFACE_INPUT_SIZE) {
    if (this.#closed) throw new EdgeError('EDGE_ERR_DETECT_CLOSED', 'face detector is closed');
    const n = width * height * 3;
    if (this.#tensor.length < n) this.#tensor = new Float32Array(n);
    const tensor = this.#tensor.subarray(0, n);
    const transform = letterboxTensor(image, { width, height }, tile, this.#norm, tensor);
    const t0 = performance.now();
    const out = await this.#session.run({ [this.#inputName]: { data: tensor, dims: [1, height, width, 3] } });
    const inferenceMs = performance.now() - t0;
    const id = this.#session.modelId;
    const outputs: BlazefaceOutputs = {
      scores16: output(out, 'Identity:0', id).data,
      scores8: output(out, 'Identity_1:0', id).data,
      boxes16: output(out, 'Identity_2:0', id).data,
      boxes8: output(out, 'Identity_3:0', id).data,
    };
    return { outputs, transform, inferenceMs };
  }

  async #detect(image: RgbImage, regions?: readonly Box[]): Promise<FaceDetection[]> {
    if (this.#closed) throw new EdgeError('EDGE_ERR_DETECT_CLOSED', 'face detector is closed');
    assertRgbImage(image);
    if (regions !== undefined) {
      for (const r of regions) {
        if (![r.x, r.y, r.width, r.height].every(Number.isFinite)) {
          throw new EdgeError('EDGE_ERR_DETECT_INPUT', `region ${JSON.stringify(r)} is not finite`);
        }
      }
    }
    const start = performance.now();
    const runs: { area: Tile; width: number; height: number }[] =
      this.search === 'canvas'
        ? planCanvases(image.width, image.height, regions, this.#tiling, this.#canvas).map((c) => ({
            area: { ...c, pass: c.pass === 'fine' ? 'tile' : 'coarse', innerEdges: NO_INNER_EDGES },
            width: c.inputWidth,
            height: c.inputHeight,
          }))
        : planTiles(image.width, image.height, regions, this.#tiling).map((t) => ({
            area: t,
            width: BLAZEFACE_INPUT_SIZE,
            height: BLAZEFACE_INPUT_SIZE,
          }));
    let inferenceMs = 0;
    let postMs = 0;
    let inputPx = 0;
    const candidates: TileFace[] = [];
    for (const { area, width, height } of runs) {
      const run = await this.#runTile(image, area, width, height);
      inferenceMs += run.inferenceMs;
      inputPx += width * height;
      const p0 = performance.now();
      for (const f of decodeBlazefacePx(run.outputs, this.#scoreThreshold, width, height)) {
        const box = boxFromLetterbox(run.transform, f.box);
        if (this.#cutByInnerEdge(box, area)) continue;
        const keypoints = f.keypoints.map((p) => fromLetterbox(run.transform, p));
        candidates.push({ score: f.score, box, keypoints, tile: area });
      }
      postMs += performance.now() - p0;
    }
    const p1 = performance.now();
    const faces = weightedNms(candidates, this.#iouThreshold)
      .map((f) => toDetection(f, image.width, image.height))
      .filter((f): f is FaceDetection => f !== undefined && f.box.width >= this.#minFace);
    postMs += performance.now() - p1;
    const totalMs = performance.now() - start;
    this.lastStats = {
      tiles: runs.length,
      inputTiles: inputPx / (BLAZEFACE_INPUT_SIZE * BLAZEFACE_INPUT_SIZE),
      inferenceMs,
      postprocessMs: postMs,
      preprocessMs: Math.max(0, totalMs - inferenceMs - postMs),
      totalMs,
    };
    return faces;
  }

  #cutByInnerEdge(box: Box, tile: Tile): boolean {
    const m = this.#edgeMargin;
    const e = tile.innerEdges;
    return (
      (e.left && box.x < tile.x + m) ||
      (e.top && box.y < tile.y + m) ||
      (e.right && box.x + box.width > tile.x + tile.width - m) ||
      (e.bottom && box.y + box.height > tile.y + tile.height - m)
    );
  }
}

const NO_INNER_EDGES: Tile['innerEdges'] = { left: false, top: false, right: false, bottom: false };

function scaleBox(b: Box, s: number): Box {
  return { x: b.x * s, y: b.y * s, width: b.width * s, height: b.height * s };
}

/** Clip to the image; undefined when nothing of the box is inside. */
function toDetection(f: ScoredFace, width: number, height: number): FaceDetection | undefined {
  const x0 = Math.max(0, f.box.x);
  const y0 = Math.max(0, f.box.y);
  const x1 = Math.min(width, f.box.x + f.box.width);
  const y1 = Math.min(height, f.box.y + f.box.height);
  if (!(x1 > x0 && y1 > y0)) return undefined;
  return {
    kind: 'face',
    box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 },
    confidence: f.score,
    keypoints: f.keypoints.map((p) => ({ x: p.x, y: p.y })),
  };
}

function validateOptions(t: TilingOptions, c: CanvasOptions, score: number, iouT: number): void {
  const problems: string[] = [];
  if (!(c.scale > 0 && c.scale <= 2)) problems.push(`canvas.scale ${c.scale} must be in (0, 2]`);
  if (!(c.maxScale >= c.scale && c.maxScale <= 4))
    problems.push(`canvas.maxScale ${c.maxScale} must be in [canvas.scale, 4]`);
  if (!(c.fitSide >= 32 && c.fitSide <= 1024))
    problems.push(`canvas.fitSide ${c.fitSide} must be in [32, 1024]`);
  if (!(c.coarseScale > 0 && c.coarseScale <= c.scale))
    problems.push(`canvas.coarseScale ${c.coarseScale} must be in (0, canvas.scale]`);
  if (!(c.coarseAboveSide >= 0)) problems.push(`canvas.coarseAboveSide ${c.coarseAboveSide} must be >= 0`);
  if (!(c.wholeFrameShare > 0 && c.wholeFrameShare <= 1))
    problems.push(`canvas.wholeFrameShare ${c.wholeFrameShare} must be in (0, 1]`);
  if (!(score > 0 && score < 1)) problems.push(`scoreThreshold ${score} must be in (0, 1)`);
  if (!(iouT > 0 && iouT < 1)) problems.push(`iouThreshold ${iouT} must be in (0, 1)`);
  if (!(Number.isInteger(t.tileSize) && t.tileSize >= 64))
    problems.push(`tiling.tileSize ${t.tileSize} must be an integer >= 64`);
  if (!(t.overlap >= 0 && t.overlap < t.tileSize / 2))
    problems.push(`tiling.overlap ${t.overlap} must be in [0, tileSize/2)`);
  if (!(t.minTileSize >= 32 && t.minTileSize <= t.tileSize)) {
    problems.push(`tiling.minTileSize ${t.minTileSize} must be in [32, tileSize]`);
  }
  if (problems.length > 0)
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', `face detector options: ${problems.join('; ')}`);
}

/** Load and verify the BlazeFace model, open a session and return a detector. */
export async function createFaceDetector(opts: FaceDetectorOptions = {}): Promise<FaceDetector> {
  validateOptions(
    { ...DEFAULT_TILING, ...opts.tiling },
    { ...DEFAULT_CANVAS, ...opts.canvas },
    opts.scoreThreshold ?? DEFAULT_FACE_SCORE_THRESHOLD,
    opts.iouThreshold ?? DEFAULT_FACE_IOU_THRESHOLD,
  );
  const model = await resolveModel(FACE_MODEL_ID, opts.models);
  let search = opts.search ?? 'canvas';
  let session: OnnxSession | undefined;
  if (search === 'canvas') {
    try {
      session = await createSession(model, opts.session, openBlazefaceInput);
    } catch (err) {
      if (!(err instanceof EdgeError && err.code === 'EDGE_ERR_MODEL_INCOMPATIBLE')) throw err;
      // Another model than the one face-graph.ts knows: still usable on 256² tiles.
      opts.logger?.warn(
        { module: 'detect', model: model.id, path: model.path, err: err.message },
        'face model cannot take other input sizes; searching 256² tiles',
      );
      search = 'tiles';
    }
  }
  session ??= await createSession(model, opts.session);
  const input = model.entry.input;
  const detector = new FaceDetector(
    session,
    input?.name ?? 'input:0',
    input?.normalisation ?? BLAZEFACE_NORM,
    opts,
    search,
  );
  opts.logger?.debug(
    { module: 'detect', model: model.id, source: model.source, path: model.path, search },
    'face detector ready',
  );
  return detector;
}
