/**
 * Image helpers on {@link RgbImage}: validation, crop, resize, letterbox, model tensors,
 * perspective crops, and (through sharp) decoding files and encoding JPEG.
 *
 * The per-frame paths (resize, letterbox, tensors, warpQuad) are plain TypeScript over typed
 * arrays: a 720p frame never leaves the worker, and they cost well under a millisecond per
 * 256² tile (see test/edge/detect-face-accuracy.test.ts for the measured numbers). sharp is used
 * only for files and JPEG, and is loaded lazily so the inference worker never loads libvips.
 */
import { readFile, stat } from 'node:fs/promises';

import { EdgeError } from '../errors.ts';
import type { Box, Point, RgbImage } from './types.ts';

/** Throw EDGE_ERR_DETECT_INPUT unless `image` is a well-formed packed RGB image. */
export function assertRgbImage(image: RgbImage, what = 'image'): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${what} has size ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new EdgeError(
      'EDGE_ERR_DETECT_INPUT',
      `${what} is ${width}x${height} but holds ${data.length} bytes, not ${width * height * 3} (packed RGB)`,
    );
  }
}

/** `box` clipped to the image and snapped outward to whole pixels; undefined if nothing is left. */
export function clipBox(box: Box, width: number, height: number): Box | undefined {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width));
  const y1 = Math.min(height, Math.ceil(box.y + box.height));
  if (!(x1 > x0 && y1 > y0)) return undefined;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Copy of the pixels inside `box` (clipped to the image, whole pixels). */
export function cropImage(image: RgbImage, box: Box): RgbImage {
  const r = clipBox(box, image.width, image.height);
  if (r === undefined) throw new EdgeError('EDGE_ERR_DETECT_INPUT', 'crop box lies outside the image');
  const out = new Uint8Array(r.width * r.height * 3);
  const rowBytes = r.width * 3;
  for (let y = 0; y < r.height; y++) {
    const src = ((r.y + y) * image.width + r.x) * 3;
    out.set(image.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return { data: out, width: r.width, height: r.height };
}

/**
 * Average `k`×`k` blocks of `region` (whole pixels inside the image): an area filter for large
 * downscales, where bilinear sampling alone would alias. Partial blocks at the edges average
 * what they cover.
 */
function boxDownsample(image: RgbImage, region: Box, k: number): RgbImage {
  const w = Math.ceil(region.width / k);
  const h = Math.ceil(region.height / k);
  const sums = new Uint32Array(w * 3);
  const out = new Uint8Array(w * h * 3);
  const src = image.data;
  const fullCols = Math.floor(region.width / k);
  const lastCols = region.width - fullCols * k;
  for (let oy = 0; oy < h; oy++) {
    sums.fill(0);
    const yEnd = Math.min(region.height, (oy + 1) * k);
    for (let y = oy * k; y < yEnd; y++) {
      let p = ((region.y + y) * image.width + region.x) * 3;
      let s = 0;
      for (let ox = 0; ox < fullCols; ox++, s += 3) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let dx = 0; dx < k; dx++, p += 3) {
          r += src[p] as number;
          g += src[p + 1] as number;
          b += src[p + 2] as number;
        }
        sums[s] = (sums[s] as number) + r;
        sums[s + 1] = (sums[s + 1] as number) + g;
        sums[s + 2] = (sums[s + 2] as number) + b;
      }
      for (let dx = 0; dx < lastCols; dx++, p += 3) {
        sums[s] = (sums[s] as number) + (src[p] as number);
        sums[s + 1] = (sums[s + 1] as number) + (src[p + 1] as number);
        sums[s + 2] = (sums[s + 2] as number) + (src[p + 2] as number);
      }
    }
    const rows = yEnd - oy * k;
    const row = oy * w * 3;
    for (let ox = 0; ox < w; ox++) {
      const inv = 1 / (rows * (ox < fullCols ? k : lastCols));
      const s = ox * 3;
      out[row + s] = (sums[s] as number) * inv + 0.5;
      out[row + s + 1] = (sums[s + 1] as number) * inv + 0.5;
      out[row + s + 2] = (sums[s + 2] as number) * inv + 0.5;
    }
  }
  return { data: out, width: w, height: h };
}

