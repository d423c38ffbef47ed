/**
 * Scale-out test harness (decision 15): a real Mosquitto with the password and ACL files the
 * gateway generates, gateway processes by role (`gateway/bin/gateway --role api|ingest`), a
 * county seeded through the REST API, and counting points per event id in InfluxDB.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MOSQUITTO_SECURITY_CONFIG, writeMosquittoFiles } from '../../gateway/src/broker/mosquitto-files.ts';
import { scaleUsers } from '../../gateway/src/scale/config.ts';
import { spawnManaged, type ManagedChild } from '../bench/lifetime.ts';
import { startMosquitto, type MosquittoHandle, type MosquittoOptions } from '../bench/services/index.ts';
import { apiLogin, type ApiSession, type UiUser } from '../demo/stack.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const GATEWAY_BIN = join(ROOT, 'gateway', 'bin', 'gateway');

/** The gateway processes' MQTT user base and their one password. */
export const GATEWAY_MQTT = { username: '@sharpeyes', password: 'scale-suite-gateway-password' } as const;

/** The bootstrap admin of an api node. */
export const ADMIN: UiUser = {
  username: 'admin',
  password: 'scale-admin-password-2025',
  role: 'admin',
  displayName: 'admin',
  scope: {},
};

/** An installer for every area. */
export const INSTALLER: UiUser = {
  username: 'inst-all',
  password: 'installer-all-2025',
  role: 'installer',
  displayName: 'installer',
  scope: {},
};

/** A Mosquitto with generated files, a pid file for the api node's reloads, and saved sessions. */
export interface ScaleBroker {
  readonly mosquitto: MosquittoHandle;
  readonly passwordFile: string;
  readonly aclFile: string;
  readonly pidFile: string;
  /** Start options, to restart it in place. */
  readonly options: MosquittoOptions;
}

/**
 * Write the first password and ACL files (the gateway users of an api node with `workers`, no
 * site yet: the api node rewrites them from its registry) and start Mosquitto on them.
 */
export async function startScaleBroker(
  dir: string,
  workers: readonly string[],
  extra: Partial<MosquittoOptions> = {},
): Promise<ScaleBroker> {
  mkdirSync(dir, { recursive: true });
  const passwordFile = join(dir, 'passwd');
  const aclFile = join(dir, 'acl');
  const pidFile = join(dir, 'mosquitto.pid');
  const users = [GATEWAY_MQTT.username, ...scaleUsers.all(GATEWAY_MQTT.username, workers)];
  await writeMosquittoFiles(
    { passwordFile, aclFile },
    { sites: [], gatewayUsers: users.map((username) => ({ username, password: GATEWAY_MQTT.password })) },
  );
  const persistenceDir = join(dir, 'db');
  mkdirSync(persistenceDir, { recursive: true });
  const options: MosquittoOptions = {
    persistenceDir,
    passwordFile,
    aclFile,
    extraConfig: [
      ...MOSQUITTO_SECURITY_CONFIG.filter((l) => !l.startsWith('allow_anonymous')),
      'autosave_interval 1',
    ].join('\n'),
    ...extra,
  };
  const mosquitto = await startMosquitto(options);
  writeFileSync(pidFile, `${mosquitto.pid}\n`);
  return { mosquitto, passwordFile, aclFile, pidFile, options };
}

/** What a gateway process is configured with. */
export interface RoleConfig {
  role: 'api' | 'ingest';
  dir: string;
  brokerUrl: string;
  influxUrl: string;
  database: string;
  /** Shared by the api node and its workers. */
  evidenceDir: string;
  workers?: readonly string[];
  /** Role api: where Mosquitto's files are written and whom to SIGHUP. */
  broker?: ScaleBroker;
  extra?: Record<string, unknown>;
}

