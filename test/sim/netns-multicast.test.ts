/**
 * Multicast WS-Discovery, run where it cannot leave the machine: a private network namespace
 * (runInNetns) whose only interface is lo. Skipped, with the reason, where no namespace can be made.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import type { MulticastProbeReport } from './fixtures/multicast-probe.ts';
import { parseIpLinkNames, probeNetnsSupport, runInNetns } from './netns.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const FIXTURE = join(HERE, 'fixtures', 'multicast-probe.ts');

const support = await probeNetnsSupport();
const skipReason = support.ok ? '' : ` — skipped: ${support.reason}`;

describe('runInNetns', () => {
  it('parses `ip -o link show` names', () => {
    expect(
      parseIpLinkNames(
        '1: lo: <LOOPBACK,UP> mtu 65536 qdisc noqueue\\    link/loopback 00:00\n5: eth0@if6: <BROADCAST> mtu 1500\n',
      ),
    ).toEqual(['lo', 'eth0']);
  });

  it.skipIf(!support.ok)(
    `runs a command in a namespace that has only lo, set up for multicast${skipReason}`,
    async () => {
      const res = await runInNetns(
        '/bin/sh',
        ['-c', 'cat /proc/self/net/dev; cat /proc/self/net/route; echo "ns=$SHARPEYES_NETNS"; exit 7'],
        {
          timeoutMs: 30_000,
        },
      );
      expect(res.interfaces).toEqual(['lo']);
      expect(res.exitCode).toBe(7);
      const devLines = res.stdout.split('\n').filter((l) => /^\s*\S+:/.test(l) && !l.includes('|'));
      expect(devLines.map((l) => l.split(':')[0]?.trim())).toEqual(['lo']);
      // /proc/net/route is hex, little-endian: 239.0.0.0/8 → destination 000000EF, mask 000000FF.
      expect(res.stdout).toMatch(/^lo\s+000000EF\s+00000000\s+\S+\s+\S+\s+\S+\s+\S+\s+000000FF/m);
      expect(res.stdout).toContain('ns=1');
    },
  );

  it.skipIf(!support.ok)(`kills a command that overruns its timeout${skipReason}`, async () => {
    const started = Date.now();
    await expect(runInNetns('/bin/sleep', ['30'], { timeoutMs: 500 })).rejects.toThrow(
      /did not finish within 500 ms/,
    );
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('multicast WS-Discovery inside a network namespace', () => {
  it.skipIf(!support.ok)(
    `node-onvif startProbe() and agsh Discovery.probe() find exactly the three simulated cameras${skipReason}`,
    async () => {
      const res = await runInNetns(process.execPath, ['--import', 'tsx', FIXTURE], {
        cwd: REPO,
        timeoutMs: 90_000,
      });
      expect(res.interfaces).toEqual(['lo']);
      expect(res.stderr).toBe('');
      expect(res.exitCode).toBe(0);
      const report = JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '{}') as MulticastProbeReport;
      expect(report.interfaces).toEqual(['lo']);

      const expected = report.cameras.map((c) => [c.endpoint_reference, c.xaddr]).sort();
      expect(expected).toHaveLength(3);
      expect(new Set(report.cameras.map((c) => new URL(c.xaddr).hostname))).toEqual(
        new Set(['127.0.0.21', '127.0.0.22', '127.0.0.23']),
      );
      expect(report.node_onvif.map((d) => [d.urn, d.xaddrs.join(' ')]).sort()).toEqual(expected);
      expect(report.agsh.map((d) => [d.endpoint_reference, d.xaddrs]).sort()).toEqual(expected);

      const refs = report.cameras.map((c) => c.endpoint_reference).sort();
      expect([...report.hellos].sort()).toEqual(refs);
      expect([...report.byes].sort()).toEqual(refs);
      // node-onvif probes NetworkVideoTransmitter, Device and NetworkVideoDisplay three times each;
      // agsh once. Each camera answers the four NetworkVideoTransmitter probes only.
      for (const s of report.camera_stats)
        expect(s).toMatchObject({ probes_received: 10, probes_answered: 4 });
    },
  );
});
