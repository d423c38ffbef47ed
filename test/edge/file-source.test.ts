/** Offline frames from a video file: every frame at the requested rate, clear errors. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVideoFrames } from '../../edge-agent/src/capture/file-source.ts';
import { makeTestVideo } from '../bench/fixtures/test-video.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';

describe('readVideoFrames', () => {
  let tmp: TempDir | undefined;
  let video = '';
  beforeAll(async () => {
    tmp = makeTempDir('file-source');
    video = await makeTestVideo(tmp.path, { width: 320, height: 180, fps: 10, seconds: 3 });
  });
  afterAll(() => tmp?.remove());

  it('yields every frame at the requested fps, with video-relative times', async () => {
    const frames = [];
    for await (const f of readVideoFrames(video, { width: 160, height: 90, fps: 2, fromMs: 1000 }))
      frames.push(f);
    expect(frames).toHaveLength(6);
    expect(frames.every((f) => f.data.length === 160 * 90 * 3)).toBe(true);
    expect(frames.map((f) => f.capturedAtMs)).toEqual([1000, 1500, 2000, 2500, 3000, 3500]);
  });

  it('frame n is the source frame at n / fps (the time it is stamped with)', async () => {
    // Lossless 10 fps grey video whose frame k has brightness 8k: the brightness names the frame.
    const counter = join(tmp?.path ?? '', 'counter.mkv');
    execFileSync('/usr/bin/ffmpeg', [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', "color=black:s=64x64:r=10:d=3,format=gray,geq=lum='N*8'"],
      ...['-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv444p', counter],
    ]);
    const shown: number[] = [];
    const stamped: number[] = [];
    for await (const f of readVideoFrames(counter, { width: 64, height: 64, fps: 2 })) {
      shown.push(Math.round((f.data[3 * 100] ?? 0) / 8));
      stamped.push(Math.round(f.capturedAtMs / 100));
    }
    expect(shown).toEqual([0, 5, 10, 15, 20, 25]);
    expect(stamped).toEqual(shown);
  });

  it('stops ffmpeg when the consumer stops early', async () => {
    let n = 0;
    for await (const _f of readVideoFrames(video, { width: 160, height: 90, fps: 10 })) {
      n += 1;
      if (n === 2) break;
    }
    expect(n).toBe(2);
  });

  it('rejects a file that is not a video, with the reason', async () => {
    const bad = join(tmp?.path ?? '', 'bad.mp4');
    writeFileSync(bad, 'not a video');
    const drain = async () => {
      for await (const _f of readVideoFrames(bad, { width: 16, height: 16, fps: 1 })) {
        // Nothing should come out.
      }
    };
    await expect(drain()).rejects.toThrow(/cannot read .*bad\.mp4/);
  });
});