/**
 * Resize the part of `image` inside `region` (default: all of it) to `outW`×`outH`: bilinear,
 * pixel-centre aligned, edges clamped. Downscales beyond 2× are box-filtered first by an
 * integer factor (bilinear alone samples only 2×2 source pixels per output pixel and aliases).
 */
export function resizeBilinear(image: RgbImage, outW: number, outH: number, region?: Box): RgbImage {
  if (!Number.isInteger(outW) || !Number.isInteger(outH) || outW <= 0 || outH <= 0) {
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', `resize target ${outW}x${outH}`);
  }
  let r =
    region === undefined
      ? { x: 0, y: 0, width: image.width, height: image.height }
      : clipBox(region, image.width, image.height);
  if (r === undefined) throw new EdgeError('EDGE_ERR_DETECT_INPUT', 'resize region lies outside the image');
  let src = image;
  const k = Math.ceil(Math.min(r.width / outW, r.height / outH) / 2);
  if (k >= 2) {
    src = boxDownsample(image, r, k);
    r = { x: 0, y: 0, width: src.width, height: src.height };
  }
  const out = new Uint8Array(outW * outH * 3);
  const sx = r.width / outW;
  const sy = r.height / outH;
  const data = src.data;
  const stride = src.width * 3;
  const maxX = r.width - 1;
  const maxY = r.height - 1;
  // Column offsets and weights are the same for every row: compute them once.
  const x0s = new Int32Array(outW);
  const dxs = new Int32Array(outW);
  const fxs = new Float32Array(outW);
  for (let ox = 0; ox < outW; ox++) {
    const fx = Math.min(maxX, Math.max(0, (ox + 0.5) * sx - 0.5));
    const x0 = Math.floor(fx);
    x0s[ox] = (r.x + x0) * 3;
    dxs[ox] = (Math.min(maxX, x0 + 1) - x0) * 3;
    fxs[ox] = fx - x0;
  }
  let o = 0;
  for (let oy = 0; oy < outH; oy++) {
    const fy = Math.min(maxY, Math.max(0, (oy + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const wy = fy - y0;
    const row0 = (r.y + y0) * stride;
    const dy = (Math.min(maxY, y0 + 1) - y0) * stride;
    for (let ox = 0; ox < outW; ox++) {
      const a = row0 + (x0s[ox] as number);
      const dx = dxs[ox] as number;
      const wx = fxs[ox] as number;
      for (let ch = 0; ch < 3; ch++) {
        const p = a + ch;
        const tl = data[p] as number;
        const tr = data[p + dx] as number;
        const bl = data[p + dy] as number;
        const br = data[p + dy + dx] as number;
        const top = tl + (tr - tl) * wx;
        out[o++] = top + (bl + (br - bl) * wx - top) * wy + 0.5;
      }
    }
  }
  return { data: out, width: outW, height: outH };
}

/** Per-channel `(v - mean) / std` on 0..255 values. */
export interface Normalisation {
  mean: readonly number[];
  std: readonly number[];
}

/** How a letterboxed square maps back to the source image. */
export interface LetterboxTransform {
  /** Model pixels per source pixel. */
  scale: number;
  /** Where the content starts inside the square (model pixels). */
  padX: number;
  padY: number;
  /** The source region that was letterboxed (image pixels, whole). */
  region: Box;
}

/** A point in letterbox pixels → image pixels. */
export function fromLetterbox(t: LetterboxTransform, p: Point): Point {
  return { x: t.region.x + (p.x - t.padX) / t.scale, y: t.region.y + (p.y - t.padY) / t.scale };
}

/** A box in letterbox pixels → image pixels. */
export function boxFromLetterbox(t: LetterboxTransform, b: Box): Box {
  const p = fromLetterbox(t, { x: b.x, y: b.y });
  return { x: p.x, y: p.y, width: b.width / t.scale, height: b.height / t.scale };
}

/**
 * Where `r` lands letterboxed into `width`×`height`: aspect kept, centred, whole pixels. The
 * exact scale per axis differs slightly after rounding; the transform's mean keeps both within
 * 0.5 px.
 */
function fitInto(
  r: Box,
  width: number,
  height: number,
): { w: number; h: number; padX: number; padY: number; transform: LetterboxTransform } {
  const scale = Math.min(width / r.width, height / r.height);
  const w = Math.max(1, Math.min(width, Math.round(r.width * scale)));
  const h = Math.max(1, Math.min(height, Math.round(r.height * scale)));
  const padX = Math.floor((width - w) / 2);
  const padY = Math.floor((height - h) / 2);
  return { w, h, padX, padY, transform: { scale: (w / r.width + h / r.height) / 2, padX, padY, region: r } };
}

/**
 * Fit `region` of `image` (default all) into a `size`×`size` square, aspect kept, centred, the
 * rest filled with `pad` (black by default). Returns the square and how to map back.
 */
export function letterbox(
  image: RgbImage,
  size: number,
  region?: Box,
  pad: readonly [number, number, number] = [0, 0, 0],
): { image: RgbImage; transform: LetterboxTransform } {
  const r =
    region === undefined
      ? { x: 0, y: 0, width: image.width, height: image.height }
      : clipBox(region, image.width, image.height);
  if (r === undefined)
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', 'letterbox region lies outside the image');
  const { w, h, padX, padY, transform } = fitInto(r, size, size);
  const content = resizeBilinear(image, w, h, r);
  const out = new Uint8Array(size * size * 3);
  if (pad[0] !== 0 || pad[1] !== 0 || pad[2] !== 0) {
    for (let i = 0; i < out.length; i += 3) {
      out[i] = pad[0];
      out[i + 1] = pad[1];
      out[i + 2] = pad[2];
    }
  }
  for (let y = 0; y < h; y++) {
    out.set(content.data.subarray(y * w * 3, (y + 1) * w * 3), ((padY + y) * size + padX) * 3);
  }
  return { image: { data: out, width: size, height: size }, transform };
}

/** Write `image` as float32 in NHWC (`[1,H,W,3]`) or NCHW (`[1,3,H,W]`) order, normalised. */
export function toTensor(
  image: RgbImage,
  layout: 'NHWC' | 'NCHW',
  norm: Normalisation,
  out: Float32Array = new Float32Array(image.width * image.height * 3),
): Float32Array {
  const n = image.width * image.height;
  if (out.length < n * 3) throw new EdgeError('EDGE_ERR_DETECT_INPUT', 'tensor buffer too small');
  const m0 = norm.mean[0] ?? 0;
  const m1 = norm.mean[1] ?? 0;
  const m2 = norm.mean[2] ?? 0;
  const s0 = 1 / (norm.std[0] ?? 1);
  const s1 = 1 / (norm.std[1] ?? 1);
  const s2 = 1 / (norm.std[2] ?? 1);
  const d = image.data;
  if (layout === 'NHWC') {
    for (let i = 0, p = 0; i < n; i++, p += 3) {
      out[p] = ((d[p] ?? 0) - m0) * s0;
      out[p + 1] = ((d[p + 1] ?? 0) - m1) * s1;
      out[p + 2] = ((d[p + 2] ?? 0) - m2) * s2;
    }
  } else {
    for (let i = 0, p = 0; i < n; i++, p += 3) {
      out[i] = ((d[p] ?? 0) - m0) * s0;
      out[n + i] = ((d[p + 1] ?? 0) - m1) * s1;
      out[2 * n + i] = ((d[p + 2] ?? 0) - m2) * s2;
    }
  }
  return out;
}

/**
 * Letterbox `region` of `image` straight into a normalised float32 NHWC tensor
 * (`[1,size,size,3]`, or `[1,height,width,3]` for a rectangle), the hot path of the face detector: no intermediate images. Up to 2×
 * downscale (and any upscale) is bilinear; beyond, each output pixel averages an n×n grid of
 * point samples over its footprint (n = ⌈ratio/2⌉: a box filter at a bounded cost). The
 * padding is black (0 before normalisation). Returns the transform back to image pixels.
 */
export function letterboxTensor(
  image: RgbImage,
  size: number | { width: number; height: number },
  region: Box | undefined,
  norm: Normalisation,
  out?: Float32Array,
): LetterboxTransform {
  const W = typeof size === 'number' ? size : size.width;
  const H = typeof size === 'number' ? size : size.height;
  const tensor = out ?? new Float32Array(W * H * 3);
  const r =
    region === undefined
      ? { x: 0, y: 0, width: image.width, height: image.height }
      : clipBox(region, image.width, image.height);
  if (r === undefined)
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', 'letterbox region lies outside the image');
  if (!(W >= 1 && H >= 1) || tensor.length < W * H * 3)
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', 'tensor buffer too small');
  const { w: cw, h: chh, padX, padY, transform } = fitInto(r, W, H);
  const s0 = 1 / (norm.std[0] ?? 1);
  const s1 = 1 / (norm.std[1] ?? 1);
  const s2 = 1 / (norm.std[2] ?? 1);
  const b0 = -(norm.mean[0] ?? 0) * s0;
  const b1 = -(norm.mean[1] ?? 0) * s1;
  const b2 = -(norm.mean[2] ?? 0) * s2;
  // Padding only: the rows above and below the content, and the columns beside it.
  const pad = (from: number, to: number): void => {
    for (let i = from * 3; i < to * 3; i += 3) {
      tensor[i] = b0;
      tensor[i + 1] = b1;
      tensor[i + 2] = b2;
    }
  };
  pad(0, padY * W);
  pad((padY + chh) * W, W * H);
  if (cw < W) {
    for (let y = padY; y < padY + chh; y++) {
      pad(y * W, y * W + padX);
      pad(y * W + padX + cw, (y + 1) * W);
    }
  }
  const sx = r.width / cw;
  const sy = r.height / chh;
  const d = image.data;
  const stride = image.width * 3;
  const ratio = Math.max(sx, sy);
  if (ratio <= 2) {
    const maxX = r.width - 1;
    const maxY = r.height - 1;
    const x0s = new Int32Array(cw);
    const dxs = new Int32Array(cw);
    const fxs = new Float64Array(cw);
    for (let ox = 0; ox < cw; ox++) {
      const fx = Math.min(maxX, Math.max(0, (ox + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      x0s[ox] = (r.x + x0) * 3;
      dxs[ox] = (Math.min(maxX, x0 + 1) - x0) * 3;
      fxs[ox] = fx - x0;
    }
    for (let oy = 0; oy < chh; oy++) {
      const fy = Math.min(maxY, Math.max(0, (oy + 0.5) * sy - 0.5));
      const y0 = Math.floor(fy);
      const wy = fy - y0;
      const iwy = 1 - wy;
      const row0 = (r.y + y0) * stride;
      const row1 = row0 + (Math.min(maxY, y0 + 1) - y0) * stride;
      let o = ((padY + oy) * W + padX) * 3;
      for (let ox = 0; ox < cw; ox++, o += 3) {
        const xo = x0s[ox] as number;
        const a = row0 + xo;
        const c = row1 + xo;
        const dx = dxs[ox] as number;
        const wx = fxs[ox] as number;
        const iwx = 1 - wx;
        const w00 = iwx * iwy;
        const w01 = wx * iwy;
        const w10 = iwx * wy;
        const w11 = wx * wy;
        tensor[o] =
          ((d[a] as number) * w00 +
            (d[a + dx] as number) * w01 +
            (d[c] as number) * w10 +
            (d[c + dx] as number) * w11) *
            s0 +
          b0;
        tensor[o + 1] =
          ((d[a + 1] as number) * w00 +
            (d[a + 1 + dx] as number) * w01 +
            (d[c + 1] as number) * w10 +
            (d[c + 1 + dx] as number) * w11) *
            s1 +
          b1;
        tensor[o + 2] =
          ((d[a + 2] as number) * w00 +
            (d[a + 2 + dx] as number) * w01 +
            (d[c + 2] as number) * w10 +
            (d[c + 2 + dx] as number) * w11) *
            s2 +
          b2;
      }
    }
  } else {
    const n = Math.ceil(ratio / 2);
    const inv = 1 / (n * n);
    const xt = new Int32Array(cw * n);
    for (let ox = 0; ox < cw; ox++) {
      for (let t = 0; t < n; t++) {
        xt[ox * n + t] = (r.x + Math.min(r.width - 1, Math.floor((ox + (t + 0.5) / n) * sx))) * 3;
      }
    }
    const yt = new Int32Array(n);
    for (let oy = 0; oy < chh; oy++) {
      for (let t = 0; t < n; t++)
        yt[t] = (r.y + Math.min(r.height - 1, Math.floor((oy + (t + 0.5) / n) * sy))) * stride;
      let o = ((padY + oy) * W + padX) * 3;
      for (let ox = 0; ox < cw; ox++, o += 3) {
        let red = 0;
        let green = 0;
        let blue = 0;
        for (let ty = 0; ty < n; ty++) {
          const row = yt[ty] as number;
          for (let tx = 0; tx < n; tx++) {
            const p = row + (xt[ox * n + tx] as number);
            red += d[p] as number;
            green += d[p + 1] as number;
            blue += d[p + 2] as number;
          }
        }
        tensor[o] = red * inv * s0 + b0;
        tensor[o + 1] = green * inv * s1 + b1;
        tensor[o + 2] = blue * inv * s2 + b2;
      }
    }
  }
  return transform;
}

/** Solve `A x = b` (n×n, row-major) by Gaussian elimination with partial pivoting. */
function solveLinear(a: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] ?? 0]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(m[r]?.[col] ?? 0) > Math.abs(m[pivot]?.[col] ?? 0)) pivot = r;
    }
    const pr = m[pivot];
    if (pr === undefined || Math.abs(pr[col] ?? 0) < 1e-12) return undefined;
    m[pivot] = m[col] ?? pr;
    m[col] = pr;
    for (let r = 0; r < n; r++) {
      const row = m[r];
      if (r === col || row === undefined) continue;
      const f = (row[col] ?? 0) / (pr[col] ?? 1);
      for (let c = col; c <= n; c++) row[c] = (row[c] ?? 0) - f * (pr[c] ?? 0);
    }
  }
  return m.map((row, i) => (row[n] ?? 0) / (row[i] ?? 1));
}

/**
 * The homography (row-major 3×3, h33 = 1) taking `from[i]` to `to[i]` for four point pairs;
 * undefined when the points are degenerate (three collinear).
 */
export function homography(
  from: readonly [Point, Point, Point, Point],
  to: readonly [Point, Point, Point, Point],
): number[] | undefined {
  const a: number[][] = [];
  const b: number[] = [];
  for (let i = 0; i < 4; i++) {
    const { x, y } = from[i] as Point;
    const { x: u, y: v } = to[i] as Point;
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y]);
    b.push(u);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y]);
    b.push(v);
  }
  const h = solveLinear(a, b);
  return h === undefined ? undefined : [...h, 1];
}

