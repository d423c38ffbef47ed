/** Users and API keys (admins) and the audit trail (auditors). */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { verifyAuditChain } from '../../../audit/verify.ts';
import { actorOf, assertAuthorized } from '../../../auth/roles.ts';
import { notFound } from '../core/scope.ts';
import { decodeListCursor, encodeListCursor, pageByKey } from '../core/paging.ts';
import type { GatewayDeps } from '../deps.ts';
import { apiKeyJson, auditJson, userJson } from '../json.ts';
import {
  ApiKeyJson,
  Area,
  AuditRecordJson,
  Cursor,
  ERRORS,
  Limit,
  Page,
  ROLE_VALUES,
  SERVICE_VALUES,
  StringEnum,
  TimeMs,
  UserJson,
} from '../schemas.ts';
import { created, ctxOf, pageSize } from './common.ts';

const UserParams = Type.Object(
  { username: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }) },
  { additionalProperties: false },
);
const KeyParams = Type.Object(
  { key_id: Type.String({ pattern: '^[0-9a-f]{16}$' }) },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ limit: Limit, cursor: Cursor }, { additionalProperties: false });

const UserCreateBody = Type.Object(
  {
    username: Type.String({
      minLength: 2,
      maxLength: 64,
      description: 'Lower-case letters, digits, ".", "_", "-".',
    }),
    display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    role: StringEnum(ROLE_VALUES),
    scope: Type.Optional(Area),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);
const UserPatchBody = Type.Object(
  {
    display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    role: Type.Optional(StringEnum(ROLE_VALUES)),
    scope: Type.Optional(Area),
    disabled: Type.Optional(Type.Boolean({ description: 'Disabling also ends the user’s sessions.' })),
  },
  { additionalProperties: false },
);
const PasswordBody = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);

const KeyCreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, description: 'Who it is for.' }),
    scope: Type.Optional(Area),
    services: Type.Array(StringEnum(SERVICE_VALUES), { minItems: 1, maxItems: 6 }),
    expires_ms: Type.Optional(TimeMs('Optional expiry.')),
  },
  { additionalProperties: false },
);
const KeyRevokeBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);

const AuditQuery = Type.Object(
  {
    actor: Type.Optional(
      Type.String({ maxLength: 200, description: 'e.g. user:alice, key:0123456789abcdef, system.' }),
    ),
    action: Type.Optional(Type.String({ maxLength: 100, description: 'e.g. event.search.' })),
    target: Type.Optional(Type.String({ maxLength: 300 })),
    from_ms: Type.Optional(TimeMs('From, inclusive.')),
    to_ms: Type.Optional(TimeMs('To, exclusive.')),
    limit: Limit,
    cursor: Cursor,
  },
  { additionalProperties: false },
);
const VerifyBody = Type.Object(
  {
    expect_seq: Type.Optional(Type.Integer({ minimum: 1, description: 'A head recorded earlier…' })),
    expect_hash: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{64}$', description: '…and its hash: must still be there.' }),
    ),
  },
  { additionalProperties: false },
);
const VerifyJson = Type.Object({
  ok: Type.Boolean(),
  records: Type.Integer(),
  head_seq: Type.Optional(Type.Integer()),
  head_hash: Type.Optional(Type.String()),
  seq: Type.Optional(Type.Integer({ description: 'First record found altered, missing or out of place.' })),
  kind: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});

