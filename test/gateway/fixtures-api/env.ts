/**
 * A complete API environment for tests and the api bench, all real: the SQLite registry with its
 * stores (users, sessions, keys, audit, alerts) in a reaped temp dir, the InfluxDB event index on
 * a real influxd (test/bench/services), the real evidence directory, and the live bus. Seeded with
 * two districts so every test can check area scope:
 *
 *   Anxi / Hutou / Village7   site-a: cam-a1 (village entrance), cam-a2 (Anxi / Hutou)
 *   Baiyun                    site-b: cam-b1
 *
 * Users (password `correct horse battery`): admin, inst-a (installer, Anxi), op-a and op-a2
 * (operators, Anxi), op-b (operator, Baiyun), op-all (operator, everywhere), aud (auditor).
 * API keys: keyA (every service, Anxi), keyEventsOnly (events, Anxi), keyB (every service, Baiyun),
 * keyAll (every service, everywhere).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { Event, type Event as EventT } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { AlertService } from '../../../gateway/src/alerts/alerts.ts';
import { AlertEntryStore } from '../../../gateway/src/alerts/entries.ts';
import { AuditLog } from '../../../gateway/src/audit/log.ts';
import { API_SERVICES, type ApiService } from '../../../gateway/src/auth/roles.ts';
import { ApiKeyStore } from '../../../gateway/src/auth/api-keys.ts';
import { LoginService } from '../../../gateway/src/auth/login.ts';
import { LoginRateLimiter } from '../../../gateway/src/auth/rate-limit.ts';
import { SessionStore } from '../../../gateway/src/auth/sessions.ts';
import { UserStore } from '../../../gateway/src/auth/users.ts';
import { DirEvidenceStore } from '../../../gateway/src/evidence/dir-store.ts';
import { ApiConfigSchema, type ApiConfig } from '../../../gateway/src/http/api/config.ts';
import type { GatewayDeps } from '../../../gateway/src/http/api/deps.ts';
import { InfluxEventIndex } from '../../../gateway/src/index/influx-index.ts';
import { LiveEventBus } from '../../../gateway/src/live/bus.ts';
import type { CameraStatusFeed } from '../../../gateway/src/live/camera-status.ts';
import { silentLogger, type Logger } from '../../../gateway/src/log.ts';
import { Registry } from '../../../gateway/src/registry/registry.ts';
import { openSqlite, type SqliteDb } from '../../../gateway/src/registry/sqlite.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';
import { startInfluxd, type InfluxdHandle } from '../../bench/services/index.ts';
import { makeEvent, type EventSpec } from '../index/helpers.ts';
import { FAST_SCRYPT } from '../registry/helpers.ts';
import type { CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';

/** The password of every seeded user. */
export const PASSWORD = 'correct horse battery';

export const PLACE_A1 = { district: 'Anxi', street: 'Hutou', community: 'Village7' };
export const PLACE_A2 = { district: 'Anxi', street: 'Hutou' };
export const PLACE_B1 = { district: 'Baiyun' };

