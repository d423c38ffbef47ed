/**
 * Tier cascade (decision 15), against the real thing: two Mosquitto 2.0 brokers and two gateways
 * (`gateway/bin/gateway`, role all) on loopback, one influxd holding both tiers' databases. The
 * county (lower) gateway writes a Mosquitto bridge stanza (`tier.upstream`); its Mosquitto is
 * restarted to take it (Mosquitto reads bridges only at start). The city (upper) gateway writes a
 * tier user that may publish the county site's events (`tier.downstream`).
 *
 * The county publishes its cameras with their places (retained TierCameras, over the same bridge)
 * and the city imports them into its registry, so area scope applies at the city unchanged.
 *
 * A simulated edge under the county publishes 1,000 events with the link up; then the city's
 * Mosquitto is stopped (the link is cut), 1,000 more are published (the county keeps storing),
 * and the city's Mosquitto is started again. Every event then has exactly one point in both
 * databases (listed from influxd, not searched). Over REST at the city, an operator of the
 * county's district finds the events and an operator of another district finds none.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MOSQUITTO_SECURITY_CONFIG } from '../../gateway/src/broker/mosquitto-files.ts';
import { makeTempDir } from '../bench/lifetime.ts';
import { startInfluxd, startMosquitto, type MosquittoHandle } from '../bench/services/index.ts';
import { waitFor } from '../bench/wait.ts';
import { apiLogin, type StackEvent, type UiUser } from '../demo/stack.ts';
import { report, tearDown } from '../faults/harness.ts';
import { runPublisher } from '../gateway/fixtures/run-publisher.ts';
import {
  compareIds,
  listEventIds,
  seedInstaller,
  seedSite,
  startGatewayProc,
  startScaleBroker,
  writeRoleConfig,
  type ScaleBroker,
} from './harness.ts';

const SITE = 'village-12';
const TIER = 'qingshan';
const TIER_PASSWORD = 'county-to-city-bridge-password';
const PLACE = { district: '青山区', street: '白石镇' };
const CAMERAS = Array.from({ length: 8 }, (_, i) => `cam-${i}`);
const PER_PHASE = 1000;

const OP_COUNTY: UiUser = {
  username: 'op-qingshan',
  password: 'operator-qingshan-2025',
  role: 'operator',
  displayName: 'county operator',
  scope: { district: PLACE.district },
};
const OP_OTHER: UiUser = {
  username: 'op-hexi',
  password: 'operator-hexi-2025',
  role: 'operator',
  displayName: 'other district operator',
  scope: { district: '河西区' },
};

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  await tearDown(...cleanups.splice(0).reverse());
}, 120_000);

/** Stop a broker and start it again in place (same port, same saved sessions); the pid file follows. */
async function restartInPlace(b: ScaleBroker, current: MosquittoHandle): Promise<MosquittoHandle> {
  await current.stop();
  const next = await startMosquitto({ ...b.options, port: current.port });
  writeFileSync(b.pidFile, `${next.pid}\n`);
  return next;
}

