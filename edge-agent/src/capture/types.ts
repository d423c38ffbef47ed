/**
 * The capture stage's contract with the rest of the agent: what a frame is, what a camera's
 * capture reports about itself, and how it is created. app.ts and the detector pipeline depend
 * on these types only, never on the ffmpeg supervisor behind them.
 */
import type { Logger } from 'pino';
import type { EdgeErrorCode } from '../errors.ts';

/** RTSP credentials, as the agent's configuration spells them. Never logged. */
export interface RtspCredentials {
  username: string;
  password: string;
}

/** One decoded, scaled video frame. */
export interface Frame {
  /** Packed RGB, 8 bits per channel, rows top to bottom, no padding: exactly `width * height * 3` bytes. */
  data: Buffer;
  /** Pixels; always the capture's configured analysis width (the picture is stretched to it). */
  width: number;
  /** Pixels; always the capture's configured analysis height. */
  height: number;
  /**
   * Sequence number of the frame as read from ffmpeg, starting at 1 and counting across ffmpeg
   * restarts of this capture. A gap between two delivered frames is the number of frames dropped
   * because the consumer was busy.
   */
  seq: number;
  /** Wall-clock time (epoch ms) at which the frame's last byte was read from ffmpeg. */
  capturedAtMs: number;
}

/** Anything that yields frames: the camera capture, or a recorded source in tests. */
export interface FrameSource {
  /**
   * Frames, newest first-come: while the consumer is busy with one frame, a newer frame replaces
   * the pending one and the replaced frame is counted as dropped, so capture never waits for the
   * consumer and at most one frame is held for it. The generator waits across camera outages and
   * restarts and returns when the source is stopped. One consumer at a time: iterating a second
   * generator while one is active throws `EDGE_ERR_CAPTURE_BUSY`.
   */
  frames(): AsyncGenerator<Frame, void, undefined>;
}

/**
 * Health of one camera's capture.
 * - `starting`: ffmpeg is connecting for the first time since start or since `setSource`.
 * - `online`: frames arrive at ≥ 80% of the configured fps, without decode errors.
 * - `degraded`: frames arrive, but slower than that, or with decode errors.
 * - `offline`: no frames: stalled, ffmpeg exited, stream corrupt or path not found; retrying.
 * - `auth_failed`: the camera answered 401/403 to our RTSP credentials; retrying slowly.
 * - `unreachable`: connection refused, no route, or no frame before the stall timeout, and the
 *   current source has never delivered a frame (a source that did is `offline` when it goes).
 * - `stopped`: `stop()` was called.
 *
 * Mapping to proto `CameraState`: the five middle states map one to one; `starting` is
 * `CAMERA_STATE_UNSPECIFIED` (or keep the last published state), `stopped` is the caller's
 * choice (`OFFLINE`, or `DISABLED` when analysis was switched off).
 */
export type CaptureState =
  'starting' | 'online' | 'degraded' | 'offline' | 'auth_failed' | 'unreachable' | 'stopped';

/** A snapshot of a capture's health; plain data, safe to serialise and publish. */
export interface CaptureStatus {
  cameraId: string;
  state: CaptureState;
  /** Frames read from ffmpeg per second (after its fps filter), over the last few seconds. */
  inputFps: number;
  /** Frames handed to the consumer per second, over the last few seconds. */
  deliveredFps: number;
  /** Frames replaced while the consumer was busy, since the capture was created. */
  droppedFrames: number;
  /** Frames read from ffmpeg since the capture was created. */
  framesRead: number;
  /** When the last frame was read (epoch ms), or null if none yet. */
  lastFrameMs: number | null;
  /** The last failure, human-readable, with an `EDGE_ERR_CAPTURE_*` code prefix; credentials redacted. */
  lastError: string | null;
  /** The code of `lastError` (`EDGE_ERR_CAPTURE_AUTH`…), for metrics and tests. */
  lastErrorCode: EdgeErrorCode | null;
  /** When `lastError` happened (epoch ms). */
  lastErrorMs: number | null;
  /** ffmpeg starts after the first one (failures, stalls, source changes), since creation. */
  restarts: number;
  /** When the next ffmpeg start is scheduled (epoch ms), or null when none is pending. */
  nextRetryAtMs: number | null;
  /** Process id (and process group id) of the running ffmpeg, or null when none runs. */
  ffmpegPid: number | null;
}

/** Restart delays after failures. */
export interface BackoffOptions {
  /** Ceiling of the first delay; it doubles with each consecutive failure. Default 1000. */
  initialMs: number;
  /** Largest delay. Default 60000. */
  maxMs: number;
  /** Frames flowing this long without a failure forget past failures. Default 30000. */
  resetAfterMs?: number;
}

/** Options for {@link CameraCapture} (see `createCapture`). */
export interface CaptureOptions {
  /** The camera's id, for logs and status. */
  cameraId: string;
  /** `rtsp://` or `rtsps://` URL of the stream to analyse. Credentials in it are replaced by `credentials`. */
  url: string;
  /** RTSP credentials, injected into the URL percent-encoded. */
  credentials?: RtspCredentials;
  /** Analysis frame width, px. */
  width: number;
  /** Analysis frame height, px. */
  height: number;
  /** Analysis frames per second (ffmpeg's fps filter duplicates or drops to reach it). */
  fps: number;
  /** No frame for this long means stalled: ffmpeg is restarted. Default 10000. */
  stallTimeoutMs?: number;
  /**
   * No first frame this long after ffmpeg starts means the stream cannot be reached (connect,
   * DESCRIBE, probing and waiting for a keyframe all happen in this time). Default
   * max(stallTimeoutMs, 15000).
   */
  connectTimeoutMs?: number;
  /** Restart delays. Default 1 s doubling to 60 s, full jitter. */
  backoff?: BackoffOptions;
  /** Decode errors within a 10 s window that make ffmpeg restart (stream corrupt). Default 30. */
  corruptErrorThreshold?: number;
  /** Wait this long after `q` before SIGTERM, and after SIGTERM before SIGKILL. Default 2000. */
  stopGraceMs?: number;
  /** Root or module logger; the capture logs through `child({ module: 'capture', camera_id })`. */
  logger: Logger;
  /** The ffmpeg binary. Default `ffmpeg` on PATH. */
  ffmpegPath?: string;
}

/** One camera's supervised capture. */
export interface CameraCapture extends FrameSource {
  readonly cameraId: string;
  /** Start capturing. Idempotent; does nothing after `stop()`. */
  start(): void;
  /**
   * Switch to another stream (the camera moved to a new address, or its credentials changed):
   * the running ffmpeg is stopped, past failures are forgotten and a new ffmpeg starts at once.
   * The frame generator carries on.
   */
  setSource(url: string, credentials?: RtspCredentials): void;
  /** The current health. */
  status(): CaptureStatus;
  /**
   * Called when the state changes and when a failure is recorded (new `lastError`,
   * `nextRetryAtMs`). Returns a function that removes the listener. A throwing listener is logged
   * and does not affect capture.
   */
  onStatus(listener: (status: CaptureStatus) => void): () => void;
  /**
   * Stop for good: `q` on ffmpeg's stdin, SIGTERM to its process group after the grace, SIGKILL
   * after another. Resolves when ffmpeg has exited; frame generators return. Idempotent.
   */
  stop(): Promise<void>;
}
