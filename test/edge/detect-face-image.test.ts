/**
 * Image helpers (image.ts), shared by the face and plate detectors: geometry, resampling,
 * tensors, perspective crops, and decoding untrusted files with clear errors.
 */
import { writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { makeTempDir } from '../bench/lifetime.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import {
  assertRgbImage,
  boxFromLetterbox,
  clipBox,
  cropImage,
  decodeImage,
  decodeImageFile,
  encodeJpeg,
  fromLetterbox,
  homography,
  letterbox,
  letterboxTensor,
  resizeBilinear,
  toTensor,
  warpQuad,
} from '../../edge-agent/src/detect/image.ts';
import type { RgbImage } from '../../edge-agent/src/detect/types.ts';
import { ASTRONAUT, CAMERA } from './fixtures/detect-face-photos.ts';

/** An image whose pixel (x, y) is (x mod 256, y mod 256, (x + y) mod 256). */
function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      data[p] = x & 255;
      data[p + 1] = y & 255;
      data[p + 2] = (x + y) & 255;
    }
  }
  return { data, width, height };
}

/** A smooth image (no edges), where different filters must agree closely. */
function smooth(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      data[p] = Math.round(127 + 100 * Math.sin(x / 60));
      data[p + 1] = Math.round(127 + 100 * Math.cos(y / 45));
      data[p + 2] = Math.round(127 + 100 * Math.sin((x + y) / 80));
    }
  }
  return { data, width, height };
}

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { data, width, height };
}

const px = (img: RgbImage, x: number, y: number): number[] => {
  const p = (y * img.width + x) * 3;
  return [img.data[p] ?? -1, img.data[p + 1] ?? -1, img.data[p + 2] ?? -1];
};

