/**
 * Answers the gateway's live snapshot requests (proto `SnapshotRequest`, arriving through the MQTT
 * link) with a bounded JPEG or an error status. Never throws: every request gets a response.
 *
 * - **Target:** a camera id (a plan of the configuration in force, or a camera being captured),
 *   or a discovered device by identity (endpoint reference, else serial number).
 * - **Picture:** the latest frame analysis took of the camera when it is recent (no extra
 *   connection to the camera, and what the detectors see); otherwise the camera's own ONVIF
 *   snapshot (its analysis profile's GetSnapshotUri, fetched in discovery's bounded worker).
 * - **Bounds:** at most one picture per target per `minIntervalMs` (500 ms: ≤ 2/s per camera);
 *   requests arriving meanwhile with the same bounds share it, so several viewers cost one
 *   picture. At most `maxConcurrent` pictures are being taken at once; beyond that, BUSY. Each
 *   request waits at most its `timeout_ms` (capped), then TIMEOUT; the JPEG is fitted to the
 *   request's `max_bytes`/`max_width` (capped by SNAPSHOT_LIMITS), downscaled with sharp if needed.
 */
import { Counter, type Registry } from 'prom-client';
import type { CameraIdentity } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import {
  SnapshotOrigin,
  SnapshotStatus,
  type SnapshotRequest,
  type SnapshotResponse,
} from '../../../proto/gen/sharpeyes/v1/snapshot.ts';
import { SNAPSHOT_LIMITS } from '../../../proto/topics.ts';
import { discoveredCameraId, matches } from '../cameras/supervisor.ts';
import type { CameraPlan } from '../config/merge.ts';
import {
  identityKey,
  normaliseEndpointReference,
  type DeviceDiscovery,
  type DiscoveredDevice,
} from '../discovery/index.ts';
import { isEdgeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { fitCameraImage, jpegFromRgb, SnapshotImageError, type JpegBounds } from './jpeg.ts';
import type { LatestFrameSource } from './latest-frames.ts';

/** Options of {@link SnapshotService}. */
export interface SnapshotServiceOptions {
  siteId: string;
  /** The camera plans in force (file merged with the SiteConfig). */
  plans: () => readonly CameraPlan[];
  discovery: Pick<DeviceDiscovery, 'devices' | 'fetchSnapshot'>;
  frames: LatestFrameSource;
  logger: Logger;
  /** Prometheus registry for the metrics. Default: none. */
  registry?: Registry;
  /** A frame older than this is not live: the ONVIF snapshot is used instead. Default 3000. */
  maxFrameAgeMs?: number;
  /** At most one picture per target this often. Default 500. */
  minIntervalMs?: number;
  /** Pictures being taken at once, all targets together. Default 3. */
  maxConcurrent?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** A response without the per-request fields. */
type Shot = Omit<SnapshotResponse, 'requestId' | 'siteId'>;

interface Recent {
  bounds: string;
  startedMs: number;
  settled: boolean;
  shot: Promise<Shot>;
}

/** What a request points at, resolved on this agent. */
interface Target {
  /** Rate-limit key. */
  key: string;
  /** The camera whose analysis frames may answer. */
  cameraId: string | undefined;
  /** The device whose ONVIF snapshot may answer. */
  device: DiscoveredDevice | undefined;
  what: string;
}

const OUTCOME: Record<SnapshotStatus, string> = {
  [SnapshotStatus.SNAPSHOT_STATUS_UNSPECIFIED]: 'unspecified',
  [SnapshotStatus.SNAPSHOT_STATUS_OK]: 'ok',
  [SnapshotStatus.SNAPSHOT_STATUS_NOT_FOUND]: 'not_found',
  [SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE]: 'unavailable',
  [SnapshotStatus.SNAPSHOT_STATUS_BUSY]: 'busy',
  [SnapshotStatus.SNAPSHOT_STATUS_TIMEOUT]: 'timeout',
  [SnapshotStatus.SNAPSHOT_STATUS_TOO_LARGE]: 'too_large',
  [SnapshotStatus.SNAPSHOT_STATUS_AUTH_FAILED]: 'auth_failed',
  [SnapshotStatus.SNAPSHOT_STATUS_BAD_REQUEST]: 'bad_request',
  [SnapshotStatus.UNRECOGNIZED]: 'unspecified',
};

function failure(status: SnapshotStatus, message: string, retryAfterMs = 0): Shot {
  return {
    status,
    message,
    jpeg: Buffer.alloc(0),
    takenMs: 0,
    width: 0,
    height: 0,
    origin: SnapshotOrigin.SNAPSHOT_ORIGIN_UNSPECIFIED,
    retryAfterMs,
  };
}

/** See the module comment. */
export class SnapshotService {
  readonly #opts: SnapshotServiceOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #recent = new Map<string, Recent>();
  readonly #requests: Counter<'outcome' | 'origin'>;
  #inFlight = 0;

  constructor(opts: SnapshotServiceOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ module: 'snapshot' });
    this.#now = opts.now ?? Date.now;
    this.#requests = new Counter({
      name: 'sharpeyes_edge_snapshot_requests_total',
      help: 'Live snapshot requests answered, by outcome (ok, not_found, unavailable, busy, timeout, too_large, auth_failed, bad_request) and origin of the picture (analysis_frame, onvif, none).',
      labelNames: ['outcome', 'origin'],
      registers: opts.registry === undefined ? [] : [opts.registry],
    });
  }

  /** Pictures being taken now. */
  inFlight(): number {
    return this.#inFlight;
  }

  /** Answer one request. Never rejects. */
  async handle(request: SnapshotRequest): Promise<SnapshotResponse> {
    let shot: Shot;
    try {
      shot = await this.#answer(request);
    } catch (err) {
      // A bug, not a camera problem: still an answer, so the requester does not wait it out.
      this.#log.error({ err, request_id: request.requestId }, 'snapshot request failed');
      shot = failure(SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE, 'internal error on the agent');
    }
    const origin =
      shot.origin === SnapshotOrigin.SNAPSHOT_ORIGIN_ANALYSIS_FRAME
        ? 'analysis_frame'
        : shot.origin === SnapshotOrigin.SNAPSHOT_ORIGIN_ONVIF
          ? 'onvif'
          : 'none';
    this.#requests.inc({ outcome: OUTCOME[shot.status], origin });
    return { ...shot, requestId: request.requestId, siteId: this.#opts.siteId };
  }

  async #answer(request: SnapshotRequest): Promise<Shot> {
    if (request.target === undefined) {
      return failure(SnapshotStatus.SNAPSHOT_STATUS_BAD_REQUEST, 'the request names no camera or device');
    }
    const target =
      request.target.$case === 'cameraId'
        ? this.#cameraTarget(request.target.value)
        : this.#deviceTarget(request.target.value);
    if (target === undefined) {
      const what =
        request.target.$case === 'cameraId'
          ? `camera ${request.target.value}`
          : `device ${request.target.value.endpointReference || request.target.value.serialNumber}`;
      return failure(SnapshotStatus.SNAPSHOT_STATUS_NOT_FOUND, `this agent knows no ${what}`);
    }
    const bounds: JpegBounds = {
      maxBytes: Math.min(
        request.maxBytes === 0 ? SNAPSHOT_LIMITS.defaultJpegBytes : request.maxBytes,
        SNAPSHOT_LIMITS.maxJpegBytes,
      ),
      maxWidth: request.maxWidth,
    };
    const timeoutMs = Math.min(
      request.timeoutMs === 0 ? SNAPSHOT_LIMITS.defaultTimeoutMs : request.timeoutMs,
      SNAPSHOT_LIMITS.maxTimeoutMs,
    );
    const shot = this.#shotFor(target, bounds);
    if (!(shot instanceof Promise)) return shot;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<Shot>((resolve) => {
      timer = setTimeout(() => {
        resolve(
          failure(
            SnapshotStatus.SNAPSHOT_STATUS_TIMEOUT,
            `no picture of ${target.what} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([shot, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The picture for `target`: shared with a recent one, or newly taken, or BUSY. */
  #shotFor(target: Target, bounds: JpegBounds): Promise<Shot> | Shot {
    const now = this.#now();
    const minIntervalMs = this.#opts.minIntervalMs ?? 500;
    const key = `${bounds.maxBytes}/${bounds.maxWidth}`;
    const recent = this.#recent.get(target.key);
    if (recent !== undefined && (!recent.settled || now - recent.startedMs < minIntervalMs)) {
      if (recent.bounds === key) return recent.shot;
      const waitMs = recent.settled ? minIntervalMs - (now - recent.startedMs) : minIntervalMs;
      return failure(
        SnapshotStatus.SNAPSHOT_STATUS_BUSY,
        `a picture of ${target.what} was just taken`,
        Math.max(1, Math.ceil(waitMs)),
      );
    }
    if (this.#inFlight >= (this.#opts.maxConcurrent ?? 3)) {
      return failure(
        SnapshotStatus.SNAPSHOT_STATUS_BUSY,
        `${this.#inFlight} snapshots are being taken on this agent`,
        minIntervalMs,
      );
    }
    this.#inFlight += 1;
    const shot = this.#take(target, bounds).finally(() => {
      this.#inFlight -= 1;
      entry.settled = true;
    });
    const entry: Recent = { bounds: key, startedMs: now, settled: false, shot };
    this.#recent.set(target.key, entry);
    this.#prune(now, minIntervalMs);
    return entry.shot;
  }

  #prune(now: number, minIntervalMs: number): void {
    if (this.#recent.size < 256) return;
    for (const [k, r] of this.#recent) {
      if (r.settled && now - r.startedMs >= minIntervalMs) this.#recent.delete(k);
    }
  }

  async #take(target: Target, bounds: JpegBounds): Promise<Shot> {
    const maxAgeMs = this.#opts.maxFrameAgeMs ?? 3000;
    const frame = target.cameraId === undefined ? undefined : this.#opts.frames.latest(target.cameraId);
    try {
      if (frame !== undefined && this.#now() - frame.capturedAtMs <= maxAgeMs) {
        const fitted = await jpegFromRgb(frame, bounds);
        return {
          ...failure(SnapshotStatus.SNAPSHOT_STATUS_OK, ''),
          ...fitted,
          takenMs: frame.capturedAtMs,
          origin: SnapshotOrigin.SNAPSHOT_ORIGIN_ANALYSIS_FRAME,
        };
      }
      const device = target.device;
      if (device === undefined) {
        return failure(
          SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE,
          `${target.what} has no recent frame and no discovered device to ask`,
        );
      }
      if (device.access === 'auth_failed') {
        return failure(
          SnapshotStatus.SNAPSHOT_STATUS_AUTH_FAILED,
          `${target.what} refuses the agent's credentials`,
        );
      }
      if (!device.hasSnapshot) {
        return failure(
          SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE,
          `${target.what} has no recent frame and offers no ONVIF snapshot (access: ${device.access})`,
        );
      }
      const picture = await this.#opts.discovery.fetchSnapshot(device.key);
      const takenMs = this.#now();
      const fitted = await fitCameraImage(picture.body, bounds);
      return {
        ...failure(SnapshotStatus.SNAPSHOT_STATUS_OK, ''),
        ...fitted,
        takenMs,
        origin: SnapshotOrigin.SNAPSHOT_ORIGIN_ONVIF,
      };
    } catch (err) {
      return this.#failed(target, err);
    }
  }

  #failed(target: Target, err: unknown): Shot {
    if (err instanceof SnapshotImageError) {
      this.#log.debug({ err, target: target.what }, 'snapshot picture refused');
      return failure(
        err.reason === 'too_large'
          ? SnapshotStatus.SNAPSHOT_STATUS_TOO_LARGE
          : SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE,
        `${target.what}: ${err.message}`,
      );
    }
    this.#log.debug({ err, target: target.what }, 'snapshot not taken');
    if (isEdgeError(err, 'EDGE_ERR_ONVIF_AUTH')) {
      return failure(
        SnapshotStatus.SNAPSHOT_STATUS_AUTH_FAILED,
        `${target.what} refuses the agent's credentials`,
      );
    }
    if (isEdgeError(err, 'EDGE_ERR_DISCOVERY_UNKNOWN_DEVICE')) {
      return failure(SnapshotStatus.SNAPSHOT_STATUS_NOT_FOUND, `${target.what} is no longer known`);
    }
    // EdgeError messages name the failure without credentials (discovery strips them).
    const why = isEdgeError(err) ? err.message : 'the snapshot could not be fetched';
    return failure(SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE, `${target.what}: ${why}`);
  }

  #cameraTarget(cameraId: string): Target | undefined {
    const plan = this.#opts.plans().find((p) => p.cameraId === cameraId);
    const frame = this.#opts.frames.latest(cameraId);
    const devices = this.#opts.discovery.devices();
    const device =
      plan !== undefined
        ? devices.find((d) => matches(plan, d))
        : devices.find((d) => d.identified && discoveredCameraId(d) === cameraId);
    if (plan === undefined && frame === undefined && device === undefined) return undefined;
    return { key: `camera:${cameraId}`, cameraId, device, what: `camera ${cameraId}` };
  }

  #deviceTarget(identity: CameraIdentity): Target | undefined {
    const devices = this.#opts.discovery.devices();
    const key = identityKey(identity);
    const epr = normaliseEndpointReference(identity.endpointReference);
    const serial = identity.serialNumber.trim();
    const device =
      (key === undefined ? undefined : devices.find((d) => d.key === key)) ??
      devices.find(
        (d) =>
          (epr !== '' && normaliseEndpointReference(d.identity.endpointReference) === epr) ||
          (epr === '' && serial !== '' && d.identity.serialNumber === serial),
      );
    if (device === undefined) return undefined;
    // A device that is also an analysed camera answers from its frames when they are recent.
    const plan = this.#opts.plans().find((p) => matches(p, device));
    const cameraId = plan?.cameraId ?? (device.identified ? discoveredCameraId(device) : undefined);
    // Keyed like the camera when it is one, so asking both ways does not double its rate.
    const limitKey = plan === undefined ? `device:${device.key}` : `camera:${plan.cameraId}`;
    return { key: limitKey, cameraId, device, what: `device ${device.key}` };
  }
}
