/**
 * Fault modes do what they say, over the wire: wrong_credentials, slow, malformed_xml,
 * hostile_xml, silent, and move(). Timing assertions are lower bounds only.
 */
import { readFileSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { nodeOnvifDevice } from './clients.ts';
import { billionLaughsSubset } from './onvif/faults.ts';
import { buildSecurityHeader, startOnvifCamera, type OnvifCamera } from './onvif/index.ts';
import { parseXml, path } from './onvif/xml.ts';
import { UdpPeer, httpRequest, probeXml, soapRequest } from './raw.ts';
import {
  CameraPool,
  TEST_PASSWORD,
  TEST_USER,
  testCameraOptions,
  testEndpointReference,
} from './sim-fixtures.ts';

/**
 * Timers run on libuv's cached monotonic clock, the test measures with Date.now(): the two can
 * disagree by a millisecond or so, so "at least the delay" allows that much.
 */
const CLOCK_SLACK_MS = 2;

const pool = new CameraPool();
const peers: UdpPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await pool.stopAll();
});

async function peer(): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  peers.push(p);
  return p;
}

async function start(index: number): Promise<OnvifCamera> {
  return pool.add(await startOnvifCamera(testCameraOptions(index)));
}

const getTime = (cam: OnvifCamera, timeoutMs?: number) =>
  httpRequest(cam.xaddr, {
    body: soapRequest('<tds:GetSystemDateAndTime/>'),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });

const getInfo = (cam: OnvifCamera) =>
  httpRequest(cam.xaddr, {
    body: soapRequest('<tds:GetDeviceInformation/>', buildSecurityHeader(TEST_USER, TEST_PASSWORD)),
  });

function serialOf(xml: string): string | undefined {
  const r = parseXml(xml);
  return r.ok ? path(r.root, 'Body', 'GetDeviceInformationResponse', 'SerialNumber')?.text : undefined;
}

describe('wrong_credentials', () => {
  it('correct clients start failing, the rotated password works, and none restores', async () => {
    const cam = await start(41);
    await expect(nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD).init()).resolves.toBeDefined();

    cam.setFault({ kind: 'wrong_credentials', password: 'rotated-pw' });
    await expect(nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD).init()).rejects.toThrow(
      /Sender not Authorized/,
    );
    const rotated = nodeOnvifDevice(cam.xaddr, TEST_USER, 'rotated-pw');
    await rotated.init();
    expect((await rotated.fetchSnapshot()).body.length).toBeGreaterThan(0);

    cam.setFault({ kind: 'none' });
    await expect(nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD).init()).resolves.toBeDefined();
  });

  it('without a password given, the old one stops working', async () => {
    const cam = await start(42);
    cam.setFault({ kind: 'wrong_credentials' });
    expect((await getInfo(cam)).status).toBe(400);
    expect(cam.fault()).toEqual({ kind: 'wrong_credentials' });
  });
});

