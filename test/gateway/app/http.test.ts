/** The operations endpoints, through fastify's inject. */
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildHttpApp, type ComponentHealth } from '../../../gateway/src/http/server.ts';
import { silentLogger } from '../../../gateway/src/log.ts';

describe('http', () => {
  it('reports health (200 even when degraded) and serves metrics', async () => {
    const registry = new Registry();
    new Counter({ name: 'sharpeyes_gateway_test_total', help: 'test', registers: [registry] }).inc(3);
    let components: Record<string, ComponentHealth> = { ingest: { state: 'ok' } };
    const app = buildHttpApp({
      registry,
      version: '9.9.9',
      components: () => components,
      logger: silentLogger(),
    });
    let res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ok',
      version: '9.9.9',
      components: { ingest: { state: 'ok' } },
    });
    components = {
      ingest: { state: 'ok' },
      index: { state: 'degraded', detail: 'writes failing, retrying' },
    };
    res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'degraded', components: { index: { state: 'degraded' } } });
    res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(/^sharpeyes_gateway_test_total 3$/m);
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
    await app.close();
  });
});
