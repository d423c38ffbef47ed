import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../bench/lifetime.ts';
import type { TempDir } from '../bench/lifetime.ts';
import { FACE_SOURCES } from './assets.ts';
import type { Box } from './assets.ts';
import { piecewiseLinearExpr } from './draw.ts';
import { SceneError } from './errors.ts';
import { probeVideo, readFrames, runFfmpeg } from './ffmpeg.ts';
import type { RawFrames } from './ffmpeg.ts';
import { generateScene } from './generate.ts';
import type { GeneratedScene } from './generate.ts';
import {
  ENV_PLATE_RE,
  NEW_ENERGY_PLATE_RE,
  PLATE_TYPES,
  classifyPlateColour,
  isValidPlate,
  plateHeightPx,
  randomPlate,
  renderPlate,
} from './plates.ts';
import type { PlateType } from './plates.ts';
import { PRESET_NAMES, PRESET_SCENES, presetScene } from './presets.ts';
import { planScene } from './plan.ts';
import { makeRng } from './rng.ts';
import { resolveSpec } from './spec.ts';
import type { SceneSpec } from './spec.ts';
import { boxAt, interpolateBox, parseTruth, readTruth, validateTruth } from './truth.ts';
import type { SceneTruth, TruthObject } from './truth.ts';

// ---------------------------------------------------------------------------------------------
// Pixel helpers

function meanRgb(f: RawFrames, frame: Buffer, b: Box): [number, number, number] {
  let r = 0;
  let g = 0;
  let bl = 0;
  let n = 0;
  for (let y = Math.max(0, Math.round(b.y)); y < Math.min(f.height, Math.round(b.y + b.h)); y++) {
    for (let x = Math.max(0, Math.round(b.x)); x < Math.min(f.width, Math.round(b.x + b.w)); x++) {
      const i = (y * f.width + x) * 3;
      r += frame[i] ?? 0;
      g += frame[i + 1] ?? 0;
      bl += frame[i + 2] ?? 0;
      n++;
    }
  }
  return n === 0 ? [0, 0, 0] : [r / n, g / n, bl / n];
}

function shrink(b: Box, f: number): Box {
  return { x: b.x + b.w * f, y: b.y + b.h * f, w: b.w * (1 - 2 * f), h: b.h * (1 - 2 * f) };
}

function inside(b: Box, size: { width: number; height: number }): boolean {
  return b.x >= 0 && b.y >= 0 && b.x + b.w <= size.width && b.y + b.h <= size.height;
}

/**
 * Edges of the plate-coloured region around `box`: columns (rows) within 8 px of the box in which
 * at least 30% of the pixels of the box's middle rows (columns) have the plate colour.
 */
function plateEdges(
  f: RawFrames,
  frame: Buffer,
  box: Box,
  type: PlateType,
): { left: number; right: number; top: number; bottom: number } {
  const isPlate = (x: number, y: number): boolean => {
    const i = (y * f.width + x) * 3;
    return classifyPlateColour(frame[i] ?? 0, frame[i + 1] ?? 0, frame[i + 2] ?? 0) === type;
  };
  const x0 = Math.max(0, Math.floor(box.x) - 8);
  const x1 = Math.min(f.width - 1, Math.ceil(box.x + box.w) + 8);
  const y0 = Math.max(0, Math.floor(box.y) - 8);
  const y1 = Math.min(f.height - 1, Math.ceil(box.y + box.h) + 8);
  const midRows = [Math.round(box.y + box.h * 0.3), Math.round(box.y + box.h * 0.7)];
  const midCols = [Math.round(box.x + box.w * 0.2), Math.round(box.x + box.w * 0.8)];
  const cols: number[] = [];
  for (let x = x0; x <= x1; x++) {
    let hit = 0;
    for (let y = midRows[0] ?? 0; y <= (midRows[1] ?? 0); y++) if (isPlate(x, y)) hit++;
    if (hit >= 0.3 * ((midRows[1] ?? 0) - (midRows[0] ?? 0) + 1)) cols.push(x);
  }
  const rows: number[] = [];
  for (let y = y0; y <= y1; y++) {
    let hit = 0;
    for (let x = midCols[0] ?? 0; x <= (midCols[1] ?? 0); x++) if (isPlate(x, y)) hit++;
    if (hit >= 0.3 * ((midCols[1] ?? 0) - (midCols[0] ?? 0) + 1)) rows.push(y);
  }
  return {
    left: Math.min(...cols),
    right: Math.max(...cols) + 1,
    top: Math.min(...rows),
    bottom: Math.max(...rows) + 1,
  };
}

