/**
 * The REST live streams (server-sent events) on a real listening server (127.0.0.1:0) read with
 * fetch: events filtered by area and query, resumption with Last-Event-ID (counted: each event
 * exactly once), refusals before the stream starts (400, 403), and alerts in the caller's area.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { PLACE_A1, startApiEnv, type ApiEnv } from '../fixtures-api/env.ts';
import { REASON, buildApiApp, headersOf, login, q, type As } from './helpers.ts';

let env: ApiEnv;
let app: FastifyInstance;
let base = '';
const as: Record<string, As> = {};

beforeAll(async () => {
  env = await startApiEnv({ config: { live: { heartbeat_ms: 1000 } } });
  app = await buildApiApp(env);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${addr.port}`;
  for (const u of ['op-a', 'op-b', 'inst-a']) as[u] = { cookie: await login(app, u) };
}, 120_000);

afterAll(async () => {
  await app.close();
  await env.stop();
});

interface Sse {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/** Open an SSE stream and read messages until `stop` says so (then disconnect). */
async function readSse(
  path: string,
  headers: Record<string, string>,
  stop: (msgs: Sse[]) => boolean,
  onOpen?: () => Promise<void>,
): Promise<{ status: number; msgs: Sse[]; body?: unknown }> {
  const ac = new AbortController();
  const guard = setTimeout(() => {
    ac.abort();
  }, 20_000);
  try {
    const res = await fetch(`${base}${path}`, { headers, signal: ac.signal });
    if (res.status !== 200 || res.body === null)
      return { status: res.status, msgs: [], body: await res.json() };
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const msgs: Sse[] = [];
    let buf = '';
    let opened = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, at);
        buf = buf.slice(at + 2);
        if (!opened) {
          opened = true;
          await onOpen?.();
        }
        if (frame.startsWith(':')) continue;
        const m: Sse = { event: 'message', data: {} };
        for (const line of frame.split('\n')) {
          const i = line.indexOf(': ');
          const [k, v] = i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 2)];
          if (k === 'id') m.id = v;
          else if (k === 'event') m.event = v;
          else if (k === 'data') m.data = JSON.parse(v) as Record<string, unknown>;
        }
        msgs.push(m);
        if (stop(msgs)) {
          ac.abort();
          await reader.cancel().catch(() => undefined);
          return { status: 200, msgs };
        }
      }
    }
    return { status: 200, msgs };
  } catch (err) {
    if ((err as Error).name === 'AbortError') return { status: 200, msgs: [] };
    throw err;
  } finally {
    clearTimeout(guard);
  }
}

const eventIds = (msgs: Sse[]): string[] =>
  msgs.filter((m) => m.event === 'event').map((m) => String(m.data.event_id));

describe('GET /api/v1/live/events (SSE)', () => {
  it('streams the caller’s area only, and resumes from Last-Event-ID with each event exactly once', async () => {
    const mine: Event[] = [];
    const first = await readSse(
      q('/api/v1/live/events', { reason: REASON }),
      headersOf(as['op-a']),
      (msgs) => eventIds(msgs).length >= 3,
      async () => {
        for (let i = 0; i < 5; i++) {
          mine.push(await env.addEvent({ cameraId: 'cam-a1', siteId: 'site-a' }));
          await env.addEvent({ cameraId: 'cam-b1', siteId: 'site-b' }); // another area: never shown
        }
      },
    );
    expect(first.status).toBe(200);
    const got1 = eventIds(first.msgs);
    expect(got1).toEqual(mine.slice(0, 3).map((e) => e.eventId));
    const lastId = [...first.msgs].reverse().find((m) => m.id !== undefined)?.id ?? '';
    for (let i = 0; i < 2; i++) mine.push(await env.addEvent({ cameraId: 'cam-a2', siteId: 'site-a' })); // while away
    const second = await readSse(
      q('/api/v1/live/events', { reason: REASON }),
      { ...headersOf(as['op-a']), 'last-event-id': lastId },
      (msgs) => eventIds(msgs).length >= mine.length - got1.length,
    );
    const all = [...got1, ...eventIds(second.msgs)];
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual(mine.map((e) => e.eventId));
  }, 60_000);

  it('filters by query (camera, kind)', async () => {
    let want = '';
    const r = await readSse(
      q('/api/v1/live/events', { reason: REASON, camera_id: 'cam-a2', kind: 'face' }),
      headersOf(as['op-a']),
      (msgs) => eventIds(msgs).length >= 1,
      async () => {
        await env.addEvent({ cameraId: 'cam-a1', siteId: 'site-a', kind: 'face' });
        await env.addEvent({ cameraId: 'cam-a2', siteId: 'site-a', kind: 'plate' });
        want = (await env.addEvent({ cameraId: 'cam-a2', siteId: 'site-a', kind: 'face' })).eventId;
      },
    );
    expect(eventIds(r.msgs)).toEqual([want]);
  }, 60_000);

  it('refuses before streaming: no reason (400), bad filter (400), bad cursor (400), wrong role (403)', async () => {
    const noReason = await readSse('/api/v1/live/events', headersOf(as['op-a']), () => true);
    expect(noReason.status).toBe(400);
    expect(noReason.body).toMatchObject({ error: { code: 'GATEWAY_ERR_REASON_REQUIRED', field: 'reason' } });
    const badKind = await readSse(
      q('/api/v1/live/events', { reason: REASON, kind: 'bus' }),
      headersOf(as['op-a']),
      () => true,
    );
    expect(badKind.status).toBe(400);
    const badCursor = await readSse(
      q('/api/v1/live/events', { reason: REASON }),
      { ...headersOf(as['op-a']), 'last-event-id': 'garbage' },
      () => true,
    );
    expect(badCursor.body).toMatchObject({ error: { field: 'cursor' } });
    const installer = await readSse(
      q('/api/v1/live/events', { reason: REASON }),
      headersOf(as['inst-a']),
      () => true,
    );
    expect(installer.status).toBe(403);
  }, 60_000);
});

