/**
 * The whole system on loopback, seeded as a county would be: the gateway program
 * (gateway/src/app.ts: its SQLite registry, users, REST/gRPC APIs and web UI, embedded MQTT broker,
 * ingest into InfluxDB), the bench's simulated site (test/sim/site.ts: ONVIF cameras streaming
 * scenes with known plates and faces over RTSP) and the edge agent (a child process, as on a site
 * NVR) discovering and analysing what the gateway's SiteConfig enables.
 *
 * Everything is seeded through the public REST API only: the users below (two districts), one
 * site, and two of the three simulated cameras registered and active (one per district); the
 * third stays "discovered" for an installer to register. `npm run demo` (test/demo/main.ts) and
 * the UI acceptance flows (test/ui/harness.ts) both run this.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { startGatewayApp, type GatewayApp } from '../../gateway/src/app.ts';
import { parseConfig } from '../../gateway/src/config/load.ts';
import type { Logger } from '../../gateway/src/log.ts';
import { spawnManaged, type ManagedChild } from '../bench/lifetime.ts';
import type { InfluxdHandle } from '../bench/services/index.ts';
import { freePort, waitFor } from '../bench/wait.ts';
import type { SceneProgress } from '../scene/generate.ts';
import { startSimulatedSite, type SimulatedSite } from '../sim/site.ts';

const EDGE_BIN = join(import.meta.dirname, '..', '..', 'edge-agent', 'bin', 'edge-agent');

/**
 * Run `f`; if it fails, its error carries what the edge agent knows: its `/discovered` report
 * and its log's tail (the log's dir is deleted on stop, so a CI run keeps only the error).
 */
async function withEdgeState<T>(edge: { log: string; url: string }, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const report = await fetch(`${edge.url}/discovered`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.text())
      .catch((e: unknown) => `(not answered: ${String(e)})`);
    const log = existsSync(edge.log)
      ? readFileSync(edge.log, 'utf8').trimEnd().split('\n').slice(-40).join('\n')
      : '(no log)';
    throw new Error(`${message}\nthe edge agent's /discovered:\n${report}\nits log ends:\n${log}`, {
      cause: err,
    });
  }
}

// ---------------------------------------------------------------- the cast

/** A user of the tests. */
export interface UiUser {
  username: string;
  password: string;
  role: 'admin' | 'installer' | 'operator' | 'auditor';
  displayName: string;
  scope: Record<string, string>;
}

/** District A and B (Chinese names: the UI is zh-CN first). */
export const PLACE_A = { district: '青山区', street: '白石镇', community: '东村', grid: 'G1' } as const;
export const PLACE_A2 = { district: '青山区', street: '白石镇', community: '白石村', grid: 'G3' } as const;
export const PLACE_B = { district: '河西区', street: '柳林街道', community: '西坝村', grid: 'G7' } as const;

/** Everyone the flows sign in as. */
export const UI_USERS = {
  admin: {
    username: 'admin',
    password: 'admin-password-2025',
    role: 'admin',
    displayName: '系统管理员',
    scope: {},
  },
  /** Installer of district A (registers cameras there; no event search). */
  installer: {
    username: 'inst-a',
    password: 'installer-pass-2025',
    role: 'installer',
    displayName: '安装员甲',
    scope: { district: PLACE_A.district },
  },
  /** Operators of district A (two: an alert entry needs an approver who is not the requester). */
  opA: {
    username: 'op-a',
    password: 'operator-a-pass-2025',
    role: 'operator',
    displayName: '值班员甲',
    scope: { district: PLACE_A.district },
  },
  opA2: {
    username: 'op-a2',
    password: 'operator-a2-pass-2025',
    role: 'operator',
    displayName: '值班员乙',
    scope: { district: PLACE_A.district },
  },
  /** Operator of district B only. */
  /** Reads and verifies the audit trail. */
  auditor: {
    username: 'audit-1',
    password: 'auditor-pass-2025',
    role: 'auditor',
    displayName: '审计员',
    scope: {},
  },
  opB: {
    username: 'op-b',
    password: 'operator-b-pass-2025',
    role: 'operator',
    displayName: '值班员丙',
    scope: { district: PLACE_B.district },
  },
} as const satisfies Record<string, UiUser>;

