/**
 * The typed adapter around node-onvif — the only module that uses it (through its worker,
 * `onvif-worker.mjs`, which nothing else loads).
 *
 * A camera is untrusted input: its replies can be huge, endless, or attacks on the XML parser.
 * So every call runs in a fresh worker thread that is terminated when it is done or when it
 * overruns, with
 *   - a hard time limit (`timeoutMs`, the worker is terminated: a reply that drips forever ends),
 *   - a V8 heap limit (`resourceLimits`: xml2js building a huge tree ends in ERR_WORKER_OUT_OF_MEMORY),
 *   - a byte cap on every socket (`maxReplyBytes`; Buffers live outside the heap, so the heap
 *     limit alone would not stop a 50 MB reply or snapshot),
 *   - a concurrency limit (`maxConcurrent` workers at once), so a handful of hostile cameras
 *     cannot take the agent's memory or both cores.
 * A fresh worker per call also gives each call its own copy of node-onvif's module-level state
 * (the HTTP Digest client keeps user, password and nonce count in a singleton), so calls never
 * interfere. Failures are EdgeErrors with a stable code; messages never carry credentials.
 */
import { Worker } from 'node:worker_threads';

import { EdgeError } from '../errors.ts';
import { classifyOnvifFailure, sanitizeDetail, type OnvifFailure } from './classify.ts';
import { stripUrlCredentials } from './identity.ts';
import { chooseAnalysisProfile } from './profiles.ts';
import type { DeviceIdentity, MediaProfile, OnvifCredentials, Snapshot } from './types.ts';

const WORKER_URL = new URL('./onvif-worker.mjs', import.meta.url);

/** Limits of one adapter call. */
export interface OnvifLimits {
  /** Hard limit for the whole call (describe = a dozen SOAP requests), ms. */
  timeoutMs: number;
  /** Idle limit of one HTTP request inside the call, ms. */
  requestTimeoutMs: number;
  /** Largest reply accepted on one connection (SOAP or snapshot), bytes. */
  maxReplyBytes: number;
  /** V8 old-generation heap limit of the worker, MB. */
  maxHeapMb: number;
}

/** Options of {@link OnvifAdapter}. */
export interface OnvifAdapterOptions extends Partial<OnvifLimits> {
  /** Workers running at once; further calls wait. Default 4. */
  maxConcurrent?: number;
  /** Largest snapshot accepted, bytes. Default 8 MiB. */
  maxSnapshotBytes?: number;
}

/** Defaults: 15 s per describe, 5 s per request, 2 MiB per reply, 32 MB heap. */
export const DEFAULT_ONVIF_LIMITS: OnvifLimits = {
  timeoutMs: 15_000,
  requestTimeoutMs: 5_000,
  maxReplyBytes: 2 * 1024 * 1024,
  maxHeapMb: 32,
};

/** Everything the agent needs to know about a device, read over ONVIF. */
export interface OnvifDescription {
  /** Identity fields except the endpoint reference (ONVIF does not report it here). */
  information: Omit<DeviceIdentity, 'endpointReference'>;
  profiles: (MediaProfile & { snapshotUri: string })[];
  /** Token of the analysis profile (see `chooseAnalysisProfile`). */
  analysisProfileToken: string;
  /** Snapshot URI of the analysis profile (credentials removed), '' when none. */
  snapshotUri: string;
}

/** Reads devices over ONVIF: what `Discovery` needs, so tests can count or wrap calls. */
export interface DeviceDescriber {
  describe(xaddr: string, credentials: OnvifCredentials | undefined): Promise<OnvifDescription>;
  fetchSnapshot(uri: string, credentials: OnvifCredentials | undefined): Promise<Snapshot>;
}

type WorkerTask = { op: 'describe'; xaddr: string } | { op: 'snapshot'; uri: string };

/** The worker's one message. */
type WorkerReply =
  | { ok: true; result: unknown }
  | { ok: false; kind: 'too_large' | 'error'; message: string; timedOut: boolean };

const MAX_STRING = 1024;
const MAX_PROFILES = 64;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v.slice(0, MAX_STRING).trim() : '';
}

function int(v: unknown, max: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(Math.round(v), max) : 0;
}

