/**
 * One camera's capture: an ffmpeg child process reading the camera's RTSP stream into scaled
 * rgb24 frames, and the supervisor that keeps it running.
 *
 * The supervisor (a watchdog tick every ≤ 500 ms plus ffmpeg's exit) decides:
 * - stall: no frame for `stallTimeoutMs` → restart, `offline`. No first frame within
 *   `connectTimeoutMs` of starting ffmpeg is a failure to connect: `unreachable` (unless stderr
 *   said more, e.g. 401, or the source had frames before: then `offline`).
 * - exit: ffmpeg ended → classified from its stderr: 401/403 `auth_failed`, refused / no route /
 *   timed out `unreachable` (or `offline` once this source has delivered frames), 404 and the
 *   rest `offline`.
 * - corrupt: `corruptErrorThreshold` decode errors within 10 s (counted from the run's first
 *   frame: errors while joining mid-GOP are normal) → restart, `offline`.
 * - health while frames flow: `online` at ≥ 80% of the target fps (measured over ≥ 3 s) and no
 *   decode error in the last 10 s; otherwise `degraded`.
 * Restarts wait out an exponential backoff with jitter (see backoff.ts); 30 s of healthy frames
 * forgets past failures.
 *
 * Each capture owns its process, timers and counters; captures share nothing but the logger, so
 * one camera's failure never touches another.
 */
import type { Logger } from 'pino';
import { EdgeError, type EdgeErrorCode } from '../errors.ts';
import { backoffDelayMs, backoffPolicy, type BackoffPolicy } from './backoff.ts';
import {
  buildFfmpegArgs,
  buildSpawnCommand,
  isRtspUrl,
  makeRedactor,
  rtspUrlWithCredentials,
} from './ffmpeg-args.ts';
import { findSetpriv, spawnFfmpeg, type FfmpegExit, type FfmpegProcess } from './ffmpeg-process.ts';
import { FrameAssembler } from './frame-assembler.ts';
import { RateWindow } from './rate.ts';
import { LineSplitter, parseStderrLine, type StderrKind } from './stderr.ts';
import type {
  CameraCapture,
  CaptureOptions,
  CaptureState,
  CaptureStatus,
  Frame,
  RtspCredentials,
} from './types.ts';

/** Defaults for {@link CaptureOptions}. */
export const CAPTURE_DEFAULTS = {
  stallTimeoutMs: 10_000,
  /** Lower bound of the default connect timeout (ffmpeg probes up to 5 s, then waits for a keyframe). */
  minConnectTimeoutMs: 15_000,
  corruptErrorThreshold: 30,
  stopGraceMs: 2000,
  ffmpegPath: 'ffmpeg',
} as const;

/** Frames at this share of the target fps or more are `online`; fewer are `degraded`. */
export const ONLINE_FPS_RATIO = 0.8;
/** Window over which decode errors are counted. */
const DECODE_WINDOW_MS = 10_000;
/** Minimum time of flowing frames before a slow rate counts as `degraded` (rate estimates settle). */
const MIN_RATE_SPAN_MS = 3000;
/** Redacted stderr lines kept per run, to explain an exit. */
const RECENT_LINES = 5;

/** Create a camera's capture (not started: call `start()`). Throws `EDGE_ERR_CAPTURE_OPTIONS`. */
export function createCapture(opts: CaptureOptions): CameraCapture {
  validateOptions(opts);
  return new SupervisedCapture(opts);
}

