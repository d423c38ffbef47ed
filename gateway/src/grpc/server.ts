/**
 * The gRPC API for integrators (@grpc/grpc-js, messages and services from proto/): EventService,
 * CameraService, AlertService, SnapshotService, plus the standard health service
 * (grpc-health-check) and server reflection (@grpc/reflection, descriptors loaded from the same
 * .proto files), on `api.grpc.host:port`, plaintext or TLS.
 *
 * Semantics are the REST API's: every method calls the same service functions (http/api/core),
 * so authorisation, area scope, reasons, audit and limits are shared. Around every call:
 * - an API key in the metadata (`authorization: Bearer se_…` or `x-api-key: se_…`), else
 *   UNAUTHENTICATED; the per-key rate and stream limits (RESOURCE_EXHAUSTED);
 * - deadlines: the client's is respected (work stops when the call is cancelled); a unary call
 *   without one gets `api.grpc.default_deadline_ms`;
 * - errors as statuses (INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND,
 *   RESOURCE_EXHAUSTED, UNAVAILABLE, …) with trailers `sharpeyes-error-code` (the stable gateway
 *   code) and `sharpeyes-error-field` (for bad input).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { format } from 'node:util';
import {
  logVerbosity,
  Metadata,
  Server,
  setLogger,
  setLogVerbosity,
  ServerCredentials,
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import {
  AlertServiceService,
  CameraServiceService,
  EventServiceService,
  EvidencePart,
  SnapshotServiceService,
  StreamEventsResponse,
  type AlertServiceServer,
  type CameraServiceServer,
  type EventServiceServer,
  type SnapshotServiceServer,
} from '../../../proto/gen/sharpeyes/v1/api.ts';
import { GatewayError } from '../errors.ts';
import { acknowledgeAlert, listAlerts, prepareAlertStream } from '../http/api/core/alerts.ts';
import { getCamera, getSnapshot, listCameras, prepareStatusWatch } from '../http/api/core/cameras.ts';
import { authenticate, limiterOf, type AccessContext } from '../http/api/core/context.ts';
import { errorField, grpcStatusOf, toApiError } from '../http/api/core/errors.ts';
import {
  getEvent,
  getEvidence,
  prepareEventStream,
  searchEvents,
  withEvidence,
} from '../http/api/core/events.ts';
import type { GatewayDeps } from '../http/api/deps.ts';
import { encodedEvent } from '../live/bus.ts';
import type { Logger } from '../log.ts';
import {
  alertChangeToProto,
  alertToProto,
  areaOfPlace,
  cameraToProto,
  filterOf,
  lifecyclesOf,
} from './convert.ts';

/** Where the .proto files are (served by reflection). */
export const PROTO_ROOT = join(import.meta.dirname, '..', '..', '..', 'proto');

/** The services this server implements (full names), as health and reflection list them. */
export const GRPC_SERVICES = [
  'sharpeyes.v1.EventService',
  'sharpeyes.v1.CameraService',
  'sharpeyes.v1.AlertService',
  'sharpeyes.v1.SnapshotService',
] as const;

/**
 * StreamEventsResponse on the wire. An event from the live bus is sent as the bytes the bus
 * already encoded (an embedded message is length-delimited bytes on the wire), so fan-out to many
 * subscribers encodes each event once, not once per subscriber; anything else is encoded normally.
 */
function serializeStreamResponse(value: StreamEventsResponse): Buffer {
  const single = value.event === undefined ? undefined : encodedEvent(value.event);
  const many = value.events.map(encodedEvent);
  if ((value.event !== undefined && single === undefined) || many.some((b) => b === undefined)) {
    return Buffer.from(StreamEventsResponse.encode(value).finish());
  }
  const cursor = Buffer.from(value.cursor, 'latin1');
  const parts: Buffer[] = [];
  const field = (tag: number, bytes: Uint8Array): void => {
    parts.push(Buffer.from(new BinaryWriter().uint32(tag).uint32(bytes.length).finish()));
    parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };
  if (single !== undefined) field(10, single);
  if (cursor.length > 0) field(18, cursor);
  if (value.replay) parts.push(Buffer.from([24, 1]));
  for (const b of many) if (b !== undefined) field(34, b);
  return Buffer.concat(parts);
}

/** EventService with the fan-out serializer for StreamEvents. */
const EventService = {
  ...EventServiceService,
  streamEvents: { ...EventServiceService.streamEvents, responseSerialize: serializeStreamResponse },
} as const;

