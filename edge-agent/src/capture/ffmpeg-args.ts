/**
 * The ffmpeg command line for one camera, built by pure functions (table-tested).
 *
 * Options checked against this machine's ffmpeg 5.1 (`ffmpeg -h demuxer=rtsp`):
 * - `-timeout` is the RTSP demuxer's socket I/O timeout in µs (it was `-stimeout` before 5.0).
 *   `-rw_timeout` is an AVIO protocol option that the RTSP demuxer does not take: ffmpeg 5.1
 *   exits with "Option rw_timeout not found", so it is not used.
 * - `-rtsp_transport tcp`: RTP interleaved in the RTSP connection; no UDP ports, works through
 *   NAT and firewalls, no packet loss to conceal.
 * - `-fflags nobuffer`: packets read while probing the stream are not queued up, so the first
 *   analysed frame is recent. `-flags low_delay` is NOT used: on streams with B-frames it makes
 *   the H.264 decoder output frames out of order, for a gain of one frame of latency.
 * - `-threads 1` for the decoder: frame threading adds a frame of latency per thread and memory,
 *   and an NVR decodes several cameras on few cores; one thread per camera spreads best.
 * - `-allowed_media_types video`: audio is not even set up.
 * - `-loglevel repeat+level+warning`: errors and warnings only (401, refused, decode errors),
 *   each line tagged with its level, repeated lines printed rather than folded into "Last message
 *   repeated N times", so decode errors can be counted line by line.
 * - No `-nostdin`: `q` on stdin is ffmpeg's graceful stop.
 */
import { redactUrl } from '../log.ts';
import type { RtspCredentials } from './types.ts';

/** What {@link buildFfmpegArgs} needs. */
export interface FfmpegArgsInput {
  /** The input URL, credentials already injected. */
  url: string;
  width: number;
  height: number;
  fps: number;
  /** RTSP socket I/O timeout, ms (passed to ffmpeg in µs). */
  socketTimeoutMs: number;
  /** Decoder threads. Default 1. */
  decodeThreads?: number;
}

/** ffmpeg's arguments (without the program name) to read `url` as raw rgb24 frames on stdout. */
export function buildFfmpegArgs(input: FfmpegArgsInput): string[] {
  return [
    ...['-hide_banner', '-nostats', '-loglevel', 'repeat+level+warning'],
    ...['-threads', String(input.decodeThreads ?? 1)],
    ...['-rtsp_transport', 'tcp', '-timeout', String(Math.round(input.socketTimeoutMs * 1000))],
    ...['-fflags', 'nobuffer', '-allowed_media_types', 'video'],
    ...['-i', input.url],
    ...['-map', '0:v:0', '-an', '-sn', '-dn'],
    ...['-vf', `fps=${formatFps(input.fps)},scale=${input.width}:${input.height}`],
    ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
  ];
}

/** `2` → `2`, `0.5` → `0.5`, `1/3` → `0.333333`: what ffmpeg's fps filter parses. */
export function formatFps(fps: number): string {
  return String(Number(fps.toFixed(6)));
}

/**
 * The program and arguments to spawn: behind `setpriv --pdeathsig SIGKILL --` when `setprivPath`
 * is given, so the kernel kills ffmpeg if the thread that spawned it dies (the agent SIGKILLed).
 */
export function buildSpawnCommand(
  ffmpegPath: string,
  ffmpegArgs: readonly string[],
  setprivPath: string | null,
): { command: string; args: string[] } {
  if (setprivPath === null) return { command: ffmpegPath, args: [...ffmpegArgs] };
  return { command: setprivPath, args: ['--pdeathsig', 'SIGKILL', '--', ffmpegPath, ...ffmpegArgs] };
}

const RTSP_URL = /^(rtsps?):\/\/(?:[^/@?#]*@)?([^/?#]+)(.*)$/i;

/** Whether `url` is an `rtsp://` or `rtsps://` URL with a host. */
export function isRtspUrl(url: string): boolean {
  return RTSP_URL.test(url) && !/\s/.test(url);
}

/**
 * `url` with `credentials` as its userinfo, percent-encoded; any userinfo already in the URL is
 * replaced. Without credentials, `url` is returned as it is.
 */
export function rtspUrlWithCredentials(url: string, credentials?: RtspCredentials): string {
  if (credentials === undefined) return url;
  const m = RTSP_URL.exec(url);
  if (m === null) return url;
  const [, scheme = 'rtsp', hostPort = '', rest = ''] = m;
  const userinfo = `${encodeUserinfo(credentials.username)}:${encodeUserinfo(credentials.password)}`;
  return `${scheme}://${userinfo}@${hostPort}${rest}`;
}

/**
 * Percent-encode a user name or password for a URL's userinfo. Beyond encodeURIComponent, the
 * characters `!'()*` are encoded too: a quote in a password would otherwise end the userinfo that
 * `redactUrl` looks for.
 */
export function encodeUserinfo(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

const MIN_SECRET_LENGTH = 4;

/**
 * A redactor for text that may quote the URL or the credentials (ffmpeg's stderr does): URL
 * userinfo becomes `***`, and any remaining occurrence of the password, raw or encoded, too.
 */
export function makeRedactor(url: string, credentials?: RtspCredentials): (text: string) => string {
  const secrets = new Set<string>();
  if (credentials !== undefined && credentials.password !== '') {
    secrets.add(credentials.password);
    secrets.add(encodeUserinfo(credentials.password));
    secrets.add(encodeURIComponent(credentials.password));
  }
  const userinfo = /^rtsps?:\/\/([^/@?#]*)@/i.exec(url)?.[1];
  const urlPassword = userinfo?.split(':').slice(1).join(':');
  if (urlPassword !== undefined && urlPassword !== '') {
    secrets.add(urlPassword);
    secrets.add(safeDecode(urlPassword));
  }
  // Longest first, so a secret that contains another is replaced whole. Secrets shorter than
  // four characters are left to the URL redaction: replacing every "ab" in a log line would make
  // it unreadable, and ffmpeg only ever prints a password inside the URL.
  const ordered = [...secrets]
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length);
  return (text) => {
    let out = redactUrl(text);
    for (const secret of ordered) out = out.split(secret).join('***');
    return out;
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // Not valid percent-encoding: the raw text is the secret as ffmpeg would print it.
    return text;
  }
}
