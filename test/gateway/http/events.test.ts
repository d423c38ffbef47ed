/**
 * REST event routes against the real stack (SQLite registry, InfluxDB index on a real influxd,
 * evidence directory), through `app.inject()`: search, detail, evidence, export and pass
 * statistics. Each route: a happy path, bad input (400 with a field, never 500), and access from
 * outside the caller's area (filtered out, or 404 exactly like a missing event) or role (403).
 * Every event access must leave an audit record with its reason, filters and result count.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { verifyAuditChain } from '../../../gateway/src/audit/verify.ts';
import { startApiEnv, type ApiEnv } from '../fixtures-api/env.ts';
import { REASON, buildApiApp, call, login, q, type As } from './helpers.ts';

let env: ApiEnv;
let app: FastifyInstance;
const as: Record<string, As> = {};
const events: { a1: Event[]; a2: Event[]; b1: Event[] } = { a1: [], a2: [], b1: [] };
let noEvidence: Event;
let t0: number;

beforeAll(async () => {
  env = await startApiEnv();
  app = await buildApiApp(env);
  for (const u of ['op-a', 'op-b', 'op-all', 'inst-a', 'aud', 'admin'])
    as[u] = { cookie: await login(app, u) };
  as.keyA = { key: env.keys.keyA };
  as.keyB = { key: env.keys.keyB };
  as.keyEventsOnly = { key: env.keys.keyEventsOnly };
  t0 = Date.now();
  for (let i = 0; i < 4; i++) {
    events.a1.push(
      await env.addEvent({
        cameraId: 'cam-a1',
        siteId: 'site-a',
        firstSeenMs: t0 - (50 - i) * 60_000,
        plate: `京A1234${i}`,
      }),
    );
    events.b1.push(
      await env.addEvent({
        cameraId: 'cam-b1',
        siteId: 'site-b',
        firstSeenMs: t0 - (40 - i) * 60_000,
        plate: `京B1234${i}`,
      }),
    );
  }
  events.a2.push(
    await env.addEvent({ cameraId: 'cam-a2', siteId: 'site-a', firstSeenMs: t0 - 30 * 60_000, kind: 'face' }),
  );
  noEvidence = await env.addEvent({
    cameraId: 'cam-a1',
    siteId: 'site-a',
    firstSeenMs: t0 - 20 * 60_000,
    evidence: false,
  });
}, 120_000);

afterAll(async () => {
  await app.close();
  await env.stop();
});

const range = () => ({ from_ms: t0 - 3_600_000, to_ms: t0 + 60_000 });
const ids = (body: Record<string, unknown>): string[] =>
  (body.items as { event_id: string }[]).map((e) => e.event_id);
const lastAudit = (action: string) => env.deps.audit.list({ action, limit: 1 })[0];

describe('GET /api/v1/events', () => {
  it('finds events in the caller’s area only, newest first, and audits the search', async () => {
    const r = await call(app, as['op-a'], 'GET', q('/api/v1/events', { reason: REASON, ...range() }));
    expect(r.statusCode).toBe(200);
    const got = ids(r.json());
    const cams = (r.json().items as { camera_id: string }[]).map((e) => e.camera_id);
    expect(new Set(cams)).toEqual(new Set(['cam-a1', 'cam-a2']));
    expect(got).toHaveLength(6);
    const rec = lastAudit('event.search');
    expect(rec?.actor).toBe('user:op-a');
    expect(rec?.details).toMatchObject({
      reason: REASON,
      result_count: 6,
      via: 'rest',
      effective_area: { district: 'Anxi' },
    });
    const all = await call(app, as['op-all'], 'GET', q('/api/v1/events', { reason: REASON, ...range() }));
    expect(ids(all.json())).toHaveLength(10);
  });

  it('filters by plate, kind and camera; an API key sees its own area', async () => {
    const r = await call(
      app,
      as.keyA,
      'GET',
      q('/api/v1/events', { reason: REASON, ...range(), plate: '京A12342' }),
    );
    expect(ids(r.json())).toEqual([events.a1[2]?.eventId]);
    const faces = await call(
      app,
      as.keyA,
      'GET',
      q('/api/v1/events', { reason: REASON, ...range(), kind: 'face' }),
    );
    expect(ids(faces.json())).toEqual([events.a2[0]?.eventId]);
    expect(lastAudit('event.search')?.actor).toMatch(/^key:/);
    const keyB = await call(
      app,
      as.keyB,
      'GET',
      q('/api/v1/events', { reason: REASON, ...range(), camera_id: 'cam-b1,cam-a1' }),
    );
    expect(new Set((keyB.json().items as { camera_id: string }[]).map((e) => e.camera_id))).toEqual(
      new Set(['cam-b1']),
    );
  });

  it('takes the reason from the x-reason header (percent-encoded)', async () => {
    const reason = '案件 2025-XS-0815 被盗车辆';
    const r = await app.inject({
      method: 'GET',
      url: q('/api/v1/events', range()),
      headers: { cookie: (as['op-a'] as { cookie: string }).cookie, 'x-reason': encodeURIComponent(reason) },
    });
    expect(r.statusCode).toBe(200);
    expect(lastAudit('event.search')?.details.reason).toBe(reason);
  });

  it('pages with a cursor that neither repeats nor skips under concurrent inserts', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let inserted = false;
    for (let page = 0; page < 10; page++) {
      const r = await call(
        app,
        as['op-a'],
        'GET',
        q('/api/v1/events', { reason: REASON, ...range(), limit: 2, cursor }),
      );
      expect(r.statusCode).toBe(200);
      seen.push(...ids(r.json()));
      cursor = (r.json().next_cursor as string | null) ?? undefined;
      if (!inserted) {
        // A newer event arrives between pages: it is not on later pages (they go back in time).
        await env.addEvent({ cameraId: 'cam-a1', siteId: 'site-a', firstSeenMs: t0 - 60_000 });
        inserted = true;
      }
      if (cursor === undefined) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toHaveLength(6);
  });

  it.each<[Record<string, string | number>, string, string]>([
    [{ from_ms: 0, to_ms: 10 }, 'reason', 'GATEWAY_ERR_REASON_REQUIRED'],
    [{ reason: 'short', from_ms: 0, to_ms: 10 }, 'reason', 'GATEWAY_ERR_REASON_REQUIRED'],
    [{ reason: REASON, from_ms: 'yesterday', to_ms: 10 }, 'from_ms', 'GATEWAY_ERR_INVALID_INPUT'],
    [{ reason: REASON, from_ms: 1.5, to_ms: 10 }, 'from_ms', 'GATEWAY_ERR_INVALID_INPUT'],
    [{ reason: REASON, from_ms: 100, to_ms: 10 }, 'to_ms', 'GATEWAY_ERR_QUERY_INVALID'],
    [{ reason: REASON, to_ms: 10 }, 'from_ms', 'GATEWAY_ERR_INVALID_INPUT'],
    [{ reason: REASON, from_ms: 0, to_ms: 10, kind: 'car' }, 'kind[0]', 'GATEWAY_ERR_INVALID_INPUT'],
    [{ reason: REASON, from_ms: 0, to_ms: 10, camera: 'cam-a1' }, 'camera', 'GATEWAY_ERR_INVALID_INPUT'],
    [{ reason: REASON, from_ms: 0, to_ms: 10, plate: '京A<script>' }, 'plate', 'GATEWAY_ERR_QUERY_INVALID'],
    [
      { reason: REASON, from_ms: 0, to_ms: 10, cursor: 'not-a-cursor' },
      'cursor',
      'GATEWAY_ERR_QUERY_INVALID',
    ],
    [
      { reason: REASON, from_ms: 0, to_ms: 10, district: '', street: 'Hutou' },
      'area.street',
      'GATEWAY_ERR_INVALID_INPUT',
    ],
  ])('refuses bad input %j with 400 naming %s', async (params, field, code) => {
    const r = await call(app, as['op-a'], 'GET', q('/api/v1/events', params));
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code, field });
  });

  it('gives nothing outside the caller’s area, and refuses roles without event search', async () => {
    const other = await call(
      app,
      as['op-a'],
      'GET',
      q('/api/v1/events', { reason: REASON, ...range(), district: 'Baiyun' }),
    );
    expect(other.statusCode).toBe(200);
    expect(ids(other.json())).toEqual([]);
    const cam = await call(
      app,
      as['op-a'],
      'GET',
      q('/api/v1/events', { reason: REASON, ...range(), camera_id: 'cam-b1' }),
    );
    expect(ids(cam.json())).toEqual([]);
    for (const who of ['inst-a', 'aud', 'admin']) {
      const r = await call(app, as[who], 'GET', q('/api/v1/events', { reason: REASON, ...range() }));
      expect(r.statusCode, who).toBe(403);
      expect(r.json().error?.code).toBe('GATEWAY_ERR_FORBIDDEN');
    }
    const anon = await call(app, undefined, 'GET', q('/api/v1/events', { reason: REASON, ...range() }));
    expect(anon.statusCode).toBe(401);
  });
});

describe('GET /api/v1/events/:event_id', () => {
  it('returns an event of the caller’s area and audits it', async () => {
    const e = events.a1[0] as Event;
    const r = await call(app, as['op-a'], 'GET', q(`/api/v1/events/${e.eventId}`, { reason: REASON }));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({
      event_id: e.eventId,
      camera_id: 'cam-a1',
      kind: 'plate',
      plate: { text: '京A12340' },
    });
    expect((r.json().evidence as { sha256: string }).sha256).toBe(e.evidence?.sha256);
    expect(lastAudit('event.get')).toMatchObject({ actor: 'user:op-a', target: `event:${e.eventId}` });
    expect(lastAudit('event.get')?.details).toMatchObject({ result_count: 1, reason: REASON });
  });

  it('answers an event outside the area exactly like a missing one (404), and audits the attempt', async () => {
    const e = events.b1[0] as Event;
    const out = await call(app, as['op-a'], 'GET', q(`/api/v1/events/${e.eventId}`, { reason: REASON }));
    const missing = await call(
      app,
      as['op-a'],
      'GET',
      q('/api/v1/events/01ZZZZZZZZZZZZZZZZZZZZZZZZ', { reason: REASON }),
    );
    expect(out.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(out.json().error?.code).toBe(missing.json().error?.code);
    expect(out.json().error?.message).toBe(`not found: event ${e.eventId}`);
    expect(lastAudit('event.get')?.details.result_count).toBe(0);
    const keyB = await call(app, as.keyB, 'GET', q(`/api/v1/events/${e.eventId}`, { reason: REASON }));
    expect(keyB.statusCode).toBe(200);
  });

  it('refuses bad input', async () => {
    const e = events.a1[0] as Event;
    const noReason = await call(app, as['op-a'], 'GET', `/api/v1/events/${e.eventId}`);
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error?.field).toBe('reason');
    const badId = await call(app, as['op-a'], 'GET', q('/api/v1/events/bad%20id!', { reason: REASON }));
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error?.field).toBe('event_id');
  });
});

describe('GET /api/v1/events/:event_id/evidence', () => {
  it('returns the JPEG with its verified sha256 and audits the fetch', async () => {
    const e = events.a1[1] as Event;
    const r = await call(app, as.keyA, 'GET', q(`/api/v1/events/${e.eventId}/evidence`, { reason: REASON }));
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('image/jpeg');
    expect(createHash('sha256').update(r.rawPayload).digest('hex')).toBe(r.headers['x-evidence-sha256']);
    expect(r.headers['x-evidence-sha256']).toBe(e.evidence?.sha256);
    const ctx = await call(
      app,
      as['op-a'],
      'GET',
      q(`/api/v1/events/${e.eventId}/evidence`, { reason: REASON, part: 'context' }),
    );
    expect(ctx.headers['x-evidence-sha256']).toBe(e.evidence?.contextSha256);
    expect(lastAudit('evidence.fetch')).toMatchObject({ target: `evidence:${e.evidence?.contextSha256}` });
  });

  it('404s outside the area or without evidence; 403 for a key without the evidence service; 400 for bad input', async () => {
    const b = events.b1[0] as Event;
    const a = events.a1[0] as Event;
    expect(
      (await call(app, as['op-a'], 'GET', q(`/api/v1/events/${b.eventId}/evidence`, { reason: REASON })))
        .statusCode,
    ).toBe(404);
    expect(
      (
        await call(
          app,
          as['op-a'],
          'GET',
          q(`/api/v1/events/${noEvidence.eventId}/evidence`, { reason: REASON }),
        )
      ).statusCode,
    ).toBe(404);
    const key = await call(
      app,
      as.keyEventsOnly,
      'GET',
      q(`/api/v1/events/${a.eventId}/evidence`, { reason: REASON }),
    );
    expect(key.statusCode).toBe(403);
    const bad = await call(
      app,
      as['op-a'],
      'GET',
      q(`/api/v1/events/${a.eventId}/evidence`, { reason: REASON, part: 'thumb' }),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error?.field).toBe('part');
    const noReason = await call(app, as['op-a'], 'GET', `/api/v1/events/${a.eventId}/evidence`);
    expect(noReason.statusCode).toBe(400);
  });
});

describe('GET /api/v1/events/export', () => {
  it('exports the caller’s area (operators only) and audits it', async () => {
    const r = await call(app, as['op-a'], 'GET', q('/api/v1/events/export', { reason: REASON, ...range() }));
    expect(r.statusCode).toBe(200);
    const body = r.json() as { count: number; truncated: boolean; events: { camera_id: string }[] };
    expect(body.truncated).toBe(false);
    expect(body.events.every((e) => e.camera_id.startsWith('cam-a'))).toBe(true);
    expect(lastAudit('event.export')?.details).toMatchObject({ result_count: body.count, reason: REASON });
    expect(
      (await call(app, as.keyA, 'GET', q('/api/v1/events/export', { reason: REASON, ...range() })))
        .statusCode,
    ).toBe(403);
    expect((await call(app, as['op-a'], 'GET', q('/api/v1/events/export', range()))).statusCode).toBe(400);
  });
});

describe('GET /api/v1/stats/passes', () => {
  it('counts passes per camera in the caller’s area without a reason or plate text', async () => {
    const r = await call(
      app,
      as['inst-a'],
      'GET',
      q('/api/v1/stats/passes', { ...range(), interval_ms: 3_600_000 }),
    );
    expect(r.statusCode).toBe(200);
    const rows = r.json().cameras as { camera_id: string; total: number; in: number }[];
    expect(new Set(rows.map((x) => x.camera_id))).toEqual(new Set(['cam-a1', 'cam-a2']));
    expect(rows.reduce((n, x) => n + x.total, 0)).toBeGreaterThanOrEqual(6);
    expect(r.body).not.toContain('京A');
    const areas = await call(
      app,
      as['op-all'],
      'GET',
      q('/api/v1/stats/passes', { ...range(), interval_ms: 86_400_000, group_by: 'area', level: 'district' }),
    );
    const byArea = areas.json().areas as { area: { district?: string }; total: number }[];
    expect(new Set(byArea.map((x) => x.area.district))).toEqual(new Set(['Anxi', 'Baiyun']));
    const opB = await call(
      app,
      as['op-b'],
      'GET',
      q('/api/v1/stats/passes', { ...range(), interval_ms: 3_600_000 }),
    );
    expect(new Set((opB.json().cameras as { camera_id: string }[]).map((x) => x.camera_id))).toEqual(
      new Set(['cam-b1']),
    );
  });

  it('refuses bad input and roles without statistics', async () => {
    const bad = await call(
      app,
      as['inst-a'],
      'GET',
      q('/api/v1/stats/passes', { ...range(), interval_ms: 1000 }),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error?.field).toBe('interval_ms');
    const tz = await call(
      app,
      as['inst-a'],
      'GET',
      q('/api/v1/stats/passes', { ...range(), interval_ms: 3_600_000, time_zone: 'Mars/Olympus' }),
    );
    expect(tz.statusCode).toBe(400);
    expect(tz.json().error?.field).toBe('time_zone');
    expect(
      (await call(app, as.aud, 'GET', q('/api/v1/stats/passes', { ...range(), interval_ms: 3_600_000 })))
        .statusCode,
    ).toBe(403);
  });
});

describe('audit trail after the event routes', () => {
  it('still verifies', () => {
    expect(verifyAuditChain(env.db).ok).toBe(true);
  });
});