/** Bilinear sample of a grey image at (x, y). */
function sample(img: Buffer, width: number, height: number, x: number, y: number): number {
  const x0 = Math.max(0, Math.min(width - 1, Math.floor(x)));
  const y0 = Math.max(0, Math.min(height - 1, Math.floor(y)));
  const x1 = Math.min(width - 1, x0 + 1);
  const y1 = Math.min(height - 1, y0 + 1);
  const fx = Math.max(0, Math.min(1, x - x0));
  const fy = Math.max(0, Math.min(1, y - y0));
  const at = (xx: number, yy: number): number => img[yy * width + xx] ?? 0;
  return (
    (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) + (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy
  );
}

/** Normalised cross-correlation of a box in a grey frame with a box in a grey source image, on a 24×24 grid. */
function ncc(
  frame: Buffer,
  fsize: { width: number; height: number },
  fbox: Box,
  src: Buffer,
  ssize: { width: number; height: number },
  sbox: Box,
): number {
  const G = 24;
  const a: number[] = [];
  const b: number[] = [];
  for (let j = 0; j < G; j++) {
    for (let i = 0; i < G; i++) {
      const u = (i + 0.5) / G;
      const v = (j + 0.5) / G;
      a.push(sample(frame, fsize.width, fsize.height, fbox.x + u * fbox.w - 0.5, fbox.y + v * fbox.h - 0.5));
      b.push(sample(src, ssize.width, ssize.height, sbox.x + u * sbox.w - 0.5, sbox.y + v * sbox.h - 0.5));
    }
  }
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  const ma = mean(a);
  const mb = mean(b);
  let num = 0;
  let da = 0;
  let db = 0;
  a.forEach((x, k) => {
    const y = b[k] ?? 0;
    num += (x - ma) * (y - mb);
    da += (x - ma) ** 2;
    db += (y - mb) ** 2;
  });
  return da === 0 || db === 0 ? 0 : num / Math.sqrt(da * db);
}

/** Frames (indices) at which `object` is wholly in frame and unoccluded, spread over its visibility. */
function fullyVisibleFrames(truth: SceneTruth, object: TruthObject, count: number): number[] {
  const frames: number[] = [];
  for (let n = 0; n < truth.video.frame_count; n++) {
    const b = boxAt(object, n / truth.video.fps, truth.video);
    if (b !== undefined && !b.clipped) frames.push(n);
  }
  if (frames.length <= count) return frames;
  return Array.from(
    { length: count },
    (_, i) => frames[Math.floor(((i + 0.5) * frames.length) / count)] ?? 0,
  );
}

// ---------------------------------------------------------------------------------------------
// Pure functions

describe('plate strings', () => {
  it.each<[string, PlateType, boolean]>([
    ['京A12345', 'blue', true],
    ['苏E8K27Q', 'yellow', true],
    ['粤BD12345', 'green', true],
    ['粤BFA1234', 'green', true],
    ['京AD1234', 'green', false], // 7 chars: not a new-energy plate
    ['粤BX12345', 'green', false], // 3rd char must be D or F
    ['粤BD1234A', 'green', false], // last 4 are digits
    ['京A1234', 'blue', false], // too short
    ['京I12345', 'blue', false], // no I
    ['京AO2345', 'blue', false], // no O
    ['XA12345', 'blue', false], // not a province
    ['京a12345', 'blue', false], // lower case
    ['京A·12345', 'blue', false], // the dot is drawn, never part of the string
    ['粤BD12345', 'blue', false], // 8 chars is not a blue plate
  ])('isValidPlate(%s, %s) = %s', (text, type, valid) => {
    expect(isValidPlate(text, type)).toBe(valid);
  });

  it('random plates are valid for their type and use no I or O', () => {
    const rng = makeRng(7);
    for (let i = 0; i < 300; i++) {
      for (const type of PLATE_TYPES) {
        const p = randomPlate(rng, type);
        expect(isValidPlate(p, type), p).toBe(true);
        expect(p).not.toMatch(/[IO]/);
        if (type === 'green') expect(p).toMatch(NEW_ENERGY_PLATE_RE);
        else expect(p).toMatch(ENV_PLATE_RE);
      }
    }
  });

  it('the ENVIRONMENT.md filter regex does not accept 8-character new-energy plates (known gap)', () => {
    expect(ENV_PLATE_RE.test('粤BD12345')).toBe(false);
    expect(ENV_PLATE_RE.test('京A12345')).toBe(true);
  });

  it('same seed, same plates', () => {
    const a = makeRng(42);
    const b = makeRng(42);
    expect(PLATE_TYPES.map((t) => randomPlate(a, t))).toEqual(PLATE_TYPES.map((t) => randomPlate(b, t)));
  });

  it.each<[[number, number, number], PlateType | undefined]>([
    [[57, 108, 183], 'blue'],
    [[197, 157, 3], 'yellow'],
    [[105, 169, 130], 'green'],
    [[40, 40, 40], undefined],
    [[200, 200, 200], undefined],
    [[176, 24, 24], undefined],
  ])('classifyPlateColour(%j) = %s', (rgb, type) => {
    expect(classifyPlateColour(...rgb)).toBe(type);
  });
});

const OBJ: TruthObject = {
  id: 'plate-v1',
  kind: 'plate',
  text: '京A12345',
  plate_type: 'blue',
  vehicle_id: 'v1',
  appear_s: 1,
  disappear_s: 5,
  keyframes: [
    { t_s: 1, x: -100, y: 100, w: 100, h: 30 },
    { t_s: 3, x: 100, y: 100, w: 100, h: 30 },
    { t_s: 5, x: 100, y: 330, w: 200, h: 60 },
  ],
  occluded_s: [[4.5, 4.6]],
};
const FRAME = { width: 640, height: 360 };

describe('boxAt', () => {
  it.each<[number, { x: number; y: number; w: number; h: number; visibleFraction: number } | undefined]>([
    [0.5, undefined], // before appear
    [1, undefined], // wholly left of the frame
    [1.5, { x: 0, y: 100, w: 50, h: 30, visibleFraction: 0.5 }], // half in: clipped
    [2, { x: 0, y: 100, w: 100, h: 30, visibleFraction: 1 }],
    [3, { x: 100, y: 100, w: 100, h: 30, visibleFraction: 1 }],
    [4, { x: 100, y: 215, w: 150, h: 45, visibleFraction: 1 }], // position and size interpolate
    [4.55, undefined], // occluded
    [5, { x: 100, y: 330, w: 200, h: 30, visibleFraction: 0.5 }], // bottom half off-frame
    [5.1, undefined], // after disappear
  ])('at t=%s', (t, want) => {
    const got = boxAt(OBJ, t, FRAME);
    if (want === undefined) {
      expect(got).toBeUndefined();
      return;
    }
    expect(got).toBeDefined();
    expect(got?.x).toBeCloseTo(want.x, 6);
    expect(got?.y).toBeCloseTo(want.y, 6);
    expect(got?.w).toBeCloseTo(want.w, 6);
    expect(got?.h).toBeCloseTo(want.h, 6);
    expect(got?.visibleFraction).toBeCloseTo(want.visibleFraction, 6);
    expect(got?.clipped).toBe(want.visibleFraction < 1);
  });

  it('holds a single keyframe for static objects', () => {
    const sign: TruthObject = {
      id: 'sign',
      kind: 'text',
      text: '便利店',
      appear_s: 0,
      disappear_s: 10,
      keyframes: [{ t_s: 0, x: 10, y: 20, w: 30, h: 40 }],
    };
    expect(interpolateBox(sign, 7)).toEqual({ x: 10, y: 20, w: 30, h: 40 });
    expect(boxAt(sign, 10, FRAME)?.w).toBe(30);
  });
});

describe('runFfmpeg', () => {
  it('rejects with the exit code and the stderr tail', async () => {
    const err: unknown = await runFfmpeg(['-i', '/nonexistent/scene.mp4', '-f', 'null', '-'], {
      name: 'missing input',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SceneError);
    expect((err as SceneError).code).toBe('SCENE_FFMPEG_FAILED');
    expect((err as SceneError).message).toMatch(/missing input\) exited with code [1-9][\s\S]*No such file/);
  });
});

describe('piecewiseLinearExpr', () => {
  it.each<[{ t_s: number; v: number }[], string]>([
    [[{ t_s: 0, v: 5 }], '5'],
    [
      [
        { t_s: 1, v: 0 },
        { t_s: 3, v: 10 },
      ],
      'if(lt(t\\,3)\\,0+(t-1)*5\\,10)',
    ],
    [
      [
        { t_s: 0, v: 0 },
        { t_s: 1, v: 1 },
        { t_s: 2, v: 1 },
      ],
      'if(lt(t\\,1)\\,0+(t-0)*1\\,if(lt(t\\,2)\\,1+(t-1)*0\\,1))',
    ],
  ])('%j', (points, expr) => {
    expect(piecewiseLinearExpr(points)).toBe(expr);
  });
});

describe('validateTruth', () => {
  const valid: SceneTruth = {
    version: 1,
    video: { file: 'a.mp4', width: 640, height: 360, fps: 10, duration_s: 6, frame_count: 60 },
    objects: [OBJ],
  };
  it('accepts a valid file', () => {
    expect(validateTruth(valid)).toEqual([]);
    expect(parseTruth(structuredClone(valid))).toEqual(valid);
  });

  const broken: [string, (t: Record<string, unknown> & SceneTruth) => void, RegExp][] = [
    ['wrong version', (t) => Object.assign(t, { version: 2 }), /version/],
    ['video file with a directory', (t) => (t.video.file = '../a.mp4'), /video\.file/],
    ['frame count not fps × duration', (t) => (t.video.frame_count = 61), /duration_s/],
    ['unknown kind', (t) => Object.assign(t.objects[0] ?? {}, { kind: 'car' }), /kind/],
    ['invalid plate text', (t) => Object.assign(t.objects[0] ?? {}, { text: '京A1234' }), /valid blue plate/],
    ['missing plate type', (t) => delete t.objects[0]?.plate_type, /plate_type/],
    ['no keyframes', (t) => Object.assign(t.objects[0] ?? {}, { keyframes: [] }), /keyframes/],
    [
      'keyframes out of order',
      (t) => {
        const k = t.objects[0]?.keyframes;
        if (k?.[1] !== undefined) k[1].t_s = 0.5;
      },
      /greater than the previous/,
    ],
    ['negative size', (t) => Object.assign(t.objects[0]?.keyframes[0] ?? {}, { w: -1 }), /w and h/],
    ['disappear before appear', (t) => Object.assign(t.objects[0] ?? {}, { disappear_s: 0.5 }), /appear_s/],
    [
      'bad occlusion interval',
      (t) => Object.assign(t.objects[0] ?? {}, { occluded_s: [[3, 2]] }),
      /occluded_s/,
    ],
    ['duplicate ids', (t) => t.objects.push(structuredClone(OBJ)), /not unique/],
    ['unknown field', (t) => Object.assign(t, { extra: 1 }), /unknown field/],
    [
      'face with text',
      (t) =>
        t.objects.push({
          ...structuredClone(OBJ),
          id: 'f',
          kind: 'face',
          plate_type: undefined,
          vehicle_id: undefined,
        }),
      /not for faces/,
    ],
  ];
  it.each(broken)('rejects %s', (_name, mutate, message) => {
    const t = structuredClone(valid) as Record<string, unknown> & SceneTruth;
    mutate(t);
    const errors = validateTruth(JSON.parse(JSON.stringify(t)));
    expect(errors.join('\n')).toMatch(message);
    expect(() => parseTruth(JSON.parse(JSON.stringify(t)))).toThrow(SceneError);
  });

  it('rejects non-objects', () => {
    expect(validateTruth(null)).toEqual(['$ must be an object']);
    expect(validateTruth([])).toEqual(['$ must be an object']);
  });
});

describe('scene specs', () => {
  const base = PRESET_SCENES.street;
  it.each<[string, Partial<SceneSpec>, RegExp]>([
    ['not 16:9', { width: 1280, height: 1024 }, /16:9/],
    ['odd width', { width: 1281, height: 720 }, /even/],
    ['bad name', { name: 'Street 1' }, /kebab-case/],
    ['duplicate ids', { vehicles: [...base.vehicles, ...base.vehicles.slice(0, 1)] }, /duplicate/],
    ['bad plate', { vehicles: base.vehicles.map((v) => ({ ...v, plate_text: '京A1' })) }, /valid/],
    ['sign text with %', { sign: { ...base.sign, text: '100%' } }, /sign\.text/],
  ])('rejects %s', (_name, patch, message) => {
    expect(() => resolveSpec({ ...base, ...patch })).toThrow(message);
  });

  it('keyframes that collapse onto one frame are an error, not a silent glitch', () => {
    expect(() => planScene(resolveSpec({ ...base, fps: 1, duration_s: 2 }))).toThrow(/same frame/);
  });

  it.each(PRESET_NAMES)('preset %s resolves, plans and spans plate sizes', (name) => {
    const plan = planScene(resolveSpec(PRESET_SCENES[name]));
    const widths = plan.sprite_truth
      .filter((s) => s.object.kind === 'plate')
      .map((s) => s.object.keyframes[0]?.w ?? 0);
    expect(Math.min(...widths)).toBeLessThanOrEqual(90);
    expect(Math.max(...widths)).toBeGreaterThanOrEqual(150);
    expect(new Set(plan.sprite_truth.map((s) => s.object.plate_type).filter(Boolean)).size).toBe(3);
  });

  it('presets show different plates on each camera', () => {
    const plates = PRESET_NAMES.map((n) => resolveSpec(PRESET_SCENES[n]).vehicles.map((v) => v.plate_text));
    expect(new Set(plates.flat()).size).toBe(plates.flat().length);
  });

  it('1080p scales the layout', () => {
    const a = planScene(resolveSpec(presetScene('street')));
    const b = planScene(resolveSpec(presetScene('street', { width: 1920, height: 1080 })));
    const w = (p: typeof a): number[] => p.sprite_truth.map((s) => s.object.keyframes[0]?.w ?? 0);
    w(b).forEach((bw, i) => {
      expect(bw).toBeCloseTo(1.5 * (w(a)[i] ?? 0), -1);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Generated video against its truth (real ffmpeg)

describe('generated scene', () => {
  let dir: TempDir;
  let scene: GeneratedScene;
  const spec = presetScene('street', { duration_s: 6 });

  beforeAll(async () => {
    dir = makeTempDir('scene-test');
    scene = await generateScene(spec, { outDir: dir.path });
  }, 120_000);

  afterAll(() => {
    dir.remove();
  });

  it('writes the video and truth the spec asks for', async () => {
    expect(scene.cached).toBe(false);
    const v = scene.truth.video;
    expect(v).toMatchObject({ width: 1280, height: 720, fps: 15, frame_count: 90, duration_s: 6 });
    const probe = await probeVideo(scene.videoPath);
    expect(probe).toMatchObject({
      codec: 'h264',
      pixFmt: 'yuv420p',
      width: 1280,
      height: 720,
      fps: 15,
      frameCount: 90,
      hasAudio: false,
    });
    // A keyframe at least every second.
    expect(probe.keyframeTimes[0]).toBe(0);
    const gaps = probe.keyframeTimes.slice(1).map((t, i) => t - (probe.keyframeTimes[i] ?? 0));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1 + 1e-6);
    // faststart: the moov atom comes before mdat.
    const head = (await readFile(scene.videoPath)).subarray(0, 4096).toString('latin1');
    expect(head.indexOf('moov')).toBeGreaterThan(-1);
    expect(head.indexOf('moov')).toBeLessThan(Math.max(head.indexOf('mdat'), 4096));
    const onDisk = await readTruth(scene.truthPath);
    expect(onDisk).toEqual(scene.truth);
    expect(onDisk.video.file).toBe(scene.videoPath.slice(scene.videoPath.lastIndexOf('/') + 1));
    const kinds = new Set(onDisk.objects.map((o) => o.kind));
    expect(kinds).toEqual(new Set(['plate', 'face', 'text']));
    for (const o of onDisk.objects.filter((x) => x.kind === 'text')) {
      if (o.text !== undefined) expect(ENV_PLATE_RE.test(o.text.replaceAll(' ', ''))).toBe(false);
    }
  });

  it('each plate is where the truth says, in its colour, and the area around it is not', async () => {
    const truth = scene.truth;
    const plates = truth.objects.filter((o) => o.kind === 'plate');
    expect(plates.length).toBe(4);
    const wanted = plates.map((p) => ({ p, frames: fullyVisibleFrames(truth, p, 3) }));
    for (const { p, frames } of wanted)
      expect(frames.length, `${p.id} never fully visible`).toBeGreaterThan(0);
    const all = wanted.flatMap((w) => w.frames);
    const decoded = await readFrames(scene.videoPath, truth.video, 'rgb24', all);
    let k = 0;
    for (const { p, frames } of wanted) {
      for (const n of frames) {
        const frame = decoded.frames[k++];
        if (frame === undefined) throw new Error('missing frame');
        const box = boxAt(p, n / truth.video.fps, truth.video);
        if (box === undefined) throw new Error('not visible');
        const insideMean = meanRgb(decoded, frame, shrink(box, 0.1));
        expect(
          classifyPlateColour(...insideMean),
          `${p.id} frame ${n} inside ${insideMean.map(Math.round).join(',')}`,
        ).toBe(p.plate_type);
        // One plate height above (grille) and below (bumper), and one plate width to each side.
        for (const [dx, dy] of [
          [0, -1.5],
          [0, 1.5],
          [-1.2, 0],
          [1.2, 0],
        ] as const) {
          const out = { ...box, x: box.x + dx * box.w, y: box.y + dy * box.h };
          if (!inside(out, truth.video)) continue;
          const m = meanRgb(decoded, frame, out);
          expect(classifyPlateColour(...m), `${p.id} frame ${n} shifted ${dx},${dy}`).not.toBe(p.plate_type);
        }
        // The plate's edges, found from its colour, are within 2.5 px of the truth box.
        const e = plateEdges(decoded, frame, box, p.plate_type ?? 'blue');
        expect(Math.abs(e.left - box.x), `${p.id} frame ${n} left`).toBeLessThanOrEqual(2.5);
        expect(Math.abs(e.right - (box.x + box.w)), `${p.id} frame ${n} right`).toBeLessThanOrEqual(2.5);
        if (p.plate_type !== 'green') {
          // (A green plate fades to white at the top, so its colour does not mark the top edge.)
          expect(Math.abs(e.top - box.y), `${p.id} frame ${n} top`).toBeLessThanOrEqual(2.5);
          expect(Math.abs(e.bottom - (box.y + box.h)), `${p.id} frame ${n} bottom`).toBeLessThanOrEqual(2.5);
        }
      }
    }
  });

  it('each face region matches its source photo, a shifted box does not', async () => {
    const truth = scene.truth;
    const faces = truth.objects.filter((o) => o.kind === 'face');
    const spec2 = resolveSpec(spec);
    const sources = new Map(spec2.persons.map((p) => [`face-${p.id}`, FACE_SOURCES[p.source]]));
    const wanted = faces.map((f) => ({ f, frames: fullyVisibleFrames(truth, f, 2) }));
    const decoded = await readFrames(
      scene.videoPath,
      truth.video,
      'gray',
      wanted.flatMap((w) => w.frames),
    );
    const photos = new Map<string, Buffer>();
    for (const src of new Set(sources.values())) {
      const img = await readFrames(src.path, { width: 512, height: 512 }, 'gray');
      photos.set(src.path, img.frames[0] ?? Buffer.alloc(0));
    }
    let k = 0;
    let checked = 0;
    for (const { f, frames } of wanted) {
      const src = sources.get(f.id);
      if (src === undefined) throw new Error(`no source for ${f.id}`);
      const photo = photos.get(src.path) ?? Buffer.alloc(0);
      for (const n of frames) {
        const frame = decoded.frames[k++];
        if (frame === undefined) throw new Error('missing frame');
        const box = boxAt(f, n / truth.video.fps, truth.video);
        if (box === undefined) throw new Error('not visible');
        const size = { width: 512, height: 512 };
        const here = ncc(frame, truth.video, box, photo, size, src.face);
        expect(here, `${f.id} frame ${n} (face ${box.w.toFixed(0)} px)`).toBeGreaterThan(0.8);
        for (const [dx, dy] of [
          [0.5, 0],
          [-0.5, 0],
          [0, 0.5],
        ] as const) {
          const shifted = { ...box, x: box.x + dx * box.w, y: box.y + dy * box.h };
          if (!inside(shifted, truth.video)) continue;
          const there = ncc(frame, truth.video, shifted, photo, size, src.face);
          expect(here - there, `${f.id} frame ${n} shifted ${dx},${dy}: ${here} vs ${there}`).toBeGreaterThan(
            0.3,
          );
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  });

  it('objects are absent from frames where the truth says they are not drawn', async () => {
    const truth = scene.truth;
    const checks: { o: TruthObject; n: number; seen: number; box: Box }[] = [];
    for (const o of truth.objects.filter((x) => x.kind !== 'text')) {
      const seen = fullyVisibleFrames(truth, o, 1)[0];
      if (seen === undefined) continue;
      const box = interpolateBox(o, seen / truth.video.fps);
      // A frame before it appears (or after it left) in which no other plate/face overlaps that box.
      for (let n = 0; n < truth.video.frame_count; n++) {
        const t = n / truth.video.fps;
        if (t >= o.appear_s - 1e-6 && t <= o.disappear_s + 1e-6) continue;
        const others = truth.objects.filter(
          (x) => x !== o && x.kind !== 'text' && boxAt(x, t, truth.video) !== undefined,
        );
        const clash = others.some((x) => {
          const b = interpolateBox(x, t);
          return b.x < box.x + box.w && box.x < b.x + b.w && b.y < box.y + box.h && box.y < b.y + b.h;
        });
        if (!clash) {
          checks.push({ o, n, seen, box });
          break;
        }
      }
    }
    expect(checks.length).toBeGreaterThanOrEqual(4);
    const rgb = await readFrames(
      scene.videoPath,
      truth.video,
      'rgb24',
      checks.map((c) => c.n),
    );
    const grey = await readFrames(
      scene.videoPath,
      truth.video,
      'gray',
      checks.map((c) => c.n),
    );
    const greySeen = await readFrames(
      scene.videoPath,
      truth.video,
      'gray',
      checks.map((c) => c.seen),
    );
    const spec2 = resolveSpec(spec);
    for (const [i, c] of checks.entries()) {
      if (c.o.kind === 'plate') {
        const m = meanRgb(rgb, rgb.frames[i] ?? Buffer.alloc(0), shrink(c.box, 0.1));
        expect(classifyPlateColour(...m), `${c.o.id} at frame ${c.n}`).not.toBe(c.o.plate_type);
      } else {
        const person = spec2.persons.find((p) => `face-${p.id}` === c.o.id);
        if (person === undefined) throw new Error(c.o.id);
        const src = FACE_SOURCES[person.source];
        const photo =
          (await readFrames(src.path, { width: 512, height: 512 }, 'gray')).frames[0] ?? Buffer.alloc(0);
        const size = { width: 512, height: 512 };
        const absent = ncc(grey.frames[i] ?? Buffer.alloc(0), truth.video, c.box, photo, size, src.face);
        const present = ncc(greySeen.frames[i] ?? Buffer.alloc(0), truth.video, c.box, photo, size, src.face);
        expect(present, `${c.o.id} at frame ${c.seen}`).toBeGreaterThan(0.8);
        expect(absent, `${c.o.id} at frame ${c.n}`).toBeLessThan(Math.min(0.6, present - 0.3));
      }
    }
  });

  it('the same spec is served from the cache without running ffmpeg', async () => {
    const before = await stat(scene.videoPath);
    const again = await generateScene(spec, { outDir: dir.path });
    expect(again.cached).toBe(true);
    expect(again.videoPath).toBe(scene.videoPath);
    expect(again.truth).toEqual(scene.truth);
    expect((await stat(again.videoPath)).mtimeMs).toBe(before.mtimeMs);
  });

  it('a corrupt cached truth is regenerated, never reused; regeneration is byte-identical', async () => {
    const other = makeTempDir('scene-corrupt');
    try {
      const name = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
      const truthCopy = join(other.path, name(scene.truthPath));
      const videoCopy = join(other.path, name(scene.videoPath));
      await copyFile(scene.videoPath, videoCopy);
      const t = JSON.parse(await readFile(scene.truthPath, 'utf8')) as Record<string, unknown>;
      delete t.version;
      await writeFile(truthCopy, JSON.stringify(t));
      await expect(readTruth(truthCopy)).rejects.toThrow(/version/);
      const again = await generateScene(spec, { outDir: other.path });
      expect(again.cached).toBe(false);
      expect(again.truth).toEqual(scene.truth);
      expect(await readTruth(truthCopy)).toEqual(scene.truth);
      expect((await readFile(again.videoPath)).equals(await readFile(scene.videoPath))).toBe(true);
    } finally {
      other.remove();
    }
  });

  it('renderPlate draws each plate type at the requested width in its colours', async () => {
    const out = makeTempDir('scene-plates');
    try {
      for (const [text, type] of [
        ['京A12345', 'blue'],
        ['苏E8K27Q', 'yellow'],
        ['粤BD12345', 'green'],
      ] as const) {
        for (const width of [60, 240]) {
          const path = join(out.path, `${type}-${width}.png`);
          await renderPlate(text, type, width, path);
          const size = { width, height: plateHeightPx(type, width) };
          const img = await readFrames(path, size, 'rgb24');
          expect(img.frames.length).toBe(1);
          const m = meanRgb(img, img.frames[0] ?? Buffer.alloc(0), {
            x: 0,
            y: 0,
            ...{ w: size.width, h: size.height },
          });
          expect(classifyPlateColour(...m), `${type} ${width}`).toBe(type);
        }
      }
      await expect(renderPlate('京A1234', 'blue', 100, join(out.path, 'bad.png'))).rejects.toThrow(
        /SCENE_BAD_PLATE/,
      );
    } finally {
      out.remove();
    }
  });
});
