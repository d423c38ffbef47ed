/**
 * The stack the UI tests drive: the gateway serving the web UI and the REST API, with users,
 * sites and cameras in two districts, reached by a real Chromium (browser.ts).
 *
 * Two ways to build it:
 * - `gateway` (the acceptance flows, test/ui/flows.test.ts): the real gateway program
 *   (gateway/src/app.ts) with the bench's simulated site (test/sim/site.ts: ONVIF cameras
 *   streaming scenes with known plates) and the edge agent (a child process, as on a site NVR).
 *   Seeded only through the public REST API. Events are real detections of the edge.
 * - `api` (test/ui/pages.test.ts): the REST API (gateway/src/http/api) and the UI on one fastify
 *   instance over the real stores — influxd index, evidence directory, SQLite registry, auth,
 *   audit, alerts and the live bus — with no MQTT, no edge and no simulated site: events and edge
 *   reports are written by the harness into those stores. It checks the pages against the real
 *   API; it is not a substitute for the acceptance flows.
 */
import { join } from 'node:path';
import { createHash, randomFillSync } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import { Registry as PromRegistry } from 'prom-client';
import sharp from 'sharp';
import { CameraState } from '../../proto/gen/sharpeyes/v1/camera.ts';
import { DeviceAccess } from '../../proto/gen/sharpeyes/v1/discovery.ts';
import { Direction, Event, EventKind, PlateColour } from '../../proto/gen/sharpeyes/v1/event.ts';
import { createUlidFactory } from '../../edge-agent/src/track/ulid.ts';
import { makeTempDir } from '../bench/lifetime.ts';
import { startInfluxd, type InfluxdHandle } from '../bench/services/index.ts';
import { waitFor } from '../bench/wait.ts';
import {
  PLACE_A,
  PLACE_A2,
  PLACE_B,
  UI_USERS,
  apiLogin,
  escapeXml,
  evidenceJpegs,
  startFullStack,
  type ApiSession,
  type StackEvent,
  type UiUser,
} from '../demo/stack.ts';

const REPO = join(import.meta.dirname, '..', '..');
const UI_DIR = join(REPO, 'gateway', 'ui');

// The cast, the REST client and evidence pictures: test/demo/stack.ts.
export { PLACE_A, PLACE_A2, PLACE_B, UI_USERS, evidenceJpegs };
export type { ApiSession, StackEvent, UiUser };