/**
 * Perspective-crop the quadrilateral `quad` (clockwise from top-left, image pixels) into an
 * upright `outW`×`outH` image: the quad's top-left corner goes to (0,0), top-right to (outW,0),
 * and so on. Bilinear, edges replicated (as PaddleOCR's rotate-crop does).
 */
export function warpQuad(
  image: RgbImage,
  quad: readonly [Point, Point, Point, Point],
  outW: number,
  outH: number,
): RgbImage {
  assertRgbImage(image);
  if (!Number.isInteger(outW) || !Number.isInteger(outH) || outW <= 0 || outH <= 0) {
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', `warp target ${outW}x${outH}`);
  }
  const rect: [Point, Point, Point, Point] = [
    { x: 0, y: 0 },
    { x: outW, y: 0 },
    { x: outW, y: outH },
    { x: 0, y: outH },
  ];
  const h = homography(rect, quad);
  if (h === undefined) throw new EdgeError('EDGE_ERR_DETECT_INPUT', 'degenerate quadrilateral');
  const [h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0, h6 = 0, h7 = 0, h8 = 1] = h;
  const out = new Uint8Array(outW * outH * 3);
  const { width, height, data } = image;
  const maxX = width - 1;
  const maxY = height - 1;
  let o = 0;
  for (let oy = 0; oy < outH; oy++) {
    const v = oy + 0.5;
    for (let ox = 0; ox < outW; ox++) {
      const u = ox + 0.5;
      const w = h6 * u + h7 * v + h8;
      const sx = Math.min(maxX, Math.max(0, (h0 * u + h1 * v + h2) / w - 0.5));
      const sy = Math.min(maxY, Math.max(0, (h3 * u + h4 * v + h5) / w - 0.5));
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(maxX, x0 + 1);
      const y1 = Math.min(maxY, y0 + 1);
      const wx = sx - x0;
      const wy = sy - y0;
      const a = (y0 * width + x0) * 3;
      const b = (y0 * width + x1) * 3;
      const c = (y1 * width + x0) * 3;
      const d = (y1 * width + x1) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = (data[a + ch] ?? 0) + ((data[b + ch] ?? 0) - (data[a + ch] ?? 0)) * wx;
        const bot = (data[c + ch] ?? 0) + ((data[d + ch] ?? 0) - (data[c + ch] ?? 0)) * wx;
        out[o++] = top + (bot - top) * wy + 0.5;
      }
    }
  }
  return { data: out, width: outW, height: outH };
}

