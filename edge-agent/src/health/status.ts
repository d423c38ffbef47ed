/**
 * Health of the agent and its cameras: the one place that holds the current status of each, in
 * the shapes of proto/ (CameraStatus, AgentStatus) so the publisher (issue 5) sends them as is,
 * and the source of /healthz and the Prometheus gauges.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  AgentState,
  CameraState,
  type AgentStatus,
  type CameraStatus,
} from '../../../proto/gen/sharpeyes/v1/camera.ts';

/** The camera states, as the capture layer and the config name them. */
export type CameraStateName = 'online' | 'degraded' | 'offline' | 'auth_failed' | 'unreachable' | 'disabled';

const STATE_TO_PROTO: Record<CameraStateName, CameraState> = {
  online: CameraState.CAMERA_STATE_ONLINE,
  degraded: CameraState.CAMERA_STATE_DEGRADED,
  offline: CameraState.CAMERA_STATE_OFFLINE,
  auth_failed: CameraState.CAMERA_STATE_AUTH_FAILED,
  unreachable: CameraState.CAMERA_STATE_UNREACHABLE,
  disabled: CameraState.CAMERA_STATE_DISABLED,
};

/** Every camera state name, for metrics. */
export const CAMERA_STATE_NAMES = Object.keys(STATE_TO_PROTO) as CameraStateName[];

/** What the agent reports about one camera. */
export interface CameraHealth {
  cameraId: string;
  state: CameraStateName;
  inputFps: number;
  analysedFps: number;
  droppedFrames: number;
  /** Epoch ms of the last frame, 0 = none yet. */
  lastFrameMs: number;
  /** Redacted; '' = none. */
  lastError: string;
  lastErrorMs: number;
  restarts: number;
}

/** Process figures sampled for the agent status. */
export interface ProcessSample {
  cpuPercent: number;
  memoryRssBytes: number;
  diskFreeBytes: number;
}

/** Holds the latest health of every camera and samples the process. */
export class HealthRegistry {
  private readonly cameras = new Map<string, CameraHealth>();
  private readonly startedMs = Date.now();
  private lastCpu = process.cpuUsage();
  private lastCpuAt = process.hrtime.bigint();
  private lastSample: ProcessSample = { cpuPercent: 0, memoryRssBytes: 0, diskFreeBytes: 0 };
  private spool: (() => { events: number; bytes: number; evicted: number }) | undefined;
  private mqttConnected: boolean | undefined;
  private configRevision = 0;
  private readonly cameraListeners = new Set<(cameraId: string) => void>();

  constructor(
    readonly siteId: string,
    readonly version: string,
    /** Path whose file system's free space is reported (the spool's). */
    private readonly diskPath: string,
  ) {}

  /** Record a camera's latest health. */
  setCamera(health: CameraHealth): void {
    const prev = this.cameras.get(health.cameraId);
    this.cameras.set(health.cameraId, health);
    if (
      prev === undefined ||
      prev.state !== health.state ||
      prev.lastError !== health.lastError ||
      prev.restarts !== health.restarts
    ) {
      this.notifyCamera(health.cameraId);
    }
  }

  /** Forget a camera (removed from the config). */
  removeCamera(cameraId: string): void {
    if (this.cameras.delete(cameraId)) this.notifyCamera(cameraId);
  }

  /**
   * Call `listener` when a camera appears, disappears, or changes state, last error or restart
   * count (not on every fps refresh). Returns the unsubscribe function.
   */
  onCameraChange(listener: (cameraId: string) => void): () => void {
    this.cameraListeners.add(listener);
    return () => this.cameraListeners.delete(listener);
  }

  private notifyCamera(cameraId: string): void {
    for (const listener of this.cameraListeners) listener(cameraId);
  }

  /** Every camera's latest health, by id. */
  cameraHealth(): CameraHealth[] {
    return [...this.cameras.values()].sort((a, b) => a.cameraId.localeCompare(b.cameraId));
  }

  setConfigRevision(revision: number): void {
    this.configRevision = revision;
  }

  /** Where the spool figures come from (when the agent sends over MQTT); read at each status. */
  setSpoolSource(source: () => { events: number; bytes: number; evicted: number }): void {
    this.spool = source;
  }

  /** Whether the MQTT link is up (when the agent sends over MQTT). */
  setMqttConnected(connected: boolean): void {
    this.mqttConnected = connected;
  }

  /** Spool and MQTT figures for /healthz; undefined without MQTT transport. */
  transport():
    | { spool_events: number; spool_bytes: number; spool_evicted: number; mqtt_connected: boolean }
    | undefined {
    if (this.spool === undefined && this.mqttConnected === undefined) return undefined;
    const spool = this.spool?.();
    return {
      spool_events: spool?.events ?? 0,
      spool_bytes: spool?.bytes ?? 0,
      spool_evicted: spool?.evicted ?? 0,
      mqtt_connected: this.mqttConnected ?? false,
    };
  }

  /** Measure CPU since the last sample, RSS and free disk. Call periodically. */
  async sample(): Promise<ProcessSample> {
    const now = process.hrtime.bigint();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedUs = Number(now - this.lastCpuAt) / 1000;
    this.lastCpu = process.cpuUsage();
    this.lastCpuAt = now;
    this.lastSample = {
      cpuPercent: elapsedUs > 0 ? (100 * (cpu.user + cpu.system)) / elapsedUs : 0,
      memoryRssBytes: process.memoryUsage.rss(),
      diskFreeBytes: await freeBytes(this.diskPath),
    };
    return this.lastSample;
  }

  /** The agent status message (online), from the last sample. */
  agentStatus(nowMs = Date.now()): AgentStatus {
    const spool = this.spool?.();
    return {
      siteId: this.siteId,
      state: AgentState.AGENT_STATE_ONLINE,
      version: this.version,
      startedMs: this.startedMs,
      cpuPercent: this.lastSample.cpuPercent,
      memoryRssBytes: this.lastSample.memoryRssBytes,
      diskFreeBytes: this.lastSample.diskFreeBytes,
      spoolEvents: spool?.events ?? 0,
      spoolBytes: spool?.bytes ?? 0,
      spoolEvicted: spool?.evicted ?? 0,
      configRevision: this.configRevision,
      updatedMs: nowMs,
    };
  }

  /** One camera's status message. */
  cameraStatus(cameraId: string, nowMs = Date.now()): CameraStatus | undefined {
    const h = this.cameras.get(cameraId);
    if (h === undefined) return undefined;
    return {
      siteId: this.siteId,
      cameraId: h.cameraId,
      state: STATE_TO_PROTO[h.state],
      inputFps: h.inputFps,
      analysedFps: h.analysedFps,
      droppedFrames: h.droppedFrames,
      lastFrameMs: h.lastFrameMs,
      lastError: h.lastError,
      lastErrorMs: h.lastErrorMs,
      restarts: h.restarts,
      updatedMs: nowMs,
    };
  }

  /** Seconds since the agent started. */
  uptimeS(nowMs = Date.now()): number {
    return (nowMs - this.startedMs) / 1000;
  }
}

/** Free bytes on the file system holding `path` (or its nearest existing ancestor). */
async function freeBytes(path: string): Promise<number> {
  let p = path;
  for (;;) {
    try {
      const s = await statfs(p);
      return s.bavail * s.bsize;
    } catch (err) {
      const parent = dirname(p);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) return 0;
      p = parent;
    }
  }
}
