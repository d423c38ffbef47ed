/**
 * No ffmpeg outlives its capture: after stop() (graceful `q`, or SIGTERM for a stalled stream),
 * after SIGTERM of the agent (it stops its captures), and after SIGKILL of the agent (the kernel's
 * parent-death signal, set by setpriv, kills ffmpeg — tested with the streams frozen, so that
 * ffmpeg writes nothing and SIGPIPE cannot be what ends it).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCapture, type CameraCapture } from '../../edge-agent/src/capture/index.ts';
import { makeTestVideo } from '../bench/fixtures/test-video.ts';
import { makeTempDir, spawnManaged, type ManagedChild, type TempDir } from '../bench/lifetime.ts';
import {
  processGone,
  processGroupGone,
  startRtspServer,
  type RtspServerHandle,
} from '../bench/services/index.ts';
import { waitFor } from '../bench/wait.ts';
import { memoryLogger, waitForState } from './fixtures/capture-helpers.ts';
import type { HolderConfig, HolderReady } from './fixtures/capture-holder.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(HERE, '..', '..');
const HOLDER = join(HERE, 'fixtures', 'capture-holder.ts');
const CREDS = { username: 'admin', password: 'sharpeyes-sim' };

let dir: TempDir;
let rtsp: RtspServerHandle;
let frozen = false;
const captures: CameraCapture[] = [];
let holder: ManagedChild | undefined;
/** ffmpeg pids a holder reported: killed in afterEach if a test failed before they went. */
let holderFfmpegs: number[] = [];

beforeAll(async () => {
  dir = makeTempDir('capture-shutdown');
  const video = await makeTestVideo(dir.path, { width: 1280, height: 720, fps: 15, seconds: 4, gop: 15 });
  const auth = { user: CREDS.username, password: CREDS.password };
  rtsp = await startRtspServer({
    mounts: [1, 2, 3].map((n) => ({ path: `/cam${n}/sub`, file: video, auth, shared: true })),
  });
});

afterAll(async () => {
  await rtsp.stop();
  dir.remove();
});

afterEach(async () => {
  thaw();
  await Promise.all(captures.splice(0).map((c) => c.stop()));
  await holder?.stop();
  holder = undefined;
  for (const pid of holderFfmpegs) {
    try {
      if (!processGone(pid)) process.kill(-pid, 'SIGKILL');
    } catch (err) {
      // ESRCH: it went between the check and the kill, as it should.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  holderFfmpegs = [];
});

function freeze(): void {
  process.kill(-rtsp.pid, 'SIGSTOP');
  frozen = true;
}

function thaw(): void {
  if (frozen) process.kill(-rtsp.pid, 'SIGCONT');
  frozen = false;
}

/** Parent pid and process group of a live pid, from /proc. */
function parentAndGroup(pid: number): { ppid: number; pgrp: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

function allGone(pids: readonly number[]): true | undefined {
  return pids.every((pid) => processGone(pid) && processGroupGone(pid)) ? true : undefined;
}

async function startHolder(
  stallTimeoutMs: number,
): Promise<{ child: ManagedChild; ready: HolderReady; output: () => string }> {
  const config: HolderConfig = {
    cameras: [1, 2, 3].map((n) => ({ id: `cam${n}`, url: rtsp.url(`/cam${n}/sub`), credentials: CREDS })),
    width: 640,
    height: 360,
    fps: 2,
    stallTimeoutMs,
  };
  const child = spawnManaged(process.execPath, ['--import', 'tsx', HOLDER, JSON.stringify(config)], {
    name: 'capture-holder',
    cwd: REPO_ROOT,
    pipeStdout: true,
  });
  holder = child;
  let stdout = '';
  let stderr = '';
  child.process.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.process.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const line = await waitFor(() => /^\{.*\}$/m.exec(stdout)?.[0], {
    what: 'capture-holder ready line',
    timeoutMs: 60_000,
    intervalMs: 50,
    abortIf: () => (child.running() ? undefined : `capture-holder exited early:\n${stderr}`),
  });
  const ready = JSON.parse(line) as HolderReady;
  holderFfmpegs = ready.ffmpegPids;
  return { child, ready, output: () => stdout };
}

describe('capture shutdown', () => {
  it('stop(): ffmpeg quits on `q` and its process group is gone', async () => {
    const { logger, text } = memoryLogger();
    const cam = createCapture({
      cameraId: 'cam-stop',
      url: rtsp.url('/cam1/sub'),
      credentials: CREDS,
      width: 320,
      height: 180,
      fps: 2,
      stopGraceMs: 3000,
      logger,
    });
    captures.push(cam);
    cam.start();
    const { ffmpegPid } = await waitForState(cam, 'online');
    expect(ffmpegPid).not.toBeNull();
    const pid = ffmpegPid ?? 0;
    expect(parentAndGroup(pid)).toEqual({ ppid: process.pid, pgrp: pid });

    const t0 = Date.now();
    await cam.stop();
    // Well before the 3 s grace that would bring SIGTERM: `q` did it, and ffmpeg exited 0.
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(text()).toMatch(/"code":0,"signal":null,"msg":"capture stopped"/);
    expect(processGone(pid)).toBe(true);
    expect(processGroupGone(pid)).toBe(true);
    expect(cam.status()).toMatchObject({ state: 'stopped', ffmpegPid: null });
  });

  it('stop() of a frozen stream escalates to SIGTERM after the grace, and the group is gone', async () => {
    const { logger, text } = memoryLogger();
    const cam = createCapture({
      cameraId: 'cam-frozen',
      url: rtsp.url('/cam2/sub'),
      credentials: CREDS,
      width: 320,
      height: 180,
      fps: 2,
      stallTimeoutMs: 60_000,
      stopGraceMs: 500,
      logger,
    });
    captures.push(cam);
    cam.start();
    const { ffmpegPid } = await waitForState(cam, 'online');
    const pid = ffmpegPid ?? 0;
    freeze();
    await sleep(1000);
    expect(processGone(pid)).toBe(false);

    const t0 = Date.now();
    await cam.stop();
    const took = Date.now() - t0;
    // `q` is not read while ffmpeg blocks on the socket; SIGTERM at 500 ms ends it.
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(5000);
    expect(text()).not.toMatch(/"code":0,"signal":null,"msg":"capture stopped"/);
    expect(processGroupGone(pid)).toBe(true);
  });

  it('agent SIGTERM: the holder stops its three captures and no ffmpeg remains', async () => {
    const { child, ready, output } = await startHolder(10_000);
    expect(ready.ffmpegPids).toHaveLength(3);
    for (const pid of ready.ffmpegPids) {
      expect(parentAndGroup(pid)).toEqual({ ppid: ready.pid, pgrp: pid });
    }

    process.kill(ready.pid, 'SIGTERM');
    const exit = await child.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(output()).toContain('stopped');
    await waitFor(() => allGone(ready.ffmpegPids), { what: 'every ffmpeg gone', timeoutMs: 5000 });
  });

  it('agent SIGKILL with the streams frozen: the parent-death signal kills every ffmpeg', async () => {
    // A long socket timeout: a frozen ffmpeg would wait a minute before giving up by itself.
    const { child, ready } = await startHolder(60_000);
    freeze();
    await sleep(1500);
    // Still there, blocked on a silent socket, writing nothing (no SIGPIPE to come).
    for (const pid of ready.ffmpegPids) expect(processGone(pid)).toBe(false);

    process.kill(ready.pid, 'SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');
    await waitFor(() => allGone(ready.ffmpegPids), { what: 'every ffmpeg gone', timeoutMs: 5000 });
  });
});
