/**
 * The capture watchdog against real failures of a real RTSP server: the server killed and
 * restarted on the same port, the server frozen (SIGSTOP: a stall with the connection open),
 * and wrong credentials (401) with the backoff observable.
 */
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backoffCapMs, backoffPolicy, AUTH_HEAD_START } from '../../edge-agent/src/capture/backoff.ts';
import { encodeUserinfo } from '../../edge-agent/src/capture/ffmpeg-args.ts';
import {
  createCapture,
  type CameraCapture,
  type CaptureOptions,
  type CaptureStatus,
} from '../../edge-agent/src/capture/index.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';
import { makeTestVideo } from '../bench/fixtures/test-video.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { startRtspServer, type RtspServerHandle } from '../bench/services/index.ts';
import { waitFor } from '../bench/wait.ts';
import { memoryLogger, recordStates, waitForState, waitForStatus } from './fixtures/capture-helpers.ts';

const CREDS = { username: 'admin', password: 'correct-horse' };
const MOUNTS = (file: string) => [
  { path: '/cam', file, auth: { user: CREDS.username, password: CREDS.password } },
];
const STALL_MS = 3000;

let dir: TempDir;
let video: string;
const captures: CameraCapture[] = [];
const servers: RtspServerHandle[] = [];
const frozen = new Set<number>();

beforeAll(async () => {
  dir = makeTempDir('capture-faults');
  video = await makeTestVideo(dir.path, { width: 1280, height: 720, fps: 15, seconds: 4, gop: 15 });
});

afterAll(() => {
  dir.remove();
});

