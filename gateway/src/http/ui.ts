/**
 * The web UI, served by the gateway: the Vite build in `distDir` (gateway/ui/dist, made by
 * `scripts/build-ui.sh`) under `/ui/`, with `GET /` redirecting there when nothing else owns it.
 *
 * - Files are served by @fastify/static (hashed assets cached for a year as immutable;
 *   index.html and config.json never cached, so a new build is picked up at once).
 * - SPA fallback: a path under /ui/ that names no file and has no file extension gets
 *   index.html (the UI routes with the hash, but a bookmarked deep link still opens the app); a
 *   missing asset (`.js`, `.png`, …) stays a 404 rather than HTML the browser cannot run.
 * - `GET /ui/config.json`: the UI's settings (the offline tile server), so one build serves
 *   every deployment.
 * - Every UI answer carries a strict Content-Security-Policy (scripts and connections to this
 *   origin only; images also from blob: URLs and the tile server), no referrer, no framing.
 *
 * The UI talks only to the public REST API under /api/v1; this plugin adds no API of its own.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifySchema } from 'fastify';

/** Options of {@link registerUi}. */
export interface UiOptions {
  /** The built UI (holds index.html). */
  distDir: string;
  /** URL prefix, with leading and trailing slash. Default `/ui/`. */
  prefix?: string;
  /**
   * `{z}/{x}/{y}` URL template of an offline tile server (`{s}` allowed). Empty or absent: the
   * UI draws cameras on a plain coordinate canvas.
   */
  tileUrl?: string;
  /** Attribution shown on tiled maps. */
  tileAttribution?: string;
  /** Highest zoom the tile server has (default 18). */
  tileMaxZoom?: number;
  /** Redirect `GET /` to the UI when no route owns `/` (default true). */
  redirectRoot?: boolean;
}

/** The body of `GET /ui/config.json`. */
export interface UiConfigJson {
  tile_url: string;
  tile_attribution: string;
  tile_max_zoom: number;
}

/** Origin of a tile URL template, for the CSP (`{s}` subdomains become a wildcard). */
export function tileOrigin(tileUrl: string): string | undefined {
  if (tileUrl === '') return undefined;
  try {
    const u = new URL(tileUrl.replace(/\{s\}/g, 'tile-subdomain').replace(/\{[a-z]+\}/g, '0'));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return `${u.protocol}//${u.host.replace('tile-subdomain', '*')}`;
  } catch {
    return undefined;
  }
}

/** The Content-Security-Policy of the UI's pages. */
export function uiContentSecurityPolicy(tileUrl: string): string {
  const tiles = tileOrigin(tileUrl);
  return [
    "default-src 'self'",
    "script-src 'self'",
    // Preact sets style attributes (bar widths, layout); no inline <style> or script is used.
    "style-src 'self' 'unsafe-inline'",
    `img-src 'self' blob: data:${tiles === undefined ? '' : ` ${tiles}`}`,
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

// `hide` keeps these routes out of the OpenAPI document (@fastify/swagger reads it; its type
// augmentation is not loaded here).
const HIDDEN = { hide: true } as FastifySchema;

function checkDist(distDir: string): string {
  const dir = resolve(distDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory() || !existsSync(resolve(dir, 'index.html'))) {
    throw new Error(`the web UI is not built: ${dir}/index.html is missing (run scripts/build-ui.sh)`);
  }
  return dir;
}

/**
 * Serve the built UI (see the module comment). Throws when `distDir` holds no build, so a
 * misconfigured gateway says so at start rather than serving 404s.
 */
export async function registerUi(app: FastifyInstance, opts: UiOptions): Promise<void> {
  const root = checkDist(opts.distDir);
  const prefix = opts.prefix ?? '/ui/';
  if (!prefix.startsWith('/') || !prefix.endsWith('/'))
    throw new Error(`UI prefix must start and end with "/": ${prefix}`);
  const config: UiConfigJson = {
    tile_url: opts.tileUrl ?? '',
    tile_attribution: opts.tileAttribution ?? '',
    tile_max_zoom: opts.tileMaxZoom ?? 18,
  };
  const csp = uiContentSecurityPolicy(config.tile_url);
  const bare = prefix.slice(0, -1);

  await app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply, payload) => {
      void reply.header('content-security-policy', csp);
      void reply.header('x-content-type-options', 'nosniff');
      void reply.header('referrer-policy', 'no-referrer');
      void reply.header('x-frame-options', 'DENY');
      return payload;
    });

    await scope.register(fastifyStatic, {
      root,
      prefix,
      // Routes for the files present at start (a new build comes with a restart); the SPA
      // fallback below owns the rest of the prefix.
      wildcard: false,
      index: 'index.html',
      cacheControl: false,
      dotfiles: 'deny',
      setHeaders: (reply, path) => {
        void reply.header(
          'cache-control',
          /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });

    scope.get(`${prefix}config.json`, { schema: HIDDEN }, async (_request, reply) => {
      void reply.header('cache-control', 'no-cache');
      return config;
    });

    const sendIndex = (reply: FastifyReply): FastifyReply => {
      void reply.header('cache-control', 'no-cache');
      return reply.sendFile('index.html');
    };

    scope.get(bare, { schema: HIDDEN }, (_request, reply) => reply.redirect(prefix, 302));

    scope.get(`${prefix}*`, { schema: HIDDEN }, (request, reply) => {
      const rest = (request.params as { '*'?: string })['*'] ?? '';
      const last = rest.split('/').pop() ?? '';
      // A file name that is not there (a stale asset link): a plain 404, never the app's HTML.
      if (last.includes('.')) return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
      return sendIndex(reply);
    });
  });

  if (opts.redirectRoot !== false && !app.hasRoute({ method: 'GET', url: '/' })) {
    app.get('/', { schema: HIDDEN }, (_request, reply) => reply.redirect(prefix, 302));
  }
}