describe('GET /api/v1/live/alerts (SSE)', () => {
  it('streams alerts raised in the caller’s area only', async () => {
    const entry = env.deps.alertEntries.request(
      { kind: 'user', id: 'op-a', name: 'op-a', role: 'operator', scope: { district: 'Anxi' } },
      {
        plate: '京A77777',
        caseRef: 'XS-LIVE-1',
        reason: 'stolen vehicle live test',
        expiresMs: Date.now() + 3_600_000,
      },
    );
    env.deps.alertEntries.approve(
      { kind: 'user', id: 'op-a2', name: 'op-a2', role: 'operator', scope: { district: 'Anxi' } },
      entry.entryId,
    );
    const hit = async (): Promise<void> => {
      const e = await env.addEvent({
        cameraId: 'cam-a1',
        siteId: 'site-a',
        plate: '京A77777',
        firstSeenMs: Date.now() - 500,
      });
      env.deps.alerts.processEvent(e, { ...PLACE_A1, grid: '' });
    };
    const a = await readSse(
      '/api/v1/live/alerts',
      headersOf(as['op-a']),
      (msgs) => msgs.some((m) => m.event === 'alert'),
      hit,
    );
    const alert = a.msgs.find((m) => m.event === 'alert');
    expect(alert?.data).toMatchObject({
      change: 'raised',
      alert: { plate: '京A77777', camera_id: 'cam-a1' },
    });
    // op-b (Baiyun) sees its own district's alert, never the Anxi one raised just before it.
    const entryB = env.deps.alertEntries.request(
      { kind: 'user', id: 'op-b', name: 'op-b', role: 'operator', scope: { district: 'Baiyun' } },
      {
        plate: '京B88888',
        caseRef: 'XS-LIVE-2',
        reason: 'stolen vehicle live test',
        expiresMs: Date.now() + 3_600_000,
      },
    );
    env.deps.alertEntries.approve(
      { kind: 'user', id: 'op-all', name: 'op-all', role: 'operator', scope: {} },
      entryB.entryId,
    );
    const b = await readSse(
      '/api/v1/live/alerts?include_open=true',
      headersOf(as['op-b']),
      (msgs) => msgs.some((m) => m.event === 'alert'),
      async () => {
        await hit();
        const e = await env.addEvent({
          cameraId: 'cam-b1',
          siteId: 'site-b',
          plate: '京B88888',
          firstSeenMs: Date.now() - 500,
        });
        env.deps.alerts.processEvent(e, { district: 'Baiyun', street: '', community: '', grid: '' });
      },
    );
    expect(
      b.msgs.filter((m) => m.event === 'alert').map((m) => (m.data.alert as { plate: string }).plate),
    ).toEqual(['京B88888']);
    const bad = await readSse('/api/v1/live/alerts?include_open=perhaps', headersOf(as['op-a']), () => true);
    expect(bad.status).toBe(400);
  }, 60_000);
});