/** A running stack. */
export interface UiStack {
  readonly mode: 'gateway' | 'api';
  /** `http://127.0.0.1:port`. */
  readonly baseUrl: string;
  /** Where the UI is: `${baseUrl}/ui/`. */
  readonly uiUrl: string;
  readonly users: typeof UI_USERS;
  /** Registered, active cameras: two in district A (a checkpoint and a village entrance ~500 m apart), one in B. */
  readonly cameras: { a: string; a2: string; b: string };
  /** A device the edge discovered and nobody registered (the installer flow's camera). */
  readonly pending: { siteId: string; endpointReference: string; serialNumber: string };
  /** Whether cameras answer GET /api/v1/cameras/:id/snapshot (an edge takes the picture). */
  readonly hasCameraSnapshots: boolean;
  /**
   * A plate event at `cameraId` first seen at or after `sinceMs`. Gateway mode: waits for the
   * edge to detect one. API mode: writes one now (index, evidence, live bus, alerts).
   */
  plateEvent(
    cameraId: string,
    opts?: { plate?: string; sinceMs?: number; timeoutMs?: number },
  ): Promise<StackEvent>;
  /**
   * API mode only: what the edge would report for a newly registered camera — status online
   * and a first detection. Undefined in gateway mode (the real edge does it).
   */
  readonly simulateEdge: ((cameraId: string) => Promise<void>) | undefined;
  /** A REST session of `user`. */
  login(user: UiUser): Promise<ApiSession>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- the UI build

let built: Promise<string> | undefined;

/**
 * The UI built from the current sources into a temp dir of this test process (removed with it),
 * so test files running in parallel never rebuild under each other's feet. Once per process.
 */
export function buildUi(): Promise<string> {
  built ??= (async () => {
    const out = makeTempDir('ui-dist');
    const { build } = await import('vite');
    await build({
      configFile: join(UI_DIR, 'vite.config.ts'),
      build: { outDir: out.path, emptyOutDir: true },
      logLevel: 'warn',
    });
    return out.path;
  })();
  return built;
}

// ---------------------------------------------------------------- API mode

interface ApiModeCamera {
  cameraId: string;
  siteId: string;
  code: string;
  name: string;
  place: Record<string, string>;
  position: { latitude: number; longitude: number };
  category: 'village_entrance' | 'road_checkpoint';
  endpointReference: string;
  serial: string;
}

const API_CAMERAS: readonly ApiModeCamera[] = [
  {
    cameraId: 'qs-road',
    siteId: 'site-qs',
    code: 'QS-KK-001',
    name: '白石镇卡口',
    place: PLACE_A2,
    position: { latitude: 30.604, longitude: 114.303 },
    category: 'road_checkpoint',
    endpointReference: 'urn:uuid:5a1e0000-0000-4000-8000-000000000001',
    serial: 'SIM0001CHE',
  },
  {
    cameraId: 'qs-gate',
    siteId: 'site-qs',
    code: 'QS-CK-002',
    name: '东村村口',
    place: PLACE_A,
    position: { latitude: 30.6, longitude: 114.3 },
    category: 'village_entrance',
    endpointReference: 'urn:uuid:5a1e0000-0000-4000-8000-000000000002',
    serial: 'SIM0002VIL',
  },
  {
    cameraId: 'hx-gate',
    siteId: 'site-hx',
    code: 'HX-CK-001',
    name: '西坝村村口',
    place: PLACE_B,
    position: { latitude: 30.55, longitude: 114.25 },
    category: 'village_entrance',
    endpointReference: 'urn:uuid:5a1e0000-0000-4000-8000-00000000000b',
    serial: 'SIM000BVIL',
  },
];

const PENDING = {
  siteId: 'site-qs',
  endpointReference: 'urn:uuid:5a1e0000-0000-4000-8000-000000000003',
  serialNumber: 'SIM0003STR',
};

/** Plates of the seeded history: a vehicle through two district-A cameras and district B. */
export const HISTORY_PLATE = '鄂A12345';

async function startApiStack(): Promise<UiStack> {
  const dir = makeTempDir('ui-api');
  const stops: (() => Promise<void> | void)[] = [
    () => {
      dir.remove();
    },
  ];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s();
      } catch (err) {
        console.error('ui stack: a stop failed', err);
      }
    }
  };
  try {
    const distDir = await buildUi();
    const [
      { InfluxEventIndex },
      { DirEvidenceStore },
      { openSqlite, Registry },
      auth,
      { AuditLog },
      alertsMod,
      { LiveEventBus },
      api,
      { buildHttpApp },
      { registerUi },
      { silentLogger },
    ] = await Promise.all([
      import('../../gateway/src/index/influx-index.ts'),
      import('../../gateway/src/evidence/dir-store.ts'),
      import('../../gateway/src/registry/index.ts'),
      import('../../gateway/src/auth/index.ts'),
      import('../../gateway/src/audit/log.ts'),
      import('../../gateway/src/alerts/index.ts'),
      import('../../gateway/src/live/index.ts'),
      import('../../gateway/src/http/api/index.ts'),
      import('../../gateway/src/http/server.ts'),
      import('../../gateway/src/http/ui.ts'),
      import('../../gateway/src/log.ts'),
    ]);
    const logger = silentLogger();
    const influxd: InfluxdHandle = await startInfluxd();
    stops.push(() => influxd.stop());
    const index = await InfluxEventIndex.open({
      url: influxd.url,
      database: 'sharpeyes',
      retentionDays: { face: 30, plate: 30 },
    });
    const evidence = await DirEvidenceStore.open({ dir: join(dir.path, 'evidence') });
    const db = openSqlite(join(dir.path, 'gateway.sqlite'));
    stops.push(() => {
      db.close();
    });
    const audit = new AuditLog(db);
    const registry = new Registry(db, audit);
    // The cheapest scrypt the store accepts: these tests hash a handful of passwords.
    const users = new auth.UserStore(db, audit, { scrypt: { ln: 10, r: 8, p: 1 } });
    const sessions = new auth.SessionStore(db);
    const apiKeys = new auth.ApiKeyStore(db, audit);
    const login = new auth.LoginService(users, sessions, new auth.LoginRateLimiter(), audit);
    const entries = new alertsMod.AlertEntryStore(db, audit, { ackTimeoutMs: 10 * 60_000 });
    const alerts = new alertsMod.AlertService(db, audit, entries);
    const live = new LiveEventBus();
    const deps = {
      registry,
      users,
      sessions,
      apiKeys,
      login,
      audit,
      db,
      alerts,
      alertEntries: entries,
      search: index,
      evidence,
      live,
      config: Value.Default(api.ApiConfigSchema, {}) as Parameters<typeof api.registerRestApi>[1]['config'],
      logger,
    };
    const http: FastifyInstance = buildHttpApp({
      registry: new PromRegistry(),
      version: 'test',
      components: () => ({}),
      logger,
    });
    await api.registerRestApi(http, deps);
    await registerUi(http, { distDir });
    // A stand-in offline tile server (no real one runs here): plain PNG tiles with a grid and
    // their z/x/y, for the tiled-map test (which points the UI's config at it).
    http.get<{ Params: { z: string; x: string; y: string } }>(
      '/test-tiles/:z/:x/:y',
      async (request, reply) => {
        const { z, x, y } = request.params;
        const png = await sharp(
          Buffer.from(
            `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#1b2a3a"/>` +
              `<path d="M0 0H256V256" fill="none" stroke="#3d5878" stroke-width="2"/>` +
              `<text x="12" y="28" font-family="sans-serif" font-size="16" fill="#9fb6cf">${escapeXml(`${z}/${x}/${y}`)}</text></svg>`,
          ),
        )
          .png()
          .toBuffer();
        return reply.type('image/png').send(png);
      },
    );
    await http.listen({ host: '127.0.0.1', port: 0 });
    stops.push(() => http.close());
    const addr = http.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no address');
    const baseUrl = `http://127.0.0.1:${addr.port}`;

    // Seed: users, sites, cameras (active), what the edges reported.
    for (const u of [
      UI_USERS.admin,
      UI_USERS.installer,
      UI_USERS.opA,
      UI_USERS.opA2,
      UI_USERS.opB,
      UI_USERS.auditor,
    ]) {
      await users.create('system', {
        username: u.username,
        password: u.password,
        role: u.role,
        displayName: u.displayName,
        scope: u.scope,
      });
    }
    await registry.sites.create('system', {
      siteId: 'site-qs',
      name: '青山区白石镇站点',
      place: { district: PLACE_A.district, street: PLACE_A.street },
    });
    await registry.sites.create('system', {
      siteId: 'site-hx',
      name: '河西区柳林站点',
      place: { district: PLACE_B.district, street: PLACE_B.street },
    });
    const now = Date.now();
    const device = (c: { endpointReference: string; serial: string }, n: number) => ({
      identity: {
        endpointReference: c.endpointReference,
        serialNumber: c.serial,
        manufacturer: 'Sharpeyes Simulated',
        model: 'SIM-IPC-2M',
        firmwareVersion: '1.0.0',
        hardwareId: 'SIM-HW-1',
      },
      xaddrs: [`http://127.0.0.1:${18000 + n}/onvif/device_service`],
      scopes: [],
      profiles: [],
      analysisProfileToken: 'sub',
      hasSnapshot: true,
      access: DeviceAccess.DEVICE_ACCESS_OK,
      firstSeenMs: now - 3_600_000,
      lastSeenMs: now,
      cameraId: '',
    });
    for (const [i, c] of API_CAMERAS.entries()) {
      registry.cameras.create('user:inst-all', {
        cameraId: c.cameraId,
        siteId: c.siteId,
        code: c.code,
        name: c.name,
        place: c.place,
        position: c.position,
        headingDeg: 90,
        category: c.category,
        identity: {
          endpointReference: c.endpointReference,
          serialNumber: c.serial,
          manufacturer: 'Sharpeyes Simulated',
          model: 'SIM-IPC-2M',
        },
        analysis: { plate: true, face: true, inbound: 'left_to_right' },
      });
      registry.cameras.transition('user:inst-all', c.cameraId, 'active');
      registry.recordCameraStatus({
        siteId: c.siteId,
        cameraId: c.cameraId,
        state: c.siteId === 'site-hx' ? CameraState.CAMERA_STATE_OFFLINE : CameraState.CAMERA_STATE_ONLINE,
        inputFps: 15,
        analysedFps: 2,
        droppedFrames: 3 * i,
        lastFrameMs: now,
        lastError: '',
        lastErrorMs: 0,
        restarts: 0,
        updatedMs: now,
      });
    }
    registry.recordDiscovered({
      siteId: 'site-qs',
      devices: [
        ...API_CAMERAS.filter((c) => c.siteId === 'site-qs').map((c, i) => device(c, i)),
        device({ endpointReference: PENDING.endpointReference, serial: PENDING.serialNumber }, 9),
      ],
      updatedMs: now,
    });
    registry.reports.flush();

    // Events: what ingest does with each (evidence, index, alerts, live bus), in that order.
    const ulid = createUlidFactory((b) => {
      randomFillSync(b);
    });
    const inject = async (
      cameraId: string,
      plate: string,
      firstSeenMs: number,
      kind: 'plate' | 'face' = 'plate',
    ): Promise<StackEvent> => {
      const cam = registry.cameras.get(cameraId);
      if (cam === undefined) throw new Error(`no camera ${cameraId}`);
      const { crop, context } = await evidenceJpegs(
        kind === 'plate' ? plate : '人脸',
        `${cam.name} ${new Date(firstSeenMs).toISOString()}`,
      );
      const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
      const event = Event.fromPartial({
        eventId: ulid(firstSeenMs),
        siteId: cam.siteId,
        cameraId,
        kind: kind === 'plate' ? EventKind.EVENT_KIND_PLATE : EventKind.EVENT_KIND_FACE,
        timeMs: firstSeenMs + 300,
        firstSeenMs,
        lastSeenMs: firstSeenMs + 900,
        box: { x: 400, y: 300, width: 240, height: 80 },
        frameWidth: 1280,
        frameHeight: 720,
        confidence: 0.91,
        trackId: 't1',
        revision: 0,
        detail:
          kind === 'plate'
            ? {
                $case: 'plate',
                value: {
                  text: plate,
                  colour: PlateColour.PLATE_COLOUR_BLUE,
                  charConfidences: Array.from(plate, () => 0.9),
                  agreeingReads: 4,
                  totalReads: 5,
                },
              }
            : { $case: 'face', value: { keypoints: [{ x: 0.5, y: 0.4 }] } },
        evidence: {
          sha256: sha(crop),
          width: 240,
          height: 80,
          cropBox: { x: 400, y: 300, width: 240, height: 80 },
          contextSha256: sha(context),
        },
        modelIds: kind === 'plate' ? ['ppocr-v4-det', 'ppocr-v4-rec'] : ['blazeface-back-256'],
        direction: Direction.DIRECTION_IN,
      });
      await evidence.put(crop, sha(crop));
      await evidence.put(context, sha(context));
      await index.write([event]);
      alerts.processEvent(event, cam.place);
      live.publish(event);
      return {
        event_id: event.eventId,
        camera_id: cameraId,
        site_id: cam.siteId,
        kind,
        time_ms: event.timeMs,
        first_seen_ms: firstSeenMs,
        plate: kind === 'plate' ? { text: plate, colour: 'blue' } : null,
        evidence: { sha256: sha(crop), context_sha256: sha(context) },
      };
    };

    // A few hours of history: the vehicle of HISTORY_PLATE at B, then the A checkpoint, then the A
    // village entrance; other traffic at every camera.
    const H = 3_600_000;
    await inject('hx-gate', HISTORY_PLATE, now - 3 * H);
    await inject('qs-road', HISTORY_PLATE, now - 2 * H);
    await inject('qs-gate', HISTORY_PLATE, now - 2 * H + 15 * 60_000);
    const others = ['鄂A7B9C2', '鄂AD12345', '鄂B88888', '湘A2X3Y4', '鄂A5K6L7'];
    for (const [i, p] of others.entries()) {
      await inject(API_CAMERAS[i % 3]?.cameraId ?? 'qs-gate', p, now - (i + 1) * 40 * 60_000 - 5 * 60_000);
    }
    await inject('qs-gate', '', now - 90 * 60_000, 'face');

    return {
      mode: 'api',
      baseUrl,
      uiUrl: `${baseUrl}/ui/`,
      users: UI_USERS,
      cameras: { a: 'qs-road', a2: 'qs-gate', b: 'hx-gate' },
      pending: PENDING,
      // No edge in this mode to take a picture: the acceptance flows check live snapshots.
      hasCameraSnapshots: false,
      plateEvent: (cameraId, opts = {}) =>
        inject(cameraId, opts.plate ?? '鄂A9Q8W7', Math.max(Date.now(), opts.sinceMs ?? 0)),
      simulateEdge: async (cameraId) => {
        const cam = registry.cameras.get(cameraId);
        if (cam === undefined) throw new Error(`no camera ${cameraId}`);
        registry.recordCameraStatus({
          siteId: cam.siteId,
          cameraId,
          state: CameraState.CAMERA_STATE_ONLINE,
          inputFps: 15,
          analysedFps: 2,
          droppedFrames: 0,
          lastFrameMs: Date.now(),
          lastError: '',
          lastErrorMs: 0,
          restarts: 0,
          updatedMs: Date.now(),
        });
        await inject(cameraId, '鄂A3E4R5', Date.now());
      },
      login: (user) => apiLogin(baseUrl, user),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

// ---------------------------------------------------------------- gateway mode

async function startGatewayStack(): Promise<UiStack> {
  const dir = makeTempDir('ui-gateway');
  let influxd: InfluxdHandle | undefined;
  try {
    influxd = await startInfluxd();
    const { createLogger } = await import('../../gateway/src/log.ts');
    const { pino } = await import('pino');
    const logger = createLogger(
      process.env.LOG_LEVEL ?? 'info',
      pino.destination({ dest: join(dir.path, 'gateway.log'), sync: true }),
    );
    const stack = await startFullStack({ dir: dir.path, logger, influxd, uiDistDir: await buildUi() });
    const operator = await stack.login(UI_USERS.opA);
    const opB = await stack.login(UI_USERS.opB);
    const plateEvent = async (
      cameraId: string,
      opts: { plate?: string; sinceMs?: number; timeoutMs?: number } = {},
    ): Promise<StackEvent> => {
      const session = cameraId === stack.cameras.b ? opB : operator;
      const since = opts.sinceMs ?? Date.now() - 10 * 60_000;
      return waitFor(
        async () => {
          const page = await session.get<{ items: StackEvent[] }>('/events', {
            from_ms: since,
            to_ms: Date.now() + 60_000,
            camera_id: [cameraId],
            kind: ['plate'],
            ...(opts.plate !== undefined ? { plate: opts.plate } : {}),
            limit: 20,
            reason: 'UI test harness: waiting for a detection',
          });
          return page.items.find((e) => e.first_seen_ms >= since && e.evidence !== null);
        },
        {
          what: `a plate event at ${cameraId}`,
          timeoutMs: opts.timeoutMs ?? 180_000,
          intervalMs: 2000,
          abortIf: stack.edgeAlive,
        },
      );
    };
    const running = influxd;
    return {
      mode: 'gateway',
      baseUrl: stack.app.httpUrl,
      uiUrl: `${stack.app.httpUrl}/ui/`,
      users: UI_USERS,
      // One camera per district carries detections: a2 is a1 (the scenes give two plate cameras).
      cameras: { a: stack.cameras.a, a2: stack.cameras.a, b: stack.cameras.b },
      pending: stack.pending,
      hasCameraSnapshots: true,
      plateEvent,
      simulateEdge: undefined,
      login: stack.login,
      async stop() {
        await stack.stop();
        await running.stop();
        dir.remove();
      },
    };
  } catch (err) {
    await influxd?.stop();
    dir.remove();
    throw err;
  }
}

/** Start the stack (default: the real gateway with the simulated site). */
export function startUiStack(opts: { mode?: 'gateway' | 'api' } = {}): Promise<UiStack> {
  return opts.mode === 'api' ? startApiStack() : startGatewayStack();
}
