/**
 * REST routes for login/logout, users, API keys, the audit trail and plate alerts, through
 * `app.inject()` against the real SQLite stores. Each route: a happy path, bad input, and a caller
 * of the wrong role (403) or area (404 / filtered). Ends by tampering with the audit table and
 * expecting the verify route to name the altered record.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { PASSWORD, PLACE_A1, PLACE_B1, startApiEnv, type ApiEnv } from '../fixtures-api/env.ts';
import { REASON, buildApiApp, call, login, q, type ApiJson, type As } from './helpers.ts';

let env: ApiEnv;
let app: FastifyInstance;
const as: Record<string, As> = {};

beforeAll(async () => {
  env = await startApiEnv();
  app = await buildApiApp(env);
  for (const u of ['admin', 'aud', 'op-a', 'op-a2', 'op-b', 'inst-a'])
    as[u] = { cookie: await login(app, u) };
  as.keyA = { key: env.keys.keyA };
  as.keyB = { key: env.keys.keyB };
}, 120_000);

afterAll(async () => {
  await app.close();
  await env.stop();
});

describe('login, logout, me', () => {
  it('logs in with a HttpOnly SameSite=Strict cookie that identifies the user', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'op-b', password: PASSWORD },
    });
    expect(r.statusCode).toBe(200);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/se_session=[^;]+;/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const me = await call(app, { cookie: cookie.split(';')[0] ?? '' }, 'GET', '/api/v1/auth/me');
    expect(me.json()).toMatchObject({
      kind: 'user',
      id: 'op-b',
      role: 'operator',
      scope: { district: 'Baiyun' },
    });
    const key = await call(app, as.keyA, 'GET', '/api/v1/auth/me');
    expect(key.json()).toMatchObject({ kind: 'api_key', role: 'integrator', scope: { district: 'Anxi' } });
  });

  it('refuses wrong passwords, bad bodies, and locks out repeated failures (429 with Retry-After)', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'op-a2', password: 'nope' },
    });
    expect(bad.statusCode).toBe(401);
    expect(bad.json<ApiJson>().error?.code).toBe('GATEWAY_ERR_AUTH_FAILED');
    const noPw = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'x' } });
    expect(noPw.statusCode).toBe(400);
    expect(noPw.json<ApiJson>().error?.field).toBe('password');
    let last = bad;
    for (let i = 0; i < 6; i++) {
      last = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'ghost', password: 'nope' },
      });
    }
    expect(last.statusCode).toBe(429);
    expect(last.json<ApiJson>().error?.code).toBe('GATEWAY_ERR_AUTH_RATE_LIMITED');
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('logs out: the cookie stops working', async () => {
    const cookie = await login(app, 'op-a2');
    expect((await call(app, { cookie }, 'GET', '/api/v1/auth/me')).statusCode).toBe(200);
    const out = await call(app, { cookie }, 'POST', '/api/v1/auth/logout');
    expect(out.statusCode).toBe(204);
    const after = await call(app, { cookie }, 'GET', '/api/v1/auth/me');
    expect(after.statusCode).toBe(401);
    expect(after.json().error?.code).toBe('GATEWAY_ERR_UNAUTHENTICATED');
  });

  it('refuses missing or bad credentials, and cross-origin cookie writes', async () => {
    expect((await call(app, undefined, 'GET', '/api/v1/auth/me')).statusCode).toBe(401);
    expect((await call(app, { key: 'se_0123456789abcdef.nope' }, 'GET', '/api/v1/auth/me')).statusCode).toBe(
      401,
    );
    const cross = await app.inject({
      method: 'POST',
      url: '/api/v1/alerts/1/ack',
      headers: {
        cookie: (as['op-a'] as { cookie: string }).cookie,
        origin: 'https://evil.example',
        host: 'gateway.local',
      },
      payload: {},
    });
    expect(cross.statusCode).toBe(403);
    const unknown = await call(app, as.admin, 'GET', '/api/v1/no-such-route');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error?.code).toBe('GATEWAY_ERR_NOT_FOUND');
  });
});

describe('users', () => {
  it('lets an admin create, list, read, change and re-password users', async () => {
    const c = await call(app, as.admin, 'POST', '/api/v1/users', {
      username: 'op-c',
      role: 'operator',
      scope: { district: 'Anxi', street: 'Hutou' },
      password: 'another long password',
    });
    expect(c.statusCode, c.body).toBe(201);
    expect(c.body).not.toContain('password_hash');
    const list = await call(app, as.admin, 'GET', q('/api/v1/users', { limit: 100 }));
    expect((list.json().items as { username: string }[]).map((u) => u.username)).toContain('op-c');
    expect((await call(app, as.admin, 'GET', '/api/v1/users/op-c')).json()).toMatchObject({
      role: 'operator',
      scope: { street: 'Hutou' },
    });
    const p = await call(app, as.admin, 'PATCH', '/api/v1/users/op-c', {
      display_name: 'Officer C',
      disabled: true,
    });
    expect(p.json()).toMatchObject({ display_name: 'Officer C', disabled: true });
    expect(
      (
        await call(app, as.admin, 'POST', '/api/v1/users/op-c/password', {
          password: 'a fresh long password',
        })
      ).statusCode,
    ).toBe(204);
  });

  it('refuses bad user input, duplicates and non-admins', async () => {
    expect(
      (
        await call(app, as.admin, 'POST', '/api/v1/users', {
          username: 'Bad Name',
          role: 'operator',
          password: 'another long password',
        })
      ).json().error?.field,
    ).toBe('username');
    expect(
      (
        await call(app, as.admin, 'POST', '/api/v1/users', {
          username: 'op-d',
          role: 'integrator',
          password: 'another long password',
        })
      ).json().error?.field,
    ).toBe('role');
    expect(
      (
        await call(app, as.admin, 'POST', '/api/v1/users', {
          username: 'op-d',
          role: 'operator',
          password: 'short',
        })
      ).json().error?.field,
    ).toBe('password');
    expect(
      (
        await call(app, as.admin, 'POST', '/api/v1/users', {
          username: 'op-a',
          role: 'operator',
          password: 'another long password',
        })
      ).statusCode,
    ).toBe(409);
    expect((await call(app, as.admin, 'GET', '/api/v1/users/nobody')).statusCode).toBe(404);
    expect(
      (await call(app, as.admin, 'PATCH', '/api/v1/users/op-a', { scope: { street: 'Hutou' } })).json().error
        ?.field,
    ).toBe('scope.street');
    for (const who of ['op-a', 'aud', 'keyA']) {
      expect((await call(app, as[who], 'GET', '/api/v1/users')).statusCode, who).toBe(403);
    }
  });
});

describe('API keys', () => {
  it('shows a new key once, lists it without the secret, and revokes it', async () => {
    const c = await call(app, as.admin, 'POST', '/api/v1/api-keys', {
      name: 'traffic bureau',
      services: ['events', 'cameras'],
      scope: { district: 'Anxi' },
    });
    expect(c.statusCode).toBe(201);
    const key = c.json().key as string;
    const keyId = (c.json().api_key as { key_id: string }).key_id;
    expect(key.startsWith(`se_${keyId}.`)).toBe(true);
    const list = await call(app, as.admin, 'GET', '/api/v1/api-keys');
    expect(list.body).toContain(keyId);
    expect(list.body).not.toContain(key.split('.')[1] ?? 'x');
    expect((await call(app, { key }, 'GET', '/api/v1/cameras')).statusCode).toBe(200);
    const r = await call(app, as.admin, 'POST', `/api/v1/api-keys/${keyId}/revoke`, {
      reason: 'contract ended',
    });
    expect(r.json().revoked_by).toBe('user:admin');
    expect((await call(app, { key }, 'GET', '/api/v1/cameras')).statusCode).toBe(401);
  });

  it('refuses bad key input, unknown keys and non-admins', async () => {
    expect(
      (await call(app, as.admin, 'POST', '/api/v1/api-keys', { name: 'x', services: ['telepathy'] })).json()
        .error?.field,
    ).toBe('services[0]');
    expect(
      (await call(app, as.admin, 'POST', '/api/v1/api-keys', { name: 'x', services: [] })).json().error
        ?.field,
    ).toBe('services');
    expect((await call(app, as.admin, 'POST', '/api/v1/api-keys/0123456789abcdef/revoke')).statusCode).toBe(
      404,
    );
    expect((await call(app, as.admin, 'POST', '/api/v1/api-keys/not-hex/revoke')).statusCode).toBe(400);
    expect(
      (await call(app, as['op-a'], 'POST', '/api/v1/api-keys', { name: 'x', services: ['events'] }))
        .statusCode,
    ).toBe(403);
  });
});

describe('plate alerts', () => {
  let entryId = 0;
  let event: Event;

  it('takes a case-bound entry: requested, refused to its requester, approved by another operator', async () => {
    const r = await call(app, as['op-a'], 'POST', '/api/v1/alert-entries', {
      plate: '京A54321',
      case_ref: 'XS-2025-0815',
      reason: 'stolen vehicle reported 2025-08-15',
      expires_ms: Date.now() + 86_400_000,
    });
    expect(r.statusCode, r.body).toBe(201);
    entryId = r.json().entry_id as number;
    expect(r.json()).toMatchObject({ status: 'pending', area: { district: 'Anxi' } });
    const own = await call(app, as['op-a'], 'POST', `/api/v1/alert-entries/${entryId}/approve`);
    expect(own.statusCode).toBe(409);
    expect(own.json().error?.code).toBe('GATEWAY_ERR_ALERT_APPROVAL');
    expect((await call(app, as['op-b'], 'POST', `/api/v1/alert-entries/${entryId}/approve`)).statusCode).toBe(
      404,
    );
    const ok = await call(app, as['op-a2'], 'POST', `/api/v1/alert-entries/${entryId}/approve`);
    expect(ok.json().status).toBe('active');
    const list = await call(app, as['op-a2'], 'GET', q('/api/v1/alert-entries', { status: 'active' }));
    expect((list.json().items as { entry_id: number }[]).map((e) => e.entry_id)).toEqual([entryId]);
    expect((await call(app, as['op-b'], 'GET', '/api/v1/alert-entries')).json().items).toEqual([]);
  });

  it('refuses bad entries and roles that may not request them', async () => {
    const base = {
      plate: '京A54321',
      case_ref: 'XS-2',
      reason: 'stolen vehicle reported',
      expires_ms: Date.now() + 86_400_000,
    };
    const broad = await call(app, as['op-a'], 'POST', '/api/v1/alert-entries', { ...base, plate: '粤*' });
    expect(broad.statusCode).toBe(400);
    expect(broad.json().error?.code).toBe('GATEWAY_ERR_ALERT_PATTERN');
    expect(
      (await call(app, as['op-a'], 'POST', '/api/v1/alert-entries', { ...base, expires_ms: 'soon' })).json()
        .error?.field,
    ).toBe('expires_ms');
    expect(
      (await call(app, as['op-a'], 'POST', '/api/v1/alert-entries', { ...base, reason: '...' })).json().error
        ?.code,
    ).toBe('GATEWAY_ERR_REASON_REQUIRED');
    expect((await call(app, as.keyA, 'POST', '/api/v1/alert-entries', base)).statusCode).toBe(403);
    expect((await call(app, as['inst-a'], 'GET', '/api/v1/alert-entries')).statusCode).toBe(403);
  });

  it('raises an alert on a hit, visible and acknowledgeable only in its area', async () => {
    event = await env.addEvent({
      cameraId: 'cam-a1',
      siteId: 'site-a',
      plate: '京A54321',
      firstSeenMs: Date.now() - 1000,
    });
    expect(env.deps.alerts.processEvent(event, { ...PLACE_A1, grid: '' })).toHaveLength(1);
    env.deps.alerts.processEvent(
      { ...event, eventId: 'other-b' },
      { district: PLACE_B1.district, street: '', community: '', grid: '' },
    );
    const a = await call(app, as['op-a'], 'GET', q('/api/v1/alerts', { open: true }));
    const items = a.json().items as { alert_id: number; plate: string; camera_id: string }[];
    expect(items.map((x) => x.camera_id)).toEqual(['cam-a1']);
    const alertId = items[0]?.alert_id ?? 0;
    expect((await call(app, as.keyA, 'GET', '/api/v1/alerts')).json().items).toHaveLength(1);
    expect((await call(app, as['op-b'], 'GET', '/api/v1/alerts')).json().items).toEqual([]);
    expect((await call(app, as['op-b'], 'POST', `/api/v1/alerts/${alertId}/ack`, {})).statusCode).toBe(404);
    expect((await call(app, as['op-a'], 'POST', '/api/v1/alerts/abc/ack', {})).json().error?.field).toBe(
      'alert_id',
    );
    expect(
      (await call(app, as['op-a'], 'POST', `/api/v1/alerts/${alertId}/ack`, { note: 'x'.repeat(600) })).json()
        .error?.field,
    ).toBe('note');
    const ack = await call(app, as['op-a'], 'POST', `/api/v1/alerts/${alertId}/ack`, { note: 'patrol sent' });
    expect(ack.json()).toMatchObject({ acknowledged_by: 'user:op-a', ack_note: 'patrol sent' });
    expect((await call(app, as['op-a'], 'POST', `/api/v1/alerts/${alertId}/ack`, {})).statusCode).toBe(409);
    expect((await call(app, as['inst-a'], 'GET', '/api/v1/alerts')).statusCode).toBe(403);
  });

  it('revokes an entry with a reason', async () => {
    expect(
      (await call(app, as['op-a'], 'POST', `/api/v1/alert-entries/${entryId}/revoke`, {})).json().error
        ?.field,
    ).toBe('reason');
    const r = await call(app, as['op-a'], 'POST', `/api/v1/alert-entries/${entryId}/revoke`, {
      reason: 'vehicle recovered today',
    });
    expect(r.json().status).toBe('revoked');
    expect(
      (
        await call(app, as['op-b'], 'POST', `/api/v1/alert-entries/${entryId}/revoke`, {
          reason: 'vehicle recovered today',
        })
      ).statusCode,
    ).toBe(404);
  });
});

describe('audit trail', () => {
  it('is readable by auditors only, filtered and paged, and the read is audited', async () => {
    await call(
      app,
      as['op-a'],
      'GET',
      q('/api/v1/events', { reason: REASON, from_ms: Date.now() - 60_000, to_ms: Date.now() }),
    );
    const r = await call(app, as.aud, 'GET', q('/api/v1/audit', { action: 'event.search', limit: 1 }));
    expect(r.statusCode).toBe(200);
    const rec = (r.json().items as { actor: string; details: { reason: string } }[])[0];
    expect(rec).toMatchObject({ actor: 'user:op-a', details: { reason: REASON } });
    const page1 = await call(app, as.aud, 'GET', q('/api/v1/audit', { limit: 3 }));
    const page2 = await call(
      app,
      as.aud,
      'GET',
      q('/api/v1/audit', { limit: 3, cursor: page1.json().next_cursor as string }),
    );
    const seqs = [
      ...(page1.json().items as { seq: number }[]),
      ...(page2.json().items as { seq: number }[]),
    ].map((x) => x.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(new Set(seqs).size).toBe(6);
    expect(env.deps.audit.list({ action: 'audit.read', limit: 1 })[0]?.actor).toBe('user:aud');
    expect(
      (await call(app, as.aud, 'GET', q('/api/v1/audit', { from_ms: 'today' }))).json().error?.field,
    ).toBe('from_ms');
    for (const who of ['admin', 'op-a', 'keyA'])
      expect((await call(app, as[who], 'GET', '/api/v1/audit')).statusCode, who).toBe(403);
  });

  it('verifies the chain, and names the first record altered behind its back', async () => {
    const ok = await call(app, as.aud, 'POST', '/api/v1/audit/verify', {});
    expect(ok.json()).toMatchObject({ ok: true });
    expect(
      (await call(app, as.aud, 'POST', '/api/v1/audit/verify', { expect_hash: 'xyz' })).json().error?.field,
    ).toBe('expect_hash');
    expect((await call(app, as.admin, 'POST', '/api/v1/audit/verify', {})).statusCode).toBe(403);
    // Someone with the database file drops the guard trigger and edits a record.
    env.db.exec('DROP TRIGGER audit_log_no_update');
    env.db.run('UPDATE audit_log SET details = \'{"reason":"nothing to see"}\' WHERE seq = 5');
    const bad = await call(app, as.aud, 'POST', '/api/v1/audit/verify', {});
    expect(bad.json()).toMatchObject({ ok: false, seq: 5, kind: 'altered' });
  });
});
