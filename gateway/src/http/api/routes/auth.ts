/** Login, logout and "who am I". */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../deps.ts';
import { Area, ERRORS, ErrorBody } from '../schemas.ts';
import { ctxOf } from './common.ts';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'se_session';

const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

const Me = Type.Object({
  kind: Type.String({ description: 'user or api_key.' }),
  id: Type.String({ description: 'User name or key id.' }),
  name: Type.String(),
  role: Type.String(),
  scope: Area,
  services: Type.Optional(Type.Array(Type.String())),
});

const LoginResponse = Type.Object({ user: Me, expires_ms: Type.Integer() });

/** Register the auth routes. */
export function authRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: Static<typeof LoginBody> }>(
    '/auth/login',
    {
      config: { auth: false },
      schema: {
        tags: ['auth'],
        summary: 'Log in: sets the session cookie (HttpOnly, SameSite=Strict).',
        security: [],
        body: LoginBody,
        response: { 200: LoginResponse, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const r = await deps.login.login(request.body.username, request.body.password, request.ip);
      void reply.setCookie(SESSION_COOKIE, r.token, {
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.config.rest.cookie_secure,
        path: '/',
        expires: new Date(r.expiresMs),
      });
      const p = r.principal;
      return {
        user: { kind: p.kind, id: p.id, name: p.name, role: p.role, scope: p.scope },
        expires_ms: r.expiresMs,
      };
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { auth: false },
      schema: {
        tags: ['auth'],
        summary: 'End the session and clear its cookie.',
        security: [],
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const token = request.cookies[SESSION_COOKIE];
      if (token !== undefined && token !== '') deps.login.logout(token);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/me',
    {
      schema: { tags: ['auth'], summary: 'Who the credentials belong to.', response: { 200: Me, ...ERRORS } },
    },
    (request) => {
      const p = ctxOf(request).principal;
      return {
        kind: p.kind,
        id: p.id,
        name: p.name,
        role: p.role,
        scope: p.scope,
        ...(p.services !== undefined ? { services: [...p.services] } : {}),
      };
    },
  );
}