/** A running gRPC server. */
export interface GrpcServer {
  /** The bound port. */
  readonly port: number;
  /** `host:port` for clients. */
  readonly address: string;
  /** Whether TLS is on. */
  readonly tls: boolean;
  /** Stop: health NOT_SERVING, open streams ended with UNAVAILABLE, calls drained up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Overrides of the `api.grpc` config section (tests: port 0). */
export interface GrpcServerOverrides {
  host?: string;
  port?: number;
}

interface Runtime {
  deps: GatewayDeps;
  log: Logger;
  defaultDeadlineMs: number;
  streams: Set<AbortController>;
  stopping: boolean;
}

function firstString(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
}

function contextOf(
  rt: Runtime,
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
): AccessContext {
  const principal = authenticate(rt.deps, {
    authorization: firstString(call.metadata, 'authorization'),
    apiKey: firstString(call.metadata, 'x-api-key'),
  });
  if (principal === undefined) {
    throw new GatewayError(
      'GATEWAY_ERR_UNAUTHENTICATED',
      'send an API key in the metadata: "authorization: Bearer se_…" or "x-api-key: se_…"',
    );
  }
  limiterOf(rt.deps).take(principal);
  return { principal, via: 'grpc', sourceAddress: call.getPeer() };
}

function toServiceError(rt: Runtime, err: unknown): Partial<ServiceError> {
  const { body, internal } = toApiError(err);
  if (internal) rt.log.error({ err }, 'gRPC call failed');
  const md = new Metadata();
  md.set('sharpeyes-error-code', body.error.code);
  const field = err instanceof GatewayError ? errorField(err) : undefined;
  if (field !== undefined) md.set('sharpeyes-error-field', field);
  return { code: status[grpcStatusOf(body.error.code)], details: body.error.message, metadata: md };
}

function remainingMs(deadline: Date | number): number | undefined {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : undefined;
}

function unary<Req, Res>(
  rt: Runtime,
  fn: (ctx: AccessContext, req: Req, signal: AbortSignal) => Promise<Res> | Res,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const remaining = remainingMs(call.getDeadline()) ?? rt.defaultDeadlineMs;
    if (remaining <= 0) {
      callback({ code: status.DEADLINE_EXCEEDED, details: 'the deadline passed before the call started' });
      return;
    }
    const ac = new AbortController();
    let done = false;
    const timer = setTimeout(() => {
      ac.abort();
      finish({ code: status.DEADLINE_EXCEEDED, details: 'deadline exceeded' });
    }, remaining);
    const finish = (err: Partial<ServiceError> | null, res?: Res): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err !== null) callback(err);
      else callback(null, res);
    };
    call.on('cancelled', () => {
      // grpc-js also reports a call that already answered as cancelled when its stream closes.
      if (!done) ac.abort();
    });
    Promise.resolve()
      .then(() => fn(contextOf(rt, call as ServerUnaryCall<unknown, unknown>), call.request, ac.signal))
      .then(
        (res) => {
          finish(null, res);
        },
        (err: unknown) => {
          finish(toServiceError(rt, err));
        },
      );
  };
}

function serverStream<Req, Res>(
  rt: Runtime,
  fn: (
    ctx: AccessContext,
    req: Req,
    write: (msg: Res) => Promise<void> | undefined,
    signal: AbortSignal,
  ) => Promise<unknown>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const ac = new AbortController();
    let cancelled = false;
    call.on('cancelled', () => {
      cancelled = true;
      ac.abort();
    });
    rt.streams.add(ac);
    /** Write; a promise (resolved on 'drain') only when the transport's buffer is full. */
    const write = (msg: Res): Promise<void> | undefined => {
      if (ac.signal.aborted || call.write(msg)) return undefined;
      return new Promise((resolve) => {
        const done = (): void => {
          call.off('drain', done);
          ac.signal.removeEventListener('abort', done);
          resolve();
        };
        call.on('drain', done);
        ac.signal.addEventListener('abort', done, { once: true });
      });
    };
    Promise.resolve()
      .then(() =>
        fn(contextOf(rt, call as ServerWritableStream<unknown, unknown>), call.request, write, ac.signal),
      )
      .then(
        () => {
          if (cancelled) return;
          if (rt.stopping)
            call.emit(
              'error',
              toServiceError(
                rt,
                new GatewayError(
                  'GATEWAY_ERR_UNAVAILABLE',
                  'the gateway is stopping; resume from the last cursor',
                ),
              ),
            );
          else call.end();
        },
        (err: unknown) => {
          if (!cancelled) call.emit('error', toServiceError(rt, err));
        },
      )
      .finally(() => {
        rt.streams.delete(ac);
      });
  };
}

function pageSize(deps: GatewayDeps, requested: number): number {
  const c = deps.config.rest;
  return requested > 0 ? Math.min(requested, c.max_page_size) : c.default_page_size;
}

