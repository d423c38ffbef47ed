/**
 * An edge process SIGKILLed with events in its spool delivers them after a restart: once while
 * its link was cut (everything waited in the spool), once in the middle of sending. The broker
 * (Aedes, persistent) and a subscriber stay up; the restarted edge runs in this process on the
 * same data directory.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, spawnManaged, type ManagedChild, type TempDir } from '../../bench/lifetime.ts';
import { startTcpProxy, type TcpProxy } from '../../bench/tcp-proxy.ts';
import { waitFor } from '../../bench/wait.ts';
import { makeEvent } from '../spool/fixtures.ts';
import {
  makeEdge,
  startCollector,
  startTestBroker,
  testMqttSection,
  type Collector,
  type TestBroker,
  type TestEdge,
} from './harness.ts';

const CHILD = join(import.meta.dirname, 'fixtures', 'spool-child.ts');

describe('edge killed with a full spool', () => {
  let tmp: TempDir;
  let broker: TestBroker;
  let proxy: TcpProxy;
  let collector: Collector;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    tmp = makeTempDir('edge-sigkill');
    broker = await startTestBroker('aedes', join(tmp.path, 'broker'));
    proxy = await startTcpProxy({ targetPort: broker.port });
    collector = await startCollector(broker.url, 'village-7', { eventsOnly: true });
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await collector.stop();
    await proxy.stop();
    await broker.close();
    tmp.remove();
  });

  /** Start the child edge; resolves with it and a function giving the last `spooled` index. */
  function startChild(
    dataDir: string,
    from: number,
    to: number,
  ): { child: ManagedChild; last: () => number } {
    const child = spawnManaged(
      process.execPath,
      ['--import', 'tsx', CHILD, dataDir, proxy.url, String(from), String(to)],
      {
        name: 'edge-child',
        pipeStdout: true,
        logFile: join(tmp.path, 'child.log'),
      },
    );
    cleanups.push(() => child.stop());
    let last = -1;
    let buffered = '';
    child.process.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^spooled (\d+)$/.exec(line);
        if (m !== null) last = Number(m[1]);
      }
    });
    return { child, last: () => last };
  }

  async function killAndRestart(child: ManagedChild, dataDir: string): Promise<TestEdge> {
    process.kill(child.pid, 'SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const edge = await makeEdge(dataDir, { mqtt: testMqttSection(broker.url) });
    cleanups.push(() => edge.stop());
    return edge;
  }

  /** Wait for `n` events at the collector; on timeout say where they are. */
  async function untilDelivered(edge: TestEdge, n: number): Promise<void> {
    await waitFor(() => (collector.firstArrivals().length >= n ? true : undefined), {
      what: `${n} events delivered`,
      timeoutMs: 40_000,
      intervalMs: 50,
    }).catch((err: unknown) => {
      const got = new Set(collector.firstArrivals());
      const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !got.has(makeEvent(i).eventId));
      throw new Error(
        `${String(err)}; missing ${missing.slice(0, 20).join(',')}; collector ${collector.firstArrivals().length} (connected ${collector.connected()}), spool ${JSON.stringify(edge.spool.stats())}, link ${JSON.stringify(edge.link.stats())}`,
      );
    });
  }

  it('while its link was cut: every spooled event is delivered after the restart', async () => {
    proxy.cut();
    const dataDir = join(tmp.path, 'edge');
    const { child, last } = startChild(dataDir, 0, 300);
    await waitFor(() => (last() === 299 ? true : undefined), {
      what: 'the child to spool 300 events',
      timeoutMs: 60_000,
      abortIf: () => (child.running() ? undefined : 'the child exited'),
    });
    expect(collector.firstArrivals()).toHaveLength(0);
    const edge = await killAndRestart(child, dataDir);
    await untilDelivered(edge, 300);
    expect([...collector.firstArrivals()].sort()).toEqual(
      Array.from({ length: 300 }, (_, i) => makeEvent(i).eventId),
    );
  });

  it('in the middle of sending: every event it had spooled is delivered after the restart', async () => {
    const dataDir = join(tmp.path, 'edge');
    const { child, last } = startChild(dataDir, 0, 3000);
    // Kill it while it is still publishing and sending.
    await waitFor(() => (last() >= 300 && collector.firstArrivals().length > 0 ? true : undefined), {
      what: 'the child to be sending',
      timeoutMs: 60_000,
      abortIf: () => (child.running() ? undefined : 'the child exited'),
    });
    const edge = await killAndRestart(child, dataDir);
    const spooled = last() + 1;
    await untilDelivered(edge, spooled);
    const got = new Set(collector.firstArrivals());
    for (let i = 0; i < spooled; i++) expect(got.has(makeEvent(i).eventId)).toBe(true);
    // Nothing that was never published (a record written but not yet reported may also arrive).
    const published = new Set(Array.from({ length: 3000 }, (_, i) => makeEvent(i).eventId));
    for (const id of got) expect(published.has(id)).toBe(true);
  });
});