/** Write `<dir>/config.json` for a role and return its path. */
export function writeRoleConfig(c: RoleConfig): string {
  mkdirSync(c.dir, { recursive: true });
  const adminPasswordFile = join(c.dir, 'admin-password');
  writeFileSync(adminPasswordFile, ADMIN.password, { mode: 0o600 });
  const config = {
    log_level: 'info',
    role: c.role,
    data_dir: join(c.dir, 'data'),
    http: { host: '127.0.0.1', port: 0 },
    api: { grpc: { enabled: false } },
    ui: { enabled: false },
    broker: {
      mode: 'external',
      url: c.brokerUrl,
      username: GATEWAY_MQTT.username,
      client_id: GATEWAY_MQTT.username,
      password: { value: GATEWAY_MQTT.password },
      reconnect_period_ms: 200,
      ...(c.broker !== undefined && {
        mosquitto_files: {
          password_file: c.broker.passwordFile,
          acl_file: c.broker.aclFile,
          reload_pid_file: c.broker.pidFile,
        },
      }),
    },
    influx: { mode: 'external' },
    index: { url: c.influxUrl, database: c.database },
    evidence: { dir: c.evidenceDir },
    ingest: { retry_max_ms: 2000 },
    scale: { ingest_workers: c.workers ?? ['1', '2'] },
    ...(c.role === 'api' && {
      auth: { bootstrap_admin: { username: ADMIN.username, password_file: adminPasswordFile } },
    }),
    ...c.extra,
  };
  const path = join(c.dir, 'config.json');
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** A gateway process. */
export interface GatewayProc {
  readonly child: ManagedChild;
  readonly httpUrl: string;
}

/** Run `gateway --config PATH ARGS…`; resolves once it logs "gateway started". */
export function startGatewayProc(
  configPath: string,
  args: readonly string[],
  name: string,
  logFile: string,
): Promise<GatewayProc> {
  const child = spawnManaged(GATEWAY_BIN, ['--config', configPath, ...args], {
    name,
    pipeStdout: true,
    logFile,
    stopTimeoutMs: 15_000,
  });
  return new Promise((resolve, reject) => {
    const stdout = child.process.stdout;
    if (stdout === null) {
      reject(new Error(`${name} has no stdout`));
      return;
    }
    createInterface({ input: stdout }).on('line', (line) => {
      appendFileSync(logFile, `${line}\n`);
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { msg?: string; http_url?: string };
      if (msg.msg === 'gateway started') resolve({ child, httpUrl: String(msg.http_url) });
    });
    void child.exited.then((e) => {
      reject(new Error(`${name} exited before it started: ${JSON.stringify(e)}; see ${logFile}`));
    });
  });
}

/** SIGKILL a gateway process (its whole process group) and wait for it to be gone. */
export async function sigkill(proc: GatewayProc): Promise<void> {
  try {
    process.kill(-proc.child.pid, 'SIGKILL');
  } catch {
    // Already gone: nothing to kill.
  }
  await proc.child.exited;
}

/** A site as an installer creates it, with its MQTT password and registered cameras. */
export interface SeededSite {
  siteId: string;
  mqttPassword: string;
  cameras: string[];
}

/** Sign in as admin, create the installer, and return the installer's session. */
export async function seedInstaller(
  httpUrl: string,
  extraUsers: readonly UiUser[] = [],
): Promise<ApiSession> {
  const admin = await apiLogin(httpUrl, ADMIN);
  for (const u of [INSTALLER, ...extraUsers]) {
    await admin.post('/users', {
      username: u.username,
      password: u.password,
      role: u.role,
      display_name: u.displayName,
      scope: u.scope,
    });
  }
  return apiLogin(httpUrl, INSTALLER);
}

/** Create a site at `place` and register `cameras` there (by ONVIF address), each active. */
export async function seedSite(
  installer: ApiSession,
  siteId: string,
  place: Record<string, string>,
  cameras: readonly string[],
): Promise<SeededSite> {
  const created = await installer.post<{ mqtt_password: string }>('/sites', {
    site_id: siteId,
    name: siteId,
    place: { district: place.district, street: place.street },
  });
  let n = 0;
  for (const cameraId of cameras) {
    n += 1;
    await installer.post('/cameras', {
      camera_id: cameraId,
      site_id: siteId,
      code: cameraId.toUpperCase(),
      name: cameraId,
      place,
      category: 'village_entrance',
      xaddr: `http://192.0.2.${n}/onvif/device_service`,
      analysis: { plate: true, face: true },
    });
    await installer.post(`/cameras/${cameraId}/lifecycle`, { to: 'active' });
  }
  return { siteId, mqttPassword: created.mqtt_password, cameras: [...cameras] };
}

interface QueryResult {
  results?: { series?: { values: (string | number | null)[][] }[]; error?: string }[];
  error?: string;
}

/** Every event id of `site` in InfluxDB's `events` (both policies), one entry per point. */
export async function listEventIds(influxUrl: string, database: string, site: string): Promise<string[]> {
  const ids: string[] = [];
  for (const rp of ['plate', 'face']) {
    const form = new URLSearchParams({
      q: `SELECT "event_id" FROM "${rp}"."events" WHERE "site" = $site`,
      db: database,
      params: JSON.stringify({ site }),
    });
    const res = await fetch(`${influxUrl}/query`, {
      method: 'POST',
      body: form,
      signal: AbortSignal.timeout(60_000),
    });
    const body = (await res.json()) as QueryResult;
    const failed = body.error ?? body.results?.find((r) => r.error !== undefined)?.error;
    if (failed !== undefined) {
      if (/database not found/.test(failed)) continue;
      throw new Error(`influxd query failed: ${failed}`);
    }
    for (const r of body.results ?? [])
      for (const s of r.series ?? []) for (const v of s.values) ids.push(String(v[1]));
  }
  return ids;
}

/** Points, distinct ids, duplicates, and the expected ids missing / unexpected ids present. */
export function compareIds(
  ids: readonly string[],
  expected: ReadonlySet<string>,
): { points: number; distinct: number; duplicates: number; missing: number; extra: number } {
  const seen = new Set(ids);
  let missing = 0;
  for (const id of expected) if (!seen.has(id)) missing += 1;
  let extra = 0;
  for (const id of seen) if (!expected.has(id)) extra += 1;
  return { points: ids.length, distinct: seen.size, duplicates: ids.length - seen.size, missing, extra };
}
