/**
 * Keeps one capture running per camera the agent must analyse, in step with discovery and the
 * configuration: a camera found starts capturing; a camera that moved switches its capture to
 * the new stream URI without losing its identity; a camera removed or disabled stops. One
 * camera's trouble never touches another: each has its own capture, and reconciling is
 * idempotent.
 */
import type { CameraPlan } from '../config/merge.ts';
import type { Credentials } from '../config/load.ts';
import {
  createCapture,
  type CameraCapture,
  type CaptureOptions,
  type CaptureStatus,
  type Frame,
} from '../capture/index.ts';
import {
  normaliseEndpointReference,
  type DeviceDiscovery,
  type DiscoveredDevice,
} from '../discovery/index.ts';
import type { CameraHealth, CameraStateName, HealthRegistry } from '../health/status.ts';
import { redactUrl, type Logger } from '../log.ts';

/**
 * Where frames go. Detection (issue 4) plugs in here; until then frames are taken as fast as
 * they come and released, which is what the capture stage's drop accounting expects of a consumer.
 */
export interface FrameSink {
  /** Consume one camera's frames until the generator returns. Must not throw for bad frames. */
  consume(cameraId: string, frames: AsyncGenerator<Frame, void, undefined>): Promise<void>;
}

/** A sink that takes every frame and does nothing with it. */
export const DISCARD_SINK: FrameSink = {
  async consume(_cameraId, frames) {
    for await (const _frame of frames) {
      // Taking the frame is the work: it is what the capture stage measures as analysed.
    }
  },
};

/** Capture settings shared by all cameras (from config.capture). */
export interface CaptureDefaults {
  width: number;
  height: number;
  fps: number;
  stallTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number };
  ffmpegPath: string;
}

/** Options of {@link CameraSupervisor}. */
export interface SupervisorOptions {
  discovery: DeviceDiscovery;
  health: HealthRegistry;
  capture: CaptureDefaults;
  sink: FrameSink;
  /** Also capture discovered cameras that no plan names (demo, bench). */
  captureDiscovered: boolean;
  /** Credentials for discovered cameras no plan names. */
  defaultCredentials: Credentials | undefined;
  logger: Logger;
  /** For tests: build captures differently. */
  createCapture?: (opts: CaptureOptions) => CameraCapture;
}

interface Managed {
  plan: CameraPlan;
  capture: CameraCapture;
  streamUri: string;
  deviceKey: string;
  consumer: Promise<void>;
  unsubscribe: () => void;
}

/** Id for a discovered camera no plan names: its identity key (endpoint reference, else serial). */
export function discoveredCameraId(device: DiscoveredDevice): string {
  const raw = device.key.replace(/^urn:uuid:/, 'epr-').replace(/^serial:/, 'sn-');
  return raw.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 64);
}

/** The parts of a device that {@link matches} looks at. */
export interface DeviceRef {
  identity: { endpointReference: string; serialNumber: string };
  xaddr: string;
  xaddrs: readonly string[];
}

/** Does this discovered device stand for this planned camera? Identity first, address last. */
export function matches(plan: CameraPlan, device: DeviceRef): boolean {
  if (plan.endpointReference !== undefined) {
    // Vendors differ in the case of `urn:uuid:` values; compare normalised.
    return (
      device.identity.endpointReference !== '' &&
      normaliseEndpointReference(device.identity.endpointReference) ===
        normaliseEndpointReference(plan.endpointReference)
    );
  }
  if (plan.serialNumber !== undefined) {
    return device.identity.serialNumber !== '' && device.identity.serialNumber === plan.serialNumber;
  }
  if (plan.xaddr !== undefined) return device.xaddrs.includes(plan.xaddr) || device.xaddr === plan.xaddr;
  return false;
}

const CAPTURE_TO_HEALTH: Record<CaptureStatus['state'], CameraStateName> = {
  starting: 'offline',
  online: 'online',
  degraded: 'degraded',
  offline: 'offline',
  auth_failed: 'auth_failed',
  unreachable: 'unreachable',
  stopped: 'disabled',
};