/** A status feed tests drive by hand (in the gateway it is ingest's site state). */
export class TestStatusFeed implements CameraStatusFeed {
  readonly #latest = new Map<string, CameraStatus>();
  readonly #listeners = new Set<(s: CameraStatus) => void>();
  latest(cameraId: string): CameraStatus | undefined {
    return this.#latest.get(cameraId);
  }
  all(): CameraStatus[] {
    return [...this.#latest.values()];
  }
  onStatus(listener: (s: CameraStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  push(s: CameraStatus): void {
    this.#latest.set(s.cameraId, s);
    for (const l of this.#listeners) l(s);
  }
}

/** The environment. */
export interface ApiEnv {
  deps: GatewayDeps;
  db: SqliteDb;
  dir: TempDir;
  influxd: InfluxdHandle;
  index: InfluxEventIndex;
  evidence: DirEvidenceStore;
  live: LiveEventBus;
  status: TestStatusFeed;
  /** Full API keys by name. */
  keys: Record<'keyA' | 'keyEventsOnly' | 'keyB' | 'keyAll', string>;
  /** Store an event as ingest would (evidence, index), then publish it live. Returns it as indexed. */
  addEvent(spec?: EventSpec, opts?: { publish?: boolean }): Promise<EventT>;
  stop(): Promise<void>;
}

/** Options of {@link startApiEnv}. */
export interface ApiEnvOptions {
  /** Share a running influxd (each env gets its own database). */
  influxd?: InfluxdHandle;
  config?: Partial<{ [K in keyof ApiConfig]: Partial<ApiConfig[K]> }>;
  logger?: Logger;
  ringEvents?: number;
  /** The index's database name. Default: a new one per env (`sharpeyes_api_<pid>_<n>`). */
  database?: string;
  /** Most index queries in flight at once (the index option). */
  indexMaxConcurrentQueries?: number;
  /** Shard group length of the index's retention policies, hours (the index option). */
  indexShardHours?: number;
}

let envCount = 0;

/** The `api` config with defaults, test-friendly limits and `over` applied. */
export function testApiConfig(over: ApiEnvOptions['config'] = {}): ApiConfig {
  const base = Value.Default(ApiConfigSchema, {}) as ApiConfig;
  return {
    rest: { ...base.rest, ...over.rest },
    grpc: { ...base.grpc, port: 0, ...over.grpc },
    limits: { ...base.limits, requests_per_s: 1000, burst: 10_000, ...over.limits },
    live: { ...base.live, heartbeat_ms: 2000, ...over.live },
  };
}

/** Start the environment (influxd unless shared, SQLite, stores, seed data). */
export async function startApiEnv(opts: ApiEnvOptions = {}): Promise<ApiEnv> {
  const dir = makeTempDir('api');
  const ownInflux = opts.influxd === undefined;
  const influxd = opts.influxd ?? (await startInfluxd({ indexVersion: 'tsi1' }));
  let db: SqliteDb | undefined;
  try {
    db = openSqlite(join(dir.path, 'gateway.sqlite'));
    const logger = opts.logger ?? silentLogger();
    const audit = new AuditLog(db, { log: logger });
    const registry = new Registry(db, audit, { log: logger });
    const users = new UserStore(db, audit, { scrypt: FAST_SCRYPT });
    const sessions = new SessionStore(db);
    const apiKeys = new ApiKeyStore(db, audit);
    const login = new LoginService(users, sessions, new LoginRateLimiter(), audit, logger);
    const alertEntries = new AlertEntryStore(db, audit, {}, Date.now, logger);
    const alerts = new AlertService(db, audit, alertEntries, Date.now, logger);
    const index = await InfluxEventIndex.open({
      url: influxd.url,
      database: opts.database ?? `sharpeyes_api_${process.pid}_${++envCount}`,
      retentionDays: { face: 30, plate: 30 },
      ...(opts.indexMaxConcurrentQueries === undefined
        ? {}
        : { maxConcurrentQueries: opts.indexMaxConcurrentQueries }),
      ...(opts.indexShardHours === undefined ? {} : { shardDurationHours: opts.indexShardHours }),
      // As the gateway wires it: events get district copies; the copies are read only once
      // declared complete (`registry.areaCopies`), which nothing here does by default.
      areas: registry,
    });
    const evidence = await DirEvidenceStore.open({ dir: join(dir.path, 'evidence') });
    const live = new LiveEventBus({ ringEvents: opts.ringEvents ?? 100_000 });
    const status = new TestStatusFeed();
    const deps: GatewayDeps = {
      registry,
      users,
      sessions,
      apiKeys,
      login,
      audit,
      db,
      alerts,
      alertEntries,
      search: index,
      evidence,
      live,
      cameraStatus: status,
      config: testApiConfig(opts.config),
      logger,
    };

    // Seed.
    await registry.sites.create('system', { siteId: 'site-a', name: 'Village 7 NVR', place: PLACE_A1 });
    await registry.sites.create('system', { siteId: 'site-b', name: 'Baiyun checkpoint', place: PLACE_B1 });
    const cam = (cameraId: string, siteId: string, place: object, epr: string) =>
      registry.cameras.create('system', {
        cameraId,
        siteId,
        code: `code-${cameraId}`,
        name: `Camera ${cameraId}`,
        place,
        category: 'village_entrance',
        identity: { endpointReference: epr },
      });
    cam('cam-a1', 'site-a', PLACE_A1, 'urn:uuid:a1');
    cam('cam-a2', 'site-a', PLACE_A2, 'urn:uuid:a2');
    cam('cam-b1', 'site-b', PLACE_B1, 'urn:uuid:b1');
    const mkUser = (username: string, role: 'admin' | 'installer' | 'operator' | 'auditor', scope = {}) =>
      users.create('system', { username, role, scope, password: PASSWORD });
    await mkUser('admin', 'admin');
    await mkUser('inst-a', 'installer', { district: 'Anxi' });
    await mkUser('op-a', 'operator', { district: 'Anxi' });
    await mkUser('op-a2', 'operator', { district: 'Anxi' });
    await mkUser('op-b', 'operator', { district: 'Baiyun' });
    await mkUser('op-all', 'operator');
    await mkUser('aud', 'auditor');
    const key = (name: string, services: readonly ApiService[], scope = {}) =>
      apiKeys.create('system', { name, services, scope }).key;
    const keys = {
      keyA: key('integration A', API_SERVICES, { district: 'Anxi' }),
      keyEventsOnly: key('events only A', ['events'], { district: 'Anxi' }),
      keyB: key('integration B', API_SERVICES, { district: 'Baiyun' }),
      keyAll: key('integration all', API_SERVICES),
    };

    const openDb = db;
    return {
      deps,
      db,
      dir,
      influxd,
      index,
      evidence,
      live,
      status,
      keys,
      async addEvent(spec = {}, o = {}) {
        const e = makeEvent(spec);
        const crop = Buffer.from(`\xff\xd8 crop of ${e.eventId}`, 'latin1');
        const context = Buffer.from(`\xff\xd8 context of ${e.eventId}`, 'latin1');
        const sha = await evidence.put(crop, createHash('sha256').update(crop).digest('hex'));
        const ctxSha = await evidence.put(context);
        const indexed = Event.fromPartial({
          ...e,
          evidence:
            spec.evidence === false ? undefined : { ...e.evidence, sha256: sha, contextSha256: ctxSha },
        });
        await index.write([indexed]);
        if (o.publish !== false) live.publish(indexed);
        return indexed;
      },
      async stop() {
        try {
          openDb.close();
        } finally {
          dir.remove();
          if (ownInflux) await influxd.stop();
        }
      },
    };
  } catch (err) {
    db?.close();
    dir.remove();
    if (ownInflux) await influxd.stop();
    throw err;
  }
}
