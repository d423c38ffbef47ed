/**
 * Discovery by unicast WS-Discovery on loopback, against real simulated cameras: the simulated
 * site's three cameras, identity across address changes (Hello heard, and Hello missed then
 * caught by re-probing), Bye and missed rounds, and direct ONVIF addresses.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { Discovery, type DiscoveryOptions } from '../../edge-agent/src/discovery/discovery.ts';
import type { DeviceChange, DiscoveredDevice } from '../../edge-agent/src/discovery/types.ts';
import { waitFor } from '../bench/wait.ts';
import { looksLikeJpeg, startOnvifCamera, type OnvifCamera } from '../sim/onvif/index.ts';
import {
  CameraPool,
  TEST_PASSWORD,
  TEST_USER,
  testCameraOptions,
  testEndpointReference,
} from '../sim/sim-fixtures.ts';
import { startSimulatedSite, type SimulatedSite } from '../sim/site.ts';

const pool = new CameraPool();
const running: Discovery[] = [];
let site: SimulatedSite | undefined;

afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  await pool.stopAll();
  await site?.stop();
  site = undefined;
});

const testCredentials = (): { username: string; password: string } => ({
  username: TEST_USER,
  password: TEST_PASSWORD,
});

function targetOf(cam: OnvifCamera): { host: string; port: number } {
  if (cam.discoveryPort === undefined) throw new Error(`${cam.name} has no discovery socket`);
  return { host: '127.0.0.1', port: cam.discoveryPort };
}

async function startDiscovery(
  opts: Partial<DiscoveryOptions>,
): Promise<{ discovery: Discovery; changes: DeviceChange[] }> {
  const discovery = new Discovery({
    credentialsFor: testCredentials,
    // Only explicit probeNow() rounds in these tests unless a test asks for re-probing.
    reprobeIntervalMs: 3_600_000,
    onvif: { timeoutMs: 15_000, requestTimeoutMs: 5_000 },
    ...opts,
  });
  running.push(discovery);
  const changes: DeviceChange[] = [];
  discovery.onChange((c) => changes.push(c));
  await discovery.start();
  return { discovery, changes };
}

function byKey(discovery: Discovery, key: string): DiscoveredDevice {
  const d = discovery.device(key);
  if (d === undefined) throw new Error(`no device ${key}`);
  return d;
}

describe('unicast discovery of the simulated site', () => {
  // A fresh machine generates the site's scenes first (about a minute on 2 cores; cached after).
  it('finds its three cameras with manufacturer, model, serial, profiles; analysis = the 720p sub-stream', async () => {
    site = await startSimulatedSite();
    const cams = site.cameras;
    const { discovery, changes } = await startDiscovery({
      unicastTargets: cams.map((c) => ({ host: '127.0.0.1', port: c.discoveryPort })),
      credentialsFor: () => site?.credentials,
    });
    await discovery.probeNow();

    const devices = discovery.devices();
    expect(devices.map((d) => d.key).sort()).toEqual(cams.map((c) => c.onvif.endpointReference).sort());
    for (const cam of cams) {
      const d = byKey(discovery, cam.onvif.endpointReference);
      expect(d).toMatchObject({
        identified: true,
        access: 'ok',
        seen: true,
        source: 'probe',
        xaddr: cam.onvif.xaddr,
        hasSnapshot: true,
        analysisProfileToken: 'profile_sub',
        lastError: undefined,
        identity: {
          endpointReference: cam.onvif.endpointReference,
          manufacturer: cam.onvif.identity.manufacturer,
          model: cam.onvif.identity.model,
          serialNumber: cam.onvif.identity.serial_number,
          firmwareVersion: cam.onvif.identity.firmware_version,
          hardwareId: cam.onvif.identity.hardware_id,
        },
      });
      expect(d.profiles.map((p) => [p.token, p.width, p.height, p.encoding, p.streamUri])).toEqual([
        ['profile_main', 1920, 1080, 'H264', cam.mainRtspUrl],
        ['profile_sub', 1280, 720, 'H264', cam.rtspUrl],
      ]);
      expect(d.scopes.length).toBeGreaterThan(0);
    }
    expect(changes.filter((c) => c.kind === 'added')).toHaveLength(3);

    // The live snapshot of the analysis profile, through the adapter.
    const first = cams[0];
    if (first === undefined) throw new Error('no camera');
    const snap = await discovery.fetchSnapshot(first.onvif.endpointReference);
    expect(looksLikeJpeg(snap.body)).toBe(true);
    expect(snap.body.length).toBeGreaterThan(1000);

    // A second round finds nothing new and describes nothing again.
    const attempts = discovery.stats().describeAttempts;
    await discovery.probeNow();
    expect(discovery.stats().describeAttempts).toBe(attempts);
    expect(changes).toHaveLength(3);
  }, 300_000);
});

describe('identity across address changes', () => {
  it('a camera that moves and says Hello keeps its key: new xaddr, one `moved` event', async () => {
    const { discovery, changes } = await startDiscovery({ helloListen: { host: '127.0.0.1', port: 0 } });
    const helloPort = discovery.helloPort;
    if (helloPort === undefined) throw new Error('no hello port');
    const cam = pool.add(
      await startOnvifCamera(
        testCameraOptions(11, {
          discovery: { mode: 'unicast', announce_to: { host: '127.0.0.1', port: helloPort } },
        }),
      ),
    );
    const key = testEndpointReference(11);
    // The Hello sent at start is enough to find it: no probe target configured at all.
    await waitFor(() => (discovery.device(key)?.access === 'ok' ? true : undefined), {
      what: 'device found by its Hello',
      timeoutMs: 20_000,
    });
    const before = byKey(discovery, key);
    expect(before.source).toBe('hello');

    await cam.move('127.0.0.2', 0);
    const moved = await waitFor(() => changes.find((c) => c.kind === 'moved'), {
      what: 'moved event',
      timeoutMs: 20_000,
    });
    expect(moved.device.key).toBe(key);
    expect(moved.previousXaddr).toBe(before.xaddr);
    expect(moved.device.xaddr).toBe(cam.xaddr);
    expect(new URL(moved.device.xaddr).hostname).toBe('127.0.0.2');
    expect(moved.device.access).toBe('ok');
    expect(moved.device.identity.serialNumber).toBe('SN-1011');
    expect(discovery.devices().map((d) => d.key)).toEqual([key]);
    expect(byKey(discovery, key).firstSeenMs).toBe(before.firstSeenMs);
  });

  it('when the Hello is missed, periodic re-probing finds the new address', async () => {
    // No announce_to: the move's Hello goes nowhere.
    const cam = pool.add(await startOnvifCamera(testCameraOptions(12)));
    const key = testEndpointReference(12);
    const { discovery, changes } = await startDiscovery({
      unicastTargets: [targetOf(cam)],
      reprobeIntervalMs: 1_000,
    });
    await waitFor(() => (discovery.device(key)?.access === 'ok' ? true : undefined), {
      what: 'device found by the first round',
      timeoutMs: 20_000,
    });
    const oldXaddr = byKey(discovery, key).xaddr;

    await cam.move('127.0.0.3', 0);
    // No probeNow(): the periodic round must catch it.
    const moved = await waitFor(() => changes.find((c) => c.kind === 'moved'), {
      what: 'moved event from a re-probe',
      timeoutMs: 30_000,
    });
    expect(moved.device.key).toBe(key);
    expect(moved.previousXaddr).toBe(oldXaddr);
    expect(moved.device.xaddr).toBe(cam.xaddr);
    expect(moved.device.access).toBe('ok');
    expect(discovery.devices()).toHaveLength(1);
    expect(discovery.stats().probeRounds).toBeGreaterThanOrEqual(2);
  });

  it('Bye marks a device lost (kept, seen=false); a later probe finds it again', async () => {
    const { discovery, changes } = await startDiscovery({ helloListen: { host: '127.0.0.1', port: 0 } });
    const helloPort = discovery.helloPort ?? 0;
    const announce = { host: '127.0.0.1', port: helloPort };
    const cam = await startOnvifCamera(
      testCameraOptions(13, { discovery: { mode: 'unicast', announce_to: announce } }),
    );
    const key = testEndpointReference(13);
    await waitFor(() => (discovery.device(key)?.access === 'ok' ? true : undefined), {
      what: 'device found by its Hello',
      timeoutMs: 20_000,
    });
    await cam.stop();
    await waitFor(() => changes.find((c) => c.kind === 'lost'), {
      what: 'lost after Bye',
      timeoutMs: 10_000,
    });
    expect(byKey(discovery, key)).toMatchObject({ seen: false, access: 'ok' });

    // The same camera (same identity) comes back elsewhere and announces itself.
    pool.add(
      await startOnvifCamera(
        testCameraOptions(13, { host: '127.0.0.4', discovery: { mode: 'unicast', announce_to: announce } }),
      ),
    );
    const found = await waitFor(() => changes.find((c) => c.kind === 'moved' || c.kind === 'found'), {
      what: 'seen again',
      timeoutMs: 20_000,
    });
    expect(found.device.key).toBe(key);
    expect(byKey(discovery, key).seen).toBe(true);
    expect(new URL(byKey(discovery, key).xaddr).hostname).toBe('127.0.0.4');
  });

  it('a probed device that stops answering is lost after N missed rounds', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(14)));
    const key = testEndpointReference(14);
    const { discovery, changes } = await startDiscovery({
      unicastTargets: [targetOf(cam)],
      lostAfterMissedRounds: 2,
      probeTimeoutMs: 1_000,
    });
    await discovery.probeNow();
    expect(byKey(discovery, key).seen).toBe(true);
    cam.setFault({ kind: 'silent' });
    await discovery.probeNow();
    expect(byKey(discovery, key).seen).toBe(true);
    await discovery.probeNow();
    expect(byKey(discovery, key).seen).toBe(false);
    expect(changes.filter((c) => c.kind === 'lost')).toHaveLength(1);
    cam.setFault({ kind: 'none' });
    await discovery.probeNow();
    expect(byKey(discovery, key).seen).toBe(true);
    expect(changes.at(-1)?.kind).toBe('found');
  });
});

describe('identity is checked, not trusted', () => {
  it('a Hello claiming a known endpoint reference from a device with another serial is refused', async () => {
    const { discovery, changes } = await startDiscovery({ helloListen: { host: '127.0.0.1', port: 0 } });
    const announce = { host: '127.0.0.1', port: discovery.helloPort ?? 0 };
    const real = pool.add(
      await startOnvifCamera(
        testCameraOptions(15, { discovery: { mode: 'unicast', announce_to: announce } }),
      ),
    );
    const key = testEndpointReference(15);
    await waitFor(() => (discovery.device(key)?.access === 'ok' ? true : undefined), {
      what: 'the real camera',
      timeoutMs: 20_000,
    });
    // An impostor: same endpoint reference, its own serial number, announcing itself.
    const base = testCameraOptions(16, {
      host: '127.0.0.5',
      discovery: { mode: 'unicast', announce_to: announce },
    });
    const impostor = pool.add(
      await startOnvifCamera({
        ...base,
        identity: { ...base.identity, endpoint_reference: real.endpointReference },
      }),
    );
    await waitFor(() => (impostor.stats().soap_requests > 0 ? true : undefined), {
      what: 'the impostor checked',
      timeoutMs: 20_000,
    });
    await waitFor(() => (discovery.device(key)?.xaddr === real.xaddr ? true : undefined), {
      what: 'the move refused',
      timeoutMs: 20_000,
    });
    expect(byKey(discovery, key)).toMatchObject({ xaddr: real.xaddr, identity: { serialNumber: 'SN-1015' } });
    expect(changes.filter((c) => c.kind === 'moved')).toEqual([]);
  });
});

describe('direct ONVIF addresses', () => {
  it('credentials written into a configured address are not kept (nor shown)', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(24, { discovery: { mode: 'off' } })));
    const withCreds = cam.xaddr.replace('http://', `http://${TEST_USER}:secret@`);
    const { discovery } = await startDiscovery({ xaddrs: [withCreds] });
    await discovery.probeNow();
    expect(byKey(discovery, 'serial:SN-1024').xaddr).toBe(cam.xaddr);
    expect(JSON.stringify(discovery.devices())).not.toContain('secret');
  });

  it('a camera configured by address only is keyed by serial number', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(21, { discovery: { mode: 'off' } })));
    const { discovery, changes } = await startDiscovery({ xaddrs: [cam.xaddr] });
    await discovery.probeNow();
    expect(discovery.devices().map((d) => d.key)).toEqual(['serial:SN-1021']);
    expect(byKey(discovery, 'serial:SN-1021')).toMatchObject({
      identified: true,
      source: 'direct',
      access: 'ok',
      xaddr: cam.xaddr,
      analysisProfileToken: 'profile_sub',
    });
    expect(changes.map((c) => [c.kind, c.device.key])).toEqual([['added', 'serial:SN-1021']]);
  });

  it('an unreadable configured camera is listed by a placeholder, replaced once it can be described', async () => {
    const cam = pool.add(
      await startOnvifCamera(
        testCameraOptions(22, { discovery: { mode: 'off' }, fault: { kind: 'wrong_credentials' } }),
      ),
    );
    const { discovery, changes } = await startDiscovery({ xaddrs: [cam.xaddr] });
    await discovery.probeNow();
    const placeholder = `xaddr:${cam.xaddr}`;
    expect(byKey(discovery, placeholder)).toMatchObject({ identified: false, access: 'auth_failed' });

    cam.setFault({ kind: 'none' });
    await discovery.retryNow(placeholder);
    expect(discovery.devices().map((d) => d.key)).toEqual(['serial:SN-1022']);
    expect(changes.map((c) => [c.kind, c.device.key, c.replacedBy])).toEqual([
      ['added', placeholder, undefined],
      ['removed', placeholder, 'serial:SN-1022'],
      ['added', 'serial:SN-1022', undefined],
    ]);
  });

  it('the same camera configured by address and found by discovery is one device', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(23)));
    const { discovery } = await startDiscovery({ unicastTargets: [targetOf(cam)], xaddrs: [cam.xaddr] });
    await discovery.probeNow();
    await discovery.probeNow();
    const devices = discovery.devices();
    expect(devices).toHaveLength(1);
    expect(devices[0]?.identity).toMatchObject({
      endpointReference: testEndpointReference(23),
      serialNumber: 'SN-1023',
    });
  });
});