describe('tier cascade: a county gateway bridged to a city gateway', () => {
  it('forwards every event upward, queues through a cut link, and keeps area scope', async () => {
    const started = Date.now();
    const tmp = makeTempDir('scale-cascade');
    cleanups.push(() => {
      tmp.remove();
    });
    const influxd = await startInfluxd();
    cleanups.push(() => influxd.stop());

    // City (upper): its Mosquitto, and its gateway letting the county's bridge in.
    const cityBroker = await startScaleBroker(join(tmp.path, 'city-mosquitto'), []);
    let cityMosquitto = cityBroker.mosquitto;
    cleanups.push(() => cityMosquitto.stop());
    const cityConfig = writeRoleConfig({
      role: 'api',
      dir: join(tmp.path, 'city'),
      brokerUrl: cityMosquitto.url,
      influxUrl: influxd.url,
      database: 'city',
      evidenceDir: join(tmp.path, 'city-evidence'),
      broker: cityBroker,
      workers: [],
      extra: {
        role: 'all',
        tier: { downstream: [{ tier_id: TIER, password: { value: TIER_PASSWORD }, sites: [SITE] }] },
      },
    });
    const city = await startGatewayProc(cityConfig, [], 'gateway-city', join(tmp.path, 'city.log'));
    cleanups.push(() => city.child.stop());

    // County (lower): its Mosquitto includes the bridge directory the county gateway writes into.
    const bridgeDir = join(tmp.path, 'county-bridge');
    mkdirSync(bridgeDir, { recursive: true });
    const countyBroker = await startScaleBroker(join(tmp.path, 'county-mosquitto'), [], {
      extraConfig: [
        ...MOSQUITTO_SECURITY_CONFIG.filter((l) => !l.startsWith('allow_anonymous')),
        'autosave_interval 1',
        `include_dir ${bridgeDir}`,
      ].join('\n'),
    });
    let countyMosquitto = countyBroker.mosquitto;
    cleanups.push(() => countyMosquitto.stop());
    const countyConfig = writeRoleConfig({
      role: 'api',
      dir: join(tmp.path, 'county'),
      brokerUrl: countyMosquitto.url,
      influxUrl: influxd.url,
      database: 'county',
      evidenceDir: join(tmp.path, 'county-evidence'),
      broker: countyBroker,
      workers: [],
      extra: {
        role: 'all',
        tier: {
          upstream: {
            tier_id: TIER,
            url: cityMosquitto.url,
            password: { value: TIER_PASSWORD },
            bridge_file: join(bridgeDir, 'sharpeyes-upstream.conf'),
            restart_timeout_s: 1,
            restart_timeout_max_s: 2,
          },
        },
      },
    });
    const county = await startGatewayProc(countyConfig, [], 'gateway-county', join(tmp.path, 'county.log'));
    cleanups.push(() => county.child.stop());
    // Mosquitto reads bridges at start only: restart the county's broker on the written stanza.
    countyMosquitto = await restartInPlace(countyBroker, countyMosquitto);

    // The site and its cameras at the county only: the city imports them over the bridge.
    const countyInstaller = await seedInstaller(county.httpUrl);
    const site = await seedSite(countyInstaller, SITE, PLACE, CAMERAS);
    await seedInstaller(city.httpUrl, [OP_COUNTY, OP_OTHER]);
    const opCounty = await apiLogin(city.httpUrl, OP_COUNTY);
    const opOther = await apiLogin(city.httpUrl, OP_OTHER);
    const cityCameras = async (): Promise<
      { camera_id: string; lifecycle: string; place: { district: string } }[]
    > =>
      (
        await opCounty.get<{
          items: { camera_id: string; lifecycle: string; place: { district: string } }[];
        }>('/cameras', { limit: 100 })
      ).items;
    await waitFor(
      async () =>
        (await cityCameras()).filter((c) => c.lifecycle === 'active').length === CAMERAS.length
          ? true
          : undefined,
      { what: 'the city to import the county cameras', timeoutMs: 60_000, intervalMs: 500 },
    );
    const imported = await cityCameras();
    expect(imported.map((c) => c.camera_id).sort()).toEqual([...CAMERAS].sort());
    expect(imported.every((c) => c.place.district === PLACE.district)).toBe(true);
    expect((await opOther.get<{ items: unknown[] }>('/cameras', { limit: 100 })).items).toEqual([]);

    const publish = async (label: string): Promise<Map<string, number>> => {
      const run = runPublisher(
        {
          url: countyMosquitto.url,
          site: SITE,
          password: site.mqttPassword,
          count: PER_PHASE,
          mode: 'batch',
          batch_size: 20,
          max_in_flight: 50,
          evidence: true,
          report_ids: true,
        },
        join(tmp.path, `publisher-${label}.log`),
      );
      cleanups.push(() => run.child.stop());
      await run.done;
      return run.sent;
    };
    const points = async (db: string): Promise<number> => (await listEventIds(influxd.url, db, SITE)).length;
    const waitPoints = (db: string, n: number, what: string): Promise<true> =>
      waitFor(async () => ((await points(db)) >= n ? true : undefined), {
        what,
        timeoutMs: 90_000,
        intervalMs: 500,
      });

    // Phase 1, link up: both tiers store every event.
    const sent = new Map(await publish('up'));
    await waitPoints('county', PER_PHASE, 'phase 1 at the county');
    await waitPoints('city', PER_PHASE, 'phase 1 at the city (over the bridge)');

    // Phase 2, link cut: the city's broker is down; the county goes on storing.
    await cityMosquitto.stop();
    for (const [id, t] of await publish('cut')) sent.set(id, t);
    await waitPoints('county', 2 * PER_PHASE, 'phase 2 at the county, link down');
    const cityDuringCut = await points('city');

    // Restored: the bridge delivers its queue.
    cityMosquitto = await startMosquitto({ ...cityBroker.options, port: cityMosquitto.port });
    writeFileSync(cityBroker.pidFile, `${cityMosquitto.pid}\n`);
    await waitPoints('city', 2 * PER_PHASE, 'phase 2 at the city after the link returned');
    // Whatever would arrive twice arrives within a moment of the last one.
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const atCounty = compareIds(await listEventIds(influxd.url, 'county', SITE), new Set(sent.keys()));
    const atCity = compareIds(await listEventIds(influxd.url, 'city', SITE), new Set(sent.keys()));

    // Area scope at the city: the county's district operator sees them; another district's, none.
    const range = {
      from_ms: started - 3_600_000,
      to_ms: Date.now() + 60_000,
      reason: 'case 2025-117 cascade check',
    };
    const seen = await opCounty.get<{ items: StackEvent[] }>('/events', { ...range, limit: 500 });
    const unseen = await opOther.get<{ items: StackEvent[] }>('/events', { ...range, limit: 500 });

    report('tier cascade: county bridged to city, link cut and restored', {
      events_sent: sent.size,
      county: atCounty,
      city: atCity,
      city_points_during_cut: cityDuringCut,
      county_operator_items: seen.items.length,
      other_operator_items: unseen.items.length,
      wall_ms: Date.now() - started,
    });
    const exact = { points: 2 * PER_PHASE, distinct: 2 * PER_PHASE, duplicates: 0, missing: 0, extra: 0 };
    expect(sent.size).toBe(2 * PER_PHASE);
    expect(atCounty).toEqual(exact);
    expect(atCity).toEqual(exact);
    expect(cityDuringCut).toBeLessThan(2 * PER_PHASE);
    expect(seen.items.length).toBe(500);
    expect(seen.items.every((e) => e.site_id === SITE && sent.has(e.event_id))).toBe(true);
    expect(unseen.items).toEqual([]);
  }, 240_000);
});
