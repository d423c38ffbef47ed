/**
 * The plate detector: PP-OCRv4 text detection (whole frame, or only inside motion regions) →
 * perspective crop → PP-OCRv4 recognition with greedy CTC → plate filter (format, aspect,
 * colour) → {@link PlateDetection}s.
 *
 * {@link createPlateReader} is the pipeline over two {@link TensorRunner}s (tests and the
 * inference worker can hand in their own); {@link createPlateDetector} loads the verified models
 * from the manifest and builds one.
 */
import { EdgeError } from '../errors.ts';
import { loadCharset } from './ctc.ts';
import type { CtcCharset, CtcRead } from './ctc.ts';
import { rectCorners } from './db-postprocess.ts';
import type { DbParams, RotatedRect } from './db-postprocess.ts';
import { assertRgbImage } from './image.ts';
import type { Normalisation } from './image.ts';
import { resolveModel } from './models.ts';
import type { ModelEntry, ResolveModelOptions, ResolvedModel } from './models.ts';
import { createSession, output } from './onnx.ts';
import type { OnnxSession } from './onnx.ts';
import { classifyPlateColour } from './plate-colour.ts';
import {
  DET_NORM,
  clampQuad,
  detectText,
  mergeLineFragments,
  planDetAreas,
  planDetInput,
  quadIou,
} from './plate-det.ts';
import type { TensorRunner, TextBox } from './plate-det.ts';
import { PLATE_PROVINCES, isPlateAspect, judgePlate, plateFormatOf } from './plate-filter.ts';
import type { PlateRejection, PlateVerdict } from './plate-filter.ts';
import { RGB_ORDER, boundsOf } from './plate-image.ts';
import type { ChannelOrder } from './plate-image.ts';
import { cropForRec, recogniseCrops, recogniseQuads } from './plate-rec.ts';
import { StaticTextMemo } from './plate-memo.ts';
import type { Box, Detector, PlateColourName, PlateDetection, RgbImage } from './types.ts';

/** Manifest ids of the models behind the plate detector. */
export const PLATE_MODEL_IDS = ['ppocr-v4-det', 'ppocr-v4-rec'] as const;
/** Default {@link PlateReaderOptions.maxDetScale}. */
export const DEFAULT_MAX_DET_SCALE = 0.6;

/** Default {@link PlateReaderOptions.recMinWidth}. */
export const DEFAULT_PLATE_REC_MIN_WIDTH = 240;

/** Manifest id of the recogniser's character list. */
export const PLATE_KEYS_ID = 'ppocr-keys';

/** Tuning of the plate pipeline (all optional; defaults suit 720p cameras). Plain data: it crosses into the worker. */
export interface PlateReaderOptions {
  /** Reads whose mean character confidence is below this are dropped. Default 0.5. */
  minConfidence?: number;
  /** Longest side of the text detector's input. Default 960 (720p → 960×544). */
  maxDetSide?: number;
  /**
   * Most detector pixels per image pixel, for the whole frame and motion regions alike. Default
   * 0.6: plates ≥ 80 px wide are still found (a small one read in part gets a full-resolution
   * second look), at ~0.4 of the detector's cost at full resolution (models/README.md).
   */
  maxDetScale?: number;
  /** Text boxes shorter than this (image px) are not read: nothing legible. Default 7. */
  minTextHeightPx?: number;
  /** Motion regions are padded by this share of their size before detection. Default 0.15. */
  regionPadFrac?: number;
  /** Crops per recogniser run. Default 8. */
  recBatchSize?: number;
  /**
   * Narrowest recogniser input (crops are right-padded to it). Default 240: a plate crop is
   * ~150–170 px wide at 48 px high; PaddleOCR's 320 costs the recogniser a third more for the
   * same exact-read rate, and 160 read small plates less often (models/README.md).
   */
  recMinWidth?: number;
  /** Re-read a box with shifted margins when only its province character fails. Default true. */
  provinceRetry?: boolean;
  /**
   * When the detector input was downscaled, look again at full resolution around small
   * plate-like lines that did not read as plates. Default true.
   */
  secondLook?: boolean;
  /** Remember static non-plate text (signs, OSD labels) and skip reading it again. Default true. */
  memo?: boolean;
  /** DB post-process overrides. */
  db?: Partial<DbParams>;
  /** Text detector normalisation on 0..255 values. Default: the manifest's, else ImageNet mean/std. */
  detNorm?: Normalisation;
  /** Image channel feeding each tensor channel. Default RGB (measured better than BGR, see plate-image.ts). */
  channelOrder?: ChannelOrder;
  /** Called for every text box that was read but is not a plate (debug logging, evaluation). */
  onRejected?: (rejected: RejectedRead) => void;
}

