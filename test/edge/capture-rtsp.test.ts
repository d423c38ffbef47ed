/**
 * Capture against a real GStreamer RTSP server and the real ffmpeg: frames at the requested size
 * and rate over authenticated RTSP, a slow consumer, switching source, a corrupt stream.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createCapture,
  type CameraCapture,
  type CaptureOptions,
  type Frame,
} from '../../edge-agent/src/capture/index.ts';
import { encodeUserinfo } from '../../edge-agent/src/capture/ffmpeg-args.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';
import { makeTestVideo } from '../bench/fixtures/test-video.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { processGone, startRtspServer, type RtspServerHandle } from '../bench/services/index.ts';
import { waitFor } from '../bench/wait.ts';
import { runFfmpeg } from '../scene/ffmpeg.ts';
import {
  makeColorVideo,
  meanRgb,
  memoryLogger,
  recordStates,
  waitForState,
  waitForStatus,
} from './fixtures/capture-helpers.ts';

/** Credentials with every character that needs encoding in a URL, or that would end a naive redaction. */
const CREDS = { username: 'cam-admin', password: "s3cr3t:p@ss w/rd'(x)" };
const SERVER_AUTH = { user: CREDS.username, password: CREDS.password };

let dir: TempDir;
let video: string;
let red: string;
let corrupt: string;
let rtsp: RtspServerHandle;
const captures: CameraCapture[] = [];
const servers: RtspServerHandle[] = [];

beforeAll(async () => {
  dir = makeTempDir('capture-rtsp');
  [video, red, corrupt] = await Promise.all([
    makeTestVideo(dir.path, { width: 1280, height: 720, fps: 15, seconds: 4, gop: 15 }),
    makeColorVideo(dir.path, 'red'),
    makeCorruptVideo(dir.path),
  ]);
  rtsp = await startRtspServer({
    mounts: [
      { path: '/cam', file: video, auth: SERVER_AUTH },
      { path: '/corrupt', file: corrupt },
    ],
  });
});

afterAll(async () => {
  await rtsp.stop();
  dir.remove();
});

