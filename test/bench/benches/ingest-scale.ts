/**
 * Ingest scale-out (decision 15): events/s stored by 1 and then 2 ingest workers
 * (`gateway/bin/gateway --role ingest`, one process each) sharing the events stream through an
 * MQTT 5 shared subscription on Mosquitto, into one influxd and one evidence directory. A
 * simulated edge (its own process) publishes unpaced, a unique crop per event, in EventBatch
 * messages; the rate is taken between 10% and 90% of the events being queryable in InfluxDB.
 * Each run has a fresh broker, database and evidence directory.
 *
 *   npm run bench -- ingest-scale [events=30000] [batch_size=20] [evidence=1]
 *
 * On a 2-core machine the broker, influxd, the edge and the workers share the same two cores:
 * what a second worker buys here is bounded by that; on separate machines each worker brings
 * its own core.
 */
import { join } from 'node:path';
import { makeTempDir } from '../lifetime.ts';
import { startInfluxd, startMosquitto, type InfluxdHandle } from '../services/index.ts';
import { runPublisher } from '../../gateway/fixtures/run-publisher.ts';
import { startGatewayProc, writeRoleConfig, type GatewayProc } from '../../scale/harness.ts';

export const description =
  'ingest scale-out: events/s with 1 and 2 ingest workers on a Mosquitto shared subscription';

const SITE = 'bench-site';

async function countPoints(influxd: InfluxdHandle, database: string): Promise<number> {
  let n = 0;
  for (const rp of ['plate', 'face']) {
    const form = new URLSearchParams({ q: `SELECT count("event_id") FROM "${rp}"."events"`, db: database });
    const res = await fetch(`${influxd.url}/query`, { method: 'POST', body: form });
    const body = (await res.json()) as { results?: { series?: { values: (number | string)[][] }[] }[] };
    n += Number(body.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
  }
  return n;
}

interface RunFigures {
  workers: number;
  events_per_s: number;
  seconds_total: number;
  per_worker_written: number[];
}

async function runWith(
  workers: number,
  influxd: InfluxdHandle,
  o: { events: number; batchSize: number; evidence: boolean },
  progress: (msg: string) => void,
): Promise<RunFigures> {
  const tmp = makeTempDir(`bench-ingest-scale-${workers}`);
  const database = `bench_scale_${workers}_${Date.now()}`;
  const mosquitto = await startMosquitto({ persistenceDir: tmp.path });
  const procs: GatewayProc[] = [];
  try {
    const config = writeRoleConfig({
      role: 'ingest',
      dir: join(tmp.path, 'worker'),
      brokerUrl: mosquitto.url,
      influxUrl: influxd.url,
      database,
      evidenceDir: join(tmp.path, 'evidence'),
    });
    for (let w = 1; w <= workers; w++) {
      procs.push(
        await startGatewayProc(
          config,
          ['--worker-id', String(w)],
          `ingest-${w}`,
          join(tmp.path, `worker-${w}.log`),
        ),
      );
    }
    const pub = runPublisher(
      {
        url: mosquitto.url,
        site: SITE,
        password: 'anonymous-broker',
        count: o.events,
        mode: 'batch',
        batch_size: o.batchSize,
        max_in_flight: 500,
        evidence: o.evidence,
      },
      join(tmp.path, 'publisher.log'),
    );
    const t0 = await pub.started;
    let tLo: number | undefined;
    let tHi: number | undefined;
    let lastReport = Date.now();
    for (;;) {
      const n = await countPoints(influxd, database);
      const now = Date.now();
      if (tLo === undefined && n >= o.events * 0.1) tLo = now;
      if (tHi === undefined && n >= o.events * 0.9) tHi = now;
      if (now - lastReport > 5000) {
        progress(`  ${workers} worker(s): ${n}/${o.events} stored`);
        lastReport = now;
      }
      if (n >= o.events) break;
      if (now - t0 > 600_000) throw new Error(`only ${n} of ${o.events} stored after 10 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const tEnd = Date.now();
    const perWorker: number[] = [];
    for (const p of procs) {
      const text = await (await fetch(`${p.httpUrl}/metrics`)).text();
      const m = /^sharpeyes_gateway_ingest_events_written_total (\S+)$/m.exec(text);
      perWorker.push(Number(m?.[1] ?? 0));
    }
    await pub.done;
    const lo = tLo ?? t0;
    const hi = tHi ?? tEnd;
    return {
      workers,
      events_per_s: Math.round((o.events * 0.8) / Math.max(0.001, (hi - lo) / 1000)),
      seconds_total: Math.round((tEnd - t0) / 100) / 10,
      per_worker_written: perWorker,
    };
  } finally {
    for (const p of procs) await p.child.stop();
    await mosquitto.stop();
    // The evidence files are left to the bench's reaper (removing them takes longer than the run).
  }
}

export async function run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>> {
  const num = (i: number, name: string, dflt: number): number => {
    const raw = args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? args[i];
    const v = raw === undefined || raw.includes('=') ? dflt : Number(raw);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number`);
    return v;
  };
  const o = {
    events: num(0, 'events', 30_000),
    batchSize: num(1, 'batch_size', 20),
    evidence: num(2, 'evidence', 1) !== 0,
  };
  const influxd = await startInfluxd();
  try {
    const runs: RunFigures[] = [];
    for (const workers of [1, 2]) {
      progress(
        `${workers} ingest worker(s): ${o.events} events in messages of ${o.batchSize}${o.evidence ? ', a crop each' : ''}`,
      );
      const r = await runWith(workers, influxd, o, progress);
      progress(`  ${r.events_per_s} events/s`);
      runs.push(r);
    }
    const [one, two] = runs;
    return {
      bench: 'ingest-scale',
      events: o.events,
      batch_size: o.batchSize,
      evidence: o.evidence,
      one_worker: one,
      two_workers: two,
      speedup:
        one !== undefined && two !== undefined
          ? Math.round((two.events_per_s / one.events_per_s) * 100) / 100
          : 0,
      cores: (await import('node:os')).cpus().length,
    };
  } finally {
    await influxd.stop();
  }
}
