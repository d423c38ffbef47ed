/** The plate detector end to end with the real PP-OCRv4 models: reads, regions, errors, lifecycle. */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { decodeImageFile } from '../../edge-agent/src/detect/image.ts';
import { resolveModel } from '../../edge-agent/src/detect/models.ts';
import {
  checkPlateReaderOptions,
  createPlateDetector,
  createPlateReader,
  provinceNearMiss,
} from '../../edge-agent/src/detect/plates.ts';
import type { PlateDetector, PlateReaderOptions, RejectedRead } from '../../edge-agent/src/detect/plates.ts';
import { parseCharset } from '../../edge-agent/src/detect/ctc.ts';
import type { Box, PlateDetection, RgbImage } from '../../edge-agent/src/detect/types.ts';
import { makeTempDir } from '../bench/lifetime.ts';
import type { TempDir } from '../bench/lifetime.ts';
import { readFrames } from '../scene/ffmpeg.ts';
import { generateScene } from '../scene/generate.ts';
import type { PlateType } from '../scene/plates.ts';
import { presetScene } from '../scene/presets.ts';
import { boxAt } from '../scene/truth.ts';
import { makeVariant, plateImagePath } from './fixtures/plate-variants.ts';

/** Whether two boxes overlap by at least half of the smaller one. */
function overlaps(a: Box, b: Box): boolean {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  return ix * iy >= 0.5 * Math.min(a.width * a.height, b.width * b.height);
}

/** Paste `src` into `dst` at (x, y). */
function paste(dst: RgbImage, src: RgbImage, x: number, y: number): void {
  for (let row = 0; row < src.height; row++) {
    const from = row * src.width * 3;
    dst.data.set(src.data.subarray(from, from + src.width * 3), ((y + row) * dst.width + x) * 3);
  }
}