/** Check options; throws `EDGE_ERR_CAPTURE_OPTIONS` naming the bad field. */
export function validateOptions(opts: CaptureOptions): void {
  const bad = (detail: string): never => {
    throw new EdgeError('EDGE_ERR_CAPTURE_OPTIONS', `${opts.cameraId}: ${detail}`);
  };
  if (opts.cameraId === '') bad('cameraId is empty');
  if (!isRtspUrl(opts.url)) bad('url must be an rtsp:// or rtsps:// URL');
  for (const [name, v] of [
    ['width', opts.width],
    ['height', opts.height],
  ] as const) {
    if (!Number.isInteger(v) || v < 16 || v > 7680) bad(`${name} must be an integer in [16, 7680]`);
  }
  if (!Number.isFinite(opts.fps) || opts.fps <= 0 || opts.fps > 60) bad('fps must be in (0, 60]');
  const stall = opts.stallTimeoutMs ?? CAPTURE_DEFAULTS.stallTimeoutMs;
  if (!Number.isFinite(stall) || stall < 500) bad('stallTimeoutMs must be ≥ 500');
  if (opts.connectTimeoutMs !== undefined && !(opts.connectTimeoutMs >= 500)) {
    bad('connectTimeoutMs must be ≥ 500');
  }
  if (opts.backoff !== undefined) {
    const { initialMs, maxMs, resetAfterMs } = opts.backoff;
    if (!(initialMs > 0) || !(maxMs >= initialMs)) bad('backoff needs 0 < initialMs ≤ maxMs');
    if (resetAfterMs !== undefined && !(resetAfterMs >= 0)) bad('backoff.resetAfterMs must be ≥ 0');
  }
  const threshold = opts.corruptErrorThreshold ?? CAPTURE_DEFAULTS.corruptErrorThreshold;
  if (!Number.isInteger(threshold) || threshold < 1) bad('corruptErrorThreshold must be a positive integer');
  if (opts.credentials !== undefined && opts.credentials.username === '')
    bad('credentials.username is empty');
}

/** One ffmpeg process's life, from spawn to close. */
interface Run {
  readonly proc: FfmpegProcess;
  readonly startedAtMs: number;
  readonly assembler: FrameAssembler;
  readonly stderr: LineSplitter;
  /** Redacts this run's URL and credentials (the source may change while it winds down). */
  readonly redact: (text: string) => string;
  readonly input: RateWindow;
  readonly decodeErrors: RateWindow;
  readonly recent: string[];
  /** Latest line of each interesting kind, redacted. */
  readonly seen: Map<StderrKind, string>;
  firstFrameAtMs: number | null;
  lastFrameAtMs: number | null;
  lastDecodeError: string | null;
  /** Set when the supervisor killed this run for a reason (stall, corrupt): the exit is not news. */
  failure: EdgeError | null;
}

class SupervisedCapture implements CameraCapture {
  readonly cameraId: string;
  private readonly log: Logger;
  private readonly width: number;
  private readonly height: number;
  private readonly fps: number;
  private readonly stallTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly corruptThreshold: number;
  private readonly graceMs: number;
  private readonly ffmpegPath: string;
  private readonly policy: BackoffPolicy;
  private readonly rateWindowMs: number;
  private readonly frameIntervalMs: number;

  private source: { url: string; credentials: RtspCredentials | undefined };
  private state: CaptureState = 'starting';
  private run: Run | null = null;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  /** Consecutive failures without a healthy period in between (drives the backoff). */
  private failures = 0;
  /** Whether the current source has ever delivered a frame (`unreachable` vs `offline`). */
  private sourceHadFrames = false;
  private spawns = 0;
  private restarts = 0;
  private seq = 0;
  private framesRead = 0;
  private dropped = 0;
  private lastFrameMs: number | null = null;
  private lastError: EdgeError | null = null;
  private lastErrorMs: number | null = null;
  private nextRetryAtMs: number | null = null;
  private readonly delivered: RateWindow;
  private readonly listeners = new Set<(status: CaptureStatus) => void>();

  // The one consumer: a pending frame while it is busy, or a waiter while it waits.
  private consuming = false;
  private pending: Frame | undefined;
  private waiter: ((frame: Frame | undefined) => void) | undefined;

  constructor(opts: CaptureOptions) {
    this.cameraId = opts.cameraId;
    this.log = opts.logger.child({ module: 'capture', camera_id: opts.cameraId });
    this.width = opts.width;
    this.height = opts.height;
    this.fps = opts.fps;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? CAPTURE_DEFAULTS.stallTimeoutMs;
    this.connectTimeoutMs =
      opts.connectTimeoutMs ?? Math.max(this.stallTimeoutMs, CAPTURE_DEFAULTS.minConnectTimeoutMs);
    this.corruptThreshold = opts.corruptErrorThreshold ?? CAPTURE_DEFAULTS.corruptErrorThreshold;
    this.graceMs = opts.stopGraceMs ?? CAPTURE_DEFAULTS.stopGraceMs;
    this.ffmpegPath = opts.ffmpegPath ?? CAPTURE_DEFAULTS.ffmpegPath;
    this.policy = backoffPolicy(opts.backoff);
    this.frameIntervalMs = 1000 / opts.fps;
    // At least four frame intervals, so a low fps still has a few frames to average.
    this.rateWindowMs = Math.max(10_000, 4 * this.frameIntervalMs);
    this.delivered = new RateWindow(this.rateWindowMs);
    this.source = { url: opts.url, credentials: opts.credentials };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.tickTimer = setInterval(
      () => {
        this.tick();
      },
      Math.min(500, this.stallTimeoutMs / 4),
    );
    this.log.info(
      {
        url: makeRedactor(this.source.url)(this.source.url),
        width: this.width,
        height: this.height,
        fps: this.fps,
      },
      'capture starting',
    );
    this.spawnRun();
  }