function services(rt: Runtime): {
  events: EventServiceServer;
  cameras: CameraServiceServer;
  alerts: AlertServiceServer;
  snapshots: SnapshotServiceServer;
} {
  const { deps } = rt;
  return {
    events: {
      searchEvents: unary(rt, async (ctx, req, signal) => {
        const { area, ...filter } = filterOf(req.filter);
        const page = await searchEvents(deps, ctx, {
          ...filter,
          ...(area !== undefined ? { area } : {}),
          reason: req.reason,
          fromMs: req.fromMs,
          toMs: req.toMs,
          ...(req.pageSize !== 0 ? { limit: req.pageSize } : {}),
          ...(req.pageToken !== '' ? { cursor: req.pageToken } : {}),
          includeEvidence: req.includeEvidence,
          signal,
        });
        return { events: page.events, nextPageToken: page.nextCursor ?? '' };
      }),
      getEvent: unary(rt, async (ctx, req, signal) => {
        const r = await getEvent(deps, ctx, {
          reason: req.reason,
          eventId: req.eventId,
          includeEvidence: req.includeEvidence,
          signal,
        });
        const ev = r.event.evidence;
        return {
          event:
            ev === undefined || !req.includeEvidence
              ? r.event
              : {
                  ...r.event,
                  evidence: {
                    ...ev,
                    jpeg: Buffer.from(r.crop ?? new Uint8Array(0)),
                    contextJpeg: Buffer.from(r.context ?? new Uint8Array(0)),
                  },
                },
        };
      }),
      getEvidence: unary(rt, async (ctx, req, signal) => {
        const part = req.part === EvidencePart.EVIDENCE_PART_CONTEXT ? 'context' : 'crop';
        const r = await getEvidence(deps, ctx, { reason: req.reason, eventId: req.eventId, part, signal });
        return {
          eventId: r.eventId,
          part: part === 'context' ? EvidencePart.EVIDENCE_PART_CONTEXT : EvidencePart.EVIDENCE_PART_CROP,
          jpeg: Buffer.from(r.jpeg),
          sha256: r.sha256,
        };
      }),
      streamEvents: serverStream(rt, async (ctx, req, write, signal) => {
        const { area, ...filter } = filterOf(req.filter);
        const stream = prepareEventStream(deps, ctx, {
          ...filter,
          ...(area !== undefined ? { area } : {}),
          reason: req.reason,
          ...(req.resumeCursor !== '' ? { cursor: req.resumeCursor } : {}),
          ...(req.fromMs !== 0 ? { fromMs: req.fromMs } : {}),
          includeEvidence: req.includeEvidence,
          cursorField: 'resume_cursor',
          maxBatch: req.maxBatch,
        });
        return stream.run(
          {
            send: (m) => {
              if (m.event === undefined) return write({ cursor: m.cursor, replay: m.replay, events: [] });
              if (!req.includeEvidence)
                return write({ event: m.event, cursor: m.cursor, replay: m.replay, events: [] });
              const event = m.event;
              return (async () => {
                await write({
                  event: await withEvidence(deps, event),
                  cursor: m.cursor,
                  replay: m.replay,
                  events: [],
                });
              })();
            },
            sendBatch: (events, cursor) => {
              if (!req.includeEvidence) return write({ events, cursor, replay: false });
              return (async () => {
                const full = await Promise.all(events.map((e) => withEvidence(deps, e)));
                await write({ events: full, cursor, replay: false });
              })();
            },
          },
          signal,
        );
      }),
    },
    cameras: {
      listCameras: unary(rt, (ctx, req) => {
        const area = areaOfPlace(req.area, 'area');
        const lifecycles = lifecyclesOf(req.lifecycles);
        const page = listCameras(deps, ctx, {
          ...(area !== undefined ? { area } : {}),
          ...(req.siteId !== '' ? { siteId: req.siteId } : {}),
          ...(lifecycles.length > 0 ? { lifecycles } : {}),
          limit: pageSize(deps, req.pageSize),
          ...(req.pageToken !== '' ? { cursor: req.pageToken } : {}),
        });
        return {
          cameras: page.items.map((c) => cameraToProto(c, deps.cameraStatus?.latest(c.cameraId))),
          nextPageToken: page.nextCursor ?? '',
        };
      }),
      getCamera: unary(rt, (ctx, req) => {
        const r = getCamera(deps, ctx, req.cameraId);
        return {
          camera: cameraToProto(r.camera, r.status),
          ...(r.status !== undefined ? { status: r.status } : {}),
        };
      }),
      watchCameraStatus: serverStream(rt, (ctx, req, write, signal) => {
        const area = areaOfPlace(req.area, 'area');
        const watch = prepareStatusWatch(deps, ctx, {
          ...(area !== undefined ? { area } : {}),
          cameraIds: req.cameraIds,
          initial: req.initial,
        });
        return watch.run((status) => write({ status }), signal);
      }),
    },
    alerts: {
      listAlerts: unary(rt, (ctx, req) => {
        const page = listAlerts(deps, ctx, {
          open: req.openOnly,
          limit: pageSize(deps, req.pageSize),
          ...(req.pageToken !== '' ? { cursor: req.pageToken } : {}),
        });
        return { alerts: page.items.map(alertToProto), nextPageToken: page.nextCursor ?? '' };
      }),
      streamAlerts: serverStream(rt, (ctx, req, write, signal) => {
        const stream = prepareAlertStream(deps, ctx, { includeOpen: req.includeOpen });
        return stream.run(
          (item) => write({ alert: alertToProto(item.alert), change: alertChangeToProto(item.change) }),
          signal,
        );
      }),
      acknowledgeAlert: unary(rt, (ctx, req) => ({
        alert: alertToProto(acknowledgeAlert(deps, ctx, req.alertId, req.note === '' ? undefined : req.note)),
      })),
    },
    snapshots: {
      getSnapshot: unary(rt, async (ctx, req, signal) => {
        const r = await getSnapshot(deps, ctx, { reason: req.reason, cameraId: req.cameraId }, signal);
        return {
          cameraId: r.cameraId,
          jpeg: Buffer.from(r.jpeg),
          sha256: createHash('sha256').update(r.jpeg).digest('hex'),
          takenMs: r.takenMs,
        };
      }),
    },
  };
}

