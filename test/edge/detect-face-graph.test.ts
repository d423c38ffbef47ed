/**
 * BlazeFace opened to any input size (face-graph.ts) and the wire codec under it
 * (proto-wire.ts), on the real model and real onnxruntime: the edited graph computes exactly what
 * the original does at 256², decodes a whole-frame run into the same faces as the tiles, and a
 * graph it does not recognise is refused (and the detector falls back to tiles).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { createFaceDetector, type FaceDetector } from '../../edge-agent/src/detect/face.ts';
import { anchorCounts, type BlazefaceOutputs } from '../../edge-agent/src/detect/face-decode.ts';
import { openBlazefaceInput } from '../../edge-agent/src/detect/face-graph.ts';
import { decodeImageFile, letterboxTensor } from '../../edge-agent/src/detect/image.ts';
import { resolveModel } from '../../edge-agent/src/detect/models.ts';
import { createSession, output, type OnnxSession } from '../../edge-agent/src/detect/onnx.ts';
import {
  bytesField,
  decodeMessage,
  encodeMessage,
  fieldsNumbered,
  int64s,
  stringField,
  stringOf,
  strings,
  varintField,
} from '../../edge-agent/src/detect/proto-wire.ts';
import { iou } from '../../edge-agent/src/detect/face-decode.ts';
import type { RgbImage } from '../../edge-agent/src/detect/types.ts';
import { ASTRONAUT } from './fixtures/detect-face-photos.ts';
import { memoryLogger } from './fixtures/memory-logger.ts';

const NO_ENV = {};
const NORM = { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] };

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return isEdgeError(err) ? err.code : `not an EdgeError: ${String(err)}`;
  }
  return undefined;
}

async function runFace(
  session: OnnxSession,
  image: RgbImage,
  width: number,
  height: number,
): Promise<BlazefaceOutputs> {
  const tensor = new Float32Array(width * height * 3);
  letterboxTensor(image, { width, height }, undefined, NORM, tensor);
  const out = await session.run({ 'input:0': { data: tensor, dims: [1, height, width, 3] } });
  return {
    scores16: output(out, 'Identity:0').data,
    scores8: output(out, 'Identity_1:0').data,
    boxes16: output(out, 'Identity_2:0').data,
    boxes8: output(out, 'Identity_3:0').data,
  };
}

describe('proto-wire', () => {
  it('decodes and re-encodes the real model byte for byte', async () => {
    const model = await resolveModel('blazeface-back-256', { env: NO_ENV });
    const bytes = new Uint8Array(readFileSync(model.path));
    const top = decodeMessage(bytes);
    expect(Buffer.compare(Buffer.from(encodeMessage(top)), Buffer.from(bytes))).toBe(0);
    const graph = decodeMessage(fieldsNumbered(top, 7)[0]?.bytes ?? new Uint8Array(0));
    const ops = fieldsNumbered(graph, 1).map((n) => stringOf(decodeMessage(n.bytes), 4));
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(69);
  });

  it('round-trips negative int64, packed and unpacked, and strings', () => {
    const msg = encodeMessage([
      varintField(1, -1n),
      varintField(1, 300),
      bytesField(2, encodeMessage([stringField(1, '输入:0')])),
    ]);
    const fields = decodeMessage(msg);
    expect(int64s(fields, 1)).toEqual([-1n, 300n]);
    expect(strings(decodeMessage(fieldsNumbered(fields, 2)[0]?.bytes ?? new Uint8Array(0)), 1)).toEqual([
      '输入:0',
    ]);
  });

  it.each([
    ['a truncated varint', Uint8Array.from([0x08, 0xff])],
    ['a length past the end', Uint8Array.from([0x12, 0x05, 0x01])],
    ['a group (wire type 3)', Uint8Array.from([0x0b])],
    ['field number 0', Uint8Array.from([0x00, 0x01])],
    ['a truncated fixed64', Uint8Array.from([0x09, 0x01, 0x02])],
  ])('refuses %s with EDGE_ERR_MODEL_LOAD', async (_name, bytes) => {
    expect(await codeOf(() => decodeMessage(bytes))).toBe('EDGE_ERR_MODEL_LOAD');
  });
});

describe('openBlazefaceInput on the real model', () => {
  let original: OnnxSession;
  let opened: OnnxSession;
  let photo: RgbImage;

  beforeAll(async () => {
    const model = await resolveModel('blazeface-back-256', { env: NO_ENV });
    original = await createSession(model);
    opened = await createSession(model, {}, openBlazefaceInput);
    photo = await decodeImageFile(ASTRONAUT.path);
  });
  afterAll(async () => {
    await original.release();
    await opened.release();
  });

  it('computes exactly what the original does at 256²', async () => {
    const a = await runFace(original, photo, 256, 256);
    const b = await runFace(opened, photo, 256, 256);
    for (const k of ['scores16', 'scores8', 'boxes16', 'boxes8'] as const) {
      expect(b[k].length).toBe(a[k].length);
      let maxDiff = 0;
      for (let i = 0; i < a[k].length; i++)
        maxDiff = Math.max(maxDiff, Math.abs((a[k][i] ?? 0) - (b[k][i] ?? 0)));
      expect(maxDiff, k).toBeLessThan(1e-4);
    }
  });

  it.each([
    [640, 384],
    [320, 192],
    [64, 96],
  ])('takes a %d×%d input and gives the anchors that size has', async (width, height) => {
    const out = await runFace(opened, photo, width, height);
    const [n16, n8] = anchorCounts(width, height);
    expect(out.scores16.length).toBe(n16);
    expect(out.scores8.length).toBe(n8);
    expect(out.boxes16.length).toBe(n16 * 16);
    expect(out.boxes8.length).toBe(n8 * 16);
  });

  it('the original refuses any size but 256² (what the edit is for)', async () => {
    expect(await codeOf(runFace(original, photo, 320, 192))).toBe('EDGE_ERR_DETECT_RUN');
  });

  it('refuses a graph it does not know: the text detector', async () => {
    const det = await resolveModel('ppocr-v4-det', { env: NO_ENV });
    expect(await codeOf(() => openBlazefaceInput(new Uint8Array(readFileSync(det.path))))).toBe(
      'EDGE_ERR_MODEL_INCOMPATIBLE',
    );
  });
});

describe('the face detector on a canvas', () => {
  let canvas: FaceDetector;
  let tiles: FaceDetector;
  beforeAll(async () => {
    canvas = await createFaceDetector({ models: { env: NO_ENV } });
    tiles = await createFaceDetector({ models: { env: NO_ENV }, search: 'tiles' });
  });
  afterAll(async () => {
    await canvas.close();
    await tiles.close();
  });

  it('finds the astronaut where the tiles do, in one run of the photo', async () => {
    const photo = await decodeImageFile(ASTRONAUT.path);
    expect(canvas.search).toBe('canvas');
    const a = await canvas.detect(photo);
    expect(canvas.lastStats.tiles).toBe(1);
    const b = await tiles.detect(photo);
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(
      iou(a[0]?.box ?? { x: 0, y: 0, width: 0, height: 0 }, b[0]?.box ?? { x: 0, y: 0, width: 1, height: 1 }),
    ).toBeGreaterThan(0.7);
    expect(
      iou(
        a[0]?.box ?? { x: 0, y: 0, width: 0, height: 0 },
        ASTRONAUT.face ?? { x: 0, y: 0, width: 1, height: 1 },
      ),
    ).toBeGreaterThan(0.5);
  });
});

describe('a face model the edit does not recognise', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sharpeyes-face-graph-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is searched on 256² tiles, with a warning', async () => {
    // The real model with one Reshape target moved from an initializer into a Constant node:
    // the same network, but a shape the edit cannot see, so it must refuse and fall back.
    const model = await resolveModel('blazeface-back-256', { env: NO_ENV });
    const top = decodeMessage(new Uint8Array(readFileSync(model.path)));
    const graph = decodeMessage(fieldsNumbered(top, 7)[0]?.bytes ?? new Uint8Array(0));
    const reshape = fieldsNumbered(graph, 1)
      .map((f) => decodeMessage(f.bytes))
      .find((n) => stringOf(n, 4) === 'Reshape');
    const target = strings(reshape ?? [], 1)[1] ?? '';
    const init = fieldsNumbered(graph, 5).find((f) => stringOf(decodeMessage(f.bytes), 8) === target);
    expect(init).toBeDefined();
    const constant = encodeMessage([
      stringField(2, target),
      stringField(4, 'Constant'),
      bytesField(
        5,
        encodeMessage([
          stringField(1, 'value'),
          bytesField(5, init?.bytes ?? new Uint8Array(0)),
          varintField(20, 4),
        ]),
      ),
    ]);
    const edited = [bytesField(1, constant), ...graph.filter((f) => f !== init)];
    const bytes = encodeMessage(top.map((f) => (f.no === 7 ? bytesField(7, encodeMessage(edited)) : f)));
    const path = join(dir, 'blazeface-constant-shape.onnx');
    writeFileSync(path, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { logger, text } = memoryLogger('warn');
    const detector = await createFaceDetector({
      models: { env: NO_ENV, overrides: { 'blazeface-back-256': { path, sha256 } } },
      logger,
    });
    try {
      expect(detector.search).toBe('tiles');
      expect(text()).toMatch(/256² tiles/);
      const faces = await detector.detect(await decodeImageFile(ASTRONAUT.path));
      expect(faces).toHaveLength(1);
    } finally {
      await detector.close();
    }
  });
});
