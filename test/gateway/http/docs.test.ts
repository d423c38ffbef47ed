/**
 * The OpenAPI document and its UI: every API route is documented with its parameters, a success
 * response and the common error body; /docs serves the interactive UI. No database or index is
 * data is needed, but the real environment is used so the app is exactly the one the other
 * tests exercise.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiEnv, type ApiEnv } from '../fixtures-api/env.ts';
import { buildApiApp } from './helpers.ts';

let env: ApiEnv;
let app: FastifyInstance;

beforeAll(async () => {
  env = await startApiEnv();
  app = await buildApiApp(env);
}, 120_000);

afterAll(async () => {
  await app.close();
  await env.stop();
});

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  summary?: string;
}

describe('OpenAPI and /docs', () => {
  it('documents every API route with a summary, a success response and the error body', async () => {
    const r = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json<{ openapi: string; paths: Record<string, Record<string, Operation>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    const ops = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/api/v1/'))
      .flatMap(([p, methods]) =>
        Object.entries(methods).map(([m, op]) => ({ id: `${m.toUpperCase()} ${p}`, op })),
      );
    expect(ops.length).toBeGreaterThanOrEqual(40);
    for (const { id, op } of ops) {
      expect(op.summary, id).toBeTruthy();
      const codes = Object.keys(op.responses);
      expect(
        codes.some((c) => /^2\d\d$/.test(c)),
        `${id} has a success response`,
      ).toBe(true);
      if (!id.startsWith('POST /api/v1/auth/')) {
        const err = op.responses['400']?.content?.['application/json']?.schema;
        expect(JSON.stringify(err), `${id} documents the error body`).toContain('"code"');
      }
    }
    const search = doc.paths['/api/v1/events']?.get;
    expect(search?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['reason', 'from_ms', 'to_ms', 'plate', 'cursor']),
    );
    expect(doc.paths['/api/v1/cameras']?.post?.requestBody).toBeDefined();
  });

  it('serves the interactive UI at /docs', async () => {
    const r = await app.inject({ method: 'GET', url: '/docs/' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/html/);
    expect(r.body).toMatch(/swagger/i);
  });

  it('leaves the operations routes alone', async () => {
    const r = await app.inject({ method: 'GET', url: '/healthz' });
    expect(r.statusCode).toBe(200);
  });
});
