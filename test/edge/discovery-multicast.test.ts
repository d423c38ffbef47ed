/**
 * The agent's multicast WS-Discovery, where multicast cannot leave the machine: a private
 * network namespace (runInNetns) whose only interface is lo. Skipped, with the reason, where no
 * namespace can be made. In the host namespace, multicast is never used.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { Discovery } from '../../edge-agent/src/discovery/discovery.ts';
import { WsDiscoveryClient } from '../../edge-agent/src/discovery/ws-discovery.ts';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';
import { probeNetnsSupport, runInNetns } from '../sim/netns.ts';
import { testEndpointReference } from '../sim/sim-fixtures.ts';
import type { MulticastDiscoveryReport } from './fixtures/discovery-multicast.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const FIXTURE = join(HERE, 'fixtures', 'discovery-multicast.ts');

const support = await probeNetnsSupport();
const skipReason = support.ok ? '' : ` — skipped: ${support.reason}`;

describe('multicast is an explicit opt-in', () => {
  it('a client opened without multicast refuses to probe the group (nothing is sent)', async () => {
    const client = await WsDiscoveryClient.open({ logger: silentLogger() });
    try {
      let caught: unknown;
      try {
        await client.probe([], { multicast: true, windowMs: 100 });
      } catch (err) {
        caught = err;
      }
      expect(isEdgeError(caught, 'EDGE_ERR_DISCOVERY_MULTICAST_OFF')).toBe(true);
      expect(client.counts().probesSent).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('Discovery without a multicast option sends unicast probes only', async () => {
    const discovery = new Discovery({
      unicastTargets: [{ host: '127.0.0.1', port: 9 }],
      credentialsFor: () => undefined,
      reprobeIntervalMs: 3_600_000,
      probeTimeoutMs: 200,
    });
    await discovery.start();
    await discovery.probeNow();
    // One probe per type to the one target; none to the group.
    expect(discovery.stats().probesSent).toBe(2);
    await discovery.stop();
  });
});

describe('multicast discovery inside a network namespace', () => {
  it.skipIf(!support.ok)(
    `finds three simulated cameras by probe, hears a Hello and a Bye on the group${skipReason}`,
    async () => {
      const res = await runInNetns(process.execPath, ['--import', 'tsx', FIXTURE], {
        cwd: REPO,
        timeoutMs: 90_000,
      });
      expect(res.interfaces).toEqual(['lo']);
      expect(res.stderr).toBe('');
      expect(res.exitCode).toBe(0);
      const report = JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '{}') as MulticastDiscoveryReport;
      expect(report.interfaces).toEqual(['lo']);

      const probed = [0, 1, 2].map((i) => testEndpointReference(200 + i));
      expect(report.found.map((d) => d.key).sort()).toEqual(probed.sort());
      for (const d of report.found) {
        const cam = report.cameras.find((c) => c.endpoint_reference === d.key);
        expect(d).toMatchObject({
          access: 'ok',
          source: 'probe',
          analysis: 'profile_sub',
          xaddr: cam?.xaddr,
          serial: cam?.serial,
        });
      }
      expect(report.joined).toEqual({ key: testEndpointReference(210), source: 'hello', access: 'ok' });
      expect(report.left).toEqual({ key: testEndpointReference(200), seen: false });
      expect(report.changes.filter((c) => c.kind === 'added')).toHaveLength(4);
      expect(report.changes.filter((c) => c.kind === 'lost')).toEqual([
        { kind: 'lost', key: testEndpointReference(200) },
      ]);
      // Both probe types reached every camera of the first three.
      for (const n of report.probes_received.slice(0, 3)) expect(n).toBeGreaterThanOrEqual(2);
    },
  );
});