/** A read that did not pass the plate filter. */
export interface RejectedRead {
  text: string;
  reason: PlateRejection;
  box: Box;
}

/** What the last call did and how long each stage took (ms). */
export interface PlateRunStats {
  /** Detector inputs: 1 for a whole frame, else the merged motion areas (plus second looks). */
  areas: number;
  /** Text boxes found (after joining fragments). */
  textBoxes: number;
  /** Text boxes read (plate-shaped ones). */
  reads: number;
  /** Boxes re-read because only the province failed. */
  retries: number;
  /** Areas looked at again at full resolution. */
  secondLooks: number;
  /** Text boxes not read because they showed the same non-plate text as before. */
  memoHits: number;
  plates: number;
  /** Text detection: resize, tensor, inference, DB post-process. */
  detMs: number;
  /** Recognition: crops, inference, CTC, filter, colour (retries included). */
  recMs: number;
  totalMs: number;
}

/** The pipeline without the sessions: detect plates with the given runners. */
export interface PlateReader {
  read(image: RgbImage, regions?: readonly Box[]): Promise<PlateDetection[]>;
  /** Stats of the last completed {@link PlateReader.read}. */
  readonly lastStats: PlateRunStats | undefined;
}

/** Margin changes (fractions of the box width; height as a factor) tried by the province retry. */
interface MarginShift {
  leftIn: number;
  rightOut: number;
  height: number;
}

/**
 * The recogniser's errors on small plates sit almost all on the province glyph, the left-most
 * and most complex one, and they swing with the crop's left margin (the plate rim next to it).
 * These three views were the ones that recovered it on rendered plates.
 */
const PROVINCE_RETRY_SHIFTS: readonly MarginShift[] = [
  { leftIn: 0.04, rightOut: 0.04, height: 1 },
  { leftIn: 0.04, rightOut: 0.04, height: 0.9 },
  { leftIn: -0.06, rightOut: 0, height: 1 },
];

function shiftRect(r: RotatedRect, m: MarginShift): RotatedRect {
  const shift = (r.width * (m.leftIn + m.rightOut)) / 2;
  return {
    cx: r.cx + shift * Math.cos(r.angle),
    cy: r.cy + shift * Math.sin(r.angle),
    width: r.width * (1 - m.leftIn + m.rightOut),
    height: r.height * m.height,
    angle: r.angle,
  };
}

/**
 * When `text` (normalised) would be a plate with a province in front — its first character
 * misread, or dropped — the plate part after the province ("tails"); otherwise none.
 */
export function provinceNearMiss(text: string): string[] {
  const chars = Array.from(text);
  const first = chars[0];
  if (first === undefined || PLATE_PROVINCES.includes(first)) return [];
  const tails: string[] = [];
  const anyProvince = PLATE_PROVINCES.charAt(0);
  const rest = chars.slice(1).join('');
  if (plateFormatOf(anyProvince + rest) !== undefined) tails.push(rest);
  if (plateFormatOf(anyProvince + text) !== undefined) tails.push(text);
  return tails;
}