describe('createPlateDetector (real models)', () => {
  let tmp: TempDir | undefined;
  let detector: PlateDetector | undefined;
  const rejected: RejectedRead[] = [];
  const plates = new Map<string, RgbImage>();

  beforeAll(async () => {
    tmp = makeTempDir('plate-pipeline');
    detector = await createPlateDetector({ onRejected: (r) => rejected.push(r) });
    const specs: [string, PlateType, number][] = [
      ['粤B6Q8C3', 'blue', 130],
      ['冀F35716', 'yellow', 150],
      ['皖AD20517', 'green', 200],
    ];
    for (const [text, type, width] of specs) {
      plates.set(text, await decodeImageFile(await plateImagePath(tmp.path, text, type, width)));
    }
  });
  afterAll(async () => {
    await detector?.close();
    tmp?.remove();
  });

  const get = (): PlateDetector => {
    if (detector === undefined) throw new Error('detector not created');
    return detector;
  };

  /** A 1280×720 grey frame with the three plates pasted at known places. */
  function threePlateFrame(): { image: RgbImage; truth: { text: string; colour: PlateType; box: Box }[] } {
    const image: RgbImage = { data: new Uint8Array(1280 * 720 * 3).fill(110), width: 1280, height: 720 };
    const truth: { text: string; colour: PlateType; box: Box }[] = [];
    const places: [string, PlateType, number, number][] = [
      ['粤B6Q8C3', 'blue', 100, 500],
      ['冀F35716', 'yellow', 600, 420],
      ['皖AD20517', 'green', 950, 250],
    ];
    for (const [text, colour, x, y] of places) {
      const plate = plates.get(text);
      if (plate === undefined) throw new Error(`no plate ${text}`);
      paste(image, plate, x, y);
      truth.push({ text, colour, box: { x, y, width: plate.width, height: plate.height } });
    }
    return { image, truth };
  }

  it('names its models', () => {
    expect(get().modelIds).toEqual(['ppocr-v4-det', 'ppocr-v4-rec']);
  });

  it('reads three plates of three colours in one 720p frame', async () => {
    const { image, truth } = threePlateFrame();
    const found = await get().detect(image);
    expect(found.map((d) => d.text).sort()).toEqual(truth.map((t) => t.text).sort());
    for (const t of truth) {
      const d = found.find((f) => f.text === t.text) as PlateDetection;
      expect(d.kind).toBe('plate');
      expect(d.colour).toBe(t.colour);
      expect(overlaps(d.box, t.box)).toBe(true);
      expect(d.charConfidences).toHaveLength(Array.from(t.text).length);
      expect(d.confidence).toBeCloseTo(
        d.charConfidences.reduce((a, b) => a + b, 0) / d.charConfidences.length,
        9,
      );
      expect(d.confidence).toBeGreaterThan(0.9);
      expect(d.detConfidence).toBeGreaterThan(0.6);
      expect(d.detConfidence).toBeLessThanOrEqual(1);
      // Clockwise from top-left: top edge left→right, right edge top→bottom.
      const [tl, tr, br, bl] = d.quad;
      expect(tr.x).toBeGreaterThan(tl.x);
      expect(br.y).toBeGreaterThan(tr.y);
      expect(bl.x).toBeLessThan(br.x);
    }
    expect(get().lastStats).toMatchObject({ areas: 1, plates: 3 });
  });

  it('looks only inside the given regions', async () => {
    const { image, truth } = threePlateFrame();
    const yellow = truth.find((t) => t.colour === 'yellow')?.box;
    if (yellow === undefined) throw new Error('no yellow plate');
    const vehicle = {
      x: yellow.x - 80,
      y: yellow.y - 120,
      width: yellow.width + 160,
      height: yellow.height + 160,
    };
    const found = await get().detect(image, [vehicle]);
    expect(found.map((d) => d.text)).toEqual(['冀F35716']);
    expect(overlaps(found[0]?.box ?? { x: 0, y: 0, width: 0, height: 0 }, yellow)).toBe(true);
    expect(get().lastStats?.areas).toBe(1);

    expect(await get().detect(image, [{ x: 0, y: 0, width: 300, height: 200 }])).toEqual([]);
    expect(await get().detect(image, [])).toEqual([]);
    expect(get().lastStats).toMatchObject({ areas: 0, textBoxes: 0, reads: 0 });
  });

  it('reads a plate rotated by 14° and reports the rotated quad', async () => {
    const png = await plateImagePath(tmp?.path ?? '', '京N3B278', 'blue', 180);
    const v = await makeVariant(png, { text: '京N3B278', type: 'blue', widthPx: 180 }, 'rotate', 11);
    const [d] = await get().detect(v.image);
    expect(d?.text).toBe('京N3B278');
    const angle =
      d === undefined
        ? 0
        : (Math.atan2(d.quad[1].y - d.quad[0].y, d.quad[1].x - d.quad[0].x) * 180) / Math.PI;
    expect(Math.abs(angle - v.rotationDeg)).toBeLessThan(3);
  });

  it('reads the shop sign but rejects it, and never reads the OSD clock as a plate', async () => {
    const { videoPath, truth } = await generateScene(presetScene('street'));
    // Frame 0: no vehicle in view yet, only the sign and the OSD.
    const frames = await readFrames(videoPath, truth.video, 'rgb24', [0]);
    const data = frames.frames[0];
    if (data === undefined) throw new Error('no frame');
    rejected.length = 0;
    const found = await get().detect({
      data: new Uint8Array(data),
      width: truth.video.width,
      height: truth.video.height,
    });
    expect(found).toEqual([]);
    const sign = truth.objects.find((o) => o.id === 'sign');
    const signBox = sign === undefined ? undefined : boxAt(sign, 0, truth.video);
    expect(signBox).toBeDefined();
    const signRead = rejected.find(
      (r) =>
        signBox !== undefined &&
        overlaps(r.box, { x: signBox.x, y: signBox.y, width: signBox.w, height: signBox.h }),
    );
    expect(signRead).toMatchObject({ reason: 'format' });
  });

  it('does not read the same static sign twice, and still reads a plate next to it', async () => {
    const { image, truth } = threePlateFrame();
    const sign = await decodeImageFile(
      fileURLToPath(new URL('fixtures/plate-rec-sign.png', import.meta.url)),
    );
    paste(image, sign, 300, 100);
    const d = await createPlateDetector();
    try {
      const first = await d.detect(image);
      expect(d.lastStats?.memoHits).toBe(0);
      const second = await d.detect(image);
      expect(d.lastStats?.memoHits).toBeGreaterThanOrEqual(1);
      expect(second.map((p) => p.text).sort()).toEqual(first.map((p) => p.text).sort());
      expect(second).toHaveLength(truth.length);
      // A change in the sign's pixels (a bar across it) means it is read again.
      for (let y = 108; y < 120; y++) image.data.fill(0, (y * 1280 + 300) * 3, (y * 1280 + 460) * 3);
      await d.detect(image);
      expect(d.lastStats?.memoHits).toBe(0);
    } finally {
      await d.close();
    }
  });

  it('falls back to one whole-frame pass when the regions cover most of the frame', async () => {
    const { image } = threePlateFrame();
    const found = await get().detect(image, [
      { x: 0, y: 0, width: 700, height: 720 },
      { x: 720, y: 0, width: 560, height: 720 },
    ]);
    expect(get().lastStats?.areas).toBe(1);
    expect(found).toHaveLength(3);
  });

  it('reads a 64-px new-energy plate in whole 720p frames by looking again at full resolution', async () => {
    const { videoPath, truth } = await generateScene(presetScene('street'));
    const plate = truth.objects.find((o) => o.text === '粤BD12345');
    if (plate === undefined) throw new Error('street scene has no 粤BD12345');
    // Frames where the plate is fully in view and not occluded.
    const numbers = [30, 45, 75, 90].filter((n) => {
      const b = boxAt(plate, n / truth.video.fps, truth.video);
      return b !== undefined && !b.clipped;
    });
    expect(numbers.length).toBeGreaterThanOrEqual(3);
    const frames = await readFrames(videoPath, truth.video, 'rgb24', numbers);
    const without = await createPlateDetector({ secondLook: false });
    let withLook = 0;
    let withoutLook = 0;
    let secondLooks = 0;
    try {
      for (const data of frames.frames) {
        const image = { data: new Uint8Array(data), width: truth.video.width, height: truth.video.height };
        if ((await get().detect(image)).some((d) => d.text === '粤BD12345')) withLook++;
        secondLooks += get().lastStats?.secondLooks ?? 0;
        if ((await without.detect(image)).some((d) => d.text === '粤BD12345')) withoutLook++;
      }
    } finally {
      await without.close();
    }
    expect(withLook).toBeGreaterThanOrEqual(numbers.length - 1);
    expect(withLook).toBeGreaterThan(withoutLook);
    expect(secondLooks).toBeGreaterThan(0);
  });

  it.each<[string, RgbImage]>([
    ['a buffer of the wrong length', { data: new Uint8Array(10), width: 10, height: 10 }],
    ['zero size', { data: new Uint8Array(0), width: 0, height: 0 }],
    ['a fractional size', { data: new Uint8Array(30), width: 2.5, height: 4 }],
  ])('rejects %s with EDGE_ERR_DETECT_INPUT', async (_name, image) => {
    await expect(get().detect(image)).rejects.toSatisfy((e) => isEdgeError(e, 'EDGE_ERR_DETECT_INPUT'));
  });

  it('refuses a model file whose hash does not match, naming the model', async () => {
    const det = await resolveModel('ppocr-v4-det');
    const err = await createPlateDetector({
      models: { overrides: { 'ppocr-v4-det': { path: det.path, sha256: '0'.repeat(64) } }, env: {} },
    }).catch((e: unknown) => e);
    expect(isEdgeError(err, 'EDGE_ERR_MODEL_HASH')).toBe(true);
    expect(String(err)).toMatch(/ppocr-v4-det/);
  });

  it('rejects detection after close; closing twice is fine', async () => {
    const d = await createPlateDetector();
    await d.close();
    await d.close();
    await expect(d.detect({ data: new Uint8Array(300), width: 10, height: 10 })).rejects.toSatisfy((e) =>
      isEdgeError(e, 'EDGE_ERR_DETECT_CLOSED'),
    );
  });
});

