/**
 * Snapshot pictures within bounds: a JPEG of at most `maxBytes` and `maxWidth` px, from a raw RGB
 * analysis frame or from whatever a camera's snapshot URI returned. A camera's JPEG that already
 * fits is passed through untouched; anything else is decoded (pixel-limited: the camera is not
 * trusted) and re-encoded, smaller each try, until it fits or the tries run out.
 */
import type { Sharp } from 'sharp';

/** Bounds of one picture. */
export interface JpegBounds {
  /** Largest JPEG, bytes. */
  maxBytes: number;
  /** Largest width, px; 0 = only the byte bound applies. */
  maxWidth: number;
}

/** A picture that fits its bounds. */
export interface FittedJpeg {
  jpeg: Buffer;
  width: number;
  height: number;
}

/** Largest picture decoded, pixels (a 50 MP "snapshot" is an attack, not a camera). */
const MAX_INPUT_PIXELS = 50_000_000;
/** Never scaled below this width to fit: a smaller picture is useless to look at. */
const MIN_WIDTH = 160;
/** Quality and scale of each try, in order. */
const TRIES: readonly { quality: number; scale: number }[] = [
  { quality: 80, scale: 1 },
  { quality: 65, scale: 1 },
  { quality: 70, scale: 0.75 },
  { quality: 65, scale: 0.55 },
  { quality: 60, scale: 0.4 },
  { quality: 55, scale: 0.28 },
];

type SharpFactory = (typeof import('sharp'))['default'];
let sharpModule: Promise<SharpFactory> | undefined;

function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}

/** Why a picture could not be made. */
export class SnapshotImageError extends Error {
  constructor(
    readonly reason: 'not_an_image' | 'too_large',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SnapshotImageError';
  }
}

async function fit(
  make: (sharp: SharpFactory) => Sharp,
  width: number,
  height: number,
  bounds: JpegBounds,
): Promise<FittedJpeg> {
  const sharp = await loadSharp();
  const startWidth = bounds.maxWidth > 0 ? Math.min(width, bounds.maxWidth) : width;
  let smallest = Infinity;
  for (const t of TRIES) {
    const w = Math.max(Math.min(MIN_WIDTH, width), Math.round(startWidth * t.scale));
    const h = Math.max(1, Math.round((height * w) / width));
    const img = make(sharp);
    if (w !== width) img.resize(w, h, { fit: 'fill' });
    const { data, info } = await img
      .jpeg({ quality: t.quality, mozjpeg: false })
      .toBuffer({ resolveWithObject: true });
    if (data.length <= bounds.maxBytes) return { jpeg: data, width: info.width, height: info.height };
    smallest = Math.min(smallest, data.length);
    if (w <= MIN_WIDTH) break;
  }
  throw new SnapshotImageError(
    'too_large',
    `the smallest JPEG made was ${smallest} bytes, over the ${bounds.maxBytes} asked for`,
  );
}

/** A raw RGB frame (packed, 3 bytes per pixel) as a JPEG within `bounds`. */
export async function jpegFromRgb(
  frame: { data: Buffer; width: number; height: number },
  bounds: JpegBounds,
): Promise<FittedJpeg> {
  const raw = { width: frame.width, height: frame.height, channels: 3 } as const;
  return fit((sharp) => sharp(frame.data, { raw }), frame.width, frame.height, bounds);
}

/**
 * A camera's snapshot bytes as a JPEG within `bounds`: passed through when it is a JPEG that
 * already fits, re-encoded otherwise. Throws {@link SnapshotImageError}.
 */
export async function fitCameraImage(body: Buffer, bounds: JpegBounds): Promise<FittedJpeg> {
  const sharp = await loadSharp();
  const options = { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true } as const;
  let meta: { format: string; width: number; height: number; orientation?: number | undefined };
  try {
    meta = await sharp(body, options).metadata();
  } catch (err) {
    throw new SnapshotImageError('not_an_image', `the camera's snapshot is not a readable image`, {
      cause: err,
    });
  }
  const { width, height } = meta;
  if (!(width > 0 && height > 0)) {
    throw new SnapshotImageError('not_an_image', `the camera's snapshot has no size`);
  }
  const rotated = meta.orientation !== undefined && meta.orientation >= 5;
  const upright = rotated ? { width: height, height: width } : { width, height };
  const fitsWidth = bounds.maxWidth === 0 || upright.width <= bounds.maxWidth;
  if (meta.format === 'jpeg' && !rotated && fitsWidth && body.length <= bounds.maxBytes) {
    return { jpeg: body, width, height };
  }
  try {
    return await fit((s) => s(body, options), upright.width, upright.height, bounds);
  } catch (err) {
    if (err instanceof SnapshotImageError) throw err;
    throw new SnapshotImageError('not_an_image', `the camera's snapshot cannot be decoded`, { cause: err });
  }
}