/** Problems with `options`, as `field message` (empty when valid). */
export function checkPlateReaderOptions(options: PlateReaderOptions): string[] {
  const problems: string[] = [];
  const range = (name: string, v: number | undefined, min: number, max: number, integer = false): void => {
    if (v === undefined) return;
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      problems.push(`${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${v}`);
    }
  };
  range('minConfidence', options.minConfidence, 0, 1);
  range('maxDetSide', options.maxDetSide, 32, 4096, true);
  range('maxDetScale', options.maxDetScale, 0.1, 1);
  range('minTextHeightPx', options.minTextHeightPx, 0, 1000);
  range('regionPadFrac', options.regionPadFrac, 0, 2);
  range('recBatchSize', options.recBatchSize, 1, 64, true);
  range('recMinWidth', options.recMinWidth, 8, 480, true);
  const order = options.channelOrder;
  if (order !== undefined && [...order].sort().join() !== '0,1,2') {
    problems.push(`channelOrder must be a permutation of 0, 1, 2, got ${order.join(',')}`);
  }
  return problems;
}

/**
 * Build the plate pipeline over a text-detector runner and a recogniser runner. One read at a
 * time (the static-text memo is per reader); {@link createPlateDetector} serialises calls.
 * Throws EDGE_ERR_DETECT_OPTIONS for invalid options.
 */
