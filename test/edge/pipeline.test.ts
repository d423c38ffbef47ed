/**
 * The whole edge pipeline with the real models: a generated street scene (video file, 2 fps)
 * through motion → inference worker → tracker → events; and the `detect` command on good and
 * bad inputs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVideoFrames } from '../../edge-agent/src/capture/file-source.ts';
import { runDetect } from '../../edge-agent/src/cli/detect.ts';
import { startInferencePool, type InferencePool } from '../../edge-agent/src/detect/index.ts';
import { MemoryEventSink } from '../../edge-agent/src/events/index.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';
import { createCameraPipeline, MODEL_IDS, poolDetect } from '../../edge-agent/src/pipeline/pipeline.ts';
import { Direction } from '../../proto/gen/sharpeyes/v1/event.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { generateScene } from '../scene/generate.ts';
import { presetScene } from '../scene/presets.ts';

describe('edge pipeline on a generated street scene', () => {
  let pool: InferencePool | undefined;
  beforeAll(async () => {
    pool = await startInferencePool({ detectors: ['face', 'plate'], logger: silentLogger() });
  }, 120_000);
  afterAll(async () => {
    await pool?.close();
  });

  it('emits one event per plate pass with the exact text, colour and direction, and none for the shop sign', async () => {
    const p = pool;
    if (p === undefined) throw new Error('no pool');
    const scene = await generateScene(
      presetScene('street', { width: 1280, height: 720, fps: 15, duration_s: 20 }),
    );
    const sink = new MemoryEventSink();
    const pipeline = createCameraPipeline({
      siteId: 'test',
      cameraId: 'street',
      detect: poolDetect(p),
      kinds: { face: true, plate: true },
      modelIds: MODEL_IDS,
      sink,
      tracker: { inbound: 'right_to_left' },
      logger: silentLogger(),
    });
    for await (const frame of readVideoFrames(scene.videoPath, { width: 1280, height: 720, fps: 2 })) {
      await pipeline.process(frame);
    }
    await pipeline.flush();
    const plates = sink
      .latest()
      .flatMap((e) => (e.detail?.$case === 'plate' ? [{ event: e, plate: e.detail.value }] : []));
    const truth = scene.truth.objects.filter((o) => o.kind === 'plate');
    // Every truth plate ≥ 80 px wide is read exactly, in exactly one event.
    for (const o of truth.filter((t) => Math.max(...t.keyframes.map((k) => k.w)) >= 80)) {
      expect(
        plates.filter((x) => x.plate.text === o.text),
        o.text,
      ).toHaveLength(1);
    }
    // Nothing else is called a plate: no event text outside the truth (the sign, the clock).
    const truthTexts = new Set(truth.map((t) => t.text));
    expect(plates.filter((x) => !truthTexts.has(x.plate.text))).toEqual([]);
    for (const { event } of plates) {
      expect(event.evidence?.jpeg.length ?? 0).toBeGreaterThan(0);
      expect(event.evidence?.contextJpeg.length ?? 0).toBeGreaterThan(0);
      expect([Direction.DIRECTION_IN, Direction.DIRECTION_OUT, Direction.DIRECTION_UNKNOWN]).toContain(
        event.direction,
      );
    }
    expect(sink.latest().some((e) => e.detail?.$case === 'face')).toBe(true);
  }, 240_000);
});

describe('edge-agent detect', () => {
  let tmp: TempDir | undefined;
  beforeAll(() => {
    tmp = makeTempDir('detect-cli');
  });
  afterAll(() => tmp?.remove());

  it('reports each unreadable image with a clear error and goes on with the others', async () => {
    const dir = tmp?.path ?? '';
    const good = join(dir, 'astronaut.jpg');
    await sharp('/usr/lib/python3/dist-packages/skimage/data/astronaut.png').jpeg().toFile(good);
    const jpeg = await sharp(good).toBuffer();
    const truncated = join(dir, 'truncated.jpg');
    writeFileSync(truncated, jpeg.subarray(0, Math.floor(jpeg.length / 3)));
    const empty = join(dir, 'empty.jpg');
    writeFileSync(empty, '');
    const text = join(dir, 'notes.jpg');
    writeFileSync(text, 'this is not an image');
    const huge = join(dir, 'huge.png');
    await sharp({ create: { width: 9000, height: 9000, channels: 3, background: '#808080' } })
      .png()
      .toFile(huge);

    const lines: string[] = [];
    const code = await runDetect(
      [good, truncated, empty, text, huge, join(dir, 'missing.jpg')],
      (l) => lines.push(l),
      () => undefined,
    );
    expect(code).toBe(1);
    const out = lines.map(
      (l) =>
        JSON.parse(l) as {
          file: string;
          detections?: { kind: string }[];
          error?: { code: string; message: string };
        },
    );
    expect(out).toHaveLength(6);
    expect(out[0]?.detections?.some((d) => d.kind === 'face')).toBe(true);
    for (const bad of out.slice(1)) {
      expect(bad.error?.code, bad.file).toBe('EDGE_ERR_DETECT_INPUT');
      expect(bad.error?.message, bad.file).toContain(bad.file);
    }
  }, 120_000);

  it('refuses bad arguments with usage, exit 2', async () => {
    const errs: string[] = [];
    expect(
      await runDetect(
        ['--fps', '0', 'x.jpg'],
        () => undefined,
        (l) => errs.push(l),
      ),
    ).toBe(2);
    expect(errs.join('\n')).toMatch(/--fps must be/);
    expect(
      await runDetect(
        [],
        () => undefined,
        () => undefined,
      ),
    ).toBe(2);
  });
});
