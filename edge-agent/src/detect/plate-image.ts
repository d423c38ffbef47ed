/**
 * Tensor packing the plate stages need beyond image.ts: an image into a CHW tensor larger than
 * itself (right/bottom padding, as the text detector wants sides that are multiples of 32), and
 * several crops of different widths into one recogniser batch.
 */
import type { Normalisation } from './image.ts';
import type { Box, Point, RgbImage } from './types.ts';

/**
 * Which image channel feeds tensor channel 0, 1, 2. PaddleOCR trains on OpenCV (BGR) images, but
 * on rendered plates (3 colours × 7 widths × 6 variations) RGB read slightly better (exact reads
 * ≥ 80 px: RGB 0.926, BGR 0.907), and RGB is what the manifest declares: RGB is the default.
 */
export type ChannelOrder = readonly [number, number, number];

/** RGB → tensor channels 0, 1, 2. */
export const RGB_ORDER: ChannelOrder = [0, 1, 2];
/** BGR → tensor channels 0, 1, 2 (OpenCV order). */
export const BGR_ORDER: ChannelOrder = [2, 1, 0];

/**
 * `image` as a [1, 3, tensorH, tensorW] tensor, normalised `(v − mean[c]) / std[c]` on 0..255
 * values, the image in the top-left corner and the padding left at 0 (the mean colour).
 */
export function toPaddedChw(
  image: RgbImage,
  tensorW: number,
  tensorH: number,
  norm: Normalisation,
  order: ChannelOrder = RGB_ORDER,
): Float32Array {
  const plane = tensorW * tensorH;
  const out = new Float32Array(3 * plane);
  const w = Math.min(image.width, tensorW);
  const h = Math.min(image.height, tensorH);
  const d = image.data;
  for (let c = 0; c < 3; c++) {
    const src = order[c] ?? c;
    const mean = norm.mean[c] ?? 0;
    const inv = 1 / (norm.std[c] ?? 1);
    const base = c * plane;
    for (let y = 0; y < h; y++) {
      let p = y * image.width * 3 + src;
      const row = base + y * tensorW;
      for (let x = 0; x < w; x++, p += 3) out[row + x] = ((d[p] ?? 0) - mean) * inv;
    }
  }
  return out;
}

/**
 * Pack crops (each `height` tall) into one [n, 3, height, tensorW] tensor, normalised
 * `(v/255 − .5)/.5`, each left-aligned and right-padded with 0 (mid-grey).
 */
export function packRecTensor(
  crops: readonly RgbImage[],
  height: number,
  tensorW: number,
  order: ChannelOrder = RGB_ORDER,
): Float32Array {
  const plane = height * tensorW;
  const out = new Float32Array(crops.length * 3 * plane);
  crops.forEach((crop, n) => {
    const w = Math.min(crop.width, tensorW);
    const h = Math.min(height, crop.height);
    for (let c = 0; c < 3; c++) {
      const src = order[c] ?? c;
      const base = (n * 3 + c) * plane;
      for (let y = 0; y < h; y++) {
        let p = y * crop.width * 3 + src;
        const row = base + y * tensorW;
        for (let x = 0; x < w; x++, p += 3) out[row + x] = (crop.data[p] ?? 0) / 127.5 - 1;
      }
    }
  });
  return out;
}

/** Axis-aligned bounds of points (zero box at the origin for none). */
export function boundsOf(points: readonly Point[]): Box {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const p of points) {
    minX = Math.min(minX, p.x);
    minY = Math.min(minY, p.y);
    maxX = Math.max(maxX, p.x);
    maxY = Math.max(maxY, p.y);
  }
  if (minX > maxX) return { x: 0, y: 0, width: 0, height: 0 };
  return { x: minX, y: minY, width: maxX - minX, height: maxY - minY };
}