afterEach(async () => {
  for (const pgid of frozen) signal(pgid, 'SIGCONT');
  frozen.clear();
  await Promise.all(captures.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(port?: number): Promise<RtspServerHandle> {
  const s = await startRtspServer({ mounts: MOUNTS(video), ...(port !== undefined && { port }) });
  servers.push(s);
  return s;
}

function capture(over: Partial<CaptureOptions> & Pick<CaptureOptions, 'url'>): CameraCapture {
  const c = createCapture({
    cameraId: 'cam-fault',
    credentials: CREDS,
    width: 320,
    height: 180,
    fps: 2,
    stallTimeoutMs: STALL_MS,
    backoff: { initialMs: 200, maxMs: 2000 },
    logger: silentLogger(),
    ...over,
  });
  captures.push(c);
  return c;
}

function signal(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch (err) {
    // ESRCH: the server is already gone.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

describe('capture watchdog', () => {
  it('goes offline within the stall timeout when the server dies, and back online when it returns on the same port', async () => {
    const first = await server();
    const port = first.port;
    const cam = capture({ url: first.url('/cam') });
    const frameTimes: number[] = [];
    cam.start();
    const consumer = (async () => {
      for await (const f of cam.frames()) frameTimes.push(f.capturedAtMs);
    })();
    await waitForState(cam, 'online');
    const states = recordStates(cam);

    const killedAt = Date.now();
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    const offline = await waitForState(cam, 'offline', STALL_MS + 2000);
    expect(offline.lastFrameMs).toBeLessThanOrEqual(killedAt + 1000);
    expect(Date.now() - killedAt).toBeLessThan(STALL_MS + 2000);

    // While it is down: retrying with backoff, still "offline" (it had frames) — not "unreachable".
    await waitForStatus(cam, 'two retries', (s) => s.restarts >= 2, 20_000);
    expect(cam.status().state).toBe('offline');
    expect(cam.status().lastErrorCode).toMatch(/^EDGE_ERR_CAPTURE_(UNREACHABLE|EXIT|STALL)$/);

    const restoredAt = Date.now();
    await server(port);
    const online = await waitForState(cam, 'online', 30_000);
    expect(online.restarts).toBeGreaterThanOrEqual(2);
    // The same frame generator carries on with frames from the restored server.
    await waitFor(() => (frameTimes.some((t) => t > restoredAt) ? true : undefined), {
      what: 'a frame after the restore',
      timeoutMs: 10_000,
    });
    expect(states.states[1]).toBe('offline');
    expect(states.states.at(-1)).toBe('online');
    expect(states.states).not.toContain('unreachable');

    await cam.stop();
    await consumer;
  });

  it('detects a stall (server frozen, connection open) and recovers when it thaws', async () => {
    const srv = await server();
    const cam = capture({ url: srv.url('/cam') });
    cam.start();
    await waitForState(cam, 'online');
    const codes: (string | null)[] = [];
    cam.onStatus((s) => codes.push(s.lastErrorCode));

    const frozenAt = Date.now();
    frozen.add(srv.pid);
    signal(srv.pid, 'SIGSTOP');
    await waitForState(cam, 'offline', STALL_MS + 2000);
    expect(Date.now() - frozenAt).toBeLessThan(STALL_MS + 2000);
    expect(codes[0]).toBe('EDGE_ERR_CAPTURE_STALL');
    expect(cam.status().lastError).toMatch(/no frame for \d+ ms/);

    signal(srv.pid, 'SIGCONT');
    frozen.delete(srv.pid);
    const back = await waitForState(cam, 'online', 30_000);
    expect(back.restarts).toBeGreaterThanOrEqual(1);
  });

  it('reports wrong credentials as auth_failed, redacted, and backs off with growing delays (no retry storm)', async () => {
    const srv = await server();
    const { logger, text } = memoryLogger();
    const wrong = { username: 'admin', password: 'wrong-pass:word' };
    // Auth delays: 1–2 s, 2–4 s, 4–8 s, 8–16 s: at most 5 starts in 15 s whatever the draws.
    const backoff = { initialMs: 250, maxMs: 16_000 };
    const cam = capture({ url: srv.url('/cam'), credentials: wrong, backoff, logger });
    const failures: { at: number; next: number }[] = [];
    cam.onStatus((s: CaptureStatus) => {
      if (s.lastErrorMs !== null && s.nextRetryAtMs !== null && failures.at(-1)?.at !== s.lastErrorMs) {
        failures.push({ at: s.lastErrorMs, next: s.nextRetryAtMs });
      }
    });
    const startedAt = Date.now();
    cam.start();

    const s = await waitForState(cam, 'auth_failed', 30_000);
    expect(s.lastErrorCode).toBe('EDGE_ERR_CAPTURE_AUTH');
    expect(s.lastError).toMatch(/RTSP credentials.*401 Unauthorized/);
    for (const leak of [wrong.password, encodeUserinfo(wrong.password)]) {
      expect(s.lastError).not.toContain(leak);
      expect(text()).not.toContain(leak);
    }

    await sleep(Math.max(0, startedAt + 15_000 - Date.now()));
    const end = cam.status();
    expect(end.state).toBe('auth_failed');
    // ffmpeg started at most 5 times in 15 s (a retry storm would be dozens).
    expect(end.restarts + 1).toBeLessThanOrEqual(5);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    const intervals = failures.map((f) => f.next - f.at);
    const policy = backoffPolicy(backoff);
    intervals.forEach((ms, i) => {
      const cap = backoffCapMs(policy, i + AUTH_HEAD_START);
      expect(ms).toBeGreaterThanOrEqual(cap / 2);
      expect(ms).toBeLessThanOrEqual(cap);
    });
    // Growing every time until the maximum (the first four: caps 2, 4, 8, 16 s).
    intervals.slice(1, 4).forEach((ms, i) => {
      expect(ms).toBeGreaterThan(intervals[i] ?? Infinity);
    });
    // Each retry waited for its announced time.
    failures.slice(1).forEach((f, i) => {
      expect(f.at).toBeGreaterThanOrEqual(failures[i]?.next ?? Infinity);
    });
  });

  it('reports a refused connection to a never-seen camera as unreachable', async () => {
    // A port that was free a moment ago: nothing listens, the kernel refuses.
    const srv = await server();
    const port = srv.port;
    await srv.stop();
    servers.splice(servers.indexOf(srv), 1);
    const cam = capture({ url: `rtsp://127.0.0.1:${port}/cam` });
    cam.start();
    const s = await waitForState(cam, 'unreachable', 15_000);
    expect(s.lastErrorCode).toBe('EDGE_ERR_CAPTURE_UNREACHABLE');
    expect(s.lastError).toMatch(/Connection refused/);
  });

  it('reports a wrong path as offline with EDGE_ERR_CAPTURE_NOT_FOUND', async () => {
    const srv = await server();
    const cam = capture({ url: srv.url('/no-such-stream') });
    cam.start();
    const s = await waitForStatus(cam, 'a 404', (st) => st.lastErrorCode !== null, 15_000);
    expect(s.lastErrorCode).toBe('EDGE_ERR_CAPTURE_NOT_FOUND');
    expect(s.state).toBe('offline');
  });

  it('reports a server that accepts but never answers as unreachable (connect timeout)', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const address = silent.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const cam = capture({
        url: `rtsp://127.0.0.1:${port}/cam`,
        connectTimeoutMs: 2000,
        stallTimeoutMs: 20_000,
      });
      const t0 = Date.now();
      cam.start();
      const s = await waitForState(cam, 'unreachable', 15_000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
      expect(s.lastError).toBe(
        'EDGE_ERR_CAPTURE_UNREACHABLE: the RTSP stream cannot be reached: no frame within 2000 ms of starting ffmpeg',
      );
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) =>
        silent.close(() => {
          resolve();
        }),
      );
    }
  });

  it('reports a missing ffmpeg binary as EDGE_ERR_CAPTURE_SPAWN and keeps retrying', async () => {
    const srv = await server();
    const cam = capture({ url: srv.url('/cam'), ffmpegPath: join(dir.path, 'no-such-ffmpeg') });
    cam.start();
    const s = await waitForStatus(cam, 'a spawn failure', (st) => st.lastErrorCode !== null, 15_000);
    expect(s.lastErrorCode).toBe('EDGE_ERR_CAPTURE_SPAWN');
    expect(s.state).toBe('offline');
    await waitForStatus(cam, 'a retry', (st) => st.restarts >= 1, 15_000);
  });
});
