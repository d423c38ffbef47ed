/**
 * Measures the spool and the link (not a test: figures for docs/decisions.md; it asserts nothing).
 *
 *   npx tsx test/edge/publish/measure.ts [aedes|mosquitto] [events=20000] [event_bytes=1000] [producers=8]
 *
 * Prints one JSON line:
 * - fsync_*: one event appended and fsynced at a time (the cost a lone event pays), and the
 *   group-commit rate when publishes do not wait for each other;
 * - live_*: `producers` concurrent producers (cameras), each awaiting its publish (durable)
 *   before the next, through the link to the broker: one event per message unless the in-flight
 *   window is full;
 * - replay_*: a backlog spooled while disconnected, then replayed in batches;
 * both end to end at a subscriber (the edge's clean-session collector), with the CPU time this
 * process spent per event (edge + subscriber, + the broker when it is the in-process Aedes).
 */
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../edge-agent/src/log.ts';
import { openSpool } from '../../../edge-agent/src/spool/index.ts';
import { makeTempDir } from '../../bench/lifetime.ts';
import { startTcpProxy } from '../../bench/tcp-proxy.ts';
import { waitFor } from '../../bench/wait.ts';
import { makeEvent } from '../spool/fixtures.ts';
import { makeEdge, startCollector, startTestBroker, testMqttSection, type BrokerKind } from './harness.ts';

const kind = (process.argv[2] ?? 'aedes') as BrokerKind;
const N = Number(process.argv[3] ?? 20_000);
const eventBytes = Number(process.argv[4] ?? 1000);
const producers = Number(process.argv[5] ?? 8);
const ev = { jpegBytes: Math.max(0, eventBytes - 400), contextBytes: 0 };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0;
}
const r2 = (x: number): number => Math.round(x * 100) / 100;

const tmp = makeTempDir('measure');
const out: Record<string, unknown> = { broker: kind, events: N, event_bytes: eventBytes, producers };
try {
  // fsync: one at a time.
  const spool = await openSpool({
    dir: join(tmp.path, 'fsync'),
    maxBytes: 1024 ** 3,
    segmentBytes: 64 * 1024 ** 2,
    logger: silentLogger(),
    registry: new Registry(),
  });
  const single: number[] = [];
  for (let i = 0; i < 500; i++) {
    const t = performance.now();
    await spool.publish(makeEvent(i, ev));
    single.push(performance.now() - t);
  }
  out.fsync_single_p50_ms = r2(percentile(single, 0.5));
  out.fsync_single_p95_ms = r2(percentile(single, 0.95));
  out.fsync_single_events_per_s = Math.round(1000 / (single.reduce((a, b) => a + b, 0) / single.length));
  // Group commit: many publishes in flight.
  let t0 = performance.now();
  const burst = 10_000;
  await Promise.all(Array.from({ length: burst }, (_, k) => spool.publish(makeEvent(1000 + k, ev))));
  out.group_commit_events_per_s = Math.round(burst / ((performance.now() - t0) / 1000));
  await spool.close();

  const broker = await startTestBroker(kind, join(tmp.path, 'broker'));
  const proxy = await startTcpProxy({ targetPort: broker.port });
  const collector = await startCollector(broker.url, 'village-7', { eventsOnly: true });
  const edge = await makeEdge(join(tmp.path, 'edge'), {
    mqtt: testMqttSection(proxy.url),
    spool: { inflight_max: 100, batch_max_events: 500, batch_max_bytes: 1024 * 1024 },
  });
  await waitFor(() => (edge.link.isConnected() ? true : undefined), { what: 'connected' });

  // Live: each producer awaits its publish (durable) before the next.
  t0 = performance.now();
  let cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      for (let i = p; i < N; i += producers) await edge.spool.publish(makeEvent(i, ev));
    }),
  );
  await waitFor(() => (collector.firstArrivals().length >= N ? true : undefined), {
    what: 'live events delivered',
    timeoutMs: 600_000,
  });
  let s = (performance.now() - t0) / 1000;
  const sizes = collector.batchSizes();
  out.live_events_per_s = Math.round(N / s);
  const cpuUs = (c: NodeJS.CpuUsage): number => c.user + c.system;
  // CPU of this process: the edge and the subscriber (and Aedes, when it is the broker).
  out.live_cpu_us_per_event = Math.round(cpuUs(process.cpuUsage(cpu0)) / N);
  out.live_messages = sizes.length;
  out.live_share_single_event_messages = r2(sizes.filter((x) => x === 1).length / sizes.length);

  // Replay: spool a backlog with the link cut, then restore.
  proxy.cut();
  await waitFor(() => (edge.link.isConnected() ? undefined : true), { what: 'disconnected' });
  await Promise.all(Array.from({ length: N }, (_, k) => edge.spool.publish(makeEvent(N + k, ev))));
  const before = collector.batchSizes().length;
  t0 = performance.now();
  cpu0 = process.cpuUsage();
  proxy.restore();
  await waitFor(() => (collector.firstArrivals().length >= 2 * N ? true : undefined), {
    what: 'backlog delivered',
    timeoutMs: 600_000,
  });
  s = (performance.now() - t0) / 1000;
  out.replay_events_per_s = Math.round(N / s);
  out.replay_cpu_us_per_event = Math.round(cpuUs(process.cpuUsage(cpu0)) / N);
  out.replay_messages = collector.batchSizes().length - before;
  await edge.stop();
  await collector.stop();
  await proxy.stop();
  await broker.close();
} finally {
  tmp.remove();
}
console.log(JSON.stringify(out));
process.exit(0);