export function createPlateReader(
  det: TensorRunner,
  rec: TensorRunner,
  charset: CtcCharset,
  options: PlateReaderOptions = {},
): PlateReader {
  const problems = checkPlateReaderOptions(options);
  if (problems.length > 0) throw new EdgeError('EDGE_ERR_DETECT_OPTIONS', problems.join('; '));
  const minConfidence = options.minConfidence ?? 0.5;
  const minTextHeight = options.minTextHeightPx ?? 7;
  const order = options.channelOrder ?? RGB_ORDER;
  const recOpts = {
    batchSize: options.recBatchSize ?? 8,
    channelOrder: order,
    minWidth: options.recMinWidth ?? DEFAULT_PLATE_REC_MIN_WIDTH,
  };
  const retry = options.provinceRetry ?? true;
  const secondLook = options.secondLook ?? true;
  const maxSide = options.maxDetSide ?? 960;
  const maxScale = options.maxDetScale ?? DEFAULT_MAX_DET_SCALE;
  const db = options.db ?? {};
  const norm = options.detNorm ?? DET_NORM;
  const memo = options.memo === false ? undefined : new StaticTextMemo();
  let lastStats: PlateRunStats | undefined;

  const judge = (
    read: CtcRead,
    crop: RgbImage,
    rect: RotatedRect,
  ): { verdict: PlateVerdict; colour: PlateColourName } => {
    const colour = classifyPlateColour(crop);
    const verdict = judgePlate(
      {
        chars: read.chars.map((ch, k) => ({ ch, confidence: read.confidences[k] ?? 0 })),
        aspect: rect.width / rect.height,
        colour,
      },
      minConfidence,
    );
    return { verdict, colour };
  };

  /** Re-read a box whose read failed only on the province, with shifted margins. */
  const retryProvince = async (
    image: RgbImage,
    b: TextBox,
    tails: readonly string[],
  ): Promise<{ verdict: PlateVerdict; colour: PlateColourName; quad: TextBox['quad'] } | undefined> => {
    const rects = PROVINCE_RETRY_SHIFTS.map((m) => shiftRect(b.rect, m));
    const quads = rects.map((x) => clampQuad(rectCorners(x), image));
    const again = await recogniseQuads(rec, image, quads, charset, recOpts);
    let best:
      { verdict: PlateVerdict; colour: PlateColourName; quad: TextBox['quad']; p: number } | undefined;
    again.forEach((a, k) => {
      const j = judge(a.read, a.crop, rects[k] ?? b.rect);
      if (!j.verdict.ok || !tails.includes(Array.from(j.verdict.text).slice(1).join(''))) return;
      const p = j.verdict.charConfidences[0] ?? 0;
      if (best === undefined || p > best.p) best = { ...j, quad: quads[k] ?? b.quad, p };
    });
    return best;
  };

  /** Detect and read inside `areas`; also returns what was rejected and at what detector scale. */
  const look = async (image: RgbImage, areas: readonly Box[], stats: PlateRunStats): Promise<LookResult> => {
    const t0 = performance.now();
    const scaled: { box: TextBox; scale: number }[] = [];
    for (const area of areas) {
      const scale = planDetInput(area.width, area.height, maxSide, maxScale).scale;
      const opts = { maxSide, maxScale, db, norm, channelOrder: order };
      for (const box of await detectText(det, image, area, opts)) {
        scaled.push({ box, scale });
      }
    }
    const boxes = mergeLineFragments(
      scaled.map((x) => x.box),
      image,
    );
    const scaleOf = (b: TextBox): number =>
      scaled.find((x) => x.box === b)?.scale ?? Math.min(...scaled.map((x) => x.scale));
    const t1 = performance.now();
    // Geometry first: reading costs ~7 ms a crop, and a clock or a sign line is not plate-shaped.
    const candidates = boxes.filter(
      (b) => b.rect.height >= minTextHeight && isPlateAspect(b.rect.width / b.rect.height),
    );
    const crops = candidates.map((b) => cropForRec(image, b.quad));
    // Static text seen before with the same pixels is not read again (see plate-memo.ts).
    const remembered = candidates.map((b, i) => memo?.lookup(b.quad, crops[i] as RgbImage));
    const toRead = candidates.flatMap((_, i) => (remembered[i] === undefined ? [i] : []));
    const fresh =
      toRead.length === 0
        ? []
        : await recogniseCrops(
            rec,
            toRead.map((i) => crops[i] as RgbImage),
            charset,
            recOpts,
          );
    const reads = new Map(toRead.map((i, k) => [i, fresh[k]]));
    const found: PlateDetection[] = [];
    const rejected: LookResult['rejected'] = [];
    for (const [i, b] of candidates.entries()) {
      const memoText = remembered[i];
      if (memoText !== undefined) {
        stats.memoHits++;
        rejected.push({ box: b, scale: scaleOf(b), text: memoText, reason: 'format' });
        continue;
      }
      const read = reads.get(i);
      const crop = crops[i];
      if (read === undefined || crop === undefined) continue;
      const r = { read, crop };
      let { verdict, colour } = judge(r.read, r.crop, b.rect);
      let quad = b.quad;
      const tails = !verdict.ok && verdict.reason === 'format' && retry ? provinceNearMiss(verdict.text) : [];
      if (tails.length > 0) {
        stats.retries++;
        const best = await retryProvince(image, b, tails);
        if (best !== undefined) ({ verdict, colour, quad } = best);
      }
      if (!verdict.ok) {
        // Only text that is plainly no plate is remembered; near misses are read again next time.
        if (verdict.reason === 'format' && tails.length === 0 && !startsWithProvince(verdict.text)) {
          memo?.remember(b.quad, r.crop, verdict.text);
        }
        rejected.push({ box: b, scale: scaleOf(b), text: verdict.text, reason: verdict.reason });
        continue;
      }
      found.push({
        kind: 'plate',
        box: boundsOf(quad),
        quad,
        detConfidence: b.score,
        text: verdict.text,
        charConfidences: verdict.charConfidences,
        confidence: verdict.confidence,
        colour,
      });
    }
    stats.areas += areas.length;
    stats.textBoxes += boxes.length;
    stats.reads += candidates.length;
    stats.detMs += t1 - t0;
    stats.recMs += performance.now() - t1;
    return { found, rejected };
  };

  return {
    get lastStats() {
      return lastStats;
    },
    async read(image, regions) {
      assertRgbImage(image);
      const t0 = performance.now();
      memo?.nextCall();
      const stats: PlateRunStats = {
        areas: 0,
        textBoxes: 0,
        reads: 0,
        retries: 0,
        secondLooks: 0,
        memoHits: 0,
        plates: 0,
        detMs: 0,
        recMs: 0,
        totalMs: 0,
      };
      const whole = [{ x: 0, y: 0, width: image.width, height: image.height }];
      let areas =
        regions === undefined
          ? whole
          : planDetAreas(regions, image.width, image.height, options.regionPadFrac ?? 0.15);
      // Regions are looked at up to maxDetScale, the whole frame also within maxDetSide; when the
      // regions cover so much that they cost about as much as the whole frame, one pass over it is
      // cheaper.
      if (
        areas.length > 0 &&
        detCost(areas, maxSide, maxScale) >= REGION_COST_LIMIT * detCost(whole, maxSide, maxScale)
      )
        areas = whole;
      const first = await look(image, areas, stats);
      let found = first.found;
      let rejected = first.rejected;
      // A small plate in a downscaled frame is often found only in part (the province or the
      // pale top of a new-energy plate lost): look again around it at full resolution.
      const again = secondLook
        ? rejected.filter(
            (r) => r.scale < 1 && r.box.rect.height < SECOND_LOOK_MAX_HEIGHT_PX && isPlateLike(r.text),
          )
        : [];
      if (again.length > 0) {
        const around = planDetAreas(
          again.map((r) => secondLookArea(r.box.rect)),
          image.width,
          image.height,
          0,
          0,
        );
        stats.secondLooks += around.length;
        const second = await look(image, around, stats);
        found = found.concat(second.found);
        rejected = rejected.concat(second.rejected);
      }
      const plates = dedupePlates(found);
      if (options.onRejected !== undefined) {
        for (const r of rejected) {
          const box = boundsOf(r.box.quad);
          if (plates.some((p) => quadIou(p.quad, r.box.quad) > 0.1)) continue;
          options.onRejected({ text: r.text, reason: r.reason, box });
        }
      }
      stats.plates = plates.length;
      stats.totalMs = performance.now() - t0;
      lastStats = stats;
      return plates;
    },
  };
}