/** Limits for decoding an untrusted image file. */
export interface DecodeLimits {
  /** Largest width×height accepted. Default {@link DEFAULT_MAX_PIXELS} (50 MP). */
  maxPixels?: number;
  /** Largest file accepted, bytes. Default {@link DEFAULT_MAX_FILE_BYTES}. */
  maxBytes?: number;
}

/** 50 megapixels: above any camera frame, below what exhausts an NVR's memory. */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/** 64 MiB. */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Raster formats accepted by {@link decodeImage} (no SVG/PDF: they are programs, not photos). */
export const DECODABLE_FORMATS: readonly string[] = ['jpeg', 'png', 'webp', 'tiff', 'gif'];

type SharpFactory = (typeof import('sharp'))['default'];

let sharpModule: Promise<SharpFactory> | undefined;

function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}

function describeSharpError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(msg)) return `too large: ${msg}`;
  if (/unsupported image format/i.test(msg))
    return 'not an image in a supported format (JPEG, PNG, WebP, TIFF, GIF)';
  if (/premature end|truncated|corrupt|bad huffman|invalid|read error|end of file/i.test(msg)) {
    return `damaged or truncated: ${msg}`;
  }
  return msg;
}

/**
 * Decode image bytes (JPEG, PNG, WebP, TIFF, GIF's first frame) to packed RGB, EXIF orientation
 * applied, alpha dropped, grey expanded. Anything unusable — empty, truncated, damaged, another
 * format, over `maxPixels` — is EDGE_ERR_DETECT_INPUT naming `source`.
 */
