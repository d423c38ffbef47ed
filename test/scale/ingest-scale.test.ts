/**
 * Scale-out of ingest (decision 15), against the real thing: Mosquitto 2.0 (MQTT 5 shared
 * subscriptions, the password and ACL files the api node writes), influxd, an api node and two
 * ingest workers as `gateway/bin/gateway` processes, and a simulated edge (its own process)
 * publishing 50,000 events with a unique crop each.
 *
 * Mid-run, worker 2 is SIGKILLed and restarted by the test (as its supervisor would) with the
 * same id: its persistent session kept its share of the stream and what it had not acknowledged.
 * At the end every event has exactly one point in InfluxDB (listed straight from influxd, not
 * through the search, which de-duplicates), both workers stored events, and the api node heard
 * of every stored event on the gateway-internal topic.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../bench/lifetime.ts';
import { startInfluxd } from '../bench/services/index.ts';
import { waitFor } from '../bench/wait.ts';
import { leaveToReaper, report, scrapeMetric, tearDown } from '../faults/harness.ts';
import { runPublisher } from '../gateway/fixtures/run-publisher.ts';
import {
  compareIds,
  listEventIds,
  seedInstaller,
  seedSite,
  sigkill,
  startGatewayProc,
  startScaleBroker,
  writeRoleConfig,
  type GatewayProc,
} from './harness.ts';

const EVENTS = 50_000;
const SITE = 'village-9';
const KILL_AT_POINTS = 15_000;

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  await tearDown(...cleanups.splice(0).reverse());
}, 120_000);

describe('scale-out: ingest workers on a shared subscription', () => {
  it('stores 50,000 events exactly once with two workers, one SIGKILLed mid-run', async () => {
    const started = Date.now();
    // 50,000 crops in 50,000 directories: the temp dir is left to the bench's reaper, which
    // removes it after the test process exits (see test/faults/harness.ts leaveToReaper).
    const tmp = makeTempDir('scale-ingest');
    cleanups.push(() => {
      leaveToReaper(tmp);
    });
    const influxd = await startInfluxd();
    cleanups.push(() => influxd.stop());
    const broker = await startScaleBroker(join(tmp.path, 'mosquitto'), ['1', '2']);
    cleanups.push(() => broker.mosquitto.stop());
    const database = 'scale_ingest';
    const evidenceDir = join(tmp.path, 'evidence');
    const common = { brokerUrl: broker.mosquitto.url, influxUrl: influxd.url, database, evidenceDir };

    const apiConfig = writeRoleConfig({ ...common, role: 'api', dir: join(tmp.path, 'api'), broker });
    const api = await startGatewayProc(apiConfig, [], 'gateway-api', join(tmp.path, 'api.log'));
    cleanups.push(() => api.child.stop());

    // The registry lives in the api node; the site and four of the edge's eight cameras are
    // registered there, and its Mosquitto files gain the site (then Mosquitto is reloaded).
    const installer = await seedInstaller(api.httpUrl);
    const site = await seedSite(installer, SITE, { district: '青山区', street: '白石镇' }, [
      'cam-0',
      'cam-1',
      'cam-2',
      'cam-3',
    ]);

    const workerConfig = writeRoleConfig({ ...common, role: 'ingest', dir: join(tmp.path, 'worker') });
    const workerLog = (id: string): string => join(tmp.path, `worker-${id}.log`);
    const startWorker = (id: string): Promise<GatewayProc> =>
      startGatewayProc(workerConfig, ['--worker-id', id], `gateway-ingest-${id}`, workerLog(id));
    const w1 = await startWorker('1');
    cleanups.push(() => w1.child.stop());
    let w2 = await startWorker('2');
    cleanups.push(() => w2.child.stop());
    // Each worker reads the registry from the retained SiteConfig before the edge starts.
    for (const w of [w1, w2]) {
      await waitFor(
        async () =>
          (await scrapeMetric(w.httpUrl, 'sharpeyes_gateway_scale_registry_sites')) >= 1 ? true : undefined,
        { what: 'the worker to read the site config', timeoutMs: 30_000 },
      );
    }

    const publisher = runPublisher(
      {
        url: broker.mosquitto.url,
        site: SITE,
        password: site.mqttPassword,
        count: EVENTS,
        mode: 'batch',
        batch_size: 25,
        max_in_flight: 200,
        evidence: true,
        report_ids: true,
      },
      join(tmp.path, 'publisher.log'),
    );
    cleanups.push(() => publisher.child.stop());

    // Mid-run: worker 2 is killed without warning, and restarted 2 s later with the same id.
    const points = async (): Promise<number> => (await listEventIds(influxd.url, database, SITE)).length;
    await waitFor(async () => ((await points()) >= KILL_AT_POINTS ? true : undefined), {
      what: `${KILL_AT_POINTS} points`,
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    const w2WrittenBeforeKill = await scrapeMetric(
      w2.httpUrl,
      'sharpeyes_gateway_ingest_events_written_total',
    );
    const pointsAtKill = await points();
    await sigkill(w2);
    await sleep(2000);
    w2 = await startWorker('2');

    await publisher.done;
    expect(publisher.sent.size).toBe(EVENTS);
    await waitFor(async () => ((await points()) >= EVENTS ? true : undefined), {
      what: `${EVENTS} points`,
      timeoutMs: 150_000,
      intervalMs: 1000,
    });
    // Whatever was redelivered is in by the time the api node has heard of every event.
    await waitFor(
      async () =>
        (await scrapeMetric(api.httpUrl, 'sharpeyes_gateway_scale_stored_events_total')) >= EVENTS
          ? true
          : undefined,
      { what: 'the api node to hear of every stored event', timeoutMs: 60_000 },
    );
    await sleep(1000);

    const ids = await listEventIds(influxd.url, database, SITE);
    const c = compareIds(ids, new Set(publisher.sent.keys()));
    const written = {
      w1: await scrapeMetric(w1.httpUrl, 'sharpeyes_gateway_ingest_events_written_total'),
      w2_before_kill: w2WrittenBeforeKill,
      w2_after_restart: await scrapeMetric(w2.httpUrl, 'sharpeyes_gateway_ingest_events_written_total'),
    };
    const unregistered =
      (await scrapeMetric(w1.httpUrl, 'sharpeyes_gateway_scale_unregistered_events_total')) +
      (await scrapeMetric(w2.httpUrl, 'sharpeyes_gateway_scale_unregistered_events_total'));
    const announced = await scrapeMetric(api.httpUrl, 'sharpeyes_gateway_scale_stored_events_total');
    report('scale: 2 ingest workers, one SIGKILLed', {
      events_sent: EVENTS,
      ...c,
      points_at_kill: pointsAtKill,
      written,
      unregistered_flagged: unregistered,
      announced_to_api: announced,
      wall_ms: Date.now() - started,
    });
    expect(c).toEqual({ points: EVENTS, distinct: EVENTS, duplicates: 0, missing: 0, extra: 0 });
    expect(written.w1).toBeGreaterThan(0);
    expect(written.w2_before_kill).toBeGreaterThan(0);
    expect(written.w2_after_restart).toBeGreaterThan(0);
    expect(unregistered).toBeGreaterThan(0);

    const health = (await (await fetch(`${api.httpUrl}/healthz`)).json()) as {
      components: Record<string, { state: string }>;
    };
    expect(health.components.stored_feed?.state).toBe('ok');
  }, 300_000);
});