/** Register the admin and audit routes. */
export function adminRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  // ---- Users ----
  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Users, by name.',
        querystring: ListQuery,
        response: { 200: Page(UserJson), ...ERRORS },
      },
    },
    (request) => {
      assertAuthorized(ctxOf(request).principal, 'user.manage');
      const after = decodeListCursor('users', request.query.cursor, 'string');
      const page = pageByKey(
        'users',
        deps.users.list(),
        (u) => u.username,
        after,
        pageSize(deps, request.query.limit),
      );
      return { items: page.items.map(userJson), next_cursor: page.nextCursor };
    },
  );

  app.post<{ Body: Static<typeof UserCreateBody> }>(
    '/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a user.',
        body: UserCreateBody,
        response: { 201: UserJson, ...ERRORS },
      },
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'user.manage');
      const b = request.body;
      const user = await deps.users.create(actorOf(ctx.principal), {
        username: b.username,
        role: b.role,
        password: b.password,
        ...(b.display_name !== undefined ? { displayName: b.display_name } : {}),
        ...(b.scope !== undefined ? { scope: { ...b.scope } } : {}),
      });
      return created(reply, userJson(user));
    },
  );

  app.get<{ Params: Static<typeof UserParams> }>(
    '/users/:username',
    {
      schema: {
        tags: ['admin'],
        summary: 'One user.',
        params: UserParams,
        response: { 200: UserJson, ...ERRORS },
      },
    },
    (request) => {
      assertAuthorized(ctxOf(request).principal, 'user.manage');
      const user = deps.users.get(request.params.username);
      if (user === undefined) throw notFound(`user ${request.params.username}`);
      return userJson(user);
    },
  );

  app.patch<{ Params: Static<typeof UserParams>; Body: Static<typeof UserPatchBody> }>(
    '/users/:username',
    {
      schema: {
        tags: ['admin'],
        summary: 'Change a user’s name, role, area or disabled flag.',
        params: UserParams,
        body: UserPatchBody,
        response: { 200: UserJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'user.manage');
      const b = request.body;
      const user = deps.users.update(actorOf(ctx.principal), request.params.username, {
        ...(b.display_name !== undefined ? { displayName: b.display_name } : {}),
        ...(b.role !== undefined ? { role: b.role } : {}),
        ...(b.scope !== undefined ? { scope: { ...b.scope } } : {}),
        ...(b.disabled !== undefined ? { disabled: b.disabled } : {}),
      });
      return userJson(user);
    },
  );

  app.post<{ Params: Static<typeof UserParams>; Body: Static<typeof PasswordBody> }>(
    '/users/:username/password',
    {
      schema: {
        tags: ['admin'],
        summary: 'Set a user’s password (ends their sessions).',
        params: UserParams,
        body: PasswordBody,
        response: { 204: Type.Null(), ...ERRORS },
      },
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'user.manage');
      await deps.users.setPassword(actorOf(ctx.principal), request.params.username, request.body.password);
      return reply.code(204).send();
    },
  );

  // ---- API keys ----
  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api-keys',
    {
      schema: {
        tags: ['admin'],
        summary: 'API keys, newest first (never their secrets).',
        querystring: ListQuery,
        response: { 200: Page(ApiKeyJson), ...ERRORS },
      },
    },
    (request) => {
      assertAuthorized(ctxOf(request).principal, 'api_key.manage');
      const keys = deps.apiKeys.list();
      const after = decodeListCursor('api-keys', request.query.cursor, 'number');
      const limit = pageSize(deps, request.query.limit);
      const start = after === undefined ? 0 : Math.min(after, keys.length);
      const items = keys.slice(start, start + limit);
      return {
        items: items.map(apiKeyJson),
        next_cursor: start + limit < keys.length ? encodeListCursor('api-keys', start + limit) : null,
      };
    },
  );

  app.post<{ Body: Static<typeof KeyCreateBody> }>(
    '/api-keys',
    {
      schema: {
        tags: ['admin'],
        summary: 'Make an API key for an integrator. The key is in this answer only: it is stored hashed.',
        body: KeyCreateBody,
        response: {
          201: Type.Object({
            key: Type.String({ description: 'se_<id>.<secret>: shown once.' }),
            api_key: ApiKeyJson,
          }),
          ...ERRORS,
        },
      },
    },
    (request, reply) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'api_key.manage');
      const b = request.body;
      const r = deps.apiKeys.create(actorOf(ctx.principal), {
        name: b.name,
        services: b.services,
        ...(b.scope !== undefined ? { scope: { ...b.scope } } : {}),
        ...(b.expires_ms !== undefined ? { expiresMs: b.expires_ms } : {}),
      });
      return created(reply, { key: r.key, api_key: apiKeyJson(r.record) });
    },
  );

  app.post<{ Params: Static<typeof KeyParams>; Body: Static<typeof KeyRevokeBody> | undefined }>(
    '/api-keys/:key_id/revoke',
    {
      schema: {
        tags: ['admin'],
        summary: 'Revoke an API key (effective on its next call).',
        params: KeyParams,
        body: Type.Optional(KeyRevokeBody),
        response: { 200: ApiKeyJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'api_key.manage');
      if (deps.apiKeys.get(request.params.key_id) === undefined)
        throw notFound(`API key ${request.params.key_id}`);
      return apiKeyJson(
        deps.apiKeys.revoke(actorOf(ctx.principal), request.params.key_id, request.body?.reason),
      );
    },
  );

  // ---- Audit trail ----
  app.get<{ Querystring: Static<typeof AuditQuery> }>(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit trail, newest first (auditors only; the read is audited too).',
        querystring: AuditQuery,
        response: { 200: Page(AuditRecordJson), ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'audit.read');
      const q = request.query;
      const before = decodeListCursor('audit', q.cursor, 'number');
      const limit = pageSize(deps, q.limit);
      const records = deps.audit.list({
        ...(before !== undefined ? { before_seq: before } : {}),
        ...(q.actor !== undefined ? { actor: q.actor } : {}),
        ...(q.action !== undefined ? { action: q.action } : {}),
        ...(q.target !== undefined ? { target: q.target } : {}),
        ...(q.from_ms !== undefined ? { from_ms: q.from_ms } : {}),
        ...(q.to_ms !== undefined ? { to_ms: q.to_ms } : {}),
        limit: limit + 1,
      });
      const more = records.length > limit;
      const page = records.slice(0, limit);
      deps.audit.append({
        actor: actorOf(ctx.principal),
        action: 'audit.read',
        target: 'audit',
        details: {
          filters: { ...q, cursor: q.cursor === undefined ? undefined : 'next' },
          result_count: page.length,
          via: 'rest',
        },
      });
      const last = page[page.length - 1];
      return {
        items: page.map(auditJson),
        next_cursor: more && last !== undefined ? encodeListCursor('audit', last.seq) : null,
      };
    },
  );

  app.post<{ Body: Static<typeof VerifyBody> | undefined }>(
    '/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit hash chain; names the first altered, removed or relinked record.',
        body: Type.Optional(VerifyBody),
        response: { 200: VerifyJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'audit.verify');
      const b = request.body;
      const expectedHead =
        b?.expect_seq !== undefined && b.expect_hash !== undefined
          ? { seq: b.expect_seq, hash: b.expect_hash }
          : undefined;
      const r = verifyAuditChain(deps.db, expectedHead !== undefined ? { expectedHead } : {});
      deps.audit.append({
        actor: actorOf(ctx.principal),
        action: 'audit.verify',
        target: 'audit',
        details: r.ok
          ? { ok: true, records: r.records, head_seq: r.head.seq }
          : { ok: false, seq: r.seq, kind: r.kind },
      });
      return r.ok
        ? { ok: true, records: r.records, head_seq: r.head.seq, head_hash: r.head.hash }
        : { ok: false, records: r.records, seq: r.seq, kind: r.kind, message: r.message };
    },
  );
}