/** Runs the captures. */
export class CameraSupervisor {
  private readonly managed = new Map<string, Managed>();
  private plans: CameraPlan[] = [];
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.logger.child({ module: 'supervisor' });
  }

  /** Replace the camera plans (config loaded or SiteConfig pushed) and reconcile. */
  setPlans(plans: readonly CameraPlan[]): void {
    this.plans = [...plans];
    this.reconcile();
  }

  /** Bring captures in line with plans and discovered devices. Idempotent; cheap. */
  reconcile(): void {
    if (this.stopped) return;
    const devices = this.opts.discovery.devices();
    const wanted = new Map<string, { plan: CameraPlan; device: DiscoveredDevice | undefined }>();
    for (const plan of this.plans) {
      wanted.set(plan.cameraId, { plan, device: devices.find((d) => matches(plan, d)) });
    }
    if (this.opts.captureDiscovered) {
      for (const device of devices) {
        // Only described devices: before that the identity (and so the id) may still change.
        if (!device.identified || device.access !== 'ok' || this.plans.some((p) => matches(p, device)))
          continue;
        const cameraId = discoveredCameraId(device);
        if (wanted.has(cameraId)) continue;
        const plan: CameraPlan = {
          cameraId,
          enabled: true,
          ...(device.identity.endpointReference !== '' && {
            endpointReference: device.identity.endpointReference,
          }),
          ...(device.identity.serialNumber !== '' && { serialNumber: device.identity.serialNumber }),
          ...(this.opts.defaultCredentials !== undefined && { credentials: this.opts.defaultCredentials }),
        };
        wanted.set(cameraId, { plan, device });
      }
    }

    for (const [cameraId, m] of this.managed) {
      const w = wanted.get(cameraId);
      if (w === undefined || !w.plan.enabled)
        this.retire(cameraId, m, w === undefined ? 'removed' : 'disabled');
    }
    for (const [cameraId, { plan, device }] of wanted) {
      if (!plan.enabled) {
        this.opts.health.setCamera(blankHealth(cameraId, 'disabled', ''));
        continue;
      }
      this.ensure(cameraId, plan, device);
    }
  }

  private ensure(cameraId: string, plan: CameraPlan, device: DiscoveredDevice | undefined): void {
    const current = this.managed.get(cameraId);
    if (device === undefined || device.access !== 'ok') {
      // Without a usable description we cannot know the stream URI. A running capture keeps
      // going (the stream may well outlive an ONVIF hiccup); otherwise report why not.
      if (current === undefined) {
        const [state, why] = whyNoDevice(device);
        this.opts.health.setCamera(blankHealth(cameraId, state, why));
      }
      return;
    }
    const token = plan.profileToken ?? device.analysisProfileToken;
    const profile =
      device.profiles.find((p) => p.token === token) ??
      device.profiles.find((p) => p.token === device.analysisProfileToken);
    if (profile === undefined || profile.streamUri === '') {
      if (current === undefined) {
        this.opts.health.setCamera(blankHealth(cameraId, 'unreachable', `no stream for profile "${token}"`));
      }
      return;
    }
    if (current !== undefined) {
      if (
        current.streamUri !== profile.streamUri ||
        !sameCredentials(current.plan.credentials, plan.credentials)
      ) {
        this.log.info(
          { camera_id: cameraId, from: redactUrl(current.streamUri), to: redactUrl(profile.streamUri) },
          'camera stream changed; switching capture',
        );
        current.capture.setSource(profile.streamUri, plan.credentials);
        current.streamUri = profile.streamUri;
        current.plan = plan;
        current.deviceKey = device.key;
      }
      return;
    }
    this.start(cameraId, plan, device.key, profile.streamUri);
  }

  private start(cameraId: string, plan: CameraPlan, deviceKey: string, streamUri: string): void {
    const c = this.opts.capture;
    const make = this.opts.createCapture ?? createCapture;
    const capture = make({
      cameraId,
      url: streamUri,
      ...(plan.credentials !== undefined && { credentials: plan.credentials }),
      width: c.width,
      height: c.height,
      fps: plan.fps ?? c.fps,
      stallTimeoutMs: c.stallTimeoutMs,
      backoff: c.backoff,
      ffmpegPath: c.ffmpegPath,
      logger: this.opts.logger,
    });
    const unsubscribe = capture.onStatus((s) => {
      this.opts.health.setCamera(toHealth(s));
    });
    capture.start();
    const consumer = this.opts.sink.consume(cameraId, capture.frames()).catch((err: unknown) => {
      this.log.error(
        { err, camera_id: cameraId },
        'frame consumer failed; frames of this camera are dropped',
      );
    });
    this.managed.set(cameraId, { plan, capture, streamUri, deviceKey, consumer, unsubscribe });
    this.opts.health.setCamera(toHealth(capture.status()));
    this.log.info(
      { camera_id: cameraId, device: deviceKey, stream: redactUrl(streamUri) },
      'capture started',
    );
  }

  private retire(cameraId: string, m: Managed, why: 'removed' | 'disabled'): void {
    this.managed.delete(cameraId);
    m.unsubscribe();
    void m.capture.stop().then(() => m.consumer);
    if (why === 'removed') this.opts.health.removeCamera(cameraId);
    else this.opts.health.setCamera(blankHealth(cameraId, 'disabled', ''));
    this.log.info({ camera_id: cameraId, why }, 'capture stopped');
  }

  /** Refresh every camera's health from its capture (fps figures move without state changes). */
  refreshHealth(): void {
    for (const m of this.managed.values()) this.opts.health.setCamera(toHealth(m.capture.status()));
  }

  /** Status of every running capture (tests, bench). */
  captures(): CaptureStatus[] {
    return [...this.managed.values()].map((m) => m.capture.status());
  }

  /** Stop every capture and wait for ffmpeg to exit. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.managed.values()];
    this.managed.clear();
    for (const m of all) m.unsubscribe();
    await Promise.all(
      all.map(async (m) => {
        await m.capture.stop();
        await m.consumer;
      }),
    );
  }
}

function sameCredentials(a: Credentials | undefined, b: Credentials | undefined): boolean {
  return a?.username === b?.username && a?.password === b?.password;
}

function toHealth(s: CaptureStatus): CameraHealth {
  return {
    cameraId: s.cameraId,
    state: CAPTURE_TO_HEALTH[s.state],
    inputFps: s.inputFps,
    analysedFps: s.deliveredFps,
    droppedFrames: s.droppedFrames,
    lastFrameMs: s.lastFrameMs ?? 0,
    lastError: s.lastError ?? '',
    lastErrorMs: s.lastErrorMs ?? 0,
    restarts: s.restarts,
  };
}

function blankHealth(cameraId: string, state: CameraStateName, lastError: string): CameraHealth {
  return {
    cameraId,
    state,
    inputFps: 0,
    analysedFps: 0,
    droppedFrames: 0,
    lastFrameMs: 0,
    lastError,
    lastErrorMs: lastError === '' ? 0 : Date.now(),
    restarts: 0,
  };
}

function whyNoDevice(device: DiscoveredDevice | undefined): [CameraStateName, string] {
  if (device === undefined) return ['unreachable', 'not found by discovery'];
  const message = device.lastError?.message ?? `ONVIF access: ${device.access}`;
  if (device.access === 'auth_failed') return ['auth_failed', message];
  return ['unreachable', message];
}
