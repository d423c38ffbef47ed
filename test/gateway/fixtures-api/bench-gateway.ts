/**
 * The gateway as the api bench measures its memory, run as its own process:
 *
 *   node --import tsx bench-gateway.ts '{"influxUrl": …, "dir": …}'
 *
 * `dir` holds what the bench prepared (so no set-up work inflates this process): `sites.json`
 * (broker credential entries with real scrypt hashes) and `gateway.sqlite` (the registry: sites
 * and cameras). This process runs the real gateway app (`startGatewayApp`: SQLite stores on that
 * registry, embedded broker, ingest, index, evidence, live bus, REST and gRPC APIs, edge reports
 * into the registry, maintenance), configured as in production apart from loopback ports and an
 * external influxd.
 *
 * stdout, JSON lines: {"ready":true,"broker_url":…} once listening, then each second
 * {"statuses":n,"mem":{rss,heap_total,heap_used,external,array_buffers}} (bytes; from
 * `process.memoryUsage()`, so the bench can say what holds the memory).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGatewayApp } from '../../../gateway/src/app.ts';
import type { SiteCredentialEntry } from '../../../gateway/src/broker/types.ts';
import { parseConfig } from '../../../gateway/src/config/load.ts';
import { silentLogger } from '../../../gateway/src/log.ts';

const o = JSON.parse(process.argv[2] ?? '{}') as { influxUrl: string; dir: string };
const out = (obj: unknown): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};

const sites = JSON.parse(readFileSync(join(o.dir, 'sites.json'), 'utf8')) as SiteCredentialEntry[];
const sitesFile = join(o.dir, 'sites-file.json');
writeFileSync(
  sitesFile,
  JSON.stringify({
    sites: sites.map((s) => ({
      site_id: s.siteId,
      password_hash: s.passwordHash,
      ...(s.mosquittoPasswordHash !== undefined && { mosquitto_password_hash: s.mosquittoPasswordHash }),
      enabled: s.enabled,
    })),
  }),
);
const config = parseConfig({
  data_dir: join(o.dir, 'data'),
  http: { port: 0 },
  api: { grpc: { port: 0 } },
  broker: { port: 0, sites_file: sitesFile },
  influx: { mode: 'external' },
  index: { url: o.influxUrl, database: 'rss' },
  registry: { db_path: join(o.dir, 'gateway.sqlite') },
});
const app = await startGatewayApp({ config, logger: silentLogger() });

let statuses = 0;
app.siteState.onChange((change) => {
  if (change.kind === 'cameraStatus') statuses += 1;
});
const report = setInterval(() => {
  const m = process.memoryUsage();
  out({
    statuses,
    mem: {
      rss: m.rss,
      heap_total: m.heapTotal,
      heap_used: m.heapUsed,
      external: m.external,
      array_buffers: m.arrayBuffers,
    },
  });
}, 1000);
out({ ready: true, broker_url: app.brokerUrl });

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  clearInterval(report);
  void (async () => {
    await app.stop();
    process.exit(0);
  })();
});
