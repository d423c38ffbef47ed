/**
 * Thin wrapper over ffmpeg children for the scene generator: each run is a managed child (own
 * process group, reaped if we die), its stderr tail goes into the error when it fails.
 */
import { spawnManaged } from '../bench/lifetime.ts';
import { SceneError } from './errors.ts';

/** The ffmpeg binary (Debian's; the bench global setup checks it exists). */
export const FFMPEG_PATH = '/usr/bin/ffmpeg';

const STDERR_TAIL_CHARS = 4000;

/** Options for {@link runFfmpeg}. */
export interface FfmpegRunOptions {
  /** Short name for error messages, e.g. `plate 京A12345`. */
  name: string;
  /** Collect stdout (e.g. `-f rawvideo pipe:1`) and return it. */
  captureStdout?: boolean;
  /**
   * Called with the output frame count as ffmpeg reports progress. Adds `-progress pipe:1`, so it
   * cannot be combined with `captureStdout`.
   */
  onFrame?: (frame: number) => void;
}

/** What a successful ffmpeg run produced. */
export interface FfmpegResult {
  /** Captured stdout (empty unless `captureStdout`). */
  stdout: Buffer;
  /** The last few KB of stderr (warnings). */
  stderrTail: string;
}

/** Run ffmpeg with `args` (no shell); resolve when it exits 0, reject with its stderr tail otherwise. */
export async function runFfmpeg(args: readonly string[], opts: FfmpegRunOptions): Promise<FfmpegResult> {
  if (opts.captureStdout === true && opts.onFrame !== undefined) {
    throw new SceneError('SCENE_FFMPEG_FAILED', `${opts.name}: captureStdout and onFrame are exclusive`);
  }
  const fullArgs = ['-hide_banner', '-nostdin', '-v', 'error'];
  if (opts.onFrame !== undefined) fullArgs.push('-nostats', '-progress', 'pipe:1');
  fullArgs.push(...args);
  return runTool(FFMPEG_PATH, fullArgs, opts);
}

async function runTool(
  binary: string,
  fullArgs: readonly string[],
  opts: FfmpegRunOptions,
): Promise<FfmpegResult> {
  const tool = binary.slice(binary.lastIndexOf('/') + 1);
  const child = spawnManaged(binary, fullArgs, {
    name: `${tool} ${opts.name}`,
    pipeStdout: opts.captureStdout === true || opts.onFrame !== undefined,
    stopSignal: 'SIGKILL',
  });
  let stderr = '';
  child.process.stderr?.setEncoding('utf8');
  child.process.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const chunks: Buffer[] = [];
  if (opts.captureStdout === true) {
    child.process.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  } else if (opts.onFrame !== undefined) {
    const onFrame = opts.onFrame;
    let pending = '';
    child.process.stdout?.setEncoding('utf8');
    child.process.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^frame=(\d+)$/.exec(line.trim());
        if (m?.[1] !== undefined) onFrame(Number(m[1]));
      }
    });
  }
  const exit = await child.exited;
  // 'exit' can come before the pipes drain; wait for them so no output or stderr is lost.
  await Promise.all(
    [child.process.stdout, child.process.stderr].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s === null || s.readableEnded || s.destroyed) {
            resolve();
            return;
          }
          s.once('close', () => {
            resolve();
          });
        }),
    ),
  );
  if (exit.code !== 0) {
    const how =
      exit.code === null ? `signal ${exit.signal ?? 'unknown (spawn error?)'}` : `code ${exit.code}`;
    throw new SceneError(
      'SCENE_FFMPEG_FAILED',
      `${tool} (${opts.name}) exited with ${how}\n--- stderr tail ---\n${stderr.trim()}`,
    );
  }
  return { stdout: Buffer.concat(chunks), stderrTail: stderr };
}

/** The ffprobe binary. */
export const FFPROBE_PATH = '/usr/bin/ffprobe';

/** What {@link probeVideo} reports about a video file. */
export interface VideoProbe {
  codec: string;
  pixFmt: string;
  width: number;
  height: number;
  /** Frame rate as a number (from r_frame_rate). */
  fps: number;
  /** Decoded frame count. */
  frameCount: number;
  /** Whether the file has any audio stream. */
  hasAudio: boolean;
  /** Presentation times (s) of the keyframes. */
  keyframeTimes: number[];
}

