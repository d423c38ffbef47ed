/**
 * The REST API as fastify plugins: `registerRestApi(app, deps)` adds the OpenAPI document and its
 * UI at /docs, cookie sessions, and every route under /api/v1 — on the gateway's one fastify
 * instance (http/server.ts), before it listens.
 *
 * Around every API route:
 * - authentication: an API key (`Authorization: Bearer se_…` or `x-api-key`) or the session
 *   cookie `se_session` (set by POST /api/v1/auth/login; HttpOnly, SameSite=Strict). A request
 *   that sends a cookie and an unsafe method from another origin (`Origin` not this host) is
 *   refused (403), a second line of defence behind SameSite;
 * - per-principal rate limit (429, GATEWAY_ERR_RESOURCE_EXHAUSTED);
 * - TypeBox validation of params, query and body (400 naming the field, never 500), and one error
 *   body everywhere: `{"error": {"code", "message", "field"?}}` with stable codes.
 */
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.ts';
import { ApiInputError, httpStatusOf, toApiError, type ApiErrorBody } from './core/errors.ts';
import { authenticate, limiterOf } from './core/context.ts';
import type { GatewayDeps } from './deps.ts';
import { API_PREFIX } from './json.ts';
import { adminRoutes } from './routes/admin.ts';
import { alertRoutes } from './routes/alerts.ts';
import { SESSION_COOKIE, authRoutes } from './routes/auth.ts';
import { eventRoutes } from './routes/events.ts';
import { registryRoutes } from './routes/registry.ts';
import { typeboxValidatorCompiler } from './validation.ts';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function sendError(reply: FastifyReply, err: unknown, request: FastifyRequest): FastifyReply {
  const { body, internal } = toApiError(err);
  if (internal) request.log.error({ err, url: request.url }, 'API request failed');
  const status = httpStatusOf(body.error.code);
  if (
    body.error.code === 'GATEWAY_ERR_AUTH_RATE_LIMITED' ||
    body.error.code === 'GATEWAY_ERR_RESOURCE_EXHAUSTED'
  ) {
    const m = /retry in (\d+) (s|ms)/.exec(body.error.message);
    const s = m === null ? 1 : m[2] === 's' ? Number(m[1]) : Math.ceil(Number(m[1]) / 1000);
    void reply.header('retry-after', String(Math.max(1, s)));
  }
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** A fastify framework error (bad JSON, wrong content type, body too large, …) as a gateway error. */
function frameworkError(err: FastifyError): GatewayError | undefined {
  if (err instanceof GatewayError) return err;
  const status = err.statusCode ?? 500;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return new GatewayError('GATEWAY_ERR_REQUEST_TOO_LARGE');
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
    return new ApiInputError('content-type', 'must be application/json');
  }
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return new ApiInputError('body', 'is empty but the content type is JSON');
  if (err.validation !== undefined || err.code === 'FST_ERR_VALIDATION') {
    return new ApiInputError(err.validationContext ?? 'request', err.message);
  }
  if (status >= 400 && status < 500)
    return new ApiInputError('body', err.message.replace(/^Body /, 'is not valid: '));
  return undefined;
}

/** Fastify plugin of the /api/v1 routes (encapsulated: its validator and error handler stay inside). */
function apiPlugin(deps: GatewayDeps) {
  return (api: FastifyInstance, _opts: unknown, pluginDone: (err?: Error) => void): void => {
    api.setValidatorCompiler(typeboxValidatorCompiler);
    api.decorateRequest('principal', undefined);
    api.addHook('onRoute', (route) => {
      route.bodyLimit ??= deps.config.rest.body_limit_bytes;
    });

    const authenticateRequest = (request: FastifyRequest): void => {
      const apiKey = request.headers['x-api-key'];
      const authorization = request.headers.authorization;
      const sessionToken = request.cookies[SESSION_COOKIE];
      const usingCookie =
        (apiKey === undefined || apiKey === '') && authorization === undefined && sessionToken !== undefined;
      if (usingCookie && UNSAFE.has(request.method)) {
        const origin = request.headers.origin;
        if (origin !== undefined && origin !== 'null') {
          let host: string;
          try {
            host = new URL(origin).host;
          } catch {
            host = '';
          }
          if (host !== request.headers.host) {
            throw new GatewayError('GATEWAY_ERR_FORBIDDEN', 'cross-origin request with a session cookie');
          }
        }
      }
      const needsAuth = request.routeOptions.config.auth !== false;
      let principal;
      try {
        principal = authenticate(deps, {
          authorization,
          apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey,
          sessionToken: needsAuth ? sessionToken : undefined,
        });
      } catch (err) {
        if (needsAuth) throw err;
        principal = undefined;
      }
      request.principal = principal;
      if (principal === undefined) {
        if (needsAuth) {
          throw new GatewayError(
            'GATEWAY_ERR_UNAUTHENTICATED',
            'log in (session cookie) or send an API key (Authorization: Bearer se_…)',
          );
        }
        return;
      }
      limiterOf(deps).take(principal);
    };

    api.addHook('onRequest', (request, _reply, done) => {
      try {
        authenticateRequest(request);
        done();
      } catch (err) {
        done(err as Error);
      }
    });

    api.setErrorHandler((err: FastifyError, request, reply) => {
      return sendError(reply, frameworkError(err) ?? err, request);
    });
    api.setNotFoundHandler((request, reply) => {
      const body: ApiErrorBody = {
        error: {
          code: 'GATEWAY_ERR_NOT_FOUND',
          message: `not found: no API route ${request.method} ${request.url.split('?')[0] ?? ''}`,
        },
      };
      return reply.code(404).send(body);
    });

    authRoutes(api, deps);
    registryRoutes(api, deps);
    eventRoutes(api, deps);
    alertRoutes(api, deps);
    adminRoutes(api, deps);
    pluginDone();
  };
}

/**
 * Register the REST API on `app` (before it listens): OpenAPI at /docs/json and its UI at /docs
 * (when enabled), cookies, and the routes under /api/v1.
 */
export async function registerRestApi(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  if (deps.config.rest.docs) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'sharpeyes gateway API',
          version: 'v1',
          description:
            'Sites, cameras, events, evidence, pass statistics, alerts, users, keys and the audit trail. Event data needs a stated reason (`reason` or the `x-reason` header) and is audited. Errors: `{"error": {"code", "message", "field"?}}`.',
        },
        components: {
          securitySchemes: {
            session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
            bearer: { type: 'http', scheme: 'bearer', description: 'An API key: se_<id>.<secret>' },
            apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          },
        },
        security: [{ session: [] }, { bearer: [] }, { apiKey: [] }],
        tags: [
          { name: 'auth' },
          { name: 'registry', description: 'Sites, cameras, discovered devices, reports.' },
          { name: 'events', description: 'Search, detail, evidence, export, statistics.' },
          { name: 'live', description: 'Server-sent event streams.' },
          { name: 'alerts', description: 'Case-bound plate alerts.' },
          { name: 'admin', description: 'Users and API keys.' },
          { name: 'audit', description: 'The tamper-evident audit trail.' },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }
  if (!app.hasDecorator('parseCookie')) await app.register(cookie);
  await app.register(apiPlugin(deps), { prefix: API_PREFIX });
}
