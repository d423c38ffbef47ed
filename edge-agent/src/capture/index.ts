/**
 * The capture stage: one supervised ffmpeg per camera, turning its RTSP stream into scaled rgb24
 * frames (`createCapture`). The rest of the agent uses these exports only.
 */
export { createCapture, validateOptions, CAPTURE_DEFAULTS, ONLINE_FPS_RATIO } from './capture.ts';
export { DEFAULT_BACKOFF } from './backoff.ts';
export type {
  BackoffOptions,
  CameraCapture,
  CaptureOptions,
  CaptureState,
  CaptureStatus,
  Frame,
  FrameSource,
  RtspCredentials,
} from './types.ts';