/** Probe a video with ffprobe (counts frames by decoding, so it is exact). */
export async function probeVideo(path: string): Promise<VideoProbe> {
  const run = async (args: string[]): Promise<unknown> => {
    const { stdout } = await runTool(
      FFPROBE_PATH,
      ['-hide_banner', '-v', 'error', '-of', 'json', ...args, path],
      {
        name: `probe ${path}`,
        captureStdout: true,
      },
    );
    return JSON.parse(stdout.toString('utf8')) as unknown;
  };
  type Streams = {
    streams?: {
      codec_type?: string;
      codec_name?: string;
      pix_fmt?: string;
      width?: number;
      height?: number;
      r_frame_rate?: string;
      nb_read_frames?: string;
    }[];
  };
  type Frames = { frames?: { pts_time?: string }[] };
  const info = (await run([
    '-count_frames',
    '-show_entries',
    'stream=codec_type,codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames',
  ])) as Streams;
  const keys = (await run([
    '-select_streams',
    'v:0',
    '-skip_frame',
    'nokey',
    '-show_entries',
    'frame=pts_time',
  ])) as Frames;
  const streams = info.streams ?? [];
  const video = streams.find((st) => st.codec_type === 'video');
  if (video === undefined) throw new SceneError('SCENE_FFMPEG_FAILED', `${path}: no video stream`);
  const [num = '0', den = '1'] = (video.r_frame_rate ?? '0/1').split('/');
  return {
    codec: video.codec_name ?? '',
    pixFmt: video.pix_fmt ?? '',
    width: video.width ?? 0,
    height: video.height ?? 0,
    fps: Number(num) / Number(den),
    frameCount: Number(video.nb_read_frames ?? 0),
    hasAudio: streams.some((st) => st.codec_type === 'audio'),
    keyframeTimes: (keys.frames ?? []).map((f) => Number(f.pts_time ?? Number.NaN)),
  };
}

/** Pixel layout of frames read by {@link readFrames}. */
export type RawPixelFormat = 'gray' | 'rgb24';

/** Decoded frames of one video or image. */
export interface RawFrames {
  width: number;
  height: number;
  /** Bytes per pixel: 1 for gray, 3 for rgb24. */
  channels: 1 | 3;
  frames: Buffer[];
}

/**
 * Decode frames of `path` to raw pixels. `frameNumbers` selects exact frames by index (the select
 * filter counts decoded frames, so this is frame-exact, unlike seeking); omit it for an image.
 */
export async function readFrames(
  path: string,
  size: { width: number; height: number },
  pixFmt: RawPixelFormat,
  frameNumbers?: readonly number[],
  extraFilter?: string,
): Promise<RawFrames> {
  const filters: string[] = [];
  const sorted = frameNumbers === undefined ? undefined : [...new Set(frameNumbers)].sort((a, b) => a - b);
  if (sorted !== undefined) filters.push(`select='${sorted.map((n) => `eq(n\\,${n})`).join('+')}'`);
  if (extraFilter !== undefined) filters.push(extraFilter);
  const args = ['-i', path];
  if (filters.length > 0) args.push('-vf', filters.join(','));
  args.push('-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', pixFmt, 'pipe:1');
  const { stdout } = await runFfmpeg(args, { name: `read ${path}`, captureStdout: true });
  const channels = pixFmt === 'gray' ? 1 : 3;
  const frameBytes = size.width * size.height * channels;
  if (frameBytes === 0 || stdout.length % frameBytes !== 0) {
    throw new SceneError(
      'SCENE_FFMPEG_FAILED',
      `read ${path}: got ${stdout.length} bytes, not a multiple of ${size.width}x${size.height}x${channels}`,
    );
  }
  const all: Buffer[] = [];
  for (let off = 0; off < stdout.length; off += frameBytes) all.push(stdout.subarray(off, off + frameBytes));
  if (sorted !== undefined && frameNumbers !== undefined) {
    if (all.length !== sorted.length) {
      throw new SceneError(
        'SCENE_FFMPEG_FAILED',
        `read ${path}: asked for frames ${sorted.join(',')}, got ${all.length} frames`,
      );
    }
    // Return frames in the caller's order (duplicates allowed).
    const byNumber = new Map(sorted.map((n, i) => [n, all[i]]));
    const ordered = frameNumbers.map((n) => byNumber.get(n));
    return { ...size, channels, frames: ordered.filter((f): f is Buffer => f !== undefined) };
  }
  return { ...size, channels, frames: all };
}

/**
 * Return `path` if it can be embedded verbatim in a filtergraph option (`fontfile=`, `textfile=`);
 * the generator only embeds paths it made itself, so anything else is a bug, not user input.
 */
export function filterSafePath(path: string): string {
  if (!/^[\w./+-]+$/.test(path)) {
    throw new SceneError(
      'SCENE_BAD_SPEC',
      `path ${JSON.stringify(path)} has characters ffmpeg filters need escaped`,
    );
  }
  return path;
}