/** What one detect-and-read pass over some areas gave. */
interface LookResult {
  found: PlateDetection[];
  rejected: { box: TextBox; scale: number; text: string; reason: PlateRejection }[];
}

/** Regions whose detector inputs add up to this share of the whole frame's are replaced by it. */
const REGION_COST_LIMIT = 0.8;

/** Detector cost of looking at `areas`: the sum of their tensor sizes (inference is about linear in it). */
function detCost(areas: readonly Box[], maxSide: number, maxScale: number): number {
  return areas.reduce((sum, a) => {
    const plan = planDetInput(a.width, a.height, maxSide, maxScale);
    return sum + plan.tensorW * plan.tensorH;
  }, 0);
}

/** Text lines at most this tall (image px) get a second look when the frame was downscaled. */
const SECOND_LOOK_MAX_HEIGHT_PX = 24;

/** Whether `text` starts like a plate (with a province character). */
function startsWithProvince(text: string): boolean {
  const first = Array.from(text)[0];
  return first !== undefined && PLATE_PROVINCES.includes(first);
}

/** Whether a rejected read has at least three plate letters/digits: maybe part of a plate. */
function isPlateLike(text: string): boolean {
  return (text.match(/[A-HJ-NP-Z0-9]/g) ?? []).length >= 3;
}

/** The area around a partial plate line that holds the whole plate whichever part was found. */
function secondLookArea(r: RotatedRect): Box {
  const padX = Math.max(r.width, 4 * r.height);
  const padY = 1.5 * r.height;
  const halfW = r.width / 2 + padX;
  const halfH = r.height / 2 + padY;
  return { x: r.cx - halfW, y: r.cy - halfH, width: 2 * halfW, height: 2 * halfH };
}

/**
 * Drop a plate that overlaps a more confident one (IoU > 0.3): one plate seen through two
 * overlapping detector areas, or read twice from nested boxes, is one detection.
 */
