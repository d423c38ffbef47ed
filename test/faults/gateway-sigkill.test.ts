/**
 * Fault 1: the gateway process (`gateway/bin/gateway`, embedded Aedes with its LevelDB, ingest,
 * evidence store) is SIGKILLed mid-stream and started again on the same data directory, while
 * influxd (external) keeps running and the edge keeps producing.
 *
 * What must hold: an event the broker acknowledged to the edge (PUBACK only once it is in the
 * ingest session's queue on disk, see gateway/src/broker/puback-gate.ts) or that ingest had
 * taken but not yet stored (its PUBACK to the broker is sent only after InfluxDB and the
 * evidence store have it) comes back after the restart; what the edge had not had acknowledged
 * is still in its spool and is sent again. Replays write the same points (no duplicate).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEdge } from '../edge/publish/harness.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { startInfluxd, type InfluxdHandle } from '../bench/services/index.ts';
import {
  countPoints,
  leaveToReaper,
  newGatewaySetup,
  newRun,
  Producer,
  range,
  report,
  sample,
  startEdge,
  startGatewayProcess,
  SyntheticEvents,
  tearDown,
  until,
  untilPoints,
  verifyIndex,
  type GatewayProcess,
} from './harness.ts';

const EVENTS = 10_000;
const RATE_PER_S = 800;

describe('fault 1: gateway SIGKILLed mid-stream and restarted', () => {
  let tmp: TempDir;
  let influxd: InfluxdHandle;
  const gateways: GatewayProcess[] = [];
  let edge: TestEdge | undefined;
  let producer: Producer | undefined;

  beforeAll(async () => {
    tmp = makeTempDir('fault-gateway-kill');
    influxd = await startInfluxd();
  });

  afterAll(async () => {
    await tearDown(
      () => producer?.stop(),
      () => edge?.stop(),
      ...gateways.map((g) => () => g.child.stop()),
      () => influxd.stop(),
      () => {
        leaveToReaper(tmp);
      },
    );
  });

  it('loses nothing and duplicates nothing across a SIGKILL of the gateway', async () => {
    const started = Date.now();
    const setup = await newGatewaySetup(tmp, influxd.url, 'fault_gateway_kill');
    const log = join(tmp.path, 'gateway.log');
    gateways.push(await startGatewayProcess(setup, log));
    const events = await SyntheticEvents.create(newRun());
    const e = await startEdge(join(tmp.path, 'edge'), `mqtt://127.0.0.1:${setup.brokerPort}`);
    edge = e;
    const p = new Producer(e.spool, events, { from: 0, count: EVENTS, ratePerS: RATE_PER_S });
    producer = p;

    // Mid-stream: events indexed, the edge less than half way through, the broker's queue full.
    await untilPoints(influxd.url, setup.database, 500);
    await until(() => p.started >= 4000, '4000 events produced');
    const first = gateways[0] as GatewayProcess;
    process.kill(first.child.pid, 'SIGKILL');
    const exit = await first.child.exited;
    expect(exit.signal).toBe('SIGKILL');
    const producedAtKill = p.started;
    const ackedAtKill = e.spool.stats().acked;
    const indexedAtKill = await countPoints(influxd.url, setup.database);
    // The edge notices, keeps producing into its spool, and retries.
    await sleep(3000);
    expect(e.link.isConnected()).toBe(false);

    gateways.push(await startGatewayProcess(setup, log));
    await p.done;
    expect(p.accepted).toBe(EVENTS);
    await untilPoints(influxd.url, setup.database, EVENTS, {
      explain: () => `spool ${JSON.stringify(e.spool.stats())}, link ${JSON.stringify(e.link.stats())}`,
    });

    const r = await verifyIndex(setup, events, range(0, EVENTS));
    report('1 gateway SIGKILL', {
      events_sent: EVENTS,
      points: r.points,
      distinct: r.distinct,
      duplicates: r.duplicates,
      missing: r.missing.length,
      extra: r.extra.length,
      evidence_verified: r.evidenceChecked,
      produced_at_kill: producedAtKill,
      acked_by_broker_at_kill: ackedAtKill,
      indexed_at_kill: indexedAtKill,
      wall_ms: Date.now() - started,
    });
    // The kill really was mid-stream: the edge went on producing after it.
    expect(producedAtKill).toBeLessThan(EVENTS);
    expect(r.missing, `missing ${sample(r.missing)}`).toEqual([]);
    expect(r.extra, `extra ${sample(r.extra)}`).toEqual([]);
    expect(r.points).toBe(EVENTS);
    expect(r.duplicates).toBe(0);
    expect(r.lookupPoints).toBe(r.platePoints);
    expect(r.evidenceBad, `evidence bad ${sample(r.evidenceBad)}`).toEqual([]);
    expect(r.evidenceChecked).toBe(EVENTS);
  }, 300_000);
});