afterEach(async () => {
  await Promise.all(captures.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function capture(over: Partial<CaptureOptions> & Pick<CaptureOptions, 'url'>): CameraCapture {
  const c = createCapture({
    cameraId: 'cam-test',
    credentials: CREDS,
    width: 320,
    height: 180,
    fps: 4,
    logger: silentLogger(),
    ...over,
  });
  captures.push(c);
  return c;
}

describe('capture from a real RTSP server', () => {
  it('reads frames of the requested size at the requested rate, with credentials that never reach the log', async () => {
    const { logger, text } = memoryLogger();
    // An odd size: frames never line up with the pipe's 64 KiB reads.
    const cam = capture({ url: rtsp.url('/cam'), width: 333, height: 187, fps: 4, logger });
    cam.start();
    const frames: Frame[] = [];
    for await (const f of cam.frames()) {
      frames.push(f);
      if (frames.length === 16) break;
    }

    for (const f of frames) {
      expect(f.width).toBe(333);
      expect(f.height).toBe(187);
      expect(f.data.length).toBe(333 * 187 * 3);
    }
    // testsrc2 is colourful: a frame of one value would mean a broken conversion.
    expect(new Set(frames[5]?.data.subarray(0, 30_000)).size).toBeGreaterThan(20);
    const seqs = frames.map((f) => f.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // Rate, past the start-up: 10 intervals of 250 ms, give or take a loaded machine.
    const span = (frames[15]?.capturedAtMs ?? 0) - (frames[5]?.capturedAtMs ?? 0);
    expect(span / 10).toBeGreaterThan(150);
    expect(span / 10).toBeLessThan(400);

    const s = cam.status();
    expect(s.state).toBe('online');
    expect(s.inputFps).toBeGreaterThan(2.5);
    expect(s.inputFps).toBeLessThan(6);
    expect(s.restarts).toBe(0);
    expect(s.ffmpegPid).toBeGreaterThan(0);

    const log = text();
    expect(log).toContain('frames flowing');
    expect(log).toContain('rtsp://***@127.0.0.1');
    for (const secret of [
      CREDS.password,
      encodeUserinfo(CREDS.password),
      encodeURIComponent(CREDS.password),
    ]) {
      expect(log).not.toContain(secret);
    }
  });

  it('drops frames for a slow consumer, counts them, holds at most one, and never slows capture', async () => {
    // Full 720p frames (2.7 MB) at 10 fps: were frames queued for the consumer, ~250 MB would pile up.
    const cam = capture({ url: rtsp.url('/cam'), width: 1280, height: 720, fps: 10 });
    cam.start();
    await waitForState(cam, 'online');
    const states = recordStates(cam);
    const memBase = heldBytes();
    let memPeak = 0;
    const sampler = setInterval(() => {
      memPeak = Math.max(memPeak, heldBytes() - memBase);
    }, 100);
    const before = cam.status();
    const t0 = Date.now();
    const seqs: number[] = [];
    try {
      for await (const f of cam.frames()) {
        expect(f.data.length).toBe(1280 * 720 * 3);
        seqs.push(f.seq);
        await sleep(1500); // "detection" that is far slower than the camera
        if (Date.now() - t0 > 9000) break;
      }
    } finally {
      clearInterval(sampler);
    }
    const elapsedS = (Date.now() - t0) / 1000;
    const after = cam.status();
    const read = after.framesRead - before.framesRead;
    const dropped = after.droppedFrames - before.droppedFrames;

    // Capture kept reading at the camera's pace while the consumer dawdled.
    expect(read).toBeGreaterThan(0.7 * 10 * elapsedS);
    expect(states.states).toEqual(['online']);
    expect(after.inputFps).toBeGreaterThan(8);
    expect(after.deliveredFps).toBeLessThan(1.5);
    // Every frame the consumer skipped was counted as dropped.
    const skipped = seqs.slice(1).reduce((sum, seq, i) => sum + (seq - (seqs[i] ?? seq) - 1), 0);
    expect(skipped).toBeGreaterThan(40);
    expect(dropped).toBeGreaterThanOrEqual(skipped);
    expect(dropped).toBeLessThanOrEqual(read - seqs.length);
    // The consumer always got the newest frame: what it saw after a 1.5 s nap was fresh.
    expect(seqs.length).toBeGreaterThanOrEqual(5);
    // Bounded memory: a few frames in flight plus garbage not yet collected (measured here: ~35 MB),
    // not the backlog.
    expect(memPeak).toBeLessThan(120 * 1024 * 1024);
  });

  it('switches to a new address and credentials at once, with the same frame generator (camera moved)', async () => {
    const moved = await startRtspServer({
      mounts: [{ path: '/moved', file: red, auth: { user: 'installer', password: 'n3w-p@ss' } }],
    });
    servers.push(moved);
    const cam = capture({ url: rtsp.url('/cam'), width: 160, height: 90, fps: 5 });
    cam.start();
    const seen: { seq: number; red: boolean; at: number }[] = [];
    const consumer = (async () => {
      for await (const f of cam.frames()) {
        const [r, g, b] = meanRgb(f.data);
        seen.push({ seq: f.seq, red: r > 200 && g < 60 && b < 60, at: f.capturedAtMs });
      }
    })();

    await waitFor(() => (seen.length >= 3 ? true : undefined), { what: 'first frames', timeoutMs: 30_000 });
    expect(seen.some((f) => f.red)).toBe(false);
    const oldPid = cam.status().ffmpegPid;
    expect(oldPid).not.toBeNull();

    const switchedAt = Date.now();
    cam.setSource(moved.url('/moved'), { username: 'installer', password: 'n3w-p@ss' });
    expect(cam.status().state).toBe('starting');
    await waitFor(() => (seen.some((f) => f.red) ? true : undefined), {
      what: 'a red frame from the new source',
      timeoutMs: 30_000,
    });
    const s = await waitForState(cam, 'online');
    expect(s.restarts).toBe(1);
    expect(s.ffmpegPid).not.toBe(oldPid);
    // No backoff wait: the new source was tried at once (connect time only).
    const firstRed = seen.find((f) => f.red);
    expect((firstRed?.at ?? Infinity) - switchedAt).toBeLessThan(15_000);
    // The old ffmpeg is gone, and nothing from the old source arrives after the new one.
    await waitFor(() => (oldPid !== null && processGone(oldPid) ? true : undefined), {
      what: 'old ffmpeg gone',
      timeoutMs: 10_000,
    });
    const firstRedIndex = seen.findIndex((f) => f.red);
    expect(seen.slice(firstRedIndex).every((f) => f.red)).toBe(true);

    await cam.stop();
    await consumer; // the generator returns on stop()
  });

  it('reports a stream with decode errors as degraded, and restarts it as corrupt past the threshold', async () => {
    const tolerant = capture({
      url: rtsp.url('/corrupt'),
      credentials: undefined,
      corruptErrorThreshold: 1_000_000,
    });
    const strict = capture({ url: rtsp.url('/corrupt'), credentials: undefined, corruptErrorThreshold: 30 });
    const strictCodes: (string | null)[] = [];
    strict.onStatus((s) => strictCodes.push(s.lastErrorCode));
    tolerant.start();
    strict.start();

    const degraded = await waitForState(tolerant, 'degraded');
    expect(degraded.framesRead).toBeGreaterThan(0);
    await waitFor(() => (strictCodes.includes('EDGE_ERR_CAPTURE_CORRUPT') ? true : undefined), {
      what: 'a corrupt-stream restart',
      timeoutMs: 30_000,
    });
    const s = await waitForStatus(strict, 'a restart after corruption', (st) => st.restarts >= 1);
    expect(s.lastError).toMatch(/^EDGE_ERR_CAPTURE_CORRUPT: .*decode errors/);
  });
});

/** Bytes of Buffers and ArrayBuffers alive in this process (frames live there, not on the V8 heap). */
function heldBytes(): number {
  const m = process.memoryUsage();
  return m.arrayBuffers;
}

/**
 * An H.264 clip with bytes flipped in its slices (the parameter sets at the start are left
 * intact, so it still opens): ffmpeg decodes it with a stream of "error while decoding MB" and
 * "corrupt decoded frame" lines, and still outputs frames.
 */
async function makeCorruptVideo(dirPath: string): Promise<string> {
  const raw = `${dirPath}/clean.h264`;
  const bad = `${dirPath}/corrupt.h264`;
  const mp4 = `${dirPath}/corrupt.mp4`;
  await runFfmpeg(
    [
      ...['-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=10', '-t', '3'],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-g', '10', '-f', 'h264', raw],
    ],
    { name: 'clean h264' },
  );
  const bytes = readFileSync(raw);
  let seed = 1;
  const next = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 200; i++) {
    const at = 2000 + Math.floor(next() * (bytes.length - 2000));
    bytes[at] = Math.floor(next() * 256);
  }
  writeFileSync(bad, bytes);
  await runFfmpeg(['-y', '-r', '10', '-i', bad, '-c', 'copy', mp4], { name: 'corrupt mp4' });
  return mp4;
}
