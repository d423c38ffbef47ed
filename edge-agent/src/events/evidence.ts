/**
 * Evidence for an event: the best detection cropped with a margin, and a small JPEG of the whole
 * frame for context, each bounded in bytes and hashed (lower-case hex sha256) so the gateway can
 * store it content-addressed and an exported crop can be verified.
 */
import { createHash } from 'node:crypto';
import type { Sharp } from 'sharp';
import { cropImage } from '../detect/image.ts';
import type { Box, RgbImage } from '../detect/types.ts';
import { EdgeError } from '../errors.ts';

/** Lower-case hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * `box` grown by `margin` of its width on the left and right and of its height above and below,
 * snapped outward to whole pixels and clipped to the `width`×`height` frame. A box wholly
 * outside the frame, or empty, gives EDGE_ERR_EVENT_INPUT.
 */
export function cropBoxWithMargin(box: Box, margin: number, width: number, height: number): Box {
  const mx = box.width * margin;
  const my = box.height * margin;
  const x0 = Math.max(0, Math.floor(box.x - mx));
  const y0 = Math.max(0, Math.floor(box.y - my));
  const x1 = Math.min(width, Math.ceil(box.x + box.width + mx));
  const y1 = Math.min(height, Math.ceil(box.y + box.height + my));
  if (!(x1 > x0 && y1 > y0) || !Number.isFinite(x0 + y0 + x1 + y1)) {
    throw new EdgeError(
      'EDGE_ERR_EVENT_INPUT',
      `box ${box.x},${box.y} ${box.width}x${box.height} lies outside the ${width}x${height} frame`,
    );
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Options of {@link encodeBoundedJpeg}. */
export interface BoundedJpegOptions {
  /** The JPEG must not exceed this many bytes. */
  maxBytes: number;
  /** Scale down first (aspect kept) so the width is at most this, px. Default: no limit. */
  maxWidth?: number;
  /** First quality tried, 1..100. Default 85. */
  quality?: number;
  /** Lowest quality before the image is scaled down. Default 40. */
  minQuality?: number;
  /** Smallest side the image may be scaled down to, px. Default 16. */
  minSide?: number;
}

/** A JPEG within its bound, and how it was made. */
export interface BoundedJpeg {
  jpeg: Buffer;
  width: number;
  height: number;
  quality: number;
}

type SharpFactory = (typeof import('sharp'))['default'];
let sharpModule: Promise<SharpFactory> | undefined;

/** sharp, loaded on first use (a process that never builds events never loads libvips). */
function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}

/**
 * Encode `image` as JPEG within `maxBytes`: the starting quality, then a middle one, then the
 * minimum; if even that is too big, scale down by the square root of the overshoot (the bytes of
 * a JPEG grow roughly with its area) and try again. A handful of encodes at most, even for a
 * large noisy crop. EDGE_ERR_EVENT_EVIDENCE if it does not fit at `minSide`.
 */
export async function encodeBoundedJpeg(image: RgbImage, opts: BoundedJpegOptions): Promise<BoundedJpeg> {
  const sharp = await loadSharp();
  const start = Math.min(100, Math.max(1, Math.round(opts.quality ?? 85)));
  const min = Math.min(start, Math.max(1, Math.round(opts.minQuality ?? 40)));
  const qualities = [...new Set([start, Math.round((start + min) / 2), min])];
  const minSide = opts.minSide ?? 16;
  let scale = opts.maxWidth === undefined ? 1 : Math.min(1, opts.maxWidth / image.width);
  let lastSize = 0;
  for (let attempt = 0; attempt < 8; attempt++) {
    const w = Math.max(1, Math.round(image.width * scale));
    const h = Math.max(1, Math.round(image.height * scale));
    for (const q of qualities) {
      let pipeline: Sharp = sharp(image.data, {
        raw: { width: image.width, height: image.height, channels: 3 },
      });
      if (w !== image.width || h !== image.height) pipeline = pipeline.resize(w, h, { fit: 'fill' });
      let jpeg: Buffer;
      try {
        jpeg = await pipeline.jpeg({ quality: q, mozjpeg: false }).toBuffer();
      } catch (err) {
        throw new EdgeError('EDGE_ERR_EVENT_EVIDENCE', `JPEG encode of ${w}x${h} failed`, { cause: err });
      }
      if (jpeg.length <= opts.maxBytes) return { jpeg, width: w, height: h, quality: q };
      lastSize = jpeg.length;
    }
    if (Math.min(w, h) <= minSide) break;
    const factor = Math.min(0.9, Math.max(0.25, Math.sqrt(opts.maxBytes / lastSize) * 0.95));
    scale = Math.max(scale * factor, minSide / Math.min(image.width, image.height));
  }
  throw new EdgeError(
    'EDGE_ERR_EVENT_EVIDENCE',
    `${image.width}x${image.height} does not fit in ${opts.maxBytes} bytes (last try ${lastSize} bytes)`,
  );
}

/** Options of {@link makeEvidence}. */
export interface EvidenceOptions {
  /** Margin around the detection box, as a fraction of its size. */
  margin: number;
  /** Bound of the crop JPEG, bytes. */
  maxBytes: number;
  /** Width of the context JPEG, px (never upscaled). */
  contextWidth: number;
  /** Bound of the context JPEG, bytes. */
  contextMaxBytes: number;
}

/** The evidence of one event, plain data (the event builder copies it into the proto). */
export interface EvidenceParts {
  jpeg: Buffer;
  sha256: string;
  width: number;
  height: number;
  /** The crop's position in the frame (before any downscale for the size bound). */
  cropBox: Box;
  contextJpeg: Buffer;
  contextSha256: string;
}

/** Crop `box` (with margin) from `frame` and make the crop and context JPEGs. */
export async function makeEvidence(frame: RgbImage, box: Box, opts: EvidenceOptions): Promise<EvidenceParts> {
  const cropBox = cropBoxWithMargin(box, opts.margin, frame.width, frame.height);
  const crop = await encodeBoundedJpeg(cropImage(frame, cropBox), { maxBytes: opts.maxBytes });
  const context = await encodeBoundedJpeg(frame, {
    maxBytes: opts.contextMaxBytes,
    maxWidth: opts.contextWidth,
    quality: 75,
    minQuality: 30,
  });
  return {
    jpeg: crop.jpeg,
    sha256: sha256Hex(crop.jpeg),
    width: crop.width,
    height: crop.height,
    cropBox,
    contextJpeg: context.jpeg,
    contextSha256: sha256Hex(context.jpeg),
  };
}
