/** gRPC test helpers: the server on 127.0.0.1:0 and real clients (the generated grpc-js clients). */
import {
  credentials,
  Metadata,
  status,
  type CallOptions,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  AlertServiceClient,
  CameraServiceClient,
  EventServiceClient,
  SnapshotServiceClient,
} from '../../../proto/gen/sharpeyes/v1/api.ts';
import { startGrpcServer, type GrpcServer } from '../../../gateway/src/grpc/server.ts';
import type { ApiEnv } from '../fixtures-api/env.ts';

/** Clients of every service on one server. */
export interface Clients {
  events: EventServiceClient;
  cameras: CameraServiceClient;
  alerts: AlertServiceClient;
  snapshots: SnapshotServiceClient;
  close(): void;
}

export async function startServer(env: ApiEnv): Promise<GrpcServer> {
  return startGrpcServer(env.deps, { host: '127.0.0.1', port: 0 });
}

export function clients(server: GrpcServer): Clients {
  const c = credentials.createInsecure();
  const events = new EventServiceClient(server.address, c);
  const cameras = new CameraServiceClient(server.address, c);
  const alerts = new AlertServiceClient(server.address, c);
  const snapshots = new SnapshotServiceClient(server.address, c);
  return {
    events,
    cameras,
    alerts,
    snapshots,
    close() {
      for (const x of [events, cameras, alerts, snapshots]) x.close();
    },
  };
}

/** Metadata carrying an API key. */
export function auth(key: string | undefined): Metadata {
  const md = new Metadata();
  if (key !== undefined) md.set('authorization', `Bearer ${key}`);
  return md;
}

/** The request and response of a generated unary method (its last, 4-argument overload). */
type Unary<F> = F extends (
  req: infer Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: infer Res) => void,
) => unknown
  ? { req: Req; res: Res }
  : never;

/** Names of a client's unary methods. */
type UnaryName<C> = {
  [K in keyof C]: Unary<C[K]> extends never ? never : K;
}[keyof C];

/** Call unary method `name` of `client`; resolves with the response or the ServiceError (never rejects). */
export function unary<C extends object, K extends UnaryName<C>>(
  client: C,
  name: K,
  req: Unary<C[K]>['req'],
  key: string | undefined,
  deadlineMs = 20_000,
): Promise<{ res?: Unary<C[K]>['res']; err?: ServiceError }> {
  const method = client[name] as unknown as (
    req: unknown,
    md: Metadata,
    opts: Partial<CallOptions>,
    cb: (err: ServiceError | null, res: Unary<C[K]>['res']) => void,
  ) => unknown;
  return new Promise((resolve) => {
    method.call(client, req, auth(key), { deadline: Date.now() + deadlineMs }, (err, res) => {
      resolve(err === null ? { res } : { err });
    });
  });
}

/** Collect a server stream's messages until `stop(messages)` says so (then cancel), or it ends. */
export function collect<T>(
  stream: ClientReadableStream<T>,
  stop: (messages: T[]) => boolean,
): Promise<{ messages: T[]; err?: ServiceError }> {
  const messages: T[] = [];
  return new Promise((resolve) => {
    let done = false;
    const finish = (err?: ServiceError): void => {
      if (done) return;
      done = true;
      resolve({ messages, ...(err !== undefined ? { err } : {}) });
    };
    stream.on('data', (m: T) => {
      if (done) return;
      messages.push(m);
      if (stop(messages)) {
        finish();
        stream.cancel();
      }
    });
    stream.on('error', (err: ServiceError) => {
      finish(err.code === status.CANCELLED ? undefined : err);
    });
    stream.on('end', () => {
      finish();
    });
  });
}

/** The gateway error code a ServiceError carries in its trailers. */
export function gatewayCode(err: ServiceError | undefined): string | undefined {
  const v = err?.metadata.get('sharpeyes-error-code')[0];
  return v === undefined ? undefined : String(v);
}

/** The field a ServiceError names in its trailers. */
export function errorFieldOf(err: ServiceError | undefined): string | undefined {
  const v = err?.metadata.get('sharpeyes-error-field')[0];
  return v === undefined ? undefined : String(v);
}
