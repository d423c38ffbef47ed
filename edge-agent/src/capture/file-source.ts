/**
 * Frames from a video FILE, for offline use: `edge-agent detect VIDEO`, the detection eval and
 * the pipeline bench. Unlike the live capture, nothing is dropped: ffmpeg is paced by the
 * consumer through the pipe (back-pressure), so every frame at the requested fps is analysed.
 * Frame times are the video's own (`fromMs` + n / fps), not the wall clock. The fps filter rounds
 * up so frame n is the source frame AT n / fps (its default, `near`, picks one up to half an output
 * interval later: at 2 fps from 10 fps, 0.2 s late, which put the eval's truth boxes off).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { EdgeError } from '../errors.ts';
import { FrameAssembler } from './frame-assembler.ts';
import type { Frame } from './types.ts';

/** Options of {@link readVideoFrames}. */
export interface FileSourceOptions {
  width: number;
  height: number;
  fps: number;
  /** Epoch ms given to the first frame. Default 0. */
  fromMs?: number;
  ffmpegPath?: string;
}

/** Decode `path` to rgb24 frames at `fps`, scaled to width×height. Rejects if ffmpeg fails. */
export async function* readVideoFrames(
  path: string,
  opts: FileSourceOptions,
): AsyncGenerator<Frame, void, undefined> {
  const { width, height, fps } = opts;
  const args = [
    ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1', '-i', path],
    ...['-map', '0:v:0', '-an', '-vf', `fps=${fps}:round=up,scale=${width}:${height}`],
    ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
  ];
  const child = spawn(opts.ffmpegPath ?? '/usr/bin/ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-2000);
  });
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const assembler = new FrameAssembler(width * height * 3);
  let seq = 0;
  const fromMs = opts.fromMs ?? 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      for (const data of assembler.push(chunk)) {
        seq += 1;
        yield { data, width, height, seq, capturedAtMs: fromMs + Math.round(((seq - 1) * 1000) / fps) };
      }
    }
    const [code] = await exited;
    if (code !== 0) {
      throw new EdgeError(
        'EDGE_ERR_DETECT_INPUT',
        `ffmpeg cannot read ${path}: ${stderr.trim() || `exit ${String(code)}`}`,
      );
    }
  } finally {
    // The consumer stopped early (or failed): ffmpeg is not needed any more.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
