/**
 * Text recognition with PP-OCRv4 rec: each quad is rectified to 48 px high (aspect kept), the
 * crops are batched right-padded to a common width (≥ `minWidth`, multiple of 8), and the
 * softmaxed [N, W/8, classes] output is greedy-CTC decoded.
 */
import { EdgeError } from '../errors.ts';
import { ctcGreedyDecode } from './ctc.ts';
import type { CtcCharset, CtcRead } from './ctc.ts';
import type { TensorRunner } from './plate-det.ts';
import { warpQuad } from './image.ts';
import { RGB_ORDER, packRecTensor } from './plate-image.ts';
import type { ChannelOrder } from './plate-image.ts';
import type { Point, RgbImage } from './types.ts';

/** Recogniser input height. */
export const REC_HEIGHT = 48;
/** Minimum recogniser input width as PaddleOCR pads it (48×320, its training shape). */
export const REC_MIN_WIDTH = 320;
/** Widest crop sent to the recogniser (10:1); wider text is squeezed to this. */
export const REC_MAX_WIDTH = 480;

/** A quad's reading: the decoded text and the upright crop it was read from. */
export interface QuadRead {
  read: CtcRead;
  /** The rectified crop, 48 px high (used again for the colour check). */
  crop: RgbImage;
}

/** Width of the upright crop for a quad: 48 × its aspect, within [8, {@link REC_MAX_WIDTH}]. */
export function recCropWidth(quad: readonly [Point, Point, Point, Point]): number {
  const w =
    (Math.hypot(quad[1].x - quad[0].x, quad[1].y - quad[0].y) +
      Math.hypot(quad[2].x - quad[3].x, quad[2].y - quad[3].y)) /
    2;
  const h =
    (Math.hypot(quad[3].x - quad[0].x, quad[3].y - quad[0].y) +
      Math.hypot(quad[2].x - quad[1].x, quad[2].y - quad[1].y)) /
    2;
  if (!(h > 0)) return 8;
  return Math.min(REC_MAX_WIDTH, Math.max(8, Math.round((REC_HEIGHT * w) / h)));
}

/** Rectify a quad of `image` to the recogniser's height. */
export function cropForRec(image: RgbImage, quad: readonly [Point, Point, Point, Point]): RgbImage {
  return warpQuad(image, quad, recCropWidth(quad), REC_HEIGHT);
}

/** How crops are batched for the recogniser. */
export interface RecBatchOptions {
  /** Crops per run. Default 8. */
  batchSize?: number;
  /** Image channel feeding each tensor channel. Default RGB. */
  channelOrder?: ChannelOrder;
  /** Narrowest input: crops are right-padded to at least this. Default {@link REC_MIN_WIDTH}. */
  minWidth?: number;
}

/**
 * Read already-rectified crops (48 px high) in batches of at most `batchSize`, each batch padded
 * to its widest crop (≥ `minWidth`, rounded up to a multiple of 8).
 */
export async function recogniseCrops(
  runner: TensorRunner,
  crops: readonly RgbImage[],
  charset: CtcCharset,
  opts: RecBatchOptions = {},
): Promise<CtcRead[]> {
  const batchSize = opts.batchSize ?? 8;
  const channelOrder = opts.channelOrder ?? RGB_ORDER;
  const minWidth = opts.minWidth ?? REC_MIN_WIDTH;
  const out: CtcRead[] = [];
  for (let start = 0; start < crops.length; start += batchSize) {
    const batch = crops.slice(start, start + batchSize);
    const widest = Math.max(...batch.map((c) => c.width));
    const tensorW = Math.max(minWidth, Math.ceil(widest / 8) * 8);
    const input = packRecTensor(batch, REC_HEIGHT, tensorW, channelOrder);
    const { data, dims } = await runner.run(input, [batch.length, 3, REC_HEIGHT, tensorW]);
    const [n, steps, classes] = dims;
    if (dims.length !== 3 || n !== batch.length || steps === undefined || classes === undefined) {
      throw new EdgeError(
        'EDGE_ERR_DETECT_RUN',
        `recogniser returned [${dims.join(',')}] for input [${batch.length},3,${REC_HEIGHT},${tensorW}]`,
      );
    }
    out.push(...ctcGreedyDecode(data, n, steps, classes, charset));
  }
  return out;
}

/** Rectify and read `quads` of `image`. */
export async function recogniseQuads(
  runner: TensorRunner,
  image: RgbImage,
  quads: readonly (readonly [Point, Point, Point, Point])[],
  charset: CtcCharset,
  opts: RecBatchOptions = {},
): Promise<QuadRead[]> {
  const crops = quads.map((q) => cropForRec(image, q));
  const reads = await recogniseCrops(runner, crops, charset, opts);
  return reads.map((read, i) => ({ read, crop: crops[i] as RgbImage }));
}