export function dedupePlates(plates: readonly PlateDetection[]): PlateDetection[] {
  const sorted = [...plates].sort((a, b) => b.confidence - a.confidence);
  const kept: PlateDetection[] = [];
  for (const p of sorted) {
    if (!kept.some((k) => quadIou(k.quad, p.quad) > 0.3)) kept.push(p);
  }
  return kept;
}

/**
 * A {@link TensorRunner} over an ONNX session: feeds the manifest entry's input and returns its
 * first output (without an entry: the session's first input and output).
 */
export function sessionRunner(session: OnnxSession, entry?: ModelEntry): TensorRunner {
  const inputName = entry?.input?.name ?? session.inputNames[0];
  const outputName = entry?.outputs?.[0]?.name ?? session.outputNames[0];
  if (inputName === undefined || outputName === undefined) {
    throw new EdgeError('EDGE_ERR_MODEL_INCOMPATIBLE', `model ${session.modelId} has no input or no output`);
  }
  return {
    async run(data, dims) {
      const out = await session.run({ [inputName]: { data, dims } });
      return output(out, outputName, session.modelId);
    },
  };
}

/** Options of {@link createPlateDetector}. */
export interface PlateDetectorOptions extends PlateReaderOptions {
  /** How models are found and verified (manifest, overrides, env); see models.ts. */
  models?: ResolveModelOptions;
  /** Already resolved models (skips resolution), e.g. resolved once by the worker pool. */
  resolved?: { det: ResolvedModel; rec: ResolvedModel; keys: ResolvedModel };
  /** Intra-op threads per session. Default: onnx.ts's default (1; parallelism is by worker). */
  threads?: number;
}

/** The plate {@link Detector}, with the stats of its last call. */
export interface PlateDetector extends Detector<PlateDetection> {
  /** What the last completed `detect` did and how long each stage took. */
  readonly lastStats: PlateRunStats | undefined;
}

/**
 * Load the text detector, the recogniser and the character list (hash-verified), and return a
 * plate detector. Calls are serialised (one frame at a time through the sessions). Rejects with
 * EDGE_ERR_DETECT_OPTIONS for invalid options (before loading anything), EDGE_ERR_MODEL_* when a
 * model is missing, altered or incompatible.
 */
export async function createPlateDetector(options: PlateDetectorOptions = {}): Promise<PlateDetector> {
  const problems = checkPlateReaderOptions(options);
  if (problems.length > 0) throw new EdgeError('EDGE_ERR_DETECT_OPTIONS', problems.join('; '));
  const resolved = options.resolved ?? {
    det: await resolveModel(PLATE_MODEL_IDS[0], options.models),
    rec: await resolveModel(PLATE_MODEL_IDS[1], options.models),
    keys: await resolveModel(PLATE_KEYS_ID, options.models),
  };
  const charset = await loadCharset(resolved.keys.path);
  const sessionOptions = options.threads === undefined ? {} : { intraOpNumThreads: options.threads };
  const detSession = await createSession(resolved.det, sessionOptions);
  let recSession: OnnxSession;
  try {
    recSession = await createSession(resolved.rec, sessionOptions);
  } catch (err) {
    await detSession.release();
    throw err;
  }
  const reader = createPlateReader(
    sessionRunner(detSession, resolved.det.entry),
    sessionRunner(recSession, resolved.rec.entry),
    charset,
    { ...options, detNorm: options.detNorm ?? resolved.det.entry.input?.normalisation },
  );
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  return {
    modelIds: [resolved.det.id, resolved.rec.id],
    get lastStats() {
      return reader.lastStats;
    },
    detect(image, regions) {
      if (closed) return Promise.reject(new EdgeError('EDGE_ERR_DETECT_CLOSED', 'plate detector was closed'));
      const run = queue.then(() => {
        if (closed) throw new EdgeError('EDGE_ERR_DETECT_CLOSED', 'plate detector was closed');
        return reader.read(image, regions);
      });
      // The next call waits for this one, whether it succeeds or fails.
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue;
      await Promise.all([detSession.release(), recSession.release()]);
    },
  };
}
