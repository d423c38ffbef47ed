/**
 * Every error the edge agent throws on purpose, with a stable `code` (fastify's FST_ERR_* style).
 * Codes are part of the agent's observable behaviour: they appear in logs, in camera status
 * `last_error`, and in tests. Add new codes here, never inline.
 */

/** The catalogue: code → default message. */
export const EDGE_ERRORS = {
  EDGE_ERR_CONFIG: 'invalid configuration',
  EDGE_ERR_CONFIG_READ: 'configuration file cannot be read',
  // Discovery and ONVIF.
  EDGE_ERR_DISCOVERY_SOCKET: 'WS-Discovery socket failed',
  EDGE_ERR_DISCOVERY_MULTICAST_OFF: 'multicast discovery is disabled by configuration',
  EDGE_ERR_ONVIF_AUTH: 'the camera refused our ONVIF credentials',
  EDGE_ERR_ONVIF_UNREACHABLE: 'the camera does not answer',
  EDGE_ERR_ONVIF_TIMEOUT: 'the camera did not answer in time',
  EDGE_ERR_ONVIF_PROTOCOL: 'the camera answered with something that is not valid ONVIF',
  EDGE_ERR_ONVIF_TOO_LARGE: 'the camera reply exceeded the size or memory limit',
  EDGE_ERR_ONVIF_NO_STREAM: 'the camera offers no usable video stream',
  EDGE_ERR_ONVIF_NO_SNAPSHOT: 'the camera offers no snapshot URI',
  EDGE_ERR_DISCOVERY_UNKNOWN_DEVICE: 'no discovered device has this key',
  EDGE_ERR_DISCOVERY_STOPPED: 'discovery was stopped',
  // Capture.
  EDGE_ERR_CAPTURE_AUTH: 'the camera refused our RTSP credentials',
  EDGE_ERR_CAPTURE_UNREACHABLE: 'the RTSP stream cannot be reached',
  EDGE_ERR_CAPTURE_STALL: 'no frame arrived within the stall timeout',
  EDGE_ERR_CAPTURE_EXIT: 'ffmpeg exited',
  EDGE_ERR_CAPTURE_CORRUPT: 'the stream is corrupt or cannot be decoded',
  EDGE_ERR_CAPTURE_STOPPED: 'capture was stopped',
  EDGE_ERR_CAPTURE_SPAWN: 'ffmpeg could not be started',
  EDGE_ERR_CAPTURE_NOT_FOUND: 'the RTSP server has no stream at this path',
  EDGE_ERR_CAPTURE_OPTIONS: 'invalid capture options',
  EDGE_ERR_CAPTURE_BUSY: 'frames are already being consumed by another reader',
  // Models and detection.
  EDGE_ERR_MODEL_MISSING: 'a model file is missing',
  EDGE_ERR_MODEL_HASH: 'a model file does not match its recorded sha256',
  EDGE_ERR_MODEL_MANIFEST: 'the model manifest is invalid',
  EDGE_ERR_DETECT_INPUT: 'the image cannot be used for detection',
  EDGE_ERR_DETECT_BUSY: 'the inference queue is full',
  EDGE_ERR_DETECT_WORKER: 'the inference worker failed',
  EDGE_ERR_MODEL_LOAD: 'the model file cannot be loaded by onnxruntime',
  EDGE_ERR_MODEL_INCOMPATIBLE: 'the model inputs or outputs do not match the manifest',
  EDGE_ERR_DETECT_RUN: 'inference failed',
  EDGE_ERR_DETECT_UNAVAILABLE: 'no detector of this name is available',
  EDGE_ERR_DETECT_CLOSED: 'the detector or inference pool is closed',
  EDGE_ERR_DETECT_OPTIONS: 'invalid detector options',
  // Motion, tracking, events.
  EDGE_ERR_MOTION_OPTIONS: 'invalid motion gate options',
  EDGE_ERR_MOTION_INPUT: 'the frame cannot be used by the motion gate',
  EDGE_ERR_TRACK_OPTIONS: 'invalid tracker options',
  EDGE_ERR_TRACK_INPUT: 'the tracker was given an invalid frame or detection',
  EDGE_ERR_EVENT_ID: 'an event id cannot be made',
  EDGE_ERR_EVENT_INPUT: 'an event cannot be built from this track',
  EDGE_ERR_EVENT_EVIDENCE: 'the evidence JPEG cannot be made within its size bound',
  EDGE_ERR_EVENT_SINK: 'the event sink failed',
  // Spool and MQTT transport.
  EDGE_ERR_SPOOL_OPEN: 'the spool directory cannot be opened',
  EDGE_ERR_SPOOL_CLOSED: 'the spool is closed',
  EDGE_ERR_SPOOL_TOO_LARGE: 'the event is larger than the spool may hold',
  EDGE_ERR_SPOOL_DISK_FULL: 'the disk holding the spool is full: the event was not stored',
  EDGE_ERR_SPOOL_WRITE: 'the spool could not write or sync its file: the event was not stored',
  EDGE_ERR_MQTT_CONNECT: 'the MQTT broker cannot be reached',
  EDGE_ERR_MQTT_AUTH: 'the MQTT broker refused our credentials',
  EDGE_ERR_MQTT_CLOSED: 'the MQTT connection is closed',
  EDGE_ERR_MQTT_SECRETS: 'the MQTT password or TLS files cannot be read',
  EDGE_ERR_MQTT_PAYLOAD: 'an MQTT payload could not be decoded',
} as const;

/** One of the codes in {@link EDGE_ERRORS}. */
export type EdgeErrorCode = keyof typeof EDGE_ERRORS;

/** An error of the edge agent. `message` never contains credentials. */
export class EdgeError extends Error {
  readonly code: EdgeErrorCode;

  constructor(code: EdgeErrorCode, detail?: string, options?: ErrorOptions) {
    super(detail === undefined ? EDGE_ERRORS[code] : `${EDGE_ERRORS[code]}: ${detail}`, options);
    this.name = 'EdgeError';
    this.code = code;
  }
}

/** Narrow an unknown error to an {@link EdgeError} with one of `codes`. */
export function isEdgeError(err: unknown, ...codes: EdgeErrorCode[]): err is EdgeError {
  return err instanceof EdgeError && (codes.length === 0 || codes.includes(err.code));
}