describe('slow', () => {
  it('delays HTTP replies and discovery replies by at least delay_ms', async () => {
    const cam = await start(43);
    const delayMs = 600;
    cam.setFault({ kind: 'slow', delay_ms: delayMs });

    const res = await getTime(cam);
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeGreaterThanOrEqual(delayMs - CLOCK_SLACK_MS);

    const client = await peer();
    const sentAt = Date.now();
    await client.send(probeXml({ messageId: 'urn:uuid:slow-1' }), cam.discoveryPort ?? 0);
    const reply = await client.next((d) => d.text.includes('urn:uuid:slow-1'), 'slow ProbeMatches');
    expect(reply.atMs - sentAt).toBeGreaterThanOrEqual(delayMs - CLOCK_SLACK_MS);

    cam.setFault({ kind: 'none' });
    expect((await getTime(cam)).status).toBe(200);
  });

  it('a delayed reply still in flight is dropped cleanly by stop()', async () => {
    const cam = pool.add(
      await startOnvifCamera(testCameraOptions(44, { fault: { kind: 'slow', delay_ms: 30_000 } })),
    );
    const pending = getTime(cam).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    await cam.stop();
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('silent', () => {
  it('accepts the TCP connection but never answers HTTP; ignores probes; recovers when switched off', async () => {
    const cam = await start(45);
    cam.setFault({ kind: 'silent' });

    await expect(getTime(cam, 1_500)).rejects.toThrow(/no response within 1500 ms/);
    expect(cam.stats().soap_requests).toBe(1); // the request arrived: the connection was accepted

    const client = await peer();
    await client.send(probeXml({ messageId: 'urn:uuid:silent-1' }), cam.discoveryPort ?? 0);
    await expect(
      client.next((d) => d.text.includes('silent-1'), 'reply from a silent camera', 1_500),
    ).rejects.toThrow(/timed out/);
    expect(cam.stats()).toMatchObject({ probes_received: 1, probes_answered: 0 });

    cam.setFault({ kind: 'none' });
    expect((await getTime(cam)).status).toBe(200);
    await client.send(probeXml({ messageId: 'urn:uuid:silent-2' }), cam.discoveryPort ?? 0);
    await client.next((d) => d.text.includes('silent-2'), 'reply after recovery');
  });
});

describe('malformed_xml', () => {
  it.each(['truncated', 'garbled'] as const)(
    '%s replies are not well-formed, over HTTP and UDP',
    async (variant) => {
      const cam = await start(variant === 'truncated' ? 46 : 47);
      cam.setFault({ kind: 'malformed_xml', variant });

      const res = await getTime(cam);
      expect(res.status).toBe(200);
      expect(res.body.startsWith('<?xml')).toBe(true);
      const parsed = parseXml(res.body);
      expect(parsed.ok ? 'well-formed' : parsed.reason).toBe('not_well_formed');

      const client = await peer();
      await client.send(probeXml({ messageId: `urn:uuid:bad-${variant}` }), cam.discoveryPort ?? 0);
      const reply = await client.next((d) => d.text.includes('ProbeMatches'), 'malformed ProbeMatches');
      const parsedReply = parseXml(reply.text);
      expect(parsedReply.ok ? 'well-formed' : parsedReply.reason).toBe('not_well_formed');

      await expect(nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD).init()).rejects.toThrow();
    },
  );
});

describe('hostile_xml', () => {
  it('billion_laughs: a 10-level entity bomb referenced from the reply body', async () => {
    const cam = await start(48);
    cam.setFault({ kind: 'hostile_xml', variant: 'billion_laughs' });
    const res = await getInfo(cam);
    expect(res.status).toBe(200);
    const doctype = /<!DOCTYPE s:Envelope \[(.*)\]>/s.exec(res.body)?.[1];
    expect(doctype).toBe(billionLaughsSubset());
    for (let i = 1; i <= 9; i++) {
      expect(res.body).toContain(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
    }
    // The reference sits inside the real response element: a naive parser expands it there.
    expect(res.body).toMatch(/<tds:GetDeviceInformationResponse>&lol9;<tds:Manufacturer>/);
    expect(parseXml(res.body)).toMatchObject({ ok: false, reason: 'doctype' });
    expect(res.body.length).toBeLessThan(5_000);
  });

  it('xxe: an external entity pointing at file:///etc/passwd, not expanded by the camera', async () => {
    const cam = await start(49);
    cam.setFault({ kind: 'hostile_xml', variant: 'xxe' });
    const res = await getInfo(cam);
    expect(res.body).toContain('<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>');
    expect(res.body).toContain('<tds:GetDeviceInformationResponse>&xxe;');
    const passwdLine = readFileSync('/etc/passwd', 'utf8').split('\n')[0] ?? 'root:';
    expect(res.body).not.toContain(passwdLine);
  });

  it('deep_nesting: a huge document nested `depth` levels; discovery datagrams capped to fit UDP', async () => {
    const cam = await start(50);
    cam.setFault({ kind: 'hostile_xml', variant: 'deep_nesting', depth: 200_000 });
    const res = await getInfo(cam);
    expect(res.body.split('<a>').length - 1).toBe(200_000);
    expect(res.body.split('</a>').length - 1).toBe(200_000);
    expect(res.body).toContain(`<a></a>`);
    expect(res.body.length).toBeGreaterThan(1_400_000);

    const client = await peer();
    await client.send(probeXml({ messageId: 'urn:uuid:deep-1' }), cam.discoveryPort ?? 0);
    const reply = await client.next((d) => d.text.includes('deep-1'), 'deep ProbeMatches');
    const depth = reply.text.split('<a>').length - 1;
    expect(depth).toBeGreaterThan(5_000);
    expect(Buffer.byteLength(reply.text)).toBeLessThanOrEqual(60_000);
  });
});

describe('move', () => {
  it('old address refuses, new one answers with the same identity, Hello announces the new XAddrs', async () => {
    const listener = await peer();
    const cam = pool.add(
      await startOnvifCamera(
        testCameraOptions(51, {
          discovery: { mode: 'unicast', announce_to: { host: '127.0.0.1', port: listener.port } },
        }),
      ),
    );
    const oldXaddr = cam.xaddr;
    await listener.next((d) => d.text.includes('discovery/Hello<'), 'first Hello');
    const before = nodeOnvifDevice(oldXaddr, TEST_USER, TEST_PASSWORD);
    await before.init();

    await cam.move('127.0.0.2');
    expect(cam.host).toBe('127.0.0.2');
    expect(cam.xaddr).toBe(`http://127.0.0.2:${cam.httpPort}/onvif/device_service`);
    expect(cam.metadataVersion).toBe(2);

    await expect(httpRequest(oldXaddr, { body: soapRequest('<tds:GetSystemDateAndTime/>') })).rejects.toThrow(
      /ECONNREFUSED/,
    );

    const after = nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD);
    const info = await after.init();
    expect(info.SerialNumber).toBe('SN-1051');
    expect(after.getProfileList()[0]?.snapshot).toBe(
      `http://127.0.0.2:${cam.httpPort}/onvif/snapshot/profile_main`,
    );
    expect(serialOf((await getInfo(cam)).body)).toBe('SN-1051');

    const hellos = await waitForHellos(listener, 2);
    const second = hellos[1] ?? '';
    expect(second).toContain(`<a:Address>${testEndpointReference(51)}</a:Address>`);
    expect(second).toContain(`<d:XAddrs>${cam.xaddr}</d:XAddrs>`);
    expect(second).toContain('<d:MetadataVersion>2</d:MetadataVersion>');

    const client = await peer();
    await client.send(probeXml({ messageId: 'urn:uuid:after-move' }), cam.discoveryPort ?? 0);
    const match = await client.next((d) => d.text.includes('after-move'), 'ProbeMatches after move');
    expect(match.text).toContain(`<d:XAddrs>${cam.xaddr}</d:XAddrs>`);
    expect(match.text).toContain(`<a:Address>${testEndpointReference(51)}</a:Address>`);
  });

  it('a fixed target port works and a taken one leaves the camera where it was', async () => {
    const a = await start(52);
    const b = await start(53);
    await expect(a.move('127.0.0.1', b.httpPort)).rejects.toThrow(/EADDRINUSE/);
    expect((await getTime(a)).status).toBe(200);
    const target = b.httpPort;
    await b.stop();
    await a.move('127.0.0.3', target);
    expect(a.xaddr).toBe(`http://127.0.0.3:${target}/onvif/device_service`);
    expect((await getTime(a)).status).toBe(200);
  });
});

async function waitForHellos(listener: UdpPeer, n: number): Promise<string[]> {
  await listener.next(
    () => listener.received.filter((d) => d.text.includes('discovery/Hello<')).length >= n,
    `${n} Hello messages`,
  );
  return listener.received.filter((d) => d.text.includes('discovery/Hello<')).map((d) => d.text);
}
