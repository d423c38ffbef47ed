/**
 * The gRPC API on 127.0.0.1:0 with real grpc-js clients (the generated ones) against the real
 * stack (SQLite registry, InfluxDB index on a real influxd, evidence directory). Each method: a
 * happy path, bad input (INVALID_ARGUMENT naming the field), and access outside the key's area
 * (filtered, or NOT_FOUND exactly like a missing resource) or services (PERMISSION_DENIED). Also:
 * UNAUTHENTICATED, RESOURCE_EXHAUSTED (rate and stream limits), deadlines, the health service,
 * and TLS.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  status,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlertChange,
  CameraLifecycle,
  EventServiceClient,
  EvidencePart,
  type StreamAlertsResponse,
  type StreamEventsResponse,
  type WatchCameraStatusResponse,
} from '../../../proto/gen/sharpeyes/v1/api.ts';
import { CameraState } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { EventKind, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { startGrpcServer, type GrpcServer } from '../../../gateway/src/grpc/server.ts';
import type { GatewayDeps } from '../../../gateway/src/http/api/deps.ts';
import type { EventSearch } from '../../../gateway/src/index/types.ts';
import { makeTempDir } from '../../bench/lifetime.ts';
import { PLACE_A1, startApiEnv, testApiConfig, type ApiEnv } from '../fixtures-api/env.ts';
import {
  auth,
  clients,
  collect,
  errorFieldOf,
  gatewayCode,
  startServer,
  unary,
  type Clients,
} from './helpers.ts';

const REASON = 'case 2025-XS-0815 stolen vehicle';

let env: ApiEnv;
let server: GrpcServer;
let c: Clients;
const ev: { a1: Event[]; b1: Event[] } = { a1: [], b1: [] };
let t0: number;

beforeAll(async () => {
  env = await startApiEnv();
  server = await startServer(env);
  c = clients(server);
  t0 = Date.now();
  for (let i = 0; i < 3; i++) {
    ev.a1.push(
      await env.addEvent({
        cameraId: 'cam-a1',
        siteId: 'site-a',
        firstSeenMs: t0 - (30 - i) * 60_000,
        plate: `京A2000${i}`,
      }),
    );
    ev.b1.push(
      await env.addEvent({
        cameraId: 'cam-b1',
        siteId: 'site-b',
        firstSeenMs: t0 - (20 - i) * 60_000,
        plate: `京B2000${i}`,
      }),
    );
  }
}, 120_000);

afterAll(async () => {
  c.close();
  await server.stop();
  await env.stop();
});

const search = (over: Record<string, unknown> = {}) => ({
  reason: REASON,
  filter: undefined,
  fromMs: t0 - 3_600_000,
  toMs: t0 + 60_000,
  pageSize: 0,
  pageToken: '',
  includeEvidence: false,
  ...over,
});

function expectStatus(err: ServiceError | undefined, code: number, gateway?: string, field?: string): void {
  expect(err?.code, err?.details).toBe(code);
  if (gateway !== undefined) expect(gatewayCode(err)).toBe(gateway);
  if (field !== undefined) expect(errorFieldOf(err)).toBe(field);
}

describe('EventService', () => {
  it('SearchEvents: the key’s area only, paged, audited', async () => {
    const r = await unary(c.events, 'searchEvents', search({ pageSize: 2 }), env.keys.keyA);
    expect(r.err).toBeUndefined();
    expect(r.res?.events.map((e) => e.cameraId)).toEqual(['cam-a1', 'cam-a1']);
    const next = await unary(
      c.events,
      'searchEvents',
      search({ pageSize: 2, pageToken: r.res?.nextPageToken }),
      env.keys.keyA,
    );
    expect(next.res?.events).toHaveLength(1);
    expect(next.res?.nextPageToken).toBe('');
    const rec = env.deps.audit.list({ action: 'event.search', limit: 1 })[0];
    expect(rec?.details).toMatchObject({ via: 'grpc', reason: REASON, result_count: 1 });
    const b = await unary(
      c.events,
      'searchEvents',
      search({
        filter: {
          kinds: [],
          cameraIds: ['cam-a1'],
          siteIds: [],
          plate: '',
          platePattern: '',
          minConfidence: 0,
          direction: 0,
        },
      }),
      env.keys.keyB,
    );
    expect(b.res?.events).toEqual([]);
    const withEvidence = await unary(
      c.events,
      'searchEvents',
      search({ pageSize: 1, includeEvidence: true }),
      env.keys.keyA,
    );
    const e = withEvidence.res?.events[0];
    expect(
      createHash('sha256')
        .update(e?.evidence?.jpeg ?? Buffer.alloc(0))
        .digest('hex'),
    ).toBe(e?.evidence?.sha256);
  });

  it('SearchEvents: bad input, no key, wrong service', async () => {
    expectStatus(
      (await unary(c.events, 'searchEvents', search({ reason: '' }), env.keys.keyA)).err,
      status.INVALID_ARGUMENT,
      'GATEWAY_ERR_REASON_REQUIRED',
      'reason',
    );
    expectStatus(
      (await unary(c.events, 'searchEvents', search({ toMs: 0 }), env.keys.keyA)).err,
      status.INVALID_ARGUMENT,
      'GATEWAY_ERR_QUERY_INVALID',
      'to_ms',
    );
    expectStatus(
      (
        await unary(
          c.events,
          'searchEvents',
          search({
            filter: {
              kinds: [7],
              cameraIds: [],
              siteIds: [],
              plate: '',
              platePattern: '',
              minConfidence: 0,
              direction: 0,
            },
          }),
          env.keys.keyA,
        )
      ).err,
      status.INVALID_ARGUMENT,
      undefined,
      'kinds[0]',
    );
    expectStatus(
      (await unary(c.events, 'searchEvents', search({ pageToken: 'zzz' }), env.keys.keyA)).err,
      status.INVALID_ARGUMENT,
      undefined,
      'cursor',
    );
    expectStatus((await unary(c.events, 'searchEvents', search(), undefined)).err, status.UNAUTHENTICATED);
    expectStatus(
      (
        await unary(
          c.events,
          'searchEvents',
          search(),
          'se_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        )
      ).err,
      status.UNAUTHENTICATED,
    );
    const noEvidence = await unary(
      c.events,
      'searchEvents',
      search({ includeEvidence: true }),
      env.keys.keyEventsOnly,
    );
    expectStatus(noEvidence.err, status.PERMISSION_DENIED, 'GATEWAY_ERR_FORBIDDEN');
  });

  it('GetEvent: own area; another area’s event is NOT_FOUND like a missing one; bad id', async () => {
    const a = ev.a1[0] as Event;
    const r = await unary(
      c.events,
      'getEvent',
      { reason: REASON, eventId: a.eventId, includeEvidence: true },
      env.keys.keyA,
    );
    expect(r.res?.event?.eventId).toBe(a.eventId);
    expect(r.res?.event?.evidence?.jpeg.length).toBeGreaterThan(0);
    const other = await unary(
      c.events,
      'getEvent',
      { reason: REASON, eventId: (ev.b1[0] as Event).eventId, includeEvidence: false },
      env.keys.keyA,
    );
    const missing = await unary(
      c.events,
      'getEvent',
      { reason: REASON, eventId: '01ZZZZZZZZZZZZZZZZZZZZZZZZ', includeEvidence: false },
      env.keys.keyA,
    );
    expectStatus(other.err, status.NOT_FOUND, 'GATEWAY_ERR_NOT_FOUND');
    expect(other.err?.details.replace(/event \S+/, '')).toBe(missing.err?.details.replace(/event \S+/, ''));
    expectStatus(
      (
        await unary(
          c.events,
          'getEvent',
          { reason: REASON, eventId: 'a/b', includeEvidence: false },
          env.keys.keyA,
        )
      ).err,
      status.INVALID_ARGUMENT,
      undefined,
      'event_id',
    );
  });

  it('GetEvidence: verified bytes; NOT_FOUND outside the area; PERMISSION_DENIED without the service', async () => {
    const a = ev.a1[1] as Event;
    const r = await unary(
      c.events,
      'getEvidence',
      { reason: REASON, eventId: a.eventId, part: EvidencePart.EVIDENCE_PART_CONTEXT },
      env.keys.keyA,
    );
    expect(r.res?.sha256).toBe(a.evidence?.contextSha256);
    expect(
      createHash('sha256')
        .update(r.res?.jpeg ?? Buffer.alloc(0))
        .digest('hex'),
    ).toBe(r.res?.sha256);
    expect(env.deps.audit.list({ action: 'evidence.fetch', limit: 1 })[0]?.target).toBe(
      `evidence:${a.evidence?.contextSha256}`,
    );
    expectStatus(
      (
        await unary(
          c.events,
          'getEvidence',
          {
            reason: REASON,
            eventId: (ev.b1[1] as Event).eventId,
            part: EvidencePart.EVIDENCE_PART_UNSPECIFIED,
          },
          env.keys.keyA,
        )
      ).err,
      status.NOT_FOUND,
    );
    expectStatus(
      (
        await unary(
          c.events,
          'getEvidence',
          { reason: REASON, eventId: a.eventId, part: EvidencePart.EVIDENCE_PART_UNSPECIFIED },
          env.keys.keyEventsOnly,
        )
      ).err,
      status.PERMISSION_DENIED,
    );
    expectStatus(
      (
        await unary(
          c.events,
          'getEvidence',
          { reason: 'x', eventId: a.eventId, part: EvidencePart.EVIDENCE_PART_UNSPECIFIED },
          env.keys.keyA,
        )
      ).err,
      status.INVALID_ARGUMENT,
      undefined,
      'reason',
    );
  });

  it('StreamEvents with max_batch: events ready together arrive in one response, in order, once', async () => {
    const call = c.events.streamEvents(
      {
        reason: REASON,
        filter: undefined,
        includeEvidence: false,
        resumeCursor: '',
        fromMs: 0,
        maxBatch: 50,
      },
      auth(env.keys.keyA),
    );
    const burst: Event[] = [];
    // The first message (an idle checkpoint) says the stream is live: then store 20 events (as
    // ingest does) and announce them in one go.
    const announce = async (): Promise<void> => {
      const stored: Event[] = [];
      for (let i = 0; i < 20; i++) {
        stored.push(await env.addEvent({ cameraId: 'cam-a1', siteId: 'site-a' }, { publish: false }));
      }
      burst.push(...stored);
      env.live.publishAll(stored);
    };
    const got = (ms: StreamEventsResponse[]): string[] =>
      ms.flatMap((m) => [...(m.event !== undefined ? [m.event] : []), ...m.events]).map((e) => e.eventId);
    const r = await collect<StreamEventsResponse>(call, (ms) => {
      if (ms.length === 1) void announce();
      return got(ms).length >= 20;
    });
    expect(got(r.messages)).toEqual(burst.map((e) => e.eventId));
    expect(r.messages.some((m) => m.events.length > 1)).toBe(true);
  });

  it('StreamEvents: live events of the key’s area only; bad input and area', async () => {
    const call = c.events.streamEvents(
      { reason: REASON, filter: undefined, includeEvidence: false, resumeCursor: '', fromMs: 0, maxBatch: 0 },
      auth(env.keys.keyA),
    );
    let want = '';
    const produce = async (): Promise<void> => {
      await env.addEvent({ cameraId: 'cam-b1', siteId: 'site-b' });
      want = (await env.addEvent({ cameraId: 'cam-a2', siteId: 'site-a' })).eventId;
    };
    // Produce once the first message (an idle checkpoint) shows the stream is live.
    const r = await collect<StreamEventsResponse>(call, (ms) => {
      if (ms.length === 1) void produce();
      return ms.some((m) => m.event !== undefined);
    });
    expect(r.messages.filter((m) => m.event !== undefined).map((m) => m.event?.eventId)).toEqual([want]);
    const bad = c.events.streamEvents(
      {
        reason: REASON,
        filter: undefined,
        includeEvidence: false,
        resumeCursor: 'nope',
        fromMs: 0,
        maxBatch: 0,
      },
      auth(env.keys.keyA),
    );
    const br = await collect(bad, () => true);
    expectStatus(br.err, status.INVALID_ARGUMENT, undefined, 'resume_cursor');
    const noReason = await collect(
      c.events.streamEvents(
        { reason: '', filter: undefined, includeEvidence: false, resumeCursor: '', fromMs: 0, maxBatch: 0 },
        auth(env.keys.keyA),
      ),
      () => true,
    );
    expectStatus(noReason.err, status.INVALID_ARGUMENT, 'GATEWAY_ERR_REASON_REQUIRED');
    const denied = await collect(
      c.events.streamEvents(
        {
          reason: REASON,
          filter: undefined,
          includeEvidence: true,
          resumeCursor: '',
          fromMs: 0,
          maxBatch: 0,
        },
        auth(env.keys.keyEventsOnly),
      ),
      () => true,
    );
    expectStatus(denied.err, status.PERMISSION_DENIED);
  });
});

describe('CameraService', () => {
  it('ListCameras and GetCamera within the key’s area', async () => {
    const l = await unary(
      c.cameras,
      'listCameras',
      { area: undefined, pageSize: 1, pageToken: '', siteId: '', lifecycles: [] },
      env.keys.keyA,
    );
    expect(l.res?.cameras.map((x) => x.cameraId)).toEqual(['cam-a1']);
    const l2 = await unary(
      c.cameras,
      'listCameras',
      { area: undefined, pageSize: 1, pageToken: l.res?.nextPageToken ?? '', siteId: '', lifecycles: [] },
      env.keys.keyA,
    );
    expect(l2.res?.cameras.map((x) => x.cameraId)).toEqual(['cam-a2']);
    const retired = await unary(
      c.cameras,
      'listCameras',
      {
        area: undefined,
        pageSize: 0,
        pageToken: '',
        siteId: '',
        lifecycles: [CameraLifecycle.CAMERA_LIFECYCLE_RETIRED],
      },
      env.keys.keyA,
    );
    expect(retired.res?.cameras).toEqual([]);
    const b = await unary(
      c.cameras,
      'listCameras',
      {
        area: { district: 'Anxi', street: '', community: '', grid: '' },
        pageSize: 0,
        pageToken: '',
        siteId: '',
        lifecycles: [],
      },
      env.keys.keyB,
    );
    expect(b.res?.cameras).toEqual([]);
    const g = await unary(c.cameras, 'getCamera', { cameraId: 'cam-a1' }, env.keys.keyA);
    expect(g.res?.camera).toMatchObject({ cameraId: 'cam-a1', place: { district: 'Anxi' } });
    expectStatus(
      (await unary(c.cameras, 'getCamera', { cameraId: 'cam-b1' }, env.keys.keyA)).err,
      status.NOT_FOUND,
    );
    expectStatus(
      (
        await unary(
          c.cameras,
          'listCameras',
          {
            area: { district: '', street: 'Hutou', community: '', grid: '' },
            pageSize: 0,
            pageToken: '',
            siteId: '',
            lifecycles: [],
          },
          env.keys.keyA,
        )
      ).err,
      status.INVALID_ARGUMENT,
      undefined,
      'area.street',
    );
    expectStatus(
      (
        await unary(
          c.cameras,
          'listCameras',
          { area: undefined, pageSize: 0, pageToken: 'bad', siteId: '', lifecycles: [] },
          env.keys.keyA,
        )
      ).err,
      status.INVALID_ARGUMENT,
      undefined,
      'cursor',
    );
  });

  it('WatchCameraStatus: statuses of the key’s area', async () => {
    const push = (cameraId: string, siteId: string): void => {
      env.status.push({
        siteId,
        cameraId,
        state: CameraState.CAMERA_STATE_OFFLINE,
        inputFps: 0,
        analysedFps: 0,
        droppedFrames: 0,
        lastFrameMs: 0,
        lastError: 'no route',
        lastErrorMs: Date.now(),
        restarts: 1,
        updatedMs: Date.now(),
      });
    };
    push('cam-a1', 'site-a');
    const call = c.cameras.watchCameraStatus(
      { area: undefined, cameraIds: [], initial: true },
      auth(env.keys.keyA),
    );
    // The initial snapshot (cam-a1) shows the watch is live; then statuses arrive in two areas.
    const r = await collect<WatchCameraStatusResponse>(call, (ms) => {
      if (ms.length === 1) {
        push('cam-b1', 'site-b');
        push('cam-a2', 'site-a');
      }
      return ms.length >= 2;
    });
    expect(r.messages.map((m) => m.status?.cameraId)).toEqual(['cam-a1', 'cam-a2']);
    const bad = await collect(
      c.cameras.watchCameraStatus(
        { area: { district: '', street: '', community: 'V', grid: '' }, cameraIds: [], initial: true },
        auth(env.keys.keyA),
      ),
      () => true,
    );
    expectStatus(bad.err, status.INVALID_ARGUMENT);
    const none = await collect(
      c.cameras.watchCameraStatus(
        { area: undefined, cameraIds: [], initial: true },
        auth(env.keys.keyEventsOnly),
      ),
      () => true,
    );
    expectStatus(none.err, status.PERMISSION_DENIED);
  });
});

describe('AlertService', () => {
  it('ListAlerts, StreamAlerts and AcknowledgeAlert within the key’s area', async () => {
    const op = (id: string) => ({
      kind: 'user' as const,
      id,
      name: id,
      role: 'operator' as const,
      scope: { district: 'Anxi' },
    });
    const entry = env.deps.alertEntries.request(op('op-a'), {
      plate: '京A66666',
      caseRef: 'XS-GRPC-1',
      reason: 'stolen vehicle grpc test',
      expiresMs: Date.now() + 3_600_000,
    });
    env.deps.alertEntries.approve(op('op-a2'), entry.entryId);
    const hit = async (): Promise<void> => {
      const e = await env.addEvent({
        cameraId: 'cam-a1',
        siteId: 'site-a',
        plate: '京A66666',
        firstSeenMs: Date.now() - 500,
      });
      env.deps.alerts.processEvent(e, { ...PLACE_A1, grid: '' });
    };
    await hit(); // open before the stream starts: sent first, as OPEN
    const stream = c.alerts.streamAlerts({ includeOpen: true }, auth(env.keys.keyA));
    const got = await collect<StreamAlertsResponse>(stream, (ms) => {
      if (ms.length === 1) void hit();
      return ms.length >= 2;
    });
    expect(got.messages[0]).toMatchObject({
      change: AlertChange.ALERT_CHANGE_OPEN,
      alert: { plate: '京A66666' },
    });
    expect(got.messages[1]).toMatchObject({
      change: AlertChange.ALERT_CHANGE_RAISED,
      alert: { plate: '京A66666', cameraId: 'cam-a1' },
    });
    const alertId = got.messages[1]?.alert?.alertId ?? 0;
    const list = await unary(
      c.alerts,
      'listAlerts',
      { openOnly: true, pageSize: 0, pageToken: '' },
      env.keys.keyA,
    );
    expect(list.res?.alerts.map((a) => a.alertId)).toContain(alertId);
    expect(
      (await unary(c.alerts, 'listAlerts', { openOnly: false, pageSize: 0, pageToken: '' }, env.keys.keyB))
        .res?.alerts,
    ).toEqual([]);
    expectStatus(
      (await unary(c.alerts, 'acknowledgeAlert', { alertId, note: '' }, env.keys.keyB)).err,
      status.NOT_FOUND,
    );
    expectStatus(
      (await unary(c.alerts, 'acknowledgeAlert', { alertId, note: 'x'.repeat(600) }, env.keys.keyA)).err,
      status.INVALID_ARGUMENT,
      undefined,
      'note',
    );
    const ack = await unary(c.alerts, 'acknowledgeAlert', { alertId, note: 'patrol sent' }, env.keys.keyA);
    expect(ack.res?.alert?.acknowledgedBy).toMatch(/^key:/);
    expectStatus(
      (await unary(c.alerts, 'acknowledgeAlert', { alertId, note: '' }, env.keys.keyA)).err,
      status.FAILED_PRECONDITION,
    );
    expectStatus(
      (
        await unary(
          c.alerts,
          'listAlerts',
          { openOnly: false, pageSize: 0, pageToken: '' },
          env.keys.keyEventsOnly,
        )
      ).err,
      status.PERMISSION_DENIED,
    );
  });
});

describe('SnapshotService', () => {
  it('answers UNIMPLEMENTED in the area (no snapshot source wired), NOT_FOUND outside, INVALID_ARGUMENT without reason', async () => {
    expectStatus(
      (await unary(c.snapshots, 'getSnapshot', { reason: REASON, cameraId: 'cam-a1' }, env.keys.keyA)).err,
      status.UNIMPLEMENTED,
    );
    expectStatus(
      (await unary(c.snapshots, 'getSnapshot', { reason: REASON, cameraId: 'cam-b1' }, env.keys.keyA)).err,
      status.NOT_FOUND,
    );
    expectStatus(
      (await unary(c.snapshots, 'getSnapshot', { reason: '', cameraId: 'cam-a1' }, env.keys.keyA)).err,
      status.INVALID_ARGUMENT,
    );
  });
});

describe('around the services', () => {
  it('RESOURCE_EXHAUSTED past the request rate and the stream limit of a key', async () => {
    const limited: GatewayDeps = {
      ...env.deps,
      config: testApiConfig({ limits: { requests_per_s: 1, burst: 2, max_streams: 1 } }),
    };
    const s = await startGrpcServer(limited, { host: '127.0.0.1', port: 0 });
    const lc = clients(s);
    try {
      // Six at once against a burst of 2 at 1/s: some must be refused, whatever the machine's speed.
      const codes = await Promise.all(
        Array.from(
          { length: 6 },
          async () =>
            (await unary(lc.cameras, 'getCamera', { cameraId: 'cam-a1' }, env.keys.keyAll)).err?.code,
        ),
      );
      expect(codes.filter((x) => x === undefined).length).toBeGreaterThanOrEqual(1);
      expect(codes).toContain(status.RESOURCE_EXHAUSTED);
      // One stream of keyA is open (its first message, an idle checkpoint, proves it); a second is refused.
      const first = lc.events.streamEvents(
        {
          reason: REASON,
          filter: undefined,
          includeEvidence: false,
          resumeCursor: '',
          fromMs: 0,
          maxBatch: 0,
        },
        auth(env.keys.keyA),
      );
      const opened = new Promise<void>((resolve) => {
        first.once('data', () => {
          resolve();
        });
      });
      const firstDone = collect(first, () => false);
      await opened;
      const second = await collect(
        lc.alerts.streamAlerts({ includeOpen: false }, auth(env.keys.keyA)),
        () => true,
      );
      expectStatus(second.err, status.RESOURCE_EXHAUSTED, 'GATEWAY_ERR_RESOURCE_EXHAUSTED');
      first.cancel();
      expect((await firstDone).err).toBeUndefined(); // cancelled by us, not failed
    } finally {
      lc.close();
      await s.stop();
    }
  });

  it('stops at the deadline: DEADLINE_EXCEEDED and nothing audited as delivered', async () => {
    // A search that takes longer than the client's deadline (the real index, delayed).
    const slow: EventSearch = {
      search: async (q) => {
        await new Promise((r) => setTimeout(r, 1200));
        return env.index.search(q);
      },
      getEvent: (id) => env.index.getEvent(id),
      passStats: (q) => env.index.passStats(q),
      retention: () => env.index.retention(),
    };
    const s = await startGrpcServer({ ...env.deps, search: slow }, { host: '127.0.0.1', port: 0 });
    const lc = clients(s);
    try {
      const before = env.deps.audit.head().seq;
      const r = await unary(lc.events, 'searchEvents', search(), env.keys.keyA, 300);
      expectStatus(r.err, status.DEADLINE_EXCEEDED);
      await new Promise((r2) => setTimeout(r2, 1500));
      expect(env.deps.audit.list({ action: 'event.search', limit: 1 })[0]?.seq ?? 0).toBeLessThanOrEqual(
        before,
      );
    } finally {
      lc.close();
      await s.stop();
    }
  });

  it('serves the standard health service', async () => {
    const def = loadSync(healthProtoPath, { enums: String });
    const pkg = loadPackageDefinition(def) as unknown as {
      grpc: { health: { v1: { Health: ServiceClientConstructor } } };
    };
    const client = new pkg.grpc.health.v1.Health(server.address, credentials.createInsecure()) as unknown as {
      check(req: { service: string }, cb: (err: ServiceError | null, res: { status: string }) => void): void;
      close(): void;
    };
    try {
      const check = (service: string) =>
        new Promise<{ err: ServiceError | null; res: { status: string } }>((resolve) => {
          client.check({ service }, (err, res) => {
            resolve({ err, res });
          });
        });
      expect((await check('')).res.status).toBe('SERVING');
      expect((await check('sharpeyes.v1.EventService')).res.status).toBe('SERVING');
      expect((await check('no.such.Service')).err?.code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it('serves over TLS when configured', async () => {
    const dir = makeTempDir('grpc-tls');
    try {
      const key = join(dir.path, 'key.pem');
      const cert = join(dir.path, 'cert.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      const tlsDeps: GatewayDeps = {
        ...env.deps,
        config: testApiConfig({
          grpc: { tls: { key_file: key, cert_file: cert, require_client_cert: false } },
        }),
      };
      const s = await startGrpcServer(tlsDeps, { host: '127.0.0.1', port: 0 });
      expect(s.tls).toBe(true);
      const client = new EventServiceClient(s.address, credentials.createSsl(readFileSync(cert)));
      const plain = new EventServiceClient(s.address, credentials.createInsecure());
      try {
        const ok = await unary(
          client,
          'getEvent',
          { reason: REASON, eventId: (ev.a1[0] as Event).eventId, includeEvidence: false },
          env.keys.keyA,
        );
        expect(ok.res?.event?.kind).toBe(EventKind.EVENT_KIND_PLATE);
        const refused = await unary(
          plain,
          'getEvent',
          { reason: REASON, eventId: (ev.a1[0] as Event).eventId, includeEvidence: false },
          env.keys.keyA,
          15_000,
        );
        expect(refused.err?.code).toBe(status.UNAVAILABLE);
      } finally {
        client.close();
        plain.close();
        await s.stop();
      }
    } finally {
      dir.remove();
    }
  });
});