async function inputError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(isEdgeError(err, 'EDGE_ERR_DETECT_INPUT'), String(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected EDGE_ERR_DETECT_INPUT');
}

describe('geometry and resampling', () => {
  it('assertRgbImage rejects wrong sizes with EDGE_ERR_DETECT_INPUT', () => {
    expect(() => {
      assertRgbImage({ data: new Uint8Array(10), width: 2, height: 2 });
    }).toThrow(/holds 10 bytes, not 12/);
    expect(() => {
      assertRgbImage({ data: new Uint8Array(0), width: 0, height: 0 });
    }).toThrow(/size 0x0/);
  });

  it.each([
    { box: { x: -5, y: -5, width: 20, height: 20 }, out: { x: 0, y: 0, width: 15, height: 15 } },
    { box: { x: 1.5, y: 2.2, width: 3, height: 3 }, out: { x: 1, y: 2, width: 4, height: 4 } },
    { box: { x: 50, y: 50, width: 10, height: 10 }, out: undefined },
  ])('clipBox $box', ({ box, out }) => {
    expect(clipBox(box, 40, 30)).toEqual(out);
  });

  it('cropImage copies the pixels inside the box', () => {
    const img = gradient(40, 30);
    const c = cropImage(img, { x: 10, y: 5, width: 4, height: 3 });
    expect([c.width, c.height]).toEqual([4, 3]);
    expect(px(c, 0, 0)).toEqual([10, 5, 15]);
    expect(px(c, 3, 2)).toEqual([13, 7, 20]);
  });

  it('resizeBilinear keeps a solid colour and averages 2×2 blocks at exactly half size', () => {
    expect(px(resizeBilinear(solid(64, 48, [10, 200, 33]), 17, 13), 8, 6)).toEqual([10, 200, 33]);
    const img = gradient(64, 64);
    const half = resizeBilinear(img, 32, 32);
    // Output pixel (i, j) averages source pixels 2i, 2i+1: x = 2i + 0.5.
    expect(px(half, 5, 7)).toEqual([Math.round(10.5), Math.round(14.5), Math.round(25)]);
  });

  it('resizeBilinear box-filters large downscales (no aliasing of a fine checkerboard)', () => {
    const w = 300;
    const data = new Uint8Array(w * w * 3);
    for (let y = 0; y < w; y++)
      for (let x = 0; x < w; x++)
        data.fill((x + y) % 2 === 0 ? 255 : 0, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const small = resizeBilinear({ data, width: w, height: w }, 50, 50);
    for (const [x, y] of [
      [0, 0],
      [25, 25],
      [49, 10],
    ] as const) {
      expect(Math.abs((px(small, x, y)[0] ?? 0) - 128)).toBeLessThan(12);
    }
  });

  it('letterbox centres the content and maps points back', () => {
    const img = gradient(400, 200);
    const { image, transform } = letterbox(img, 256);
    expect([image.width, image.height]).toEqual([256, 256]);
    expect(transform.padX).toBe(0);
    expect(transform.padY).toBe(64);
    expect(px(image, 128, 10)).toEqual([0, 0, 0]); // padding
    const back = fromLetterbox(transform, { x: 128, y: 128 });
    expect(back.x).toBeCloseTo(200, 0);
    expect(back.y).toBeCloseTo(100, 0);
    const box = boxFromLetterbox(transform, { x: 0, y: 64, width: 256, height: 128 });
    expect(box.width).toBeCloseTo(400, 0);
    expect(box.height).toBeCloseTo(200, 0);
  });

  it('letterbox of a region offsets the mapping by the region', () => {
    const { transform } = letterbox(gradient(1280, 720), 256, { x: 384, y: 208, width: 512, height: 512 });
    const p = fromLetterbox(transform, { x: 0, y: 0 });
    expect([p.x, p.y]).toEqual([384, 208]);
    expect(transform.scale).toBe(0.5);
  });

  it('toTensor writes NHWC and NCHW with (v − mean)/std', () => {
    const img = { data: Uint8Array.from([0, 255, 127.5, 255, 0, 0]), width: 2, height: 1 };
    const norm = { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] };
    expect(Array.from(toTensor(img, 'NHWC', norm))).toEqual([-1, 1, expect.closeTo(-0.0039, 3), 1, -1, -1]);
    expect(Array.from(toTensor(img, 'NCHW', norm))).toEqual([-1, 1, 1, -1, expect.closeTo(-0.0039, 3), -1]);
  });

  it.each([
    { name: '2× downscale', region: { x: 100, y: 50, width: 512, height: 512 } },
    { name: 'upscale of a small region', region: { x: 10, y: 10, width: 100, height: 160 } },
    { name: 'whole 720p frame (area path)', region: undefined },
  ])('letterboxTensor ($name) agrees with letterbox + toTensor', ({ region }) => {
    const img = smooth(1280, 720);
    const norm = { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] };
    const ref = letterbox(img, 256, region);
    const expected = toTensor(ref.image, 'NHWC', norm);
    const got = new Float32Array(256 * 256 * 3);
    const t = letterboxTensor(img, 256, region, norm, got);
    expect(t).toEqual(ref.transform);
    let worst = 0;
    let sum = 0;
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs((got[i] ?? 0) - (expected[i] ?? 0));
      worst = Math.max(worst, d);
      sum += d;
    }
    // Same sampling up to uint8 rounding (1/255 ≈ 0.004 after normalisation); the area path
    // averages a grid of points where the reference averages whole blocks.
    expect(sum / got.length).toBeLessThan(region === undefined ? 0.01 : 0.004);
    expect(worst).toBeLessThan(region === undefined ? 0.05 : 0.01);
  });

  it.each([
    { name: 'a 720p frame into 640×384 (padding above and below)', w: 640, h: 384, region: undefined },
    {
      name: 'a tall region into 96×160 (padding beside)',
      w: 96,
      h: 160,
      region: { x: 30, y: 20, width: 60, height: 150 },
    },
  ])('letterboxTensor into a rectangle: $name — every value written, padding black', ({ w, h, region }) => {
    const img = smooth(1280, 720);
    const norm = { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] };
    const got = new Float32Array(w * h * 3).fill(NaN);
    const t = letterboxTensor(img, { width: w, height: h }, region, norm, got);
    expect(got.some(Number.isNaN)).toBe(false);
    // The corner pixel is padding (black → −1) and the centre is content mapped back inside the area.
    expect(Array.from(got.subarray(0, 3))).toEqual([-1, -1, -1]);
    const centre = fromLetterbox(t, { x: w / 2, y: h / 2 });
    const area = region ?? { x: 0, y: 0, width: 1280, height: 720 };
    expect(centre.x).toBeCloseTo(area.x + area.width / 2, 0);
    expect(centre.y).toBeCloseTo(area.y + area.height / 2, 0);
  });
});

describe('warpQuad', () => {
  it('an axis-aligned quad equals a crop', () => {
    const img = gradient(100, 80);
    const out = warpQuad(
      img,
      [
        { x: 20, y: 10 },
        { x: 60, y: 10 },
        { x: 60, y: 30 },
        { x: 20, y: 30 },
      ],
      40,
      20,
    );
    expect(out.data).toEqual(cropImage(img, { x: 20, y: 10, width: 40, height: 20 }).data);
  });

  it('a rotated quad is straightened', () => {
    // A 60×20 rectangle of colour A rotated by 30° on a background of colour B.
    const w = 200;
    const img = solid(w, w, [0, 0, 255]);
    const c = { x: 100, y: 100 };
    const a = (30 * Math.PI) / 180;
    const corner = (dx: number, dy: number) => ({
      x: c.x + dx * Math.cos(a) - dy * Math.sin(a),
      y: c.y + dx * Math.sin(a) + dy * Math.cos(a),
    });
    for (let y = 0; y < w; y++) {
      for (let x = 0; x < w; x++) {
        const dx = (x + 0.5 - c.x) * Math.cos(-a) - (y + 0.5 - c.y) * Math.sin(-a);
        const dy = (x + 0.5 - c.x) * Math.sin(-a) + (y + 0.5 - c.y) * Math.cos(-a);
        if (Math.abs(dx) < 30 && Math.abs(dy) < 10) img.data.set([255, 255, 0], (y * w + x) * 3);
      }
    }
    const out = warpQuad(img, [corner(-30, -10), corner(30, -10), corner(30, 10), corner(-30, 10)], 60, 20);
    let inside = 0;
    for (let y = 2; y < 18; y++) for (let x = 2; x < 58; x++) if ((px(out, x, y)[2] ?? 255) < 40) inside++;
    expect(inside / (16 * 56)).toBeGreaterThan(0.97);
  });

  it('rejects a degenerate quad', () => {
    const p = { x: 5, y: 5 };
    expect(() => warpQuad(gradient(10, 10), [p, p, p, p], 4, 4)).toThrow(/degenerate/);
    expect(
      homography(
        [
          { x: 0, y: 0 },
          { x: 1, y: 0 },
          { x: 2, y: 0 },
          { x: 3, y: 0 },
        ],
        [
          { x: 0, y: 0 },
          { x: 1, y: 0 },
          { x: 1, y: 1 },
          { x: 0, y: 1 },
        ],
      ),
    ).toBeUndefined();
  });
});

