/**
 * Fault 5: the edge agent process is SIGKILLed with events in its spool, then started again on
 * the same data directory, where it resumes sending and goes on producing.
 *
 * The edge runs as its own process (fixtures/edge-child.ts: the real spool and link fed with
 * synthetic events). To be sure the spool holds a backlog at the kill, its uplink (a TCP proxy)
 * is cut a moment before, while events keep coming; messages in flight at the cut were sent but
 * never acknowledged, so they are in the spool too and are sent again.
 *
 * What the restarted edge must deliver is exactly what its spool had made durable: every event
 * the killed process was told was spooled (its last progress line), and every event after it
 * that reached the disk before the kill. The test reads the spool directory between the kill and
 * the restart to know that set exactly (the spool is append-only, so it is a prefix 0..k-1 of
 * the events produced), then counts in InfluxDB: that prefix plus the restarted edge's own
 * events, each once.
 */
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayApp } from '../../gateway/src/app.ts';
import { Event } from '../../proto/gen/sharpeyes/v1/event.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';
import { openSpool } from '../../edge-agent/src/spool/index.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { startInfluxd, type InfluxdHandle } from '../bench/services/index.ts';
import { startTcpProxy, type TcpProxy } from '../bench/tcp-proxy.ts';
import {
  countPoints,
  leaveToReaper,
  newGatewaySetup,
  newRun,
  range,
  report,
  sample,
  startEdgeChild,
  startGateway,
  SyntheticEvents,
  tearDown,
  until,
  untilPoints,
  verifyIndex,
  type EdgeChild,
} from './harness.ts';

const FIRST_COUNT = 8000;
const SECOND_FROM = 100_000;
/** The restarted edge produces at least this many, and enough for ≥ 10 000 in all. */
const SECOND_MIN = 6000;
const TOTAL_MIN = 10_000;
const RATE_PER_S = 1000;

describe('fault 5: edge agent SIGKILLed with events in its spool', () => {
  let tmp: TempDir;
  let influxd: InfluxdHandle;
  let gateway: GatewayApp | undefined;
  let proxy: TcpProxy | undefined;
  const children: EdgeChild[] = [];

  beforeAll(async () => {
    tmp = makeTempDir('fault-edge-kill');
    influxd = await startInfluxd();
  });

  afterAll(async () => {
    await tearDown(
      ...children.map((c) => () => c.child.stop()),
      () => proxy?.stop(),
      () => gateway?.stop(),
      () => influxd.stop(),
      () => {
        leaveToReaper(tmp);
      },
    );
  });

  it('delivers everything the spool had made durable, once, after the restart', async () => {
    const started = Date.now();
    const setup = await newGatewaySetup(tmp, influxd.url, 'fault_edge_kill');
    gateway = await startGateway(setup, join(tmp.path, 'gateway.log'));
    proxy = await startTcpProxy({ targetPort: setup.brokerPort });
    const px = proxy;
    const ident = newRun();
    const events = await SyntheticEvents.create(ident);
    const dataDir = join(tmp.path, 'edge');
    const log = join(tmp.path, 'edge.log');

    const first = startEdgeChild(
      { dataDir, url: px.url, ident, from: 0, count: FIRST_COUNT, ratePerS: RATE_PER_S },
      log,
    );
    children.push(first);
    const running = (): string | undefined => (first.child.running() ? undefined : 'the edge exited');
    // Sending live first, then the uplink goes while the edge keeps producing.
    await untilPoints(influxd.url, setup.database, 500, { abortIf: running });
    await until(() => (first.progress()?.contiguous ?? 0) >= 2000, '2000 events produced');
    px.cut();
    await until(
      () => (first.progress()?.spool.events ?? 0) >= 2000,
      'a backlog of 2000 events in the spool',
      () => JSON.stringify(first.progress()),
    );
    const last = first.progress();
    process.kill(first.child.pid, 'SIGKILL');
    expect((await first.child.exited).signal).toBe('SIGKILL');
    // Every event below this was reported durably spooled before the kill.
    const reported = last?.contiguous ?? 0;

    // What the spool holds now (a torn tail is cut off here as the restarted edge would).
    const spool = await openSpool({
      dir: join(dataDir, 'spool'),
      maxBytes: 256 * 1024 * 1024,
      segmentBytes: 4 * 1024 * 1024,
      logger: silentLogger(),
      registry: new Registry(),
    });
    const held: string[] = [];
    for (
      let b = await spool.take(10_000, Infinity);
      b !== undefined;
      b = await spool.take(10_000, Infinity)
    ) {
      held.push(...b.payloads.map((pl) => Event.decode(pl).eventId));
    }
    await spool.close();
    const index = new Map(range(0, FIRST_COUNT).map((i) => [events.id(i), i]));
    const heldIndices = held.map((id) => index.get(id) ?? -1);
    expect(heldIndices.every((i) => i >= 0)).toBe(true);
    expect(held.length).toBeGreaterThan(0);
    // The spool gives its events back oldest first, and its newest is at least the last one the
    // killed edge was told was spooled (nothing it had made durable was lost). Everything before
    // the newest went through the spool: acknowledged before the kill, or held in it.
    expect(heldIndices.every((i, k) => k === 0 || i > (heldIndices[k - 1] ?? -1))).toBe(true);
    const durable = (heldIndices.at(-1) ?? -1) + 1;
    expect(durable).toBeGreaterThanOrEqual(reported);

    const secondCount = Math.max(SECOND_MIN, TOTAL_MIN - durable);
    const second = startEdgeChild(
      { dataDir, url: px.url, ident, from: SECOND_FROM, count: secondCount, ratePerS: RATE_PER_S },
      log,
    );
    children.push(second);
    px.restore();
    await second.produced;
    const expectedCount = durable + secondCount;
    expect(expectedCount).toBeGreaterThanOrEqual(TOTAL_MIN);
    await untilPoints(influxd.url, setup.database, expectedCount, {
      abortIf: () => (second.child.running() ? undefined : 'the restarted edge exited'),
      explain: () => `restarted edge ${JSON.stringify(second.progress())}`,
    });
    await until(
      () => second.progress()?.spool.events === 0,
      'the restarted spool to empty',
      () => JSON.stringify(second.progress()),
    );

    const expected = [...range(0, durable), ...range(SECOND_FROM, SECOND_FROM + secondCount)];
    const r = await verifyIndex(setup, events, expected);
    report('5 edge SIGKILL', {
      events_sent: expectedCount,
      points: r.points,
      distinct: r.distinct,
      duplicates: r.duplicates,
      missing: r.missing.length,
      extra: r.extra.length,
      evidence_verified: r.evidenceChecked,
      reported_spooled_before_kill: reported,
      durable_before_kill: durable,
      held_in_spool_at_kill: held.length,
      produced_after_restart: secondCount,
      points_at_end: await countPoints(influxd.url, setup.database),
      wall_ms: Date.now() - started,
    });
    expect(r.missing, `missing ${sample(r.missing)}`).toEqual([]);
    expect(r.extra, `extra ${sample(r.extra)}`).toEqual([]);
    expect(r.points).toBe(expectedCount);
    expect(r.duplicates).toBe(0);
    expect(r.lookupPoints).toBe(r.platePoints);
    expect(r.evidenceBad, `evidence bad ${sample(r.evidenceBad)}`).toEqual([]);
    expect(r.evidenceChecked).toBe(expectedCount);
  }, 300_000);
});
