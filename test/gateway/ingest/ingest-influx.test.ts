/**
 * The real path, end to end: the gateway app (embedded Aedes with LevelDB, InfluxEventIndex,
 * DirEvidenceStore) with a real influxd, fed by a site over MQTT; and the same ingest code
 * behind a real Mosquitto using the generated password and ACL files. Counts are taken in
 * InfluxDB itself.
 */
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  MOSQUITTO_SECURITY_CONFIG,
  writeMosquittoFiles,
} from '../../../gateway/src/broker/mosquitto-files.ts';
import type { SiteCredentialEntry } from '../../../gateway/src/broker/types.ts';
import { startGatewayApp } from '../../../gateway/src/app.ts';
import { parseConfig } from '../../../gateway/src/config/load.ts';
import { silentLogger } from '../../../gateway/src/log.ts';
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { topic } from '../../../proto/topics.ts';
import { makeTempDir } from '../../bench/lifetime.ts';
import { startInfluxd, startMosquitto, type InfluxdHandle } from '../../bench/services/index.ts';
import { waitFor } from '../../bench/wait.ts';
import { connectSite, siteEntries } from '../fixtures/broker.ts';
import { eventsPayload, loadBaseJpeg, makeEvent, sha256Hex } from '../fixtures/events.ts';
import { startTestGateway, type TestGateway } from '../fixtures/gateway.ts';

const SITE = 'village-7';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let influxd: InfluxdHandle;
let entries: SiteCredentialEntry[];
let jpeg: Buffer;
let dbNo = 0;
beforeAll(async () => {
  influxd = await startInfluxd({ indexVersion: 'tsi1' });
  entries = await siteEntries([SITE]);
  jpeg = await loadBaseJpeg();
});
afterAll(async () => {
  await influxd.stop();
});

async function gateway(opts: Partial<Parameters<typeof startTestGateway>[0]> = {}): Promise<TestGateway> {
  dbNo += 1;
  const gw = await startTestGateway({
    influxUrl: influxd.url,
    sites: entries,
    database: `ingest_${dbNo}`,
    ...opts,
  });
  cleanups.push(() => gw.stop());
  return gw;
}

async function site(url: string): Promise<MqttClient> {
  const c = await connectSite(url, SITE);
  cleanups.push(() => c.endAsync(true));
  return c;
}

function publishAll(c: MqttClient, payloads: Buffer[]): Promise<unknown> {
  return Promise.all(payloads.map((p) => c.publishAsync(topic.events(SITE), p, { qos: 1 })));
}

/** Points in the plate retention policy's `events` measurement, counted by InfluxDB. */
async function countInInflux(database: string): Promise<number> {
  const series = await influxd.query('SELECT count("event_id") FROM "plate"."events"', database);
  return Number(series[0]?.values[0]?.[1] ?? 0);
}

