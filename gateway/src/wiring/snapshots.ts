/**
 * Live snapshots through the edges, over MQTT (the only way to an edge behind NAT): a
 * {@link SnapshotSource} that publishes a SnapshotRequest on `topic.snapshotRequest(site)` (QoS 0,
 * not retained) and waits for the SnapshotResponse with the same request id on
 * `topic.snapshotResponse(site, replyTo)`, where `replyTo` is this process's own level (so several
 * gateway processes each receive only their own answers).
 *
 * Its own MQTT connection with the gateway's credential (client id `<ingest id>-snapshots`), like
 * the config publisher: pictures never wait behind event deliveries, and ingest's back-pressure
 * never holds a picture.
 *
 * Failures are GatewayErrors with stable codes: the edge not answering within `timeoutMs`, the
 * broker connection down, the call cancelled (AbortSignal) or the edge unable to take the picture
 * are GATEWAY_ERR_UNAVAILABLE (the message says which); an edge too busy, or too many requests
 * waiting here, is GATEWAY_ERR_RESOURCE_EXHAUSTED.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { Counter, type Registry as PromRegistry } from 'prom-client';
import type { CameraIdentity } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import {
  SnapshotRequest,
  SnapshotStatus,
  type SnapshotResponse,
} from '../../../proto/gen/sharpeyes/v1/snapshot.ts';
import {
  decodePayload,
  encodePayload,
  filter,
  parseSnapshotTopic,
  SNAPSHOT_LIMITS,
  topic,
} from '../../../proto/topics.ts';
import { GatewayError } from '../errors.ts';
import type { DeviceSnapshotSource } from '../http/api/core/cameras.ts';
import type { Logger } from '../log.ts';
import { connectGatewayMqtt, type GatewayMqttOptions } from './mqtt-client.ts';

/** A live picture. */
export interface Snapshot {
  jpeg: Uint8Array;
  takenMs: number;
}

/** A discovered device, as a snapshot request names it. */
export type DeviceRef = Pick<CameraIdentity, 'endpointReference' | 'serialNumber'>;

/** Options of {@link MqttSnapshotSource}. */
export interface MqttSnapshotSourceOptions extends GatewayMqttOptions {
  /** The site of a registered camera (undefined: unknown camera). */
  siteOfCamera: (cameraId: string) => string | undefined;
  logger: Logger;
  metrics?: PromRegistry;
  /** Give up on an edge after this long. Default SNAPSHOT_LIMITS.defaultTimeoutMs (5 s). */
  timeoutMs?: number;
  /** Largest JPEG asked for, bytes. Default SNAPSHOT_LIMITS.defaultJpegBytes. */
  maxBytes?: number;
  /** Largest width asked for, px. Default 1280. */
  maxWidth?: number;
  /** Requests waiting for an answer at once, all sites together. Default 256. */
  maxPending?: number;
  /** This process's response level. Default `gw-<random>`. */
  replyTo?: string;
}

interface Pending {
  siteId: string;
  resolve: (s: Snapshot) => void;
  reject: (err: GatewayError) => void;
}

/** See the module comment. */
export class MqttSnapshotSource implements DeviceSnapshotSource {
  readonly #client: MqttClient;
  readonly #log: Logger;
  readonly #opts: MqttSnapshotSourceOptions;
  readonly #replyTo: string;
  readonly #pending = new Map<string, Pending>();
  readonly #outcomes: Counter<'outcome'>;
  #subscribed = false;
  #stopped = false;

