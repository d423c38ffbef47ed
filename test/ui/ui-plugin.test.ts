/**
 * gateway/src/http/ui.ts: the built UI served under /ui/ with SPA fallback, caching, CSP, the
 * UI config and the root redirect. Uses a small stand-in build (index.html + one hashed asset)
 * so this test does not depend on running Vite; pages.test.ts serves the real build.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUi, tileOrigin, uiContentSecurityPolicy } from '../../gateway/src/http/ui.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';

let base: TempDir;
let distDir: string;
let app: FastifyInstance;

beforeAll(async () => {
  // <base>/outside.txt must never be reachable from <base>/dist.
  base = makeTempDir('ui-dist');
  distDir = join(base.path, 'dist');
  mkdirSync(join(distDir, 'assets'), { recursive: true });
  writeFileSync(join(base.path, 'outside.txt'), 'outside-secret');
  writeFileSync(join(distDir, 'index.html'), '<!doctype html><title>ui</title><div id="app"></div>');
  writeFileSync(join(distDir, 'assets', 'index-AbC123.js'), 'console.log(1);');
  writeFileSync(join(distDir, '.secret'), 'dot-secret');
  app = Fastify();
  app.get('/api/v1/ping', () => ({ ok: true }));
  await registerUi(app, {
    distDir,
    tileUrl: 'http://{s}.tiles.local:8080/{z}/{x}/{y}.png',
    tileAttribution: '© local',
  });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  base.remove();
});

describe('registerUi', () => {
  it('serves index.html at the prefix with no-cache and a strict CSP', async () => {
    const res = await app.inject({ method: 'GET', url: '/ui/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('<div id="app">');
    expect(res.headers['cache-control']).toBe('no-cache');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain('http://*.tiles.local:8080');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves hashed assets as immutable', async () => {
    const res = await app.inject({ method: 'GET', url: '/ui/assets/index-AbC123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.body).toBe('console.log(1);');
  });

  it('falls back to index.html for deep links, but not for missing files', async () => {
    const deep = await app.inject({ method: 'GET', url: '/ui/search/anything' });
    expect(deep.statusCode).toBe(200);
    expect(deep.body).toContain('<div id="app">');
    const missing = await app.inject({ method: 'GET', url: '/ui/assets/index-gone.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).not.toContain('<div id="app">');
  });

  it('never serves files outside the build or dotfiles', async () => {
    const urls = [
      '/ui/../outside.txt',
      '/ui/%2e%2e/outside.txt',
      '/ui/..%2foutside.txt',
      '/ui/assets/..%2f..%2foutside.txt',
      '/ui/assets/%2e%2e%2f%2e%2e%2foutside.txt',
      '/ui/.secret',
      '/ui/assets/..%2f.secret',
    ];
    for (const url of urls) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.body, url).not.toContain('outside-secret');
      expect(res.body, url).not.toContain('dot-secret');
    }
  });

  it('serves the UI config', async () => {
    const res = await app.inject({ method: 'GET', url: '/ui/config.json' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      tile_url: 'http://{s}.tiles.local:8080/{z}/{x}/{y}.png',
      tile_attribution: '© local',
      tile_max_zoom: 18,
    });
  });

  it('redirects / and the bare prefix to the UI, and leaves other routes alone', async () => {
    expect((await app.inject({ method: 'GET', url: '/' })).headers.location).toBe('/ui/');
    expect((await app.inject({ method: 'GET', url: '/ui' })).headers.location).toBe('/ui/');
    const api = await app.inject({ method: 'GET', url: '/api/v1/ping' });
    expect(api.json()).toEqual({ ok: true });
    expect(api.headers['content-security-policy']).toBeUndefined();
  });

  it('stays out of the OpenAPI document', async () => {
    const other = Fastify();
    await other.register(swagger, { openapi: { info: { title: 't', version: '1' } } });
    other.get('/api/v1/ping', { schema: { response: { 200: { type: 'object' } } } }, () => ({}));
    await registerUi(other, { distDir });
    await other.ready();
    const paths = Object.keys((other.swagger() as { paths?: Record<string, unknown> }).paths ?? {});
    expect(paths).toContain('/api/v1/ping');
    expect(paths.filter((p) => p === '/' || p.startsWith('/ui'))).toEqual([]);
    await other.close();
  });

  it('keeps an existing / route and refuses a missing build', async () => {
    const other = Fastify();
    other.get('/', () => 'mine');
    await registerUi(other, { distDir });
    expect((await other.inject({ method: 'GET', url: '/' })).body).toBe('mine');
    await other.close();
    const empty = makeTempDir('ui-empty');
    try {
      await expect(registerUi(Fastify(), { distDir: empty.path })).rejects.toThrow(/not built/);
    } finally {
      empty.remove();
    }
  });
});

describe('tile origin and CSP', () => {
  it.each([
    ['', undefined],
    ['http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png', 'http://127.0.0.1:8080'],
    ['https://{s}.tile.example/{z}/{x}/{y}.png', 'https://*.tile.example'],
    ['javascript:alert(1)//{z}', undefined],
    ['not a url', undefined],
  ])('%s → %s', (url, origin) => {
    expect(tileOrigin(url)).toBe(origin);
    const csp = uiContentSecurityPolicy(url);
    expect(csp).toContain("img-src 'self' blob: data:");
    if (origin !== undefined) expect(csp).toContain(origin);
  });
});
