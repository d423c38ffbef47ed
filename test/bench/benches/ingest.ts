/**
 * Gateway ingest throughput and latency: the gateway app in this process (embedded Aedes with
 * LevelDB, InfluxEventIndex, DirEvidenceStore), a real influxd, and a simulated edge in its own
 * process publishing QoS1 through the broker as a site.
 *
 * The edge's cameras are registered in a district, so every event is written as a production
 * gateway writes it: `events`, the plate lookup, and the district copy (decision 10).
 *
 * Phases (each on fresh events, all with a unique JPEG crop per event unless `no_evidence`):
 * 1. live: one event per message, unpaced (the edge keeps up to 2000 messages unacknowledged);
 *    events/s written over the middle 80% of the run (sustained, not the burst at the start);
 * 2. live_no_evidence: the same without evidence crops (index path alone);
 * 3. backlog: EventBatch messages of 500 events, unpaced (a spool replaying after an outage);
 * 4. latency: 1000 events/s, one per message, for `latency_s`, without and then with evidence;
 *    each event's first_seen_ms is its publish time (the edge reports ids and times), and the
 *    bench polls InfluxDB every 20 ms from the oldest event not yet seen: latency = when the id
 *    was first queryable − publish time.
 *
 *   npm run bench -- ingest [live_events=60000] [backlog_events=150000] [latency_s=20]
 *   (or the same three numbers positionally)
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { makeTempDir } from '../lifetime.ts';
import { startInfluxd, type InfluxdHandle } from '../services/index.ts';
import { siteEntries, sitePassword } from '../../gateway/fixtures/broker.ts';
import { startTestGateway, type TestGateway } from '../../gateway/fixtures/gateway.ts';
import { runPublisher, type PublisherOptions } from '../../gateway/fixtures/run-publisher.ts';

export const description =
  'gateway ingest: live events/s (one per message), backlog replay events/s, e2e latency at 1000 events/s';

const SITE = 'bench-site';

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** CPU seconds (user + system) of a pid from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Throughput {
  events_per_s: number;
  /** Gateway process CPU per event, µs. */
  gateway_cpu_us_per_event: number;
  publisher_acked_per_s: number;
  seconds: number;
  gateway_cpu_percent: number;
  influxd_cpu_percent: number;
  /** The simulated edge's CPU: near 100 would mean the publisher, not the gateway, is the limit. */
  publisher_cpu_percent: number;
}

async function throughput(
  gw: TestGateway,
  influxd: InfluxdHandle,
  opts: Omit<PublisherOptions, 'url' | 'site' | 'password'>,
  logFile: string,
  progress: (msg: string) => void,
): Promise<Throughput> {
  const ingest = gw.app.ingest;
  const base = ingest.counts().eventsWritten;
  const pub = runPublisher(
    { ...opts, url: gw.app.brokerUrl, site: SITE, password: sitePassword(SITE) },
    logFile,
  );
  await pub.started;
  const lo = opts.count * 0.1;
  const hi = opts.count * 0.9;
  let tLo: number | undefined;
  let tHi: number | undefined;
  let cpu0 = { gw: 0, influx: 0, pub: 0 };
  let pubCpuHi: number | undefined;
  const started = Date.now();
  let lastReport = started;
  for (;;) {
    const written = ingest.counts().eventsWritten - base;
    const now = Date.now();
    if (tLo === undefined && written >= lo) {
      tLo = now;
      cpu0 = {
        gw: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
        influx: await cpuSeconds(influxd.pid),
        pub: await cpuSeconds(pub.child.pid).catch(() => 0),
      };
    }
    if (tHi === undefined && written >= hi) {
      tHi = now;
      // While the publisher still runs (it exits once everything is acknowledged).
      pubCpuHi = await cpuSeconds(pub.child.pid).catch(() => undefined);
    }
    if (written >= opts.count) break;
    if (now - lastReport > 5000) {
      lastReport = now;
      progress(`  ${written}/${opts.count} written, ${pub.acked()} acked by the broker`);
    }
    if (!pub.child.running() && written < opts.count && now - started > 600_000) throw new Error('stalled');
    await new Promise((r) => setTimeout(r, 10));
  }
  const cpu1 = {
    gw: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
    influx: await cpuSeconds(influxd.pid),
  };
  const done = await pub.done;
  const seconds = ((tHi ?? Date.now()) - (tLo ?? started)) / 1000;
  const span = (Date.now() - (tLo ?? started)) / 1000;
  const written = ingest.counts().eventsWritten - base;
  return {
    events_per_s: Math.round((hi - lo) / seconds),
    gateway_cpu_us_per_event: Math.round(((cpu1.gw - cpu0.gw) * 1e6) / Math.max(1, written - lo)),
    publisher_acked_per_s: Math.round(done.acked / (done.elapsedMs / 1000)),
    seconds: Math.round(seconds * 10) / 10,
    gateway_cpu_percent: Math.round(((cpu1.gw - cpu0.gw) / span) * 100),
    influxd_cpu_percent: Math.round(((cpu1.influx - cpu0.influx) / span) * 100),
    publisher_cpu_percent: Math.round((((pubCpuHi ?? cpu0.pub) - cpu0.pub) / seconds) * 100),
  };
}