  setSource(url: string, credentials?: RtspCredentials): void {
    if (!isRtspUrl(url)) {
      throw new EdgeError(
        'EDGE_ERR_CAPTURE_OPTIONS',
        `${this.cameraId}: url must be an rtsp:// or rtsps:// URL`,
      );
    }
    if (this.stopped) return;
    this.source = { url, credentials };
    this.failures = 0;
    this.sourceHadFrames = false;
    this.clearRetry();
    const old = this.run;
    this.run = null;
    if (old !== null) {
      // Its close is ignored (it is no longer `this.run`); it must just go, stalled or not.
      void old.proc.kill(this.graceMs);
    }
    this.log.info({ url: makeRedactor(url, credentials)(url) }, 'capture source changed');
    this.transition('starting');
    if (this.started) this.spawnRun();
  }

  status(): CaptureStatus {
    const now = Date.now();
    return {
      cameraId: this.cameraId,
      state: this.state,
      inputFps: round2(this.run?.input.rate(now, this.frameIntervalMs) ?? 0),
      deliveredFps: round2(this.delivered.rate(now, this.frameIntervalMs)),
      droppedFrames: this.dropped,
      framesRead: this.framesRead,
      lastFrameMs: this.lastFrameMs,
      lastError: this.lastError === null ? null : `${this.lastError.code}: ${this.lastError.message}`,
      lastErrorCode: this.lastError?.code ?? null,
      lastErrorMs: this.lastErrorMs,
      restarts: this.restarts,
      nextRetryAtMs: this.nextRetryAtMs,
      ffmpegPid: this.run?.proc.pid ?? null,
    };
  }

  onStatus(listener: (status: CaptureStatus) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async *frames(): AsyncGenerator<Frame, void, undefined> {
    if (this.consuming) {
      throw new EdgeError('EDGE_ERR_CAPTURE_BUSY', this.cameraId);
    }
    this.consuming = true;
    try {
      while (!this.stopped) {
        let frame = this.pending;
        this.pending = undefined;
        frame ??= await new Promise<Frame | undefined>((resolve) => {
          this.waiter = resolve;
        });
        if (frame === undefined) return;
        this.delivered.add(Date.now());
        yield frame;
      }
    } finally {
      this.consuming = false;
      this.pending = undefined;
      this.waiter = undefined;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      clearInterval(this.tickTimer);
      this.clearRetry();
      const run = this.run;
      this.run = null;
      this.pending = undefined;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter?.(undefined);
      this.transition('stopped');
      if (run !== null) {
        const exit = await run.proc.stop(this.graceMs);
        this.log.info({ code: exit.code, signal: exit.signal }, 'capture stopped');
      } else {
        this.log.info('capture stopped');
      }
    })();
    return this.stopping;
  }

  // --- ffmpeg runs ---

  private spawnRun(): void {
    if (this.stopped) return;
    this.clearRetry();
    const url = rtspUrlWithCredentials(this.source.url, this.source.credentials);
    const redact = makeRedactor(url, this.source.credentials);
    const args = buildFfmpegArgs({
      url,
      width: this.width,
      height: this.height,
      fps: this.fps,
      socketTimeoutMs: this.stallTimeoutMs,
    });
    const { command, args: argv } = buildSpawnCommand(this.ffmpegPath, args, findSetpriv(this.log));
    if (this.spawns > 0) this.restarts++;
    this.spawns++;
    const run: Run = {
      proc: spawnFfmpeg({
        command,
        args: argv,
        onStdout: (chunk) => {
          this.onStdout(run, chunk);
        },
        onStderr: (text) => {
          this.onStderr(run, text);
        },
      }),
      startedAtMs: Date.now(),
      assembler: new FrameAssembler(this.width * this.height * 3),
      stderr: new LineSplitter(),
      redact,
      input: new RateWindow(this.rateWindowMs),
      decodeErrors: new RateWindow(DECODE_WINDOW_MS),
      recent: [],
      seen: new Map(),
      firstFrameAtMs: null,
      lastFrameAtMs: null,
      lastDecodeError: null,
      failure: null,
    };
    this.run = run;
    this.log.debug({ pid: run.proc.pid, args: argv.map(redact) }, 'ffmpeg started');
    void run.proc.closed.then((exit) => {
      this.onRunClosed(run, exit);
    });
  }