/** Who the seeding uses to register cameras in both districts (installers are area-bound). */
export const SEED_INSTALLER: UiUser = {
  username: 'inst-all',
  password: 'installer-all-2025',
  role: 'installer',
  displayName: '安装总队',
  scope: {},
};

/** An event as the REST API returns it (the fields the tests use). */
export interface StackEvent {
  event_id: string;
  camera_id: string;
  site_id: string;
  kind: string;
  time_ms: number;
  first_seen_ms: number;
  plate: { text: string; colour: string } | null;
  evidence: { sha256: string; context_sha256: string } | null;
}

/** A logged-in REST client (cookie session), for seeding and for checks next to the browser. */
export interface ApiSession {
  get<T>(path: string, query?: Record<string, string | number | readonly string[] | undefined>): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  /** Raw response of a GET (status checks). */
  raw(path: string): Promise<Response>;
}

// ---------------------------------------------------------------- REST client

/** Sign `user` in through the REST API: a cookie session. */
export async function apiLogin(baseUrl: string, user: UiUser): Promise<ApiSession> {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user.username, password: user.password }),
  });
  if (!res.ok) throw new Error(`login ${user.username}: HTTP ${res.status} ${await res.text()}`);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const url = (
    path: string,
    query: Record<string, string | number | readonly string[] | undefined> = {},
  ): string => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v as readonly string[]) q.append(k, x);
      else q.set(k, String(v));
    }
    const s = q.toString();
    return `${baseUrl}/api/v1${path}${s === '' ? '' : `?${s}`}`;
  };
  const check = async <T>(res: Response, what: string): Promise<T> => {
    const text = await res.text();
    if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
  return {
    async get<T>(path: string, query = {}) {
      return check<T>(await fetch(url(path, query), { headers: { cookie } }), `GET ${path}`);
    },
    async post<T>(path: string, body: unknown) {
      return check<T>(
        await fetch(url(path), {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
        `POST ${path}`,
      );
    },
    raw(path: string) {
      return fetch(url(path), { headers: { cookie } });
    },
  };
}

// ---------------------------------------------------------------- evidence pictures

/** Text safe inside SVG markup. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A plate crop and a context frame as JPEG (what an edge would attach). */
export async function evidenceJpegs(
  plate: string,
  label: string,
): Promise<{ crop: Buffer; context: Buffer }> {
  const crop = await sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="80"><rect width="240" height="80" fill="#1d4fd1"/>` +
        `<rect x="4" y="4" width="232" height="72" fill="none" stroke="#fff" stroke-width="3"/>` +
        `<text x="120" y="54" font-family="WenQuanYi Zen Hei" font-size="36" fill="#fff" text-anchor="middle">${escapeXml(plate)}</text></svg>`,
    ),
  )
    .jpeg({ quality: 80 })
    .toBuffer();
  const context = await sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360"><rect width="640" height="360" fill="#556"/>` +
        `<rect x="200" y="200" width="240" height="80" fill="#1d4fd1"/>` +
        `<text x="320" y="254" font-family="WenQuanYi Zen Hei" font-size="36" fill="#fff" text-anchor="middle">${escapeXml(plate)}</text>` +
        `<text x="12" y="28" font-family="WenQuanYi Zen Hei" font-size="20" fill="#fff">${escapeXml(label)}</text></svg>`,
    ),
  )
    .jpeg({ quality: 75 })
    .toBuffer();
  return { crop, context };
}

// ---------------------------------------------------------------- the stack

/** Options of {@link startFullStack}. */
export interface FullStackOptions {
  /** Working directory (gateway data, edge data, logs); the caller owns and removes it. */
  dir: string;
  /** The gateway's logger. */
  logger: Logger;
  /** An InfluxDB to use (tests share one); default: the gateway runs its own (child mode). */
  influxd?: InfluxdHandle;
  /** The web UI build to serve; default: the installation's gateway/ui/dist. */
  uiDistDir?: string;
  /** Fixed ports (the demo); default: any free port. */
  ports?: { http?: number; grpc?: number; mqtt?: number };
  /** Scene generation progress (first run). */
  onSceneProgress?: (p: SceneProgress) => void;
}