describe('decoding untrusted files', () => {
  let dir: string;
  beforeAll(() => {
    // Registered with the bench's reaper: a killed run leaves no directory behind.
    dir = makeTempDir('detect-image').path;
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes PNG (RGB and grey) to packed RGB', async () => {
    const a = await decodeImageFile(ASTRONAUT.path);
    expect([a.width, a.height, a.data.length]).toEqual([512, 512, 512 * 512 * 3]);
    const c = await decodeImageFile(CAMERA.path);
    expect(c.data.length).toBe(512 * 512 * 3);
    const [r, g, b] = px(c, 100, 100);
    expect(r).toBe(g);
    expect(g).toBe(b);
  });

  it('decodes a JPEG round trip', async () => {
    const img = gradient(64, 48);
    const jpeg = await encodeJpeg(img, { quality: 95 });
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const back = await decodeImage(jpeg);
    expect([back.width, back.height]).toEqual([64, 48]);
    expect(Math.abs((px(back, 30, 20)[0] ?? 0) - 30)).toBeLessThan(8);
  });

  it('truncated JPEG → EDGE_ERR_DETECT_INPUT naming the file', async () => {
    const full = await sharp(ASTRONAUT.path).jpeg({ quality: 90 }).toBuffer();
    const path = join(dir, 'truncated.jpg');
    await writeFile(path, full.subarray(0, Math.floor(full.length / 2)));
    const msg = await inputError(decodeImageFile(path));
    expect(msg).toContain(path);
    expect(msg).toMatch(/damaged or truncated|premature|truncated/i);
  });

  it('zero-size file → EDGE_ERR_DETECT_INPUT', async () => {
    const path = join(dir, 'empty.jpg');
    await writeFile(path, '');
    expect(await inputError(decodeImageFile(path))).toMatch(/empty \(0 bytes\)/);
    expect(await inputError(decodeImage(new Uint8Array(0)))).toMatch(/empty/);
  });

  it('huge image (a PNG header claiming 20000×20000) → EDGE_ERR_DETECT_INPUT before decoding', async () => {
    const path = join(dir, 'huge.png');
    await writeFile(path, pngHeaderOnly(20_000, 20_000));
    expect(await inputError(decodeImageFile(path))).toMatch(/too large|pixel limit/i);
    // The limit is configurable: a real 512×512 photo is over a 100k-pixel limit.
    expect(await inputError(decodeImageFile(ASTRONAUT.path, { maxPixels: 100_000 }))).toMatch(
      /too large|pixel limit/i,
    );
  });

  it('wrong format → EDGE_ERR_DETECT_INPUT', async () => {
    const text = join(dir, 'notes.jpg');
    await writeFile(text, 'this is not an image\n');
    expect(await inputError(decodeImageFile(text))).toMatch(/not an image in a supported format/);
    const svg = join(dir, 'drawing.svg');
    await writeFile(
      svg,
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    );
    expect(await inputError(decodeImageFile(svg))).toMatch(/format svg is not accepted/);
  });

  it('missing file and directory → EDGE_ERR_DETECT_INPUT', async () => {
    expect(await inputError(decodeImageFile(join(dir, 'nope.png')))).toMatch(/ENOENT/);
    expect(await inputError(decodeImageFile(dir))).toMatch(/not a regular file/);
  });

  it('encodeJpeg fits a byte budget by lowering quality, then size', async () => {
    const img = await decodeImageFile(ASTRONAUT.path);
    const big = await encodeJpeg(img, { quality: 95 });
    const small = await encodeJpeg(img, { quality: 95, maxBytes: 8_000 });
    expect(big.length).toBeGreaterThan(8_000);
    expect(small.length).toBeLessThanOrEqual(8_000);
    const meta = await sharp(await encodeJpeg(img, { maxSide: 100 })).metadata();
    expect([meta.width, meta.height]).toEqual([100, 100]);
  });
});

/** A PNG with a valid IHDR for `width`×`height` and no pixel data (IEND follows). */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(0))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(buf: Uint8Array): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
