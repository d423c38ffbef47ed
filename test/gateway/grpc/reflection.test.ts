/**
 * An independent client that is given no .proto file of ours: it speaks only the standard
 * reflection protocol (its definition ships with @grpc/reflection), lists the server's services,
 * fetches the descriptors of EventService over the wire, builds a client from them with
 * @grpc/proto-loader and calls SearchEvents with plain objects — as grpcurl or any integrator
 * tool would.
 */
import { join } from 'node:path';
import { createRequire } from 'node:module';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type ClientDuplexStream,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GrpcServer } from '../../../gateway/src/grpc/server.ts';
import { startApiEnv, type ApiEnv } from '../fixtures-api/env.ts';
import { startServer } from './helpers.ts';

let env: ApiEnv;
let server: GrpcServer;

beforeAll(async () => {
  env = await startApiEnv();
  server = await startServer(env);
  await env.addEvent({ cameraId: 'cam-a1', siteId: 'site-a', plate: '京A31415' });
}, 120_000);

afterAll(async () => {
  await server.stop();
  await env.stop();
});

/** The reflection protocol's own definition, from the @grpc/reflection package. */
const REFLECTION_PROTO = join(
  createRequire(import.meta.url)
    .resolve('@grpc/reflection')
    .replace(/build[/\\]src[/\\]index\.js$/, ''),
  'build',
  'proto',
  'grpc',
  'reflection',
  'v1',
  'reflection.proto',
);

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

type ReflectionStream = ClientDuplexStream<Record<string, unknown>, ReflectionResponse>;

/** Ask one reflection question on a fresh stream. */
function ask(address: string, request: Record<string, unknown>): Promise<ReflectionResponse> {
  const def = loadSync(REFLECTION_PROTO, { keepCase: true });
  const pkg = loadPackageDefinition(def) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: ServiceClientConstructor } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(
    address,
    credentials.createInsecure(),
  ) as unknown as {
    ServerReflectionInfo(): ReflectionStream;
    close(): void;
  };
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (res: ReflectionResponse) => {
      resolve(res);
      call.end();
      client.close();
    });
    call.on('error', (err: Error) => {
      reject(err);
      client.close();
    });
    call.write(request);
  });
}

/** A FileDescriptorSet (field 1, repeated FileDescriptorProto) from serialized files. */
function descriptorSet(files: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const len: number[] = [];
    let n = f.length;
    while (n > 127) {
      len.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    len.push(n);
    parts.push(Buffer.from([0x0a, ...len]), f);
  }
  return Buffer.concat(parts);
}

describe('a reflection-only client', () => {
  it('lists the services and calls SearchEvents from descriptors fetched over the wire', async () => {
    const listed = await ask(server.address, { list_services: '' });
    const names = (listed.list_services_response?.service ?? []).map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'sharpeyes.v1.EventService',
        'sharpeyes.v1.CameraService',
        'sharpeyes.v1.AlertService',
        'sharpeyes.v1.SnapshotService',
        'grpc.health.v1.Health',
      ]),
    );

    const files = await ask(server.address, { file_containing_symbol: 'sharpeyes.v1.EventService' });
    const protos = files.file_descriptor_response?.file_descriptor_proto ?? [];
    expect(protos.length).toBeGreaterThanOrEqual(1);
    const def = loadFileDescriptorSetFromBuffer(descriptorSet(protos), {
      keepCase: true,
      longs: Number,
      enums: String,
    });
    const pkg = loadPackageDefinition(def) as unknown as {
      sharpeyes: { v1: { EventService: ServiceClientConstructor } };
    };
    const client = new pkg.sharpeyes.v1.EventService(
      server.address,
      credentials.createInsecure(),
    ) as unknown as {
      SearchEvents(
        req: Record<string, unknown>,
        md: Metadata,
        cb: (
          err: ServiceError | null,
          res: { events: { event_id: string; kind: string; plate?: { text: string } }[] },
        ) => void,
      ): void;
      close(): void;
    };
    try {
      const md = new Metadata();
      md.set('authorization', `Bearer ${env.keys.keyA}`);
      const now = Date.now();
      const res = await new Promise<{
        events: { event_id: string; kind: string; plate?: { text: string } }[];
      }>((resolve, reject) => {
        client.SearchEvents(
          {
            reason: 'case 2025-XS-0815 reflection client',
            from_ms: now - 3_600_000,
            to_ms: now + 60_000,
            filter: { plate: '京A31415' },
          },
          md,
          (err, r) => {
            if (err !== null) reject(err);
            else resolve(r);
          },
        );
      });
      expect(res.events).toHaveLength(1);
      expect(res.events[0]).toMatchObject({ kind: 'EVENT_KIND_PLATE', plate: { text: '京A31415' } });
    } finally {
      client.close();
    }
  }, 60_000);
});