/**
 * Bilinear-resize the `region` (whole pixels inside the image) of `image` to `outW`×`outH` and
 * write it straight into a [1, 3, tensorH, tensorW] normalised tensor (padding 0), in one pass:
 * the detector's input without an intermediate image. Pixel-centre aligned like image.ts's
 * resizeBilinear; meant for shrinking by less than 2× (callers box-filter larger shrinks first).
 */
export function resizeToPaddedChw(
  image: RgbImage,
  region: Box,
  outW: number,
  outH: number,
  tensorW: number,
  tensorH: number,
  norm: Normalisation,
  order: ChannelOrder = RGB_ORDER,
): Float32Array {
  const plane = tensorW * tensorH;
  const out = new Float32Array(3 * plane);
  const sx = region.width / outW;
  const sy = region.height / outH;
  const maxX = region.width - 1;
  const maxY = region.height - 1;
  const x0s = new Int32Array(outW);
  const x1s = new Int32Array(outW);
  const wxs = new Float32Array(outW);
  for (let ox = 0; ox < outW; ox++) {
    const fx = Math.min(maxX, Math.max(0, (ox + 0.5) * sx - 0.5));
    const x0 = Math.floor(fx);
    x0s[ox] = (region.x + x0) * 3;
    x1s[ox] = (region.x + Math.min(maxX, x0 + 1)) * 3;
    wxs[ox] = fx - x0;
  }
  const [c0, c1, c2] = order;
  const m0 = norm.mean[0] ?? 0;
  const m1 = norm.mean[1] ?? 0;
  const m2 = norm.mean[2] ?? 0;
  const k0 = 1 / (norm.std[0] ?? 1);
  const k1 = 1 / (norm.std[1] ?? 1);
  const k2 = 1 / (norm.std[2] ?? 1);
  // Bilinear weights sum to 1, so normalising each corner first and interpolating the normalised
  // values gives the same result: do it with a 256-entry table per tensor channel.
  const lut0 = new Float32Array(256);
  const lut1 = new Float32Array(256);
  const lut2 = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    lut0[v] = (v - m0) * k0;
    lut1[v] = (v - m1) * k1;
    lut2[v] = (v - m2) * k2;
  }
  const d = image.data;
  const stride = image.width * 3;
  const rows = Math.min(outH, tensorH);
  const cols = Math.min(outW, tensorW);
  const p1 = plane;
  const p2 = 2 * plane;
  for (let oy = 0; oy < rows; oy++) {
    const fy = Math.min(maxY, Math.max(0, (oy + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const wy = fy - y0;
    const wy0 = 1 - wy;
    const row0 = (region.y + y0) * stride;
    const row1 = (region.y + Math.min(maxY, y0 + 1)) * stride;
    let o = oy * tensorW;
    for (let ox = 0; ox < cols; ox++, o++) {
      const xa = x0s[ox] as number;
      const xb = x1s[ox] as number;
      const wx = wxs[ox] as number;
      const w00 = (1 - wx) * wy0;
      const w01 = wx * wy0;
      const w10 = (1 - wx) * wy;
      const w11 = wx * wy;
      const a = row0 + xa;
      const b = row0 + xb;
      const c = row1 + xa;
      const e = row1 + xb;
      out[o] =
        (lut0[d[a + c0] as number] as number) * w00 +
        (lut0[d[b + c0] as number] as number) * w01 +
        (lut0[d[c + c0] as number] as number) * w10 +
        (lut0[d[e + c0] as number] as number) * w11;
      out[p1 + o] =
        (lut1[d[a + c1] as number] as number) * w00 +
        (lut1[d[b + c1] as number] as number) * w01 +
        (lut1[d[c + c1] as number] as number) * w10 +
        (lut1[d[e + c1] as number] as number) * w11;
      out[p2 + o] =
        (lut2[d[a + c2] as number] as number) * w00 +
        (lut2[d[b + c2] as number] as number) * w01 +
        (lut2[d[c + c2] as number] as number) * w10 +
        (lut2[d[e + c2] as number] as number) * w11;
    }
  }
  return out;
}