export async function decodeImage(
  bytes: Uint8Array,
  source = 'image',
  limits: DecodeLimits = {},
): Promise<RgbImage> {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${source} is empty (0 bytes)`);
  const sharp = await loadSharp();
  const options = { failOn: 'warning', limitInputPixels: maxPixels, autoOrient: true } as const;
  let format: string;
  let w = 0;
  let h = 0;
  try {
    const meta = await sharp(bytes, options).metadata();
    format = meta.format;
    w = meta.width;
    h = meta.height;
  } catch (err) {
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${source}: ${describeSharpError(err)}`, { cause: err });
  }
  if (!DECODABLE_FORMATS.includes(format)) {
    throw new EdgeError(
      'EDGE_ERR_DETECT_INPUT',
      `${source}: format ${format} is not accepted (${DECODABLE_FORMATS.join(', ')})`,
    );
  }
  if (w <= 0 || h <= 0) throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${source} has size ${w}x${h}`);
  if (w * h > maxPixels) {
    throw new EdgeError(
      'EDGE_ERR_DETECT_INPUT',
      `${source} is too large: ${w}x${h} exceeds ${maxPixels} pixels`,
    );
  }
  try {
    const { data, info } = await sharp(bytes, options)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${source}: decoded to ${info.channels} channels, not 3`);
    }
    const image = {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
    };
    assertRgbImage(image, source);
    return image;
  } catch (err) {
    if (err instanceof EdgeError) throw err;
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${source}: ${describeSharpError(err)}`, { cause: err });
  }
}

/** Read and decode an image file; see {@link decodeImage}. Missing/unreadable files are EDGE_ERR_DETECT_INPUT. */
export async function decodeImageFile(path: string, limits: DecodeLimits = {}): Promise<RgbImage> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new EdgeError(
      'EDGE_ERR_DETECT_INPUT',
      `${path}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  if (size === 0) throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${path} is empty (0 bytes)`);
  if (size > maxBytes) {
    throw new EdgeError('EDGE_ERR_DETECT_INPUT', `${path} is too large: ${size} bytes exceeds ${maxBytes}`);
  }
  return decodeImage(await readFile(path), path, limits);
}

/** Options of {@link encodeJpeg}. */
export interface JpegOptions {
  /** Starting quality 1..100. Default 85. */
  quality?: number;
  /** Scale down (aspect kept) so neither side exceeds this. Default: no limit. */
  maxSide?: number;
  /** Lower quality, then size, until the JPEG fits. Default: no limit. */
  maxBytes?: number;
  /** Lowest quality tried before shrinking. Default 40. */
  minQuality?: number;
}

/**
 * Encode `image` as baseline JPEG (4:2:0). With `maxBytes`, quality steps down to `minQuality`,
 * then the image shrinks by 3/4 per step until it fits; EDGE_ERR_DETECT_INPUT if even 16 px
 * does not.
 */
export async function encodeJpeg(image: RgbImage, opts: JpegOptions = {}): Promise<Buffer> {
  assertRgbImage(image);
  const sharp = await loadSharp();
  const startQuality = Math.min(100, Math.max(1, Math.round(opts.quality ?? 85)));
  const minQuality = Math.min(startQuality, Math.max(1, Math.round(opts.minQuality ?? 40)));
  let scale =
    opts.maxSide === undefined ? 1 : Math.min(1, opts.maxSide / Math.max(image.width, image.height));
  for (;;) {
    const w = Math.max(1, Math.round(image.width * scale));
    const h = Math.max(1, Math.round(image.height * scale));
    for (let q = startQuality; ; q = Math.max(minQuality, q - 10)) {
      let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
      if (w !== image.width || h !== image.height) pipeline = pipeline.resize(w, h, { fit: 'fill' });
      const jpeg = await pipeline.jpeg({ quality: q, mozjpeg: false }).toBuffer();
      if (opts.maxBytes === undefined || jpeg.length <= opts.maxBytes) return jpeg;
      if (q <= minQuality) break;
    }
    if (Math.max(w, h) <= 16) {
      throw new EdgeError('EDGE_ERR_DETECT_INPUT', `cannot encode a JPEG within ${opts.maxBytes ?? 0} bytes`);
    }
    scale *= 0.75;
  }
}
