/**
 * The inference worker pool (inference-worker.ts + worker-entry.ts): real worker threads loading
 * TypeScript through worker-boot.mjs, real models. Results, transfer, back-pressure, crash and
 * timeout recovery, start failures, close, and the main loop staying responsive.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EdgeError, type EdgeErrorCode } from '../../edge-agent/src/errors.ts';
import { createFaceDetector } from '../../edge-agent/src/detect/face.ts';
import { iou } from '../../edge-agent/src/detect/face-decode.ts';
import { decodeImageFile } from '../../edge-agent/src/detect/image.ts';
import { InferencePool } from '../../edge-agent/src/detect/inference-worker.ts';
import { resolveModel } from '../../edge-agent/src/detect/models.ts';
import type { Box, RgbImage } from '../../edge-agent/src/detect/types.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { generateScene } from '../scene/generate.ts';
import { readFrames } from '../scene/ffmpeg.ts';
import { presetScene } from '../scene/presets.ts';
import { objectsInFrame } from '../scene/truth.ts';
import { ASTRONAUT } from './fixtures/detect-face-photos.ts';

async function codeOf(p: Promise<unknown>): Promise<EdgeErrorCode> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EdgeError) return err.code;
    throw err;
  }
  throw new Error('expected an EdgeError');
}

let astronaut: RgbImage;
/** A 720p frame of the street scene with faces, and a 1080p one (a long job). */
let frame720: RgbImage;
let frame1080: RgbImage;
const fresh = (img: RgbImage): RgbImage => ({ data: img.data.slice(), width: img.width, height: img.height });

beforeAll(async () => {
  astronaut = await decodeImageFile(ASTRONAUT.path);
  const { videoPath, truth } = await generateScene(presetScene('street'));
  const n = Math.round(0.85 * truth.video.frame_count);
  const raw = await readFrames(videoPath, truth.video, 'rgb24', [n]);
  const buf = raw.frames[0] as Buffer;
  frame720 = { data: new Uint8Array(buf), width: raw.width, height: raw.height };
  frame1080 = { data: new Uint8Array(1920 * 1080 * 3).fill(90), width: 1920, height: 1080 };
});

