/**
 * Fault 6: the edge's disk fills up while its uplink is down and it keeps producing.
 *
 * The edge runs as its own process with its data directory on a 2 MiB tmpfs mounted in a
 * private mount namespace (`unshare -m`: invisible outside that process, gone with it). Its
 * spool's own bound is far larger (64 MiB), so the full disk is what stops it: the spool frees
 * space by evicting its oldest events, counts each (`spool_evicted` in the agent status, the
 * `sharpeyes_edge_spool_evicted_total` metric) and keeps taking the newest. When the uplink
 * comes back, what is left is delivered. Here "exactly the events sent" is: produced minus the
 * evictions the edge counted (refusals included) — each of those in InfluxDB once, with its crop
 * verified, and none of the others. The edge never crashes, and the gateway sees the eviction
 * count in the edge's retained agent status.
 *
 * Where a private tmpfs cannot be mounted (no root, no user namespaces), the spool's configured
 * bound (`spool.max_bytes`, 2 MiB) plays the full disk: the same eviction path, reached through
 * the bound instead of the free-space sample. The report says which ran.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayApp } from '../../gateway/src/app.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { startInfluxd, type InfluxdHandle } from '../bench/services/index.ts';
import { startTcpProxy, type TcpProxy } from '../bench/tcp-proxy.ts';
import {
  leaveToReaper,
  newGatewaySetup,
  newRun,
  range,
  report,
  sample,
  SITE,
  startEdgeChild,
  startGateway,
  SyntheticEvents,
  tearDown,
  until,
  untilPoints,
  verifyIndex,
  type EdgeChild,
} from './harness.ts';

const EVENTS = 10_000;
/** Produced and delivered before the uplink is cut. */
const LIVE = 1500;
const RATE_PER_S = 1000;
const DISK_BYTES = 2 * 1024 * 1024;

/** Why a private tmpfs cannot be mounted here, or undefined when it can. */
function tmpfsProblem(): string | undefined {
  try {
    execFileSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'],
      {
        stdio: 'ignore',
      },
    );
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'unshare failed';
  }
}

