/**
 * A real RTSP server for tests: GStreamer's gst-rtsp-server through Python GI
 * (`rtsp_server.py`, run with Debian's `/usr/bin/python3`), serving video files on 127.0.0.1 as
 * endless real-time camera streams, over RTSP-interleaved TCP.
 *
 * How the loop works, and why: the script demuxes each file ONCE at start-up and keeps its
 * compressed frames in memory; each RTSP media is `appsrc ! rtph264pay` (or `rtpjpegpay`) and
 * appsrc is fed those frames round and round, adding one clip length to PTS/DTS on every pass.
 * The server's sinks sync to the clock, so output is real-time, and timestamps (hence RTP
 * timestamps) increase monotonically across the loop boundary for as long as a client reads.
 * - No decode/re-encode at run time for H.264. Measured here (2 cores), three 720p 15 fps
 *   streams each with a reader: 2.2% of one core in total for the server (~0.7% per stream),
 *   43 MB RSS. A decode → x264enc (ultrafast, zerolatency) loop of the same clip costs ~11% of
 *   one core per stream on simple testsrc2 content, more on busy scenes, and re-encoding would
 *   change the pixels the tests expect.
 * - No segment-seek loop: inside gst-rtsp-server the media owns the pipeline bus, so handling
 *   SEGMENT_DONE means racing the server's own PLAY seeks.
 * - MJPEG mounts decode and JPEG-encode the file once at start-up (slower start, same run cost).
 * - Memory: the clip's compressed size, once per file.
 *
 * A mount is per client by default: every client's stream starts at the clip's first frame (a
 * keyframe), which keeps tests deterministic. `shared: true` gives one live-like stream per
 * mount that late clients join mid-GOP, as with a real camera.
 *
 * Transport is TCP (RTP interleaved in the RTSP connection) only, so the server binds nothing but
 * its loopback listener; a client asking for UDP gets 461 (ffmpeg then falls back to TCP).
 */
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../lifetime.ts';
import { waitFor } from '../wait.ts';
import { exitedReason, readyOrExplain, spawnService, type ServiceProcess } from './child-service.ts';
import { BENCH_ERROR_CODES, BenchServiceError } from './errors.ts';

/** Debian's python, which has `gi`; the `python3` on PATH may be a pyenv build without it. */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'rtsp_server.py');
const MOUNT_PATH = /^\/[A-Za-z0-9._~\-/]*$/;

/** RTSP Basic credentials. */
export interface RtspCredentials {
  user: string;
  password: string;
}

/** One stream the server offers. */
export interface RtspMount {
  /** Mount path, e.g. `/cam1` (letters, digits, `._~-/`). */
  path: string;
  /** Input video: for `h264`, an H.264 file (MP4 or any container GStreamer's parsebin reads). */
  file: string;
  /** `h264` (default): the file's own access units, not re-encoded. `mjpeg`: RTP/JPEG, encoded once at start. */
  codec?: 'h264' | 'mjpeg';
  /** Require RTSP Basic auth with these credentials on this mount (other mounts stay open). */
  auth?: RtspCredentials;
  /** One stream shared by all clients (late joiners start mid-GOP) instead of one per client from frame 0. */
  shared?: boolean;
}

/** Options for {@link startRtspServer}. */
export interface RtspServerOptions {
  /** What to serve; at least one mount. */
  mounts: RtspMount[];
  /** Port on 127.0.0.1. Default: any free port (the server binds port 0 itself). */
  port?: number;
  /** How long to wait for READY, in ms; loading MJPEG mounts takes a while. Default 60000. */
  startTimeoutMs?: number;
}

/** A running RTSP server. */
export interface RtspServerHandle {
  /** Listening port on 127.0.0.1. */
  readonly port: number;
  /** The python server's pid, also its process group id. */
  readonly pid: number;
  /** The temp dir with the server's log; removed by `stop()`. */
  readonly tempDir: string;
  /** `rtsp://127.0.0.1:PORT/path`, with `user:password@` when credentials are given. */
  url(path: string, credentials?: RtspCredentials): string;
  /** Stop the server (SIGTERM, then SIGKILL) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Start the RTSP server and wait until it has printed READY and accepts TCP connections. */
export async function startRtspServer(opts: RtspServerOptions): Promise<RtspServerHandle> {
  const spec = { port: opts.port ?? 0, mounts: opts.mounts.map(toScriptMount) };
  const paths = new Set(spec.mounts.map((m) => m.path));
  if (spec.mounts.length === 0 || paths.size !== spec.mounts.length) {
    throw new BenchServiceError(
      BENCH_ERROR_CODES.BAD_OPTION,
      'rtsp: mounts must be non-empty with distinct paths',
    );
  }

  const tmp = makeTempDir('rtsp');
  const svc = spawnService(PYTHON, [SCRIPT, JSON.stringify(spec)], {
    name: 'rtsp-server',
    logFile: join(tmp.path, 'rtsp-server.log'),
    pipeStdout: true,
    env: pythonEnv(process.env),
  });
  const announcedPort = watchReadyLine(svc);
  const port = await readyOrExplain(
    svc,
    () =>
      waitFor(() => acceptingPort(announcedPort()), {
        what: 'rtsp_server.py READY and a TCP connect',
        timeoutMs: opts.startTimeoutMs ?? 60_000,
        intervalMs: 50,
        abortIf: () => exitedReason(svc),
      }),
    () => {
      tmp.remove();
    },
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    pid: svc.child.pid,
    tempDir: tmp.path,
    url(path, credentials) {
      const auth =
        credentials === undefined
          ? ''
          : `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@`;
      return `rtsp://${auth}127.0.0.1:${port}${path}`;
    },
    stop() {
      stopping ??= (async () => {
        await svc.child.stop();
        tmp.remove();
      })();
      return stopping;
    },
  };
}

/** The mount as rtsp_server.py's JSON spec spells it, after checking it. */
function toScriptMount(m: RtspMount): Record<string, string | boolean> {
  if (!MOUNT_PATH.test(m.path) || m.path === '/') {
    throw new BenchServiceError(
      BENCH_ERROR_CODES.BAD_OPTION,
      `rtsp: bad mount path ${JSON.stringify(m.path)}`,
    );
  }
  const file = resolve(m.file);
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new BenchServiceError(BENCH_ERROR_CODES.BAD_OPTION, `rtsp: cannot read ${file} for ${m.path}`, {
      cause: err,
    });
  }
  return {
    path: m.path,
    file,
    codec: m.codec ?? 'h264',
    shared: m.shared ?? false,
    ...(m.auth && { user: m.auth.user, password: m.auth.password }),
  };
}

/** Follows the server's stdout; the returned function gives the port once READY was printed. */
function watchReadyLine(svc: ServiceProcess): () => number | undefined {
  let port: number | undefined;
  let pending = '';
  svc.child.process.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const match = /^READY (\{.*\})$/.exec(line);
      if (match?.[1] !== undefined) port = (JSON.parse(match[1]) as { port: number }).port;
    }
  });
  return () => port;
}

/** `port` once its listener accepts a TCP connection. */
async function acceptingPort(port: number | undefined): Promise<number | undefined> {
  if (port === undefined) return undefined;
  const accepted = await new Promise<boolean>((resolveConnect) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.on('error', () => {
      resolveConnect(false);
    });
  });
  return accepted ? port : undefined;
}

/** The caller's environment minus variables that would point Debian's python at another install. */
function pythonEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { PYTHONPATH: _path, PYTHONHOME: _home, ...rest } = env;
  return rest;
}