  constructor(opts: MqttSnapshotSourceOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ module: 'snapshots' });
    this.#replyTo = opts.replyTo ?? `gw-${randomBytes(8).toString('hex')}`;
    this.#outcomes = new Counter({
      name: 'sharpeyes_gateway_snapshot_requests_total',
      help: 'Live snapshot requests sent to edges, by outcome (ok, edge_error, busy, timeout, cancelled, disconnected, overloaded).',
      labelNames: ['outcome'],
      registers: opts.metrics === undefined ? [] : [opts.metrics],
    });
    // A request made while disconnected is refused at once, not queued.
    this.#client = connectGatewayMqtt(opts, { queueQoSZero: false });
    this.#client.on('connect', () => {
      this.#subscribed = false;
      this.#subscribe();
    });
    this.#client.on('close', () => {
      this.#subscribed = false;
    });
    this.#client.on('error', (err) => {
      this.#log.warn({ err }, 'snapshots: broker connection error');
    });
    this.#client.on('message', (name, payload) => {
      this.#onMessage(name, payload);
    });
  }

  /** Subscribe to this gateway's answers; a refusal (the broker's ACL not loaded yet) is retried. */
  #subscribe(): void {
    this.#client.subscribe(filter.snapshotResponses(this.#replyTo), { qos: 0 }, (err, granted) => {
      const g = granted?.[0]?.qos;
      if (err !== null || g === undefined || g === 128) {
        this.#log.warn(
          { err, granted_qos: g },
          'subscription to snapshot answers refused; retrying in 5 s (live snapshots fail until then)',
        );
        setTimeout(() => {
          if (!this.#stopped && this.#client.connected && !this.#subscribed) this.#subscribe();
        }, 5000).unref();
        return;
      }
      this.#subscribed = true;
    });
  }

  /** Whether requests can be sent (connected and subscribed to the answers). */
  get ready(): boolean {
    return this.#client.connected && this.#subscribed;
  }

  /** This process's response level (`…/snapshot/res/{replyTo}`). */
  get replyTo(): string {
    return this.#replyTo;
  }

  /** Requests waiting for an answer. */
  pending(): number {
    return this.#pending.size;
  }

  snapshot(cameraId: string, signal: AbortSignal): Promise<Snapshot> {
    const siteId = this.#opts.siteOfCamera(cameraId);
    if (siteId === undefined) {
      return Promise.reject(new GatewayError('GATEWAY_ERR_NOT_FOUND', `camera ${cameraId}`));
    }
    return this.#request(siteId, { $case: 'cameraId', value: cameraId }, `camera ${cameraId}`, signal);
  }

  deviceSnapshot(siteId: string, device: DeviceRef, signal: AbortSignal): Promise<Snapshot> {
    const identity: CameraIdentity = {
      endpointReference: device.endpointReference,
      serialNumber: device.serialNumber,
      manufacturer: '',
      model: '',
      firmwareVersion: '',
      hardwareId: '',
    };
    const what = `device ${device.endpointReference || device.serialNumber}`;
    return this.#request(siteId, { $case: 'device', value: identity }, what, signal);
  }

  #request(
    siteId: string,
    target: NonNullable<SnapshotRequest['target']>,
    what: string,
    signal: AbortSignal,
  ): Promise<Snapshot> {
    const fail = (outcome: string, err: GatewayError): Promise<Snapshot> => {
      this.#outcomes.inc({ outcome });
      return Promise.reject(err);
    };
    if (signal.aborted) {
      return fail('cancelled', new GatewayError('GATEWAY_ERR_UNAVAILABLE', 'the call was cancelled'));
    }
    if (this.#stopped || !this.ready) {
      return fail(
        'disconnected',
        new GatewayError('GATEWAY_ERR_UNAVAILABLE', 'the gateway is not connected to the MQTT broker'),
      );
    }
    if (this.#pending.size >= (this.#opts.maxPending ?? 256)) {
      return fail(
        'overloaded',
        new GatewayError('GATEWAY_ERR_RESOURCE_EXHAUSTED', 'too many live snapshots are being fetched'),
      );
    }
    const timeoutMs = Math.min(
      this.#opts.timeoutMs ?? SNAPSHOT_LIMITS.defaultTimeoutMs,
      SNAPSHOT_LIMITS.maxTimeoutMs,
    );
    const requestId = randomBytes(12).toString('base64url');
    const request = SnapshotRequest.fromPartial({
      requestId,
      replyTo: this.#replyTo,
      target,
      timeoutMs,
      maxBytes: Math.min(
        this.#opts.maxBytes ?? SNAPSHOT_LIMITS.defaultJpegBytes,
        SNAPSHOT_LIMITS.maxJpegBytes,
      ),
      maxWidth: this.#opts.maxWidth ?? 1280,
      sentMs: Date.now(),
    });
    return new Promise<Snapshot>((resolve, reject) => {
      // The edge gives up at timeoutMs and answers TIMEOUT; a little more covers the way back.
      const timer = setTimeout(() => {
        done();
        this.#outcomes.inc({ outcome: 'timeout' });
        reject(
          new GatewayError(
            'GATEWAY_ERR_UNAVAILABLE',
            `the edge of site ${siteId} did not answer for ${what} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs + 1000);
      const onAbort = (): void => {
        done();
        this.#outcomes.inc({ outcome: 'cancelled' });
        reject(new GatewayError('GATEWAY_ERR_UNAVAILABLE', 'the call was cancelled or its deadline passed'));
      };
      const pending = this.#pending;
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        pending.delete(requestId);
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(requestId, {
        siteId,
        resolve: (s) => {
          done();
          this.#outcomes.inc({ outcome: 'ok' });
          resolve(s);
        },
        reject: (err) => {
          done();
          this.#outcomes.inc({
            outcome: err.code === 'GATEWAY_ERR_RESOURCE_EXHAUSTED' ? 'busy' : 'edge_error',
          });
          reject(err);
        },
      });
      this.#client
        .publishAsync(topic.snapshotRequest(siteId), encodePayload('snapshotRequest', request), {
          qos: 0,
          retain: false,
        })
        .catch((err: unknown) => {
          if (!this.#pending.has(requestId)) return;
          done();
          this.#outcomes.inc({ outcome: 'disconnected' });
          const why = err instanceof Error ? err.message : String(err);
          reject(new GatewayError('GATEWAY_ERR_UNAVAILABLE', `the request could not be sent: ${why}`));
        });
    });
  }

  #onMessage(name: string, payload: Buffer): void {
    const parsed = parseSnapshotTopic(name);
    if (parsed?.kind !== 'snapshotResponse' || parsed.replyTo !== this.#replyTo) return;
    if (payload.length > SNAPSHOT_LIMITS.maxResponseBytes) {
      this.#log.warn({ topic: name, bytes: payload.length }, 'oversized snapshot answer dropped');
      return;
    }
    let response: SnapshotResponse;
    try {
      response = decodePayload('snapshotResponse', payload);
    } catch (err) {
      this.#log.warn({ err, topic: name }, 'undecodable snapshot answer dropped');
      return;
    }
    const pending = this.#pending.get(response.requestId);
    // Late (timed out, cancelled) answers, and answers from a site that was not asked, are dropped.
    if (pending === undefined) return;
    if (pending.siteId !== parsed.site || response.siteId !== parsed.site) {
      this.#log.warn(
        { topic: name, site_id: response.siteId, asked: pending.siteId },
        'snapshot answer from the wrong site dropped',
      );
      return;
    }
    if (response.status === SnapshotStatus.SNAPSHOT_STATUS_OK) {
      if (
        response.jpeg.length === 0 ||
        response.jpeg.length > SNAPSHOT_LIMITS.maxJpegBytes ||
        !isJpeg(response.jpeg)
      ) {
        pending.reject(
          new GatewayError('GATEWAY_ERR_UNAVAILABLE', `the edge of site ${parsed.site} sent no valid JPEG`),
        );
        return;
      }
      pending.resolve({ jpeg: response.jpeg, takenMs: response.takenMs });
      return;
    }
    pending.reject(edgeError(parsed.site, response));
  }

  /** Fail every waiting request, disconnect. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const p of [...this.#pending.values()]) {
      p.reject(new GatewayError('GATEWAY_ERR_UNAVAILABLE', 'the gateway is stopping'));
    }
    await this.#client.endAsync();
  }
}

function isJpeg(b: Uint8Array): boolean {
  return b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

const EDGE_STATUS: Partial<Record<SnapshotStatus, string>> = {
  [SnapshotStatus.SNAPSHOT_STATUS_NOT_FOUND]: 'EDGE_NOT_FOUND',
  [SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE]: 'EDGE_UNAVAILABLE',
  [SnapshotStatus.SNAPSHOT_STATUS_BUSY]: 'EDGE_BUSY',
  [SnapshotStatus.SNAPSHOT_STATUS_TIMEOUT]: 'EDGE_TIMEOUT',
  [SnapshotStatus.SNAPSHOT_STATUS_TOO_LARGE]: 'EDGE_TOO_LARGE',
  [SnapshotStatus.SNAPSHOT_STATUS_AUTH_FAILED]: 'EDGE_AUTH_FAILED',
  [SnapshotStatus.SNAPSHOT_STATUS_BAD_REQUEST]: 'EDGE_BAD_REQUEST',
};

/** The GatewayError of an edge's refusal; the message starts with the edge's status name. */
function edgeError(siteId: string, r: SnapshotResponse): GatewayError {
  const status = EDGE_STATUS[r.status] ?? 'EDGE_UNKNOWN_STATUS';
  const detail = `${status}: the edge of site ${siteId} answered: ${r.message.slice(0, 300) || 'no picture'}`;
  if (r.status === SnapshotStatus.SNAPSHOT_STATUS_BUSY) {
    return new GatewayError('GATEWAY_ERR_RESOURCE_EXHAUSTED', detail);
  }
  return new GatewayError('GATEWAY_ERR_UNAVAILABLE', detail);
}