function uri(v: unknown, schemes: RegExp): string {
  const s = str(v);
  return schemes.test(s) ? stripUrlCredentials(s) : '';
}

/** Narrow the worker's describe result (untrusted: it comes from the camera). */
export function parseDescription(result: unknown): OnvifDescription {
  if (!isRecord(result) || !isRecord(result.information) || !Array.isArray(result.profiles)) {
    throw new EdgeError('EDGE_ERR_ONVIF_PROTOCOL', 'the device description is incomplete');
  }
  const info = result.information;
  const profiles = result.profiles
    .slice(0, MAX_PROFILES)
    .filter(isRecord)
    .map((p) => ({
      token: str(p.token),
      name: str(p.name),
      encoding: str(p.encoding),
      width: int(p.width, 16_384),
      height: int(p.height, 16_384),
      fps: int(p.fps, 1000),
      streamUri: uri(p.streamUri, /^rtsps?:\/\//i),
      snapshotUri: uri(p.snapshotUri, /^https?:\/\//i),
    }))
    .filter((p) => p.token !== '');
  const usable = profiles.filter((p) => p.streamUri !== '');
  if (usable.length === 0) {
    throw new EdgeError(
      'EDGE_ERR_ONVIF_NO_STREAM',
      profiles.length === 0 ? 'the device lists no media profile' : 'no profile has an RTSP stream URI',
    );
  }
  const chosen = usable[chooseAnalysisProfile(usable)];
  return {
    information: {
      manufacturer: str(info.manufacturer),
      model: str(info.model),
      firmwareVersion: str(info.firmwareVersion),
      serialNumber: str(info.serialNumber),
      hardwareId: str(info.hardwareId),
    },
    profiles,
    analysisProfileToken: chosen?.token ?? '',
    snapshotUri: chosen?.snapshotUri ?? '',
  };
}

/** A counting semaphore: at most `n` holders. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(n: number) {
    this.free = n;
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.free += 1;
  }
}

/** The node-onvif adapter. One per agent; calls from any number of cameras share its limits. */
export class OnvifAdapter implements DeviceDescriber {
  private readonly limits: OnvifLimits;
  private readonly maxSnapshotBytes: number;
  private readonly slots: Slots;
  private readonly workers = new Set<Worker>();
  private closed = false;

  constructor(opts: OnvifAdapterOptions = {}) {
    this.limits = {
      timeoutMs: opts.timeoutMs ?? DEFAULT_ONVIF_LIMITS.timeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_ONVIF_LIMITS.requestTimeoutMs,
      maxReplyBytes: opts.maxReplyBytes ?? DEFAULT_ONVIF_LIMITS.maxReplyBytes,
      maxHeapMb: opts.maxHeapMb ?? DEFAULT_ONVIF_LIMITS.maxHeapMb,
    };
    this.maxSnapshotBytes = opts.maxSnapshotBytes ?? 8 * 1024 * 1024;
    this.slots = new Slots(Math.max(1, opts.maxConcurrent ?? 4));
  }

  /**
   * GetDeviceInformation, GetProfiles, GetStreamUri and GetSnapshotUri (node-onvif `init()`),
   * plus the choice of analysis profile. Throws EdgeError: ONVIF_AUTH, ONVIF_UNREACHABLE,
   * ONVIF_TIMEOUT, ONVIF_PROTOCOL, ONVIF_TOO_LARGE or ONVIF_NO_STREAM.
   */
  async describe(xaddr: string, credentials: OnvifCredentials | undefined): Promise<OnvifDescription> {
    if (!/^https?:\/\//i.test(xaddr)) {
      throw new EdgeError(
        'EDGE_ERR_ONVIF_PROTOCOL',
        `not an http(s) device address: ${sanitizeDetail(xaddr)}`,
      );
    }
    const result = await this.run({ op: 'describe', xaddr }, credentials, this.limits.maxReplyBytes);
    return parseDescription(result);
  }

  /** GET the snapshot URI with HTTP Digest (node-onvif's client). Throws EdgeError. */
  async fetchSnapshot(snapshotUri: string, credentials: OnvifCredentials | undefined): Promise<Snapshot> {
    if (!/^https?:\/\//i.test(snapshotUri)) {
      throw new EdgeError('EDGE_ERR_ONVIF_PROTOCOL', 'the device offers no http(s) snapshot URI');
    }
    const result = await this.run({ op: 'snapshot', uri: snapshotUri }, credentials, this.maxSnapshotBytes);
    if (!isRecord(result) || typeof result.contentType !== 'string' || !(result.body instanceof Uint8Array)) {
      throw new EdgeError('EDGE_ERR_ONVIF_PROTOCOL', 'the snapshot reply is incomplete');
    }
    const body = Buffer.from(result.body.buffer, result.body.byteOffset, result.body.byteLength);
    return { contentType: sanitizeDetail(result.contentType, 100), body };
  }

  /** Terminate running workers (agent shutdown); running and later calls fail with DISCOVERY_STOPPED. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }

  private async run(
    task: WorkerTask,
    credentials: OnvifCredentials | undefined,
    maxReplyBytes: number,
  ): Promise<unknown> {
    await this.slots.acquire();
    try {
      if (this.closed) throw new EdgeError('EDGE_ERR_DISCOVERY_STOPPED', 'the ONVIF adapter is closed');
      return await this.runWorker(task, credentials, maxReplyBytes);
    } finally {
      this.slots.release();
    }
  }

  private runWorker(
    task: WorkerTask,
    credentials: OnvifCredentials | undefined,
    maxReplyBytes: number,
  ): Promise<unknown> {
    const { timeoutMs, requestTimeoutMs, maxHeapMb } = this.limits;
    return new Promise<unknown>((resolve, reject) => {
      const worker = new Worker(WORKER_URL, {
        workerData: {
          ...task,
          user: credentials?.username ?? '',
          pass: credentials?.password ?? '',
          maxReplyBytes,
          requestTimeoutMs,
        },
        resourceLimits: {
          maxOldGenerationSizeMb: maxHeapMb,
          maxYoungGenerationSizeMb: Math.max(4, Math.round(maxHeapMb / 6)),
          stackSizeMb: 4,
        },
        // The worker's console is silenced; anything else it writes is dropped, not shown.
        stdout: true,
        stderr: true,
        // The worker needs no environment (and must not read the agent's secrets from it).
        env: {},
      });
      worker.stdout.resume();
      worker.stderr.resume();
      this.workers.add(worker);
      let done = false;
      const settle = (outcome: { ok: true; value: unknown } | { ok: false; err: EdgeError }): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.workers.delete(worker);
        // Whatever the worker still holds (sockets, a half-read reply) goes with it.
        void worker.terminate();
        if (outcome.ok) resolve(outcome.value);
        else reject(outcome.err);
      };
      const failWith = (f: OnvifFailure, detail: string): void => {
        settle({ ok: false, err: new EdgeError(classifyOnvifFailure(f), sanitizeDetail(detail)) });
      };
      const timer = setTimeout(() => {
        failWith({ kind: 'deadline' }, `no complete answer within ${timeoutMs} ms`);
      }, timeoutMs);
      worker.on('message', (msg: unknown) => {
        const reply = msg as WorkerReply;
        if (reply.ok) {
          settle({ ok: true, value: reply.result });
        } else if (reply.kind === 'too_large') {
          failWith({ kind: 'too_large' }, `a reply exceeded ${maxReplyBytes} bytes`);
        } else {
          // node-onvif wraps most errors as "Failed to initialize the device: Error: …".
          const message = (typeof reply.message === 'string' ? reply.message : 'unknown error')
            .replace(/^Failed to initialize the device: /, '')
            .replace(/^Error: /, '');
          failWith({ kind: 'error', message, timedOut: reply.timedOut }, message);
        }
      });
      worker.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          failWith({ kind: 'out_of_memory' }, `the reply needed more than ${maxHeapMb} MB to parse`);
        } else {
          failWith({ kind: 'error', message: err.message, timedOut: false }, err.message);
        }
      });
      worker.on('exit', (code) => {
        if (this.closed) {
          settle({
            ok: false,
            err: new EdgeError('EDGE_ERR_DISCOVERY_STOPPED', 'the ONVIF adapter is closed'),
          });
          return;
        }
        failWith(
          { kind: 'error', message: `worker exited (${code})`, timedOut: false },
          `ONVIF worker exited (${code})`,
        );
      });
    });
  }
}
