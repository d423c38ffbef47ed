/**
 * The gateway's HTTP server (fastify): the operations endpoints `GET /healthz` (JSON: status
 * and the state of each component) and `GET /metrics` (Prometheus); the REST API (http/api) and
 * the web UI (http/ui.ts) register their routes on the same instance (`register`).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';

/** One component's state, as /healthz reports it. */
export interface ComponentHealth {
  /** ok: working; degraded: running but impaired (retrying, reconnecting); down: not working. */
  state: 'ok' | 'degraded' | 'down';
  detail?: string;
}

/** The body of /healthz. */
export interface HealthReport {
  status: 'ok' | 'degraded';
  version: string;
  uptime_s: number;
  components: Record<string, ComponentHealth>;
}

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  registry: Registry;
  version: string;
  /** Current state of each component. */
  components: () => Record<string, ComponentHealth>;
  logger: Logger;
  /** Adds more routes (REST API, web UI) to the instance before it listens. */
  register?: (app: FastifyInstance) => Promise<void>;
}

/** A running HTTP server. */
export interface HttpServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

const ComponentSchema = {
  type: 'object',
  required: ['state'],
  properties: { state: { type: 'string', enum: ['ok', 'degraded', 'down'] }, detail: { type: 'string' } },
} as const;

/** Build the fastify instance with the operations routes (not listening; tests use `inject`). */
export function buildHttpApp(opts: Omit<HttpServerOptions, 'host' | 'port'>): FastifyInstance {
  const logger: FastifyBaseLogger = opts.logger.child({ module: 'http' });
  const app: FastifyInstance = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  const started = Date.now();
  app.get(
    '/healthz',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['status', 'version', 'uptime_s', 'components'],
            properties: {
              status: { type: 'string', enum: ['ok', 'degraded'] },
              version: { type: 'string' },
              uptime_s: { type: 'integer' },
              components: { type: 'object', additionalProperties: ComponentSchema },
            },
          },
        },
      },
    },
    (): HealthReport => {
      const components = opts.components();
      // 200 while the gateway runs: a degraded component is reported, not a reason for a
      // supervisor to restart the gateway (which would not bring InfluxDB back).
      return {
        status: Object.values(components).every((c) => c.state === 'ok') ? 'ok' : 'degraded',
        version: opts.version,
        uptime_s: Math.round((Date.now() - started) / 1000),
        components,
      };
    },
  );
  app.get('/metrics', async (_req, reply) => {
    const text = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(text);
  });
  return app;
}

/** Build and listen. */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const app = buildHttpApp(opts);
  try {
    await opts.register?.(app);
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('HTTP server has no TCP address');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    app,
    close: () => app.close(),
  };
}