describe('ingest into InfluxDB', () => {
  it('stores every event exactly once with verifiable evidence, and a replay adds nothing', async () => {
    const gw = await gateway();
    // Role all stores every event itself: its district copies are complete from its start.
    expect(gw.app.stores.registry.areaCopiesSinceMs()).toBeGreaterThan(Date.now() - 600_000);
    const edge = await site(gw.app.brokerUrl);
    const single = Array.from({ length: 1500 }, (_, i) =>
      makeEvent({ site: SITE, jpeg, plate: `京A${10000 + i}` }),
    );
    const batched = Array.from({ length: 1500 }, (_, i) =>
      makeEvent({ site: SITE, jpeg, plate: `京B${10000 + i}` }),
    );
    const batches: Buffer[] = [];
    for (let i = 0; i < batched.length; i += 250) batches.push(eventsPayload(batched.slice(i, i + 250)));
    await publishAll(edge, [...single.map((e) => eventsPayload([e])), ...batches]);
    await waitFor(async () => ((await countInInflux(gw.database)) === 3000 ? true : undefined), {
      what: '3000 events in InfluxDB',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    for (const e of [...single.slice(0, 100), ...batched.slice(-100)]) {
      const bytes = await gw.app.evidence.get(e.evidence?.sha256 ?? '');
      expect(bytes && sha256Hex(bytes)).toBe(e.evidence?.sha256);
    }

    // The edge replays everything (say, after losing its acknowledgements): same points.
    const before = gw.app.ingest.counts().eventsWritten;
    await publishAll(edge, batches);
    await waitFor(() => (gw.app.ingest.counts().eventsWritten === before + 1500 ? true : undefined), {
      what: 'the replay written',
    });
    expect(await countInInflux(gw.database)).toBe(3000);
    expect(gw.app.ingest.counts().rejectedEvents).toBe(0);
  }, 180_000);

  it('holds back while influxd is stalled, keeps what it holds bounded, and loses nothing', async () => {
    const tuning = { batch_max_events: 200, max_in_flight_batches: 2 };
    const gw = await gateway({ ingest: tuning });
    const edge = await site(gw.app.brokerUrl);
    // Freeze influxd: its connections stay open and nothing answers, the hardest outage.
    process.kill(influxd.pid, 'SIGSTOP');
    cleanups.push(() => {
      process.kill(influxd.pid, 'SIGCONT');
    });
    const events: Event[] = Array.from({ length: 3000 }, () => makeEvent({ site: SITE, jpeg }));
    const bound = (tuning.max_in_flight_batches + 1) * tuning.batch_max_events;
    let peak = 0;
    const watch = setInterval(() => {
      const s = gw.app.ingest.windowStats();
      peak = Math.max(peak, s.pendingItems + s.inFlightItems);
    }, 5);
    cleanups.push(() => {
      clearInterval(watch);
    });
    const publishing = publishAll(
      edge,
      events.map((e) => eventsPayload([e])),
    );
    await waitFor(
      async () => {
        const before = gw.app.ingest.counts().messages;
        await new Promise((resolve) => setTimeout(resolve, 500));
        return before > 0 && gw.app.ingest.counts().messages === before ? true : undefined;
      },
      { what: 'reading to stop', timeoutMs: 30_000 },
    );
    expect(peak).toBeLessThanOrEqual(bound);
    expect(gw.app.ingest.counts().eventsWritten).toBe(0);

    process.kill(influxd.pid, 'SIGCONT');
    await publishing;
    await waitFor(async () => ((await countInInflux(gw.database)) === 3000 ? true : undefined), {
      what: 'all 3000 events after the stall',
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    expect(peak).toBeLessThanOrEqual(bound);
  }, 180_000);

  it('acknowledges nothing it has not stored: events in flight when it stops come back after a restart', async () => {
    const gw = await gateway({ ingest: { stop_timeout_ms: 200 } });
    const port = Number(new URL(gw.app.brokerUrl).port);
    const edge = await site(gw.app.brokerUrl);
    process.kill(influxd.pid, 'SIGSTOP');
    cleanups.push(() => {
      process.kill(influxd.pid, 'SIGCONT');
    });
    const events = Array.from({ length: 500 }, () => makeEvent({ site: SITE, jpeg }));
    // Acknowledged by the broker: the messages are in the gateway session's queue on disk.
    await publishAll(
      edge,
      events.map((e) => eventsPayload([e])),
    );
    await waitFor(() => (gw.app.ingest.windowStats().inFlightBatches > 0 ? true : undefined), {
      what: 'a stalled write',
    });
    await edge.endAsync(true);
    await gw.stop(true);
    process.kill(influxd.pid, 'SIGCONT');

    const again = await gateway({ dir: gw.dir, brokerPort: port, database: gw.database });
    await waitFor(async () => ((await countInInflux(gw.database)) === 500 ? true : undefined), {
      what: 'the 500 events after the restart',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    expect(again.app.ingest.counts().rejectedEvents).toBe(0);
  }, 180_000);
});

describe('external Mosquitto', () => {
  it('runs the same ingest behind Mosquitto with the generated files', async () => {
    const dir = makeTempDir('gateway-mosquitto-ingest');
    cleanups.push(() => {
      dir.remove();
    });
    const gatewayUser = { username: '@sharpeyes-ingest', password: 'ingest-secret' };
    const passwordFile = join(dir.path, 'passwd');
    const aclFile = join(dir.path, 'acl');
    await writeMosquittoFiles({ passwordFile, aclFile }, { sites: entries, gatewayUsers: [gatewayUser] });
    const mosquitto = await startMosquitto({
      passwordFile,
      aclFile,
      extraConfig: MOSQUITTO_SECURITY_CONFIG.filter((l) => !l.startsWith('allow_anonymous')).join('\n'),
    });
    cleanups.push(() => mosquitto.stop());
    dbNo += 1;
    const database = `ingest_${dbNo}`;
    const app = await startGatewayApp({
      config: parseConfig({
        data_dir: join(dir.path, 'data'),
        http: { port: 0 },
        api: { grpc: { port: 0 } },
        broker: { mode: 'external', url: mosquitto.url, password: { value: gatewayUser.password } },
        influx: { mode: 'external' },
        index: { url: influxd.url, database },
      }),
      logger: silentLogger(),
    });
    cleanups.push(() => app.stop());

    const edge = await site(mosquitto.url);
    const events = Array.from({ length: 1000 }, () => makeEvent({ site: SITE, jpeg }));
    await publishAll(
      edge,
      events.map((e) => eventsPayload([e])),
    );
    await waitFor(async () => ((await countInInflux(database)) === 1000 ? true : undefined), {
      what: '1000 events via Mosquitto',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    // A forged publish under another site's prefix is dropped by Mosquitto's ACL.
    await edge.publishAsync(
      topic.events('checkpoint-2'),
      eventsPayload([makeEvent({ site: 'checkpoint-2', jpeg })]),
      { qos: 1 },
    );
    const marker = makeEvent({ site: SITE, jpeg });
    await edge.publishAsync(topic.events(SITE), eventsPayload([marker]), { qos: 1 });
    await waitFor(async () => ((await countInInflux(database)) === 1001 ? true : undefined), {
      what: 'the marker',
    });
    expect(app.ingest.counts()).toMatchObject({ messages: 1001, rejectedEvents: 0, rejectedMessages: 0 });
  }, 180_000);
});