describe('a face pool', () => {
  let pool: InferencePool;
  beforeAll(async () => {
    pool = await InferencePool.start({ detectors: ['face'], maxQueue: 2, restartBackoffMs: 50 });
  });
  afterAll(async () => {
    await pool.close();
  });

  it('detects the face in astronaut.png off the main thread', async () => {
    const r = await pool.detect({ image: fresh(astronaut), detectors: ['face'] });
    expect(r.detections).toHaveLength(1);
    const face = r.detections[0];
    expect(face?.kind).toBe('face');
    expect(iou(face?.box as Box, ASTRONAUT.face as Box)).toBeGreaterThan(0.5);
    expect(r.timings.face).toBeGreaterThan(0);
    expect(r.totalMs).toBeGreaterThanOrEqual(r.timings.face ?? 0);
  });

  it('transfers the pixels (detached here) unless asked to copy; views on larger buffers are copied', async () => {
    const moved = fresh(astronaut);
    const p = pool.detect({ image: moved, detectors: ['face'] });
    expect(moved.data.byteLength).toBe(0);
    await p;
    const kept = fresh(astronaut);
    await pool.detect({ image: kept, detectors: ['face'], copy: true });
    expect(kept.data.byteLength).toBe(512 * 512 * 3);
    const big = new Uint8Array(astronaut.data.length + 10);
    big.set(astronaut.data, 10);
    const view = { data: big.subarray(10), width: 512, height: 512 };
    expect((await pool.detect({ image: view, detectors: ['face'] })).detections).toHaveLength(1);
    expect(big.byteLength).toBe(astronaut.data.length + 10);
  });

  it('passes motion regions: an empty list finds nothing, a region around the face finds it', async () => {
    expect(
      (await pool.detect({ image: fresh(astronaut), regions: [], detectors: ['face'] })).detections,
    ).toEqual([]);
    const r = await pool.detect({
      image: fresh(astronaut),
      regions: [{ x: 190, y: 90, width: 60, height: 60 }],
      detectors: ['face'],
    });
    expect(r.detections).toHaveLength(1);
  });

  it('rejects bad input and unconfigured detectors without reaching the worker', async () => {
    expect(
      await codeOf(
        pool.detect({ image: { data: new Uint8Array(5), width: 2, height: 2 }, detectors: ['face'] }),
      ),
    ).toBe('EDGE_ERR_DETECT_INPUT');
    expect(await codeOf(pool.detect({ image: fresh(astronaut), detectors: ['plate'] }))).toBe(
      'EDGE_ERR_DETECT_UNAVAILABLE',
    );
  });

  it('bounds the queue: 1 running + maxQueue waiting, the rest EDGE_ERR_DETECT_BUSY at once (counted)', async () => {
    const before = pool.stats();
    const jobs = Array.from({ length: 8 }, () =>
      pool.detect({ image: fresh(frame720), detectors: ['face'] }).then(
        () => 'ok' as const,
        (err: unknown) => (err instanceof EdgeError ? err.code : 'other'),
      ),
    );
    expect(pool.stats()).toMatchObject({ busyWorkers: 1, queued: 2 });
    const outcomes = await Promise.all(jobs);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(3);
    expect(outcomes.filter((o) => o === 'EDGE_ERR_DETECT_BUSY')).toHaveLength(5);
    const after = pool.stats();
    expect(after.rejectedBusy - before.rejectedBusy).toBe(5);
    expect(after.completed - before.completed).toBe(3);
  });

  it('keeps the main event loop responsive while the worker runs many 720p detections', async () => {
    const gaps: number[] = [];
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 10);
    const t0 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    let faces = 0;
    try {
      for (let i = 0; i < 12; i++) {
        faces += (await pool.detect({ image: fresh(frame720), detectors: ['face'] })).detections.length;
      }
    } finally {
      clearInterval(timer);
    }
    const busy = performance.eventLoopUtilization(elu0).utilization;
    const elapsed = performance.now() - t0;
    gaps.sort((a, b) => a - b);
    const p99 = gaps[Math.floor(gaps.length * 0.99)] ?? Infinity;
    const max = gaps.at(-1) ?? Infinity;

    // Control: the same detections on this thread keep its event loop busy most of the time
    // (onnxruntime-node runs models synchronously), so the assertion below can fail.
    const inThread = await createFaceDetector();
    const elu1 = performance.eventLoopUtilization();
    for (let i = 0; i < 3; i++) await inThread.detect(frame720);
    const busyInThread = performance.eventLoopUtilization(elu1).utilization;
    await inThread.close();

    console.log(
      `inference worker: 12 × 720p face jobs in ${elapsed.toFixed(0)} ms; main loop busy ${(100 * busy).toFixed(1)}% ` +
        `(in-thread: ${(100 * busyInThread).toFixed(1)}%); tick gaps p50 ${gaps[gaps.length >> 1]?.toFixed(1)} ms, ` +
        `p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    expect(faces).toBeGreaterThan(0);
    expect(busyInThread).toBeGreaterThan(0.5);
    expect(busy).toBeLessThan(0.2);
    // The ticks keep coming (≥ 60% of the ideal count) and almost all within 50 ms. The max is
    // looser: on 2 shared cores another process can hold the CPU for a moment.
    expect(gaps.length).toBeGreaterThan((0.6 * elapsed) / 10);
    expect(p99).toBeLessThan(50);
    expect(max).toBeLessThan(150);
  });

  it('a worker that dies mid-job rejects that job with EDGE_ERR_DETECT_WORKER and is restarted', async () => {
    // Twelve separate motion regions are twelve model runs, each its own turn of the worker's
    // event loop (onnxruntime-node runs a session from setImmediate), so the crash lands mid-job.
    const regions = Array.from({ length: 12 }, (_, i) => ({
      x: 40 + (i % 4) * 480,
      y: 40 + Math.floor(i / 4) * 360,
      width: 60,
      height: 60,
    }));
    for (const how of ['exit', 'throw'] as const) {
      const restarts = pool.stats().workerRestarts;
      const job = pool.detect({ image: fresh(frame1080), regions, detectors: ['face'] });
      pool.crashWorkerForTest(0, how);
      expect(await codeOf(job), how).toBe('EDGE_ERR_DETECT_WORKER');
      expect(pool.stats().workerRestarts).toBe(restarts + 1);
      // The next job waits for the restarted worker and succeeds.
      const r = await pool.detect({ image: fresh(astronaut), detectors: ['face'] });
      expect(r.detections).toHaveLength(1);
    }
  });
});

describe('limits and failures', () => {
  // Registered with the bench's reaper, so even a killed run leaves no directory behind.
  let tmp: TempDir | undefined;
  let dir: string;
  let pool: InferencePool | undefined;
  beforeAll(() => {
    tmp = makeTempDir('inference');
    dir = tmp.path;
  });
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });
  afterAll(() => {
    tmp?.remove();
  });

  it('a job over jobTimeoutMs is rejected; the worker finishes it (never killed inside onnxruntime) and goes on', async () => {
    pool = await InferencePool.start({ jobTimeoutMs: 40, maxQueue: 1 });
    const slow = pool.detect({ image: fresh(frame1080), detectors: ['face'] });
    expect(await codeOf(slow)).toBe('EDGE_ERR_DETECT_WORKER');
    expect(pool.stats()).toMatchObject({ timeouts: 1, failed: 1, busyWorkers: 1, workerRestarts: 0 });
    // The next job waits for the draining worker instead of killing it, then runs on it.
    const next = pool.detect({ image: fresh(astronaut), detectors: ['face'] }).then(
      () => 'ok',
      (err: unknown) => (err instanceof EdgeError ? err.code : 'other'),
    );
    expect(pool.stats()).toMatchObject({ queued: 1, busyWorkers: 1 });
    // One 512² tile normally takes ~10 ms; on a loaded machine it may overrun 40 ms too.
    expect(['ok', 'EDGE_ERR_DETECT_WORKER']).toContain(await next);
    expect(pool.stats()).toMatchObject({ workerRestarts: 0, queued: 0 });
  });

  it('a tampered model fails start() with EDGE_ERR_MODEL_HASH from inside the worker', async () => {
    const real = await resolveModel('blazeface-back-256', { env: {} });
    const bytes = await readFile(real.path);
    bytes[1000] = (bytes[1000] ?? 0) ^ 1;
    const file = join(dir, 'tampered.onnx');
    await writeFile(file, bytes);
    const started = InferencePool.start({
      modelOverrides: { 'blazeface-back-256': { path: file, sha256: real.sha256 } },
    });
    await expect(started).rejects.toMatchObject({ code: 'EDGE_ERR_MODEL_HASH' });
    await expect(started).rejects.toThrow(file);
  });

  it('an override that is a valid copy starts fine', async () => {
    const real = await resolveModel('blazeface-back-256', { env: {} });
    const file = join(dir, 'copy.onnx');
    await copyFile(real.path, file);
    pool = await InferencePool.start({
      modelOverrides: { 'blazeface-back-256': { path: file, sha256: real.sha256 } },
    });
    expect((await pool.detect({ image: fresh(astronaut), detectors: ['face'] })).detections).toHaveLength(1);
  });

  it('refuses bad options', async () => {
    await expect(InferencePool.start({ workers: 0 })).rejects.toMatchObject({
      code: 'EDGE_ERR_DETECT_INPUT',
    });
    await expect(InferencePool.start({ detectors: ['yolo' as 'face'] })).rejects.toThrow(
      /unknown detector "yolo"/,
    );
    await expect(InferencePool.start({ intraOpNumThreads: 0 })).rejects.toThrow(/intraOpNumThreads/);
  });

  it('close() rejects waiting jobs, lets the running one finish, ends the threads', async () => {
    pool = await InferencePool.start({ maxQueue: 4 });
    expect(process.getActiveResourcesInfo()).toContain('MessagePort');
    const running = pool.detect({ image: fresh(frame720), detectors: ['face'] });
    const waiting = codeOf(pool.detect({ image: fresh(frame720), detectors: ['face'] }));
    await pool.close();
    expect(Array.isArray((await running).detections)).toBe(true);
    expect(await waiting).toBe('EDGE_ERR_DETECT_CLOSED');
    expect(await codeOf(pool.detect({ image: fresh(astronaut), detectors: ['face'] }))).toBe(
      'EDGE_ERR_DETECT_CLOSED',
    );
    expect(process.getActiveResourcesInfo()).not.toContain('MessagePort');
    pool = undefined;
  });

  it('two workers share the load', async () => {
    pool = await InferencePool.start({ workers: 2, maxQueue: 0 });
    const a = pool.detect({ image: fresh(frame720), detectors: ['face'] });
    const b = pool.detect({ image: fresh(frame720), detectors: ['face'] });
    expect(pool.stats()).toMatchObject({ workers: 2, busyWorkers: 2, queued: 0 });
    expect(await codeOf(pool.detect({ image: fresh(frame720), detectors: ['face'] }))).toBe(
      'EDGE_ERR_DETECT_BUSY',
    );
    await Promise.all([a, b]);
  });
});

describe('face and plate in one pool', () => {
  it('runs the plate detector from the registry next to faces (checkpoint close-up plate)', async () => {
    const { videoPath, truth } = await generateScene(presetScene('checkpoint'));
    const n = Array.from({ length: truth.video.frame_count }, (_, i) => i).find((i) =>
      objectsInFrame(truth, i).some(
        (o) => o.object.text === '京N3B278' && !o.box.clipped && o.box.visibleFraction === 1,
      ),
    );
    expect(n).toBeDefined();
    const raw = await readFrames(videoPath, truth.video, 'rgb24', [(n ?? 0) + 10]);
    const image = { data: new Uint8Array(raw.frames[0] as Buffer), width: raw.width, height: raw.height };
    const pool = await InferencePool.start({ detectors: ['face', 'plate'] });
    try {
      const r = await pool.detect({ image, detectors: ['face', 'plate'] });
      const plates = r.detections.filter((d) => d.kind === 'plate');
      expect(plates.map((p) => p.text)).toContain('京N3B278');
      expect(r.timings.plate).toBeGreaterThan(0);
      expect(r.timings.face).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  });
});
