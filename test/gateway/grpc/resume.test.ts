/**
 * StreamEvents resumption, proved by counting: a real client replays stored events from a time,
 * disconnects in the middle of the replay, resumes with its last cursor, disconnects again once
 * live, and resumes again — while a producer keeps storing and publishing events the whole time
 * (as ingest does: persist, then publish). Every event must arrive exactly once: no gap, no
 * duplicate, across both disconnects and the replay/live seam.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEventsResponse } from '../../../proto/gen/sharpeyes/v1/api.ts';
import type { GrpcServer } from '../../../gateway/src/grpc/server.ts';
import { startApiEnv, type ApiEnv } from '../fixtures-api/env.ts';
import { auth, clients, collect, startServer, type Clients } from './helpers.ts';

const REASON = 'case 2025-XS-0815 resume test';

let env: ApiEnv;
let server: GrpcServer;
let c: Clients;

beforeAll(async () => {
  env = await startApiEnv({ config: { live: { replay_window_events: 10, heartbeat_ms: 500 } } });
  server = await startServer(env);
  c = clients(server);
}, 120_000);

afterAll(async () => {
  c.close();
  await server.stop();
  await env.stop();
});

describe('StreamEvents resume (gRPC)', () => {
  it('delivers every event exactly once across disconnects in the replay and in the live phase', async () => {
    const t0 = Date.now();
    const expected: string[] = [];
    for (let i = 0; i < 40; i++) {
      const cameraId = i % 3 === 0 ? 'cam-a2' : 'cam-a1';
      expected.push(
        (await env.addEvent({ cameraId, siteId: 'site-a', firstSeenMs: t0 - (50 - i) * 60_000 })).eventId,
      );
    }
    // Another area: the key never sees these.
    for (let i = 0; i < 5; i++)
      await env.addEvent({ cameraId: 'cam-b1', siteId: 'site-b', firstSeenMs: t0 - (45 - i) * 60_000 });

    // The producer: stores and publishes events (some a little in the past, as edges deliver them).
    const ctl = { producing: true };
    let produced = 0;
    const producer = (async () => {
      while (ctl.producing) {
        produced += 1;
        const late = produced % 4 === 0 ? 90_000 : 0;
        const e = await env.addEvent({
          cameraId: produced % 2 === 0 ? 'cam-a1' : 'cam-a2',
          siteId: 'site-a',
          firstSeenMs: Date.now() - 1000 - late,
        });
        expected.push(e.eventId);
        if (produced % 5 === 0) await env.addEvent({ cameraId: 'cam-b1', siteId: 'site-b' });
        await new Promise((r) => setTimeout(r, 15));
      }
    })();

    const request = { reason: REASON, filter: undefined, includeEvidence: false, maxBatch: 0 };
    const got: string[] = [];
    const take = (ms: StreamEventsResponse[]) =>
      ms.flatMap((m) => (m.event === undefined ? [] : [m.event.eventId]));
    const last = (ms: StreamEventsResponse[]) => ms[ms.length - 1]?.cursor ?? '';

    // 1. Replay from a time; leave in the middle of the replay.
    const s1 = await collect<StreamEventsResponse>(
      c.events.streamEvents({ ...request, resumeCursor: '', fromMs: t0 - 60 * 60_000 }, auth(env.keys.keyA)),
      (ms) => take(ms).length >= 15,
    );
    expect(s1.err).toBeUndefined();
    expect(s1.messages.every((m) => m.replay)).toBe(true);
    got.push(...take(s1.messages));

    // Away for a while: the producer goes on (these events are both in the index and in the ring).
    await new Promise((r) => setTimeout(r, 800));

    // 2. Resume; leave once live for a while.
    const s2 = await collect<StreamEventsResponse>(
      c.events.streamEvents({ ...request, resumeCursor: last(s1.messages), fromMs: 0 }, auth(env.keys.keyA)),
      (ms) => ms.filter((m) => !m.replay && m.event !== undefined).length >= 10,
    );
    expect(s2.err).toBeUndefined();
    got.push(...take(s2.messages));

    // 3. Resume again; stop producing; read until the last produced event has arrived.
    const s3Call = c.events.streamEvents(
      { ...request, resumeCursor: last(s2.messages), fromMs: 0 },
      auth(env.keys.keyA),
    );
    setTimeout(() => {
      ctl.producing = false;
    }, 500);
    // Done when every event has arrived and then an idle checkpoint says the stream caught up
    // (so a late duplicate would have shown).
    let complete = false;
    const s3 = await collect<StreamEventsResponse>(s3Call, (ms) => {
      if (ctl.producing) return false;
      const lastMsg = ms[ms.length - 1];
      if (complete && lastMsg?.event === undefined) return true;
      const seen = new Set([...got, ...take(ms)]);
      complete = expected.every((id) => seen.has(id));
      return false;
    });
    await producer;
    expect(s3.err).toBeUndefined();
    got.push(...take(s3.messages));

    expect(produced).toBeGreaterThan(10);
    expect(new Set(got).size, 'no duplicate').toBe(got.length);
    expect([...got].sort(), 'no gap').toEqual([...expected].sort());
  }, 120_000);
});