describe('createPlateReader with stand-in runners', () => {
  const charset = parseCharset('A\n');
  const image: RgbImage = { data: new Uint8Array(64 * 64 * 3), width: 64, height: 64 };

  it('a text detector output of the wrong shape is EDGE_ERR_DETECT_RUN', async () => {
    const reader = createPlateReader(
      { run: () => Promise.resolve({ data: new Float32Array(4), dims: [1, 1, 2, 2] }) },
      { run: () => Promise.reject(new Error('not called')) },
      charset,
    );
    await expect(reader.read(image)).rejects.toSatisfy((e) => isEdgeError(e, 'EDGE_ERR_DETECT_RUN'));
  });

  it('an empty probability map reads nothing and never calls the recogniser', async () => {
    let recCalls = 0;
    const reader = createPlateReader(
      {
        run: (_d, dims) =>
          Promise.resolve({ data: new Float32Array(64 * 64), dims: [1, 1, dims[2] ?? 0, dims[3] ?? 0] }),
      },
      {
        run: () => {
          recCalls++;
          return Promise.reject(new Error('not called'));
        },
      },
      charset,
    );
    expect(await reader.read(image)).toEqual([]);
    expect(recCalls).toBe(0);
  });
});

describe('plate reader options', () => {
  it.each<[string, PlateReaderOptions, RegExp]>([
    ['minConfidence above 1', { minConfidence: 1.5 }, /minConfidence/],
    ['a fractional batch', { recBatchSize: 2.5 }, /recBatchSize must be an integer/],
    ['a tiny detector side', { maxDetSide: 8 }, /maxDetSide/],
    ['a negative pad', { regionPadFrac: -1 }, /regionPadFrac/],
    ['a channel order that is no permutation', { channelOrder: [0, 0, 1] }, /channelOrder/],
  ])('rejects %s with EDGE_ERR_DETECT_OPTIONS, before loading models', async (_name, options, message) => {
    expect(checkPlateReaderOptions(options)).toHaveLength(1);
    const err = await createPlateDetector({
      ...options,
      models: { env: {}, resolveFrom: '/nonexistent/x.js' },
    }).catch((e: unknown) => e);
    expect(isEdgeError(err, 'EDGE_ERR_DETECT_OPTIONS')).toBe(true);
    expect(String(err)).toMatch(message);
  });

  it('accepts the defaults and sensible values', () => {
    expect(checkPlateReaderOptions({})).toEqual([]);
    expect(checkPlateReaderOptions({ minConfidence: 0.7, maxDetSide: 640, channelOrder: [2, 1, 0] })).toEqual(
      [],
    );
  });
});

describe('provinceNearMiss', () => {
  it.each<[string, string[]]>([
    ['IM517W0', ['M517W0']],
    ['考WP7Z11', ['WP7Z11']],
    ['EDX2171', ['DX2171', 'EDX2171']],
    ['TF21601', ['F21601', 'TF21601']],
    ['京A12345', []],
    ['便利店', []],
    ['20240101', []],
    ['', []],
  ])('%s → %j', (text, tails) => {
    expect(provinceNearMiss(text)).toEqual(tails);
  });
});