async function latency(
  gw: TestGateway,
  influxd: InfluxdHandle,
  seconds: number,
  evidence: boolean,
  logFile: string,
): Promise<{ p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number; events: number }> {
  const count = seconds * 1000;
  const pub = runPublisher(
    {
      url: gw.app.brokerUrl,
      site: SITE,
      password: sitePassword(SITE),
      count,
      mode: 'live',
      rate_per_s: 1000,
      evidence,
      report_ids: true,
    },
    logFile,
  );
  await pub.started;
  const latencies: number[] = [];
  const seen = new Set<string>();
  const rp = gw.app.index.names.retentionPolicies.plate;
  const deadline = Date.now() + (seconds + 120) * 1000;
  // Poll from the oldest event published and not yet seen, so every event is found however
  // out of order batches land, and each poll reads little when ingest keeps up.
  while (seen.size < count && Date.now() < deadline) {
    let oldest = Number.POSITIVE_INFINITY;
    for (const [id, t] of pub.sent) {
      if (!seen.has(id) && t < oldest) oldest = t;
    }
    if (oldest !== Number.POSITIVE_INFINITY) {
      const series = await influxd.query(
        `SELECT "event_id" FROM "${rp}"."events" WHERE time >= ${oldest}ms`,
        gw.database,
        { epoch: 'ms' },
      );
      const now = Date.now();
      for (const s of series) {
        for (const row of s.values) {
          const id = row[1] as string;
          const sentMs = pub.sent.get(id);
          if (sentMs !== undefined && !seen.has(id)) {
            seen.add(id);
            latencies.push(now - sentMs);
          }
        }
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await pub.done;
  latencies.sort((a, b) => a - b);
  return {
    p50_ms: percentile(latencies, 0.5),
    p95_ms: percentile(latencies, 0.95),
    p99_ms: percentile(latencies, 0.99),
    max_ms: latencies[latencies.length - 1] ?? 0,
    events: latencies.length,
  };
}

const ARG_NAMES = ['live_events', 'backlog_events', 'latency_s'] as const;

/** `name=value` or positional arguments, in the order of ARG_NAMES; anything else is an error. */
function parseArgs(args: readonly string[]): Partial<Record<(typeof ARG_NAMES)[number], number>> {
  const out: Partial<Record<(typeof ARG_NAMES)[number], number>> = {};
  args.forEach((arg, i) => {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? ARG_NAMES[i] : arg.slice(0, eq);
    const value = Number(eq < 0 ? arg : arg.slice(eq + 1));
    if (!ARG_NAMES.includes(name as (typeof ARG_NAMES)[number]) || !Number.isFinite(value) || value <= 0)
      throw new Error(`bad argument ${JSON.stringify(arg)}: expected [${ARG_NAMES.join('=N] [')}=N]`);
    out[name as (typeof ARG_NAMES)[number]] = value;
  });
  return out;
}

export async function run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const liveEvents = a.live_events ?? 60_000;
  const backlogEvents = a.backlog_events ?? 150_000;
  const latencyS = a.latency_s ?? 20;
  const tmp = makeTempDir('bench-ingest');
  const influxd = await startInfluxd({ indexVersion: 'tsi1' });
  let gw: TestGateway | undefined;
  try {
    gw = await startTestGateway({ influxUrl: influxd.url, sites: await siteEntries([SITE]) });
    // The simulated edge's cameras (cam-0 … cam-7) registered in a district, as an installer
    // would: the index then writes each event's district copy (area_events) too, as a
    // production gateway does.
    const { registry } = gw.app.stores;
    await registry.sites.create('system', { siteId: SITE, name: 'bench site', place: { district: 'bench' } });
    for (let i = 0; i < 8; i++) {
      registry.cameras.create('system', {
        cameraId: `cam-${i}`,
        siteId: SITE,
        code: `bench-cam-${i}`,
        name: `bench camera ${i}`,
        place: { district: 'bench' },
        category: 'other',
        identity: { serialNumber: `SN-bench-${i}` },
      });
    }
    const log = (name: string): string => join(tmp.path, `${name}.log`);

    progress(`live: ${liveEvents} events, one per message, with evidence`);
    const live = await throughput(
      gw,
      influxd,
      { count: liveEvents, mode: 'live', max_in_flight: 2000, evidence: true },
      log('live'),
      progress,
    );
    progress(`  ${live.events_per_s} events/s`);

    progress(`live without evidence: ${liveEvents} events`);
    const liveBare = await throughput(
      gw,
      influxd,
      { count: liveEvents, mode: 'live', max_in_flight: 2000, evidence: false },
      log('live-bare'),
      progress,
    );
    progress(`  ${liveBare.events_per_s} events/s`);

    progress(`backlog: ${backlogEvents} events in batches of 500, with evidence`);
    const backlog = await throughput(
      gw,
      influxd,
      { count: backlogEvents, mode: 'batch', batch_size: 500, max_in_flight: 8, evidence: true },
      log('backlog'),
      progress,
    );
    progress(`  ${backlog.events_per_s} events/s`);

    progress(`backlog without evidence: ${backlogEvents} events`);
    const backlogBare = await throughput(
      gw,
      influxd,
      { count: backlogEvents, mode: 'batch', batch_size: 500, max_in_flight: 8, evidence: false },
      log('backlog-bare'),
      progress,
    );
    progress(`  ${backlogBare.events_per_s} events/s`);

    progress(`latency: 1000 events/s for ${latencyS} s, without evidence`);
    const latBare = await latency(gw, influxd, latencyS, false, log('latency-bare'));
    progress(`  p95 ${latBare.p95_ms} ms`);

    progress(`latency: 1000 events/s for ${latencyS} s, with evidence`);
    const lat = await latency(gw, influxd, latencyS, true, log('latency'));
    progress(`  p95 ${lat.p95_ms} ms`);

    const counts = gw.app.ingest.counts();
    // Every stored event has its district copy (the camera is registered in one).
    const copies = await influxd.query(
      `SELECT COUNT("detail") FROM "${gw.database}"."plate"."area_events", "${gw.database}"."face"."area_events"`,
      gw.database,
    );
    return {
      index_district_copies: copies.reduce((n, s) => n + Number(s.values[0]?.[1] ?? 0), 0),
      live_events_per_s: live.events_per_s,
      live_gateway_cpu_us_per_event: live.gateway_cpu_us_per_event,
      live_gateway_cpu_percent: live.gateway_cpu_percent,
      live_influxd_cpu_percent: live.influxd_cpu_percent,
      live_publisher_cpu_percent: live.publisher_cpu_percent,
      live_no_evidence_events_per_s: liveBare.events_per_s,
      live_no_evidence_gateway_cpu_us_per_event: liveBare.gateway_cpu_us_per_event,
      live_no_evidence_gateway_cpu_percent: liveBare.gateway_cpu_percent,
      live_no_evidence_influxd_cpu_percent: liveBare.influxd_cpu_percent,
      live_no_evidence_publisher_cpu_percent: liveBare.publisher_cpu_percent,
      backlog_events_per_s: backlog.events_per_s,
      backlog_gateway_cpu_us_per_event: backlog.gateway_cpu_us_per_event,
      backlog_gateway_cpu_percent: backlog.gateway_cpu_percent,
      backlog_no_evidence_events_per_s: backlogBare.events_per_s,
      backlog_no_evidence_gateway_cpu_us_per_event: backlogBare.gateway_cpu_us_per_event,
      backlog_no_evidence_gateway_cpu_percent: backlogBare.gateway_cpu_percent,
      latency_no_evidence_at_1000_per_s_p50_ms: latBare.p50_ms,
      latency_no_evidence_at_1000_per_s_p95_ms: latBare.p95_ms,
      latency_no_evidence_at_1000_per_s_max_ms: latBare.max_ms,
      latency_at_1000_per_s_p50_ms: lat.p50_ms,
      latency_at_1000_per_s_p95_ms: lat.p95_ms,
      latency_at_1000_per_s_p99_ms: lat.p99_ms,
      latency_at_1000_per_s_max_ms: lat.max_ms,
      events_written_total: counts.eventsWritten,
      events_rejected_total: counts.rejectedEvents + counts.rejectedMessages,
      live_events: liveEvents,
      backlog_events: backlogEvents,
      latency_events_seen: latBare.events + lat.events,
      load_average_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    };
  } finally {
    await gw?.stop();
    await influxd.stop();
    tmp.remove();
  }
}
