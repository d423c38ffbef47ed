/**
 * The CLI the demo and netns tests run: `tsx test/sim/onvif/cli.ts --config FILE.json`.
 * Started exactly like that, in its own process group, stopped with SIGTERM.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import { makeTempDir, spawnManaged, type ManagedChild, type TempDir } from '../bench/lifetime.ts';
import { waitFor } from '../bench/wait.ts';
import { nodeOnvifDevice } from './clients.ts';
import { defaultSnapshotJpeg, type SimCliConfig } from './onvif/index.ts';
import { UdpPeer, probeXml } from './raw.ts';
import { TEST_PASSWORD, TEST_USER, testCameraConfig, testEndpointReference } from './sim-fixtures.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
const CLI = join(HERE, 'onvif', 'cli.ts');

const children: ManagedChild[] = [];
const dirs: TempDir[] = [];
const peers: UdpPeer[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
  await Promise.all(peers.splice(0).map((p) => p.close()));
  for (const d of dirs.splice(0)) d.remove();
});

interface ReadyLine {
  event: 'ready';
  name: string;
  endpoint_reference: string;
  xaddr: string;
  http_port: number;
  discovery_mode: string;
  discovery_port: number | null;
}

function startCli(config: unknown): {
  child: ManagedChild;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
} {
  const dir = makeTempDir('onvif-cli');
  dirs.push(dir);
  const file = join(dir.path, 'cameras.json');
  writeFileSync(file, JSON.stringify(config));
  writeFileSync(join(dir.path, 'snap.jpg'), defaultSnapshotJpeg('from the cli config'));
  const child = spawnManaged(TSX, [CLI, '--config', file], {
    name: 'onvif-cli',
    cwd: REPO,
    pipeStdout: true,
  });
  children.push(child);
  let out = '';
  let err = '';
  child.process.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.process.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  return {
    child,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stderr: () => err,
  };
}

describe('onvif simulator CLI', () => {
  it('prints one ready line per camera, serves them, and sends Bye on SIGTERM', async () => {
    const announce = await UdpPeer.open();
    peers.push(announce);
    const discovery = { mode: 'unicast', announce_to: { host: '127.0.0.1', port: announce.port } } as const;
    const config: SimCliConfig = {
      log_level: 'warn',
      cameras: [
        { ...testCameraConfig(61, { discovery }), snapshot: 'snap.jpg' },
        testCameraConfig(62, { host: '127.0.0.2', discovery }),
      ],
    };
    const cli = startCli(config);
    await waitFor(() => (cli.lines().some((l) => l.event === 'all_ready') ? true : undefined), {
      what: 'CLI all_ready line',
      timeoutMs: 60_000,
      abortIf: () => (cli.child.running() ? undefined : `CLI exited: ${cli.stderr()}`),
    });
    const ready = cli.lines().filter((l) => l.event === 'ready') as unknown as ReadyLine[];
    expect(ready.map((r) => [r.name, r.endpoint_reference, r.discovery_mode])).toEqual([
      ['cam61', testEndpointReference(61), 'unicast'],
      ['cam62', testEndpointReference(62), 'unicast'],
    ]);
    expect(ready[1]?.xaddr).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/onvif\/device_service$/);

    const first = ready[0];
    if (first === undefined) throw new Error('no ready line');
    const device = nodeOnvifDevice(first.xaddr, TEST_USER, TEST_PASSWORD);
    expect((await device.init()).SerialNumber).toBe('SN-1061');
    // Relative snapshot paths resolve against the config file's directory.
    expect(
      Buffer.compare((await device.fetchSnapshot()).body, defaultSnapshotJpeg('from the cli config')),
    ).toBe(0);

    const prober = await UdpPeer.open();
    peers.push(prober);
    await prober.send(probeXml({ messageId: 'urn:uuid:cli-probe' }), first.discovery_port ?? 0);
    const match = await prober.next((d) => d.text.includes('cli-probe'), 'ProbeMatches from the CLI camera');
    expect(match.text).toContain(`<d:XAddrs>${first.xaddr}</d:XAddrs>`);

    await waitFor(
      () =>
        announce.received.filter((d) => d.text.includes('discovery/Hello<')).length >= 2 ? true : undefined,
      {
        what: 'two Hellos',
      },
    );
    const exit = await cli.child.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    const byes = announce.received.filter((d) => d.text.includes('discovery/Bye<')).map((d) => d.text);
    expect(byes).toHaveLength(2);
    expect(byes.join('')).toContain(testEndpointReference(61));
    expect(byes.join('')).toContain(testEndpointReference(62));
    expect(
      cli
        .lines()
        .filter((l) => l.event === 'stopped')
        .map((l) => l.name),
    ).toEqual(['cam62', 'cam61']);
  });

  it('exits 2 listing every config problem as `path message`', async () => {
    const bad = { cameras: [{ ...testCameraConfig(63), host: '10.1.2.3', extra: 1, profiles: [] }] };
    const cli = startCli(bad);
    const exit = await cli.child.exited;
    expect(exit.code).toBe(2);
    expect(cli.stderr()).toContain('config.cameras[0].host must be an IPv4 address in 127.0.0.0/8');
    expect(cli.stderr()).toContain('config.cameras[0].extra is not a known field');
    expect(cli.stderr()).toContain('config.cameras[0].profiles must be a non-empty array');
    expect(cli.lines()).toEqual([]);
  });
});