describe('fault 6: the edge disk fills', () => {
  let tmp: TempDir;
  let influxd: InfluxdHandle;
  let gateway: GatewayApp | undefined;
  let proxy: TcpProxy | undefined;
  let edge: EdgeChild | undefined;

  beforeAll(async () => {
    tmp = makeTempDir('fault-disk-full');
    influxd = await startInfluxd();
  });

  afterAll(async () => {
    await tearDown(
      () => edge?.child.stop(),
      () => proxy?.stop(),
      () => gateway?.stop(),
      () => influxd.stop(),
      () => {
        leaveToReaper(tmp);
      },
    );
  });

  it('evicts the oldest events, counts and reports each, crashes nothing, and delivers the rest once', async () => {
    const started = Date.now();
    const setup = await newGatewaySetup(tmp, influxd.url, 'fault_disk_full');
    const g = await startGateway(setup, join(tmp.path, 'gateway.log'));
    gateway = g;
    proxy = await startTcpProxy({ targetPort: setup.brokerPort });
    const px = proxy;
    const ident = newRun();
    const events = await SyntheticEvents.create(ident);
    const dataDir = join(tmp.path, 'edge-disk');
    mkdirSync(dataDir, { recursive: true });
    const noTmpfs = tmpfsProblem();
    const common = {
      dataDir,
      url: px.url,
      ident,
      from: 0,
      count: EVENTS,
      ratePerS: RATE_PER_S,
      holdAt: LIVE,
    };
    const e =
      noTmpfs === undefined
        ? startEdgeChild(
            { ...common, spoolMaxBytes: 64 * 1024 * 1024, segmentBytes: 128 * 1024 },
            join(tmp.path, 'edge.log'),
            {
              command: 'unshare',
              args: [
                '-m',
                '--propagation',
                'private',
                'sh',
                '-c',
                `mount -t tmpfs -o size=${DISK_BYTES} tmpfs "$1" && shift && exec "$@"`,
                'sh',
                dataDir,
              ],
            },
          )
        : startEdgeChild(
            { ...common, spoolMaxBytes: DISK_BYTES, segmentBytes: 128 * 1024 },
            join(tmp.path, 'edge.log'),
          );
    edge = e;
    const alive = (): string | undefined => (e.child.running() ? undefined : 'the edge exited');

    // The first events go through live, every one acknowledged, so that no message is in flight
    // when the uplink is cut: an event sent but not acknowledged before the cut may have reached
    // the gateway and still be evicted later (counted as lost, delivered all the same), which
    // would blur "produced − evicted". Then the uplink goes and the backlog outgrows the disk.
    await until(
      () => e.progress()?.holding === true && e.progress()?.spool.events === 0,
      `the first ${LIVE} events delivered`,
      () => JSON.stringify(e.progress()),
    );
    px.cut();
    process.kill(e.child.pid, 'SIGUSR2');
    const final = await e.produced;
    expect(final.spool.evicted).toBeGreaterThan(0);
    // The metrics say the same: whole events evicted plus events refused (disk full).
    expect(final.metrics.evictedEvents + final.metrics.refusedEvents).toBe(final.spool.evicted);
    px.restore();

    const evicted = final.spool.evicted;
    const sent = EVENTS - evicted;
    await untilPoints(influxd.url, setup.database, sent, {
      abortIf: alive,
      explain: () => `edge ${JSON.stringify(e.progress())}`,
    });
    await until(
      () => e.progress()?.spool.events === 0,
      'the spool to empty',
      () => JSON.stringify(e.progress()),
    );
    // The gateway learns the count from the edge's retained agent status.
    await until(
      () => g.siteState.site(SITE)?.agent?.value.spoolEvicted === evicted,
      'the agent status to report the evictions',
      () => JSON.stringify(g.siteState.site(SITE)?.agent?.value),
    );
    const last = e.progress();

    const r = await verifyIndex(setup, events, range(0, EVENTS));
    report('6 edge disk full', {
      disk:
        noTmpfs === undefined
          ? `tmpfs ${DISK_BYTES} bytes`
          : `spool.max_bytes ${DISK_BYTES} (no tmpfs: ${noTmpfs})`,
      events_produced: EVENTS,
      evictions: evicted,
      refused: final.refused,
      evicted_metric: final.metrics,
      events_sent: sent,
      points: r.points,
      distinct: r.distinct,
      duplicates: r.duplicates,
      missing: r.missing.length,
      extra: r.extra.length,
      evidence_verified: r.evidenceChecked,
      reported_by_agent_status: g.siteState.site(SITE)?.agent?.value.spoolEvicted,
      delivered_before_cut: LIVE,
      wall_ms: Date.now() - started,
    });
    // Nothing crashed: the edge still runs (and still links), the gateway still ingests.
    expect(e.child.running()).toBe(true);
    expect(last?.link.connected).toBe(true);
    expect(g.ingest.connected).toBe(true);
    // The evicted events are the only ones missing, all from the backlog (none of the events
    // delivered before the cut), and the newest event survived.
    expect(r.missing).toHaveLength(evicted);
    const backlog = new Set(range(LIVE, EVENTS).map((i) => events.id(i)));
    expect(r.missing.filter((id) => !backlog.has(id))).toEqual([]);
    expect(r.missing).not.toContain(events.id(EVENTS - 1));
    expect(r.extra, `extra ${sample(r.extra)}`).toEqual([]);
    expect(r.points).toBe(sent);
    expect(r.duplicates).toBe(0);
    expect(r.lookupPoints).toBe(r.platePoints);
    expect(r.evidenceBad, `evidence bad ${sample(r.evidenceBad)}`).toEqual([]);
    expect(r.evidenceChecked).toBe(sent);
  }, 300_000);
});