  private onStdout(run: Run, chunk: Buffer): void {
    // A retiring run's output is read (so it never blocks on a full pipe) and thrown away.
    if (run !== this.run) return;
    for (const data of run.assembler.push(chunk)) this.onFrame(run, data);
  }

  private onFrame(run: Run, data: Buffer): void {
    const now = Date.now();
    this.seq++;
    this.framesRead++;
    this.lastFrameMs = now;
    run.lastFrameAtMs = now;
    run.input.add(now);
    this.sourceHadFrames = true;
    if (run.firstFrameAtMs === null) {
      run.firstFrameAtMs = now;
      this.log.info({ pid: run.proc.pid, connect_ms: now - run.startedAtMs }, 'frames flowing');
      if (this.state !== 'online' && this.state !== 'degraded') this.transition('online');
    }
    const frame: Frame = { data, width: this.width, height: this.height, seq: this.seq, capturedAtMs: now };
    // Nobody iterating frames(): nothing is lost that anyone asked for, so nothing is counted.
    if (!this.consuming) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter(frame);
    } else {
      if (this.pending !== undefined) this.dropped++;
      this.pending = frame;
    }
  }

  private onStderr(run: Run, text: string): void {
    const now = Date.now();
    for (const raw of run.stderr.push(text)) this.onStderrLine(run, raw, now);
  }

  private onStderrLine(run: Run, raw: string, now: number): void {
    const line = parseStderrLine(run.redact(raw));
    run.recent.push(line.text);
    if (run.recent.length > RECENT_LINES) run.recent.shift();
    if (line.kind !== 'other') run.seen.set(line.kind, line.text);
    // Errors before the first frame are what joining a stream mid-GOP looks like; they count
    // only once frames flow.
    if (line.kind === 'decode' && run.firstFrameAtMs !== null) {
      run.decodeErrors.add(now);
      run.lastDecodeError = line.text;
    }
    this.log.debug({ pid: run.proc.pid, kind: line.kind, level: line.level }, line.text);
  }

  private onRunClosed(run: Run, exit: FfmpegExit): void {
    for (const raw of run.stderr.flush()) this.onStderrLine(run, raw, Date.now());
    // A run replaced by setSource or ended by stop(): its exit is expected.
    if (run !== this.run) return;
    this.run = null;
    if (this.stopped) return;
    if (run.failure === null) this.recordFailure(this.classifyExit(run, exit));
    const delay = Math.max(0, (this.nextRetryAtMs ?? Date.now()) - Date.now());
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.spawnRun();
    }, delay);
  }

  /** Kill a run for a reason the supervisor found (stall, corrupt); the retry follows its close. */
  private failRun(run: Run, err: EdgeError): void {
    run.failure = err;
    this.recordFailure(err);
    void run.proc.kill(this.graceMs);
  }

  private classifyExit(run: Run, exit: FfmpegExit): EdgeError {
    if (exit.spawnError !== null) {
      return new EdgeError('EDGE_ERR_CAPTURE_SPAWN', `${this.ffmpegPath}: ${exit.spawnError.message}`);
    }
    const found = this.explainFromStderr(run);
    if (found !== undefined) return found;
    const how = exit.signal !== null ? `signal ${exit.signal}` : `code ${String(exit.code)}`;
    const last = run.recent.at(-1);
    const detail = run.firstFrameAtMs === null ? `${how} before any frame` : `${how} (stream ended)`;
    return new EdgeError('EDGE_ERR_CAPTURE_EXIT', last === undefined ? detail : `${detail}: ${last}`);
  }

  /** The most specific failure ffmpeg's stderr names, if any. */
  private explainFromStderr(run: Run): EdgeError | undefined {
    const order: readonly [StderrKind, EdgeErrorCode][] = [
      ['spawn', 'EDGE_ERR_CAPTURE_SPAWN'],
      ['auth', 'EDGE_ERR_CAPTURE_AUTH'],
      ['not_found', 'EDGE_ERR_CAPTURE_NOT_FOUND'],
      ['unreachable', 'EDGE_ERR_CAPTURE_UNREACHABLE'],
    ];
    for (const [kind, code] of order) {
      const text = run.seen.get(kind);
      if (text !== undefined) return new EdgeError(code, text);
    }
    const decode = run.seen.get('decode');
    if (decode !== undefined && run.firstFrameAtMs === null) {
      return new EdgeError('EDGE_ERR_CAPTURE_CORRUPT', decode);
    }
    return undefined;
  }

  /** Record a failure: last error, state, and when the next start will be. */
  private recordFailure(err: EdgeError): void {
    const now = Date.now();
    const auth = err.code === 'EDGE_ERR_CAPTURE_AUTH';
    const delay = backoffDelayMs(this.policy, this.failures, auth ? 'auth' : 'normal');
    this.failures++;
    this.lastError = err;
    this.lastErrorMs = now;
    this.nextRetryAtMs = now + delay;
    const next = this.stateFor(err.code);
    const fields = { code: err.code, retry_in_ms: delay, failures: this.failures, restarts: this.restarts };
    // An auth failure needs a human (fix the credentials); the rest heal by themselves.
    if (auth || err.code === 'EDGE_ERR_CAPTURE_SPAWN') this.log.error(fields, err.message);
    else this.log.warn(fields, err.message);
    this.transition(next, true);
  }

  private stateFor(code: EdgeErrorCode): CaptureState {
    if (code === 'EDGE_ERR_CAPTURE_AUTH') return 'auth_failed';
    if (code === 'EDGE_ERR_CAPTURE_UNREACHABLE' && !this.sourceHadFrames) return 'unreachable';
    return 'offline';
  }

  // --- watchdog ---

  private tick(): void {
    const run = this.run;
    if (run === null || run.failure !== null || this.stopped) return;
    const now = Date.now();
    if (run.firstFrameAtMs === null) {
      if (now - run.startedAtMs > this.connectTimeoutMs) {
        this.failRun(
          run,
          this.explainFromStderr(run) ??
            new EdgeError(
              'EDGE_ERR_CAPTURE_UNREACHABLE',
              `no frame within ${this.connectTimeoutMs} ms of starting ffmpeg`,
            ),
        );
      }
      return;
    }
    const since = run.lastFrameAtMs ?? run.firstFrameAtMs;
    if (now - since > this.stallTimeoutMs) {
      this.failRun(run, new EdgeError('EDGE_ERR_CAPTURE_STALL', `no frame for ${now - since} ms`));
      return;
    }

    const decodeErrors = run.decodeErrors.count(now);
    if (decodeErrors >= this.corruptThreshold) {
      this.failRun(
        run,
        new EdgeError(
          'EDGE_ERR_CAPTURE_CORRUPT',
          `${decodeErrors} decode errors in ${DECODE_WINDOW_MS} ms; last: ${run.lastDecodeError ?? '?'}`,
        ),
      );
      return;
    }
    if (this.failures > 0 && now - run.firstFrameAtMs >= this.policy.resetAfterMs) {
      this.log.debug({ failures: this.failures }, 'healthy long enough: backoff reset');
      this.failures = 0;
    }
    const fps = run.input.rate(now, this.frameIntervalMs);
    const settled = now - run.firstFrameAtMs >= Math.max(MIN_RATE_SPAN_MS, 3 * this.frameIntervalMs);
    const slow = settled && fps < ONLINE_FPS_RATIO * this.fps;
    const next: CaptureState = slow || decodeErrors > 0 ? 'degraded' : 'online';
    if (next !== this.state && (this.state === 'online' || this.state === 'degraded')) {
      if (next === 'degraded') {
        this.log.warn({ input_fps: round2(fps), decode_errors: decodeErrors }, 'capture degraded');
      }
      this.transition(next);
    }
  }

  // --- helpers ---

  private transition(next: CaptureState, always = false): void {
    const prev = this.state;
    if (prev === next && !always) return;
    this.state = next;
    if (prev !== next) this.log.info({ from: prev, to: next }, 'capture state');
    const status = this.status();
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch (err) {
        this.log.error({ err }, 'capture status listener threw');
      }
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.nextRetryAtMs = null;
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