function credentials(deps: GatewayDeps): ServerCredentials {
  const tls = deps.config.grpc.tls;
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.ca_file === undefined ? null : readFileSync(tls.ca_file),
    [{ private_key: readFileSync(tls.key_file), cert_chain: readFileSync(tls.cert_file) }],
    tls.require_client_cert,
  );
}

/** Build and start the gRPC server. */
export async function startGrpcServer(
  deps: GatewayDeps,
  overrides: GrpcServerOverrides = {},
): Promise<GrpcServer> {
  const cfg = deps.config.grpc;
  const log = deps.logger.child({ module: 'grpc' });
  // grpc-js writes its own diagnostics to the console: route its errors to our log instead.
  setLogVerbosity(logVerbosity.ERROR);
  setLogger({
    error: (...args: unknown[]) => {
      log.warn({ grpc_js: format(...args) }, 'grpc-js');
    },
  });
  const rt: Runtime = {
    deps,
    log,
    defaultDeadlineMs: cfg.default_deadline_ms,
    streams: new Set(),
    stopping: false,
  };
  const server = new Server({
    'grpc.max_receive_message_length': cfg.max_message_bytes,
    'grpc.max_send_message_length': cfg.max_message_bytes,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const impl = services(rt);
  server.addService(EventService, impl.events);
  server.addService(CameraServiceService, impl.cameras);
  server.addService(AlertServiceService, impl.alerts);
  server.addService(SnapshotServiceService, impl.snapshots);

  const health = new HealthImplementation({
    '': 'SERVING',
    ...Object.fromEntries(GRPC_SERVICES.map((s) => [s, 'SERVING'])),
  });
  health.addToServer(server);
  // Reflection serves the descriptors of our .proto files and of the health service.
  const pkg = loadSync([join('sharpeyes', 'v1', 'api.proto'), join('health', 'v1', 'health.proto')], {
    includeDirs: [PROTO_ROOT, dirname(dirname(dirname(healthProtoPath)))],
    keepCase: true,
  });
  new ReflectionService(pkg).addToServer(server);

  const host = overrides.host ?? cfg.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host.includes(':') ? `[${host}]` : host}:${overrides.port ?? cfg.port}`,
      credentials(deps),
      (err, bound) => {
        if (err !== null)
          reject(
            new GatewayError('GATEWAY_ERR_CONFIG', `gRPC cannot listen on ${host}: ${err.message}`, {
              cause: err,
            }),
          );
        else resolve(bound);
      },
    );
  });
  log.info({ host, port, tls: cfg.tls !== undefined }, 'gRPC API listening');
  let stopped: Promise<void> | undefined;
  return {
    port,
    address: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: cfg.tls !== undefined,
    stop(graceMs = 5000) {
      stopped ??= (async () => {
        rt.stopping = true;
        for (const s of ['', ...GRPC_SERVICES]) health.setStatus(s, 'NOT_SERVING');
        for (const ac of rt.streams) ac.abort();
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, graceMs);
          server.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
        log.info('gRPC API stopped');
      })();
      return stopped;
    },
  };
}