/** The running system. */
export interface FullStack {
  readonly app: GatewayApp;
  readonly site: SimulatedSite;
  readonly siteId: string;
  /** The site's MQTT password (shown once by the REST API when the site was created). */
  readonly sitePassword: string;
  readonly edge: ManagedChild;
  /** The edge agent's /healthz and /metrics. */
  readonly edgeHealthUrl: string;
  readonly edgeLog: string;
  /** Registered, active cameras: one in district A, one in district B. */
  readonly cameras: { a: string; b: string };
  /** Registered cameras with their places and positions (for backfilled history). */
  readonly registered: readonly {
    cameraId: string;
    place: Record<string, string>;
    position: { latitude: number; longitude: number };
  }[];
  /** A device the edge discovered and nobody registered. */
  readonly pending: { siteId: string; endpointReference: string; serialNumber: string };
  /** Undefined while the edge runs, else why it stopped. */
  readonly edgeAlive: () => string | undefined;
  /** A REST session of `user`. */
  readonly login: (user: UiUser) => Promise<ApiSession>;
  stop(): Promise<void>;
}

/** Start and seed the whole system (see the module comment). */
export async function startFullStack(opts: FullStackOptions): Promise<FullStack> {
  const { dir } = opts;
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s();
      } catch (err) {
        opts.logger.error({ err }, 'stack: a stop failed');
      }
    }
  };
  try {
    const adminPasswordFile = join(dir, 'admin-password');
    writeFileSync(adminPasswordFile, UI_USERS.admin.password, { mode: 0o600 });
    const app = await startGatewayApp({
      config: parseConfig({
        data_dir: join(dir, 'gateway'),
        http: { port: opts.ports?.http ?? 0 },
        api: { grpc: { port: opts.ports?.grpc ?? 0 } },
        broker: { port: opts.ports?.mqtt ?? 0 },
        ...(opts.influxd === undefined
          ? { influx: { mode: 'child' } }
          : { influx: { mode: 'external' }, index: { url: opts.influxd.url, database: 'sharpeyes' } }),
        ...(opts.uiDistDir !== undefined && { ui: { dist_dir: opts.uiDistDir } }),
        auth: { bootstrap_admin: { username: UI_USERS.admin.username, password_file: adminPasswordFile } },
      }),
      logger: opts.logger,
    });
    stops.push(() => app.stop());
    const baseUrl = app.httpUrl;

    // Seed through the REST API only.
    const admin = await apiLogin(baseUrl, UI_USERS.admin);
    for (const u of [
      UI_USERS.installer,
      UI_USERS.opA,
      UI_USERS.opA2,
      UI_USERS.opB,
      UI_USERS.auditor,
      SEED_INSTALLER,
    ]) {
      await admin.post('/users', {
        username: u.username,
        password: u.password,
        role: u.role,
        display_name: u.displayName,
        scope: u.scope,
      });
    }
    const seeder = await apiLogin(baseUrl, SEED_INSTALLER);
    const siteId = 'site-sim';
    const created = await seeder.post<{ mqtt_password: string }>('/sites', {
      site_id: siteId,
      name: '模拟站点',
      place: { district: PLACE_A.district, street: PLACE_A.street },
    });

    const site = await startSimulatedSite({
      ...(opts.onSceneProgress !== undefined && { onProgress: opts.onSceneProgress }),
    });
    stops.push(() => site.stop());

    // The edge agent, as on a site NVR: discovers the cameras by unicast probes, analyses only
    // what the gateway's SiteConfig enables.
    const edgePort = await freePort();
    const edgeConfig = join(dir, 'edge-agent.json');
    const edgeLog = join(dir, 'edge-agent.log');
    writeFileSync(
      edgeConfig,
      JSON.stringify({
        site_id: siteId,
        http: { port: edgePort },
        data_dir: join(dir, 'edge'),
        capture_discovered: false,
        default_credentials: {
          username: site.credentials.username,
          password: { env: 'STACK_CAMERA_PASSWORD' },
        },
        discovery: {
          unicast_targets: site.cameras.map((c) => ({ host: '127.0.0.1', port: c.discoveryPort })),
          reprobe_interval_ms: 10_000,
        },
        capture: { fps: 2 },
        mqtt: { url: app.brokerUrl, password_env: 'STACK_SITE_PASSWORD' },
      }),
    );
    const edge: ManagedChild = spawnManaged(EDGE_BIN, ['--config', edgeConfig], {
      name: 'edge-agent',
      env: {
        ...process.env,
        STACK_CAMERA_PASSWORD: site.credentials.password,
        STACK_SITE_PASSWORD: created.mqtt_password,
      },
      logFile: edgeLog,
    });
    stops.push(async () => {
      await edge.stop();
    });
    const edgeAlive = (): string | undefined =>
      edge.running() ? undefined : `the edge agent exited; see ${edgeLog}`;

    // Wait for the edge's discovery report of every simulated camera.
    interface Discovered {
      items: {
        site_id: string;
        devices: {
          identity: { endpoint_reference: string; serial_number: string };
          registered_camera_id: string | null;
        }[];
      }[];
    }
    const devices = await withEdgeState({ log: edgeLog, url: `http://127.0.0.1:${edgePort}` }, () =>
      waitFor(
        async () => {
          const d = await seeder.get<Discovered>('/discovered', { site_id: siteId });
          const list = d.items.flatMap((s) => s.devices);
          // Every camera with its identity (a device is listed first from its probe match, its
          // serial once the edge has read its device information).
          const serials = new Set(list.map((x) => x.identity.serial_number));
          return site.cameras.every((c) => serials.has(c.onvif.identity.serial_number)) ? list : undefined;
        },
        {
          what: 'the edge agent to report the simulated cameras to the gateway',
          timeoutMs: 180_000,
          intervalMs: 1000,
          abortIf: edgeAlive,
        },
      ),
    );
    const bySerial = (serial: string) => {
      const d = devices.find((x) => x.identity.serial_number === serial);
      if (d === undefined) throw new Error(`camera ${serial} not discovered`);
      return d.identity;
    };
    const [c1, c2, c3] = site.cameras;
    if (c1 === undefined || c2 === undefined || c3 === undefined)
      throw new Error('the simulated site has fewer than three cameras');
    const registered: FullStack['registered'][number][] = [];
    const register = async (
      cam: typeof c1,
      cameraId: string,
      name: string,
      place: Record<string, string>,
      position: { latitude: number; longitude: number },
    ) => {
      const id = bySerial(cam.onvif.identity.serial_number);
      await seeder.post('/cameras', {
        camera_id: cameraId,
        site_id: siteId,
        code: cameraId.toUpperCase(),
        name,
        place,
        position,
        heading_deg: 90,
        category: 'village_entrance',
        from_device: { endpoint_reference: id.endpoint_reference },
        analysis: { plate: true, face: true, inbound: 'left_to_right' },
      });
      await seeder.post(`/cameras/${cameraId}/lifecycle`, { to: 'active' });
      registered.push({ cameraId, place, position });
    };
    // Camera 1 in district A, camera 2 in district B (so scope is seen with real detections);
    // camera 3 stays discovered for the installer.
    await register(c1, 'sim-a1', '东村村口', PLACE_A, { latitude: 30.6, longitude: 114.3 });
    await register(c2, 'sim-b1', '西坝村村口', PLACE_B, { latitude: 30.55, longitude: 114.25 });
    const pending = bySerial(c3.onvif.identity.serial_number);

    return {
      app,
      site,
      siteId,
      sitePassword: created.mqtt_password,
      edge,
      edgeHealthUrl: `http://127.0.0.1:${edgePort}`,
      edgeLog,
      cameras: { a: 'sim-a1', b: 'sim-b1' },
      registered,
      pending: { siteId, endpointReference: pending.endpoint_reference, serialNumber: pending.serial_number },
      edgeAlive,
      login: (user) => apiLogin(baseUrl, user),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
