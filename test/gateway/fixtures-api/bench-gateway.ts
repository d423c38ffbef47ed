/**
 * The gateway as the api bench measures its memory, run as its own process:
 *
 *   node --import tsx bench-gateway.ts '{"influxUrl": …, "dir": …}'
 *
 * `dir` holds what the bench prepared (so no set-up work inflates this process): `sites.json`
 * (broker credential entries with real scrypt hashes) and `gateway.sqlite` (the registry: sites
 * and cameras). This process runs the gateway app (embedded broker, ingest, index, evidence,
 * /healthz) plus the registry, live bus, REST and gRPC APIs, and wires camera statuses from
 * ingest's site state into the registry (state changes at once, last-seen flushed every 5 s), as
 * the full gateway does.
 *
 * stdout, JSON lines: {"ready":true,"broker_url":…} once listening, then {"statuses":n} each second.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry as PromRegistry } from 'prom-client';
import { AlertService } from '../../../gateway/src/alerts/alerts.ts';
import { AlertEntryStore } from '../../../gateway/src/alerts/entries.ts';
import { AuditLog } from '../../../gateway/src/audit/log.ts';
import { ApiKeyStore } from '../../../gateway/src/auth/api-keys.ts';
import { LoginService } from '../../../gateway/src/auth/login.ts';
import { LoginRateLimiter } from '../../../gateway/src/auth/rate-limit.ts';
import { SessionStore } from '../../../gateway/src/auth/sessions.ts';
import { UserStore } from '../../../gateway/src/auth/users.ts';
import type { SiteCredentialEntry } from '../../../gateway/src/broker/types.ts';
import { startGrpcServer } from '../../../gateway/src/grpc/server.ts';
import { registerRestApi } from '../../../gateway/src/http/api/plugin.ts';
import { buildHttpApp } from '../../../gateway/src/http/server.ts';
import { LiveEventBus } from '../../../gateway/src/live/bus.ts';
import { cameraStatusFeedFromSiteState } from '../../../gateway/src/live/camera-status.ts';
import { silentLogger } from '../../../gateway/src/log.ts';
import { Registry } from '../../../gateway/src/registry/registry.ts';
import { openSqlite } from '../../../gateway/src/registry/sqlite.ts';
import { startTestGateway } from '../fixtures/gateway.ts';
import { testApiConfig } from './env.ts';

const o = JSON.parse(process.argv[2] ?? '{}') as { influxUrl: string; dir: string };
const out = (obj: unknown): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};

const sites = JSON.parse(readFileSync(join(o.dir, 'sites.json'), 'utf8')) as SiteCredentialEntry[];
const logger = silentLogger();
const gw = await startTestGateway({ influxUrl: o.influxUrl, sites, database: 'rss', logger });
const db = openSqlite(join(o.dir, 'gateway.sqlite'));
const audit = new AuditLog(db, { log: logger });
const registry = new Registry(db, audit, { log: logger });
const users = new UserStore(db, audit);
const sessions = new SessionStore(db);
const apiKeys = new ApiKeyStore(db, audit);
const alertEntries = new AlertEntryStore(db, audit, {}, Date.now, logger);
const live = new LiveEventBus();
const deps = {
  registry,
  users,
  sessions,
  apiKeys,
  login: new LoginService(users, sessions, new LoginRateLimiter(), audit, logger),
  audit,
  db,
  alerts: new AlertService(db, audit, alertEntries, Date.now, logger),
  alertEntries,
  search: gw.app.index,
  evidence: gw.app.evidence,
  live,
  cameraStatus: cameraStatusFeedFromSiteState(gw.app.siteState),
  config: testApiConfig(),
  logger,
};
const http = buildHttpApp({ registry: new PromRegistry(), version: 'bench', components: () => ({}), logger });
await registerRestApi(http, deps);
await http.listen({ host: '127.0.0.1', port: 0 });
const grpc = await startGrpcServer(deps, { host: '127.0.0.1', port: 0 });

let statuses = 0;
gw.app.siteState.onChange((change) => {
  if (change.kind !== 'cameraStatus') return;
  const s = gw.app.siteState.site(change.siteId)?.cameras.get(change.cameraId)?.value;
  if (s === undefined) return;
  registry.recordCameraStatus(s);
  statuses += 1;
});
const flush = setInterval(() => registry.reports.flush(), 5000);
const report = setInterval(() => {
  out({ statuses });
}, 1000);
out({ ready: true, broker_url: gw.app.brokerUrl });

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  clearInterval(flush);
  clearInterval(report);
  void (async () => {
    await grpc.stop(1000);
    await http.close();
    await gw.stop();
    db.close();
    process.exit(0);
  })();
});
