/**
 * WS-Discovery in unicast mode: Probes sent by UDP straight to the camera's loopback socket.
 * Matching rules are table-tested as pure functions, then checked over the wire.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
  MATCH_BY,
  MulticastGuardError,
  assertMulticastAllowed,
  checkNetnsIsolation,
  defaultScopes,
  isSimError,
  parseDiscoveryMessage,
  probeMatches,
  scopeMatches,
  startOnvifCamera,
  type DiscoveryMessage,
} from './onvif/index.ts';
import { parseXml, path, type XmlElement } from './onvif/xml.ts';
import { UdpPeer, probeXml, type Datagram } from './raw.ts';
import { CameraPool, testCameraConfig, testCameraOptions, testEndpointReference } from './sim-fixtures.ts';

const DN = 'http://www.onvif.org/ver10/network/wsdl';
const TDS = 'http://www.onvif.org/ver10/device/wsdl';

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

/** The fields of a ProbeMatches / ResolveMatches / Hello / Bye datagram. */
function discoveryFields(d: Datagram): {
  action: string;
  relatesTo: string | undefined;
  endpointReference: string | undefined;
  types: string | undefined;
  scopes: string[];
  xaddrs: string | undefined;
  metadataVersion: string | undefined;
} {
  const parsed = parseXml(d.text);
  if (!parsed.ok) throw new Error(`unparseable datagram: ${parsed.detail}`);
  const body = path(parsed.root, 'Body')?.children[0];
  const match: XmlElement | undefined =
    body?.children.find((c) => c.local === 'ProbeMatch' || c.local === 'ResolveMatch') ?? body;
  return {
    action: path(parsed.root, 'Header', 'Action')?.text ?? '',
    relatesTo: path(parsed.root, 'Header', 'RelatesTo')?.text,
    endpointReference: path(match, 'EndpointReference', 'Address')?.text,
    types: path(match, 'Types')?.text,
    scopes: (path(match, 'Scopes')?.text ?? '').split(' ').filter((s) => s !== ''),
    xaddrs: path(match, 'XAddrs')?.text,
    metadataVersion: path(match, 'MetadataVersion')?.text,
  };
}

function relatesTo(messageId: string): (d: Datagram) => boolean {
  return (d) => d.text.includes(`RelatesTo>${messageId}<`);
}

describe('probe matching rules (pure)', () => {
  const target = {
    endpointReference: testEndpointReference(1),
    scopes: defaultScopes(testCameraConfig(1).identity),
    xaddrs: 'http://127.0.0.1:1/onvif/device_service',
    metadataVersion: 1,
  };
  const probe = (
    types: Extract<DiscoveryMessage, { kind: 'probe' }>['types'],
    scopes: string[] = [],
    matchBy: string = MATCH_BY.rfc3986,
  ) => ({ kind: 'probe', messageId: 'x', types, scopes, matchBy }) as const;

  it.each([
    ['no types, no scopes', probe([]), true],
    ['dn:NetworkVideoTransmitter', probe([{ ns: DN, local: 'NetworkVideoTransmitter' }]), true],
    ['tds:Device', probe([{ ns: TDS, local: 'Device' }]), true],
    [
      'both types',
      probe([
        { ns: DN, local: 'NetworkVideoTransmitter' },
        { ns: TDS, local: 'Device' },
      ]),
      true,
    ],
    ['Device in the network namespace is another QName', probe([{ ns: DN, local: 'Device' }]), false],
    ['NetworkVideoDisplay', probe([{ ns: DN, local: 'NetworkVideoDisplay' }]), false],
    [
      'undeclared prefix compares by local name',
      probe([{ ns: undefined, local: 'NetworkVideoTransmitter' }]),
      true,
    ],
    ['scope prefix (rfc3986)', probe([], ['onvif://www.onvif.org/type']), true],
    ['scope prefix, other case in authority', probe([], ['ONVIF://WWW.ONVIF.ORG/Profile/Streaming']), true],
    ['scope path is case-sensitive', probe([], ['onvif://www.onvif.org/profile/streaming']), false],
    ['scope not held', probe([], ['onvif://www.onvif.org/location/mars']), false],
    ['partial segment is no prefix', probe([], ['onvif://www.onvif.org/ty']), false],
    ['strcmp0 exact', probe([], ['onvif://www.onvif.org/Profile/Streaming'], MATCH_BY.strcmp0), true],
    ['strcmp0 prefix', probe([], ['onvif://www.onvif.org/Profile'], MATCH_BY.strcmp0), false],
    ['unknown MatchBy', probe([], ['onvif://www.onvif.org/type'], 'urn:example:ldap'), false],
  ])('%s → %s', (_name, p, expected) => {
    expect(probeMatches(p, target)).toBe(expected);
  });

  it.each([
    ['onvif://a/b', 'onvif://a/b/c', true],
    ['onvif://a/', 'onvif://a/b', true],
    ['onvif://a/b/c', 'onvif://a/b', false],
    ['onvif://a/b', 'http://a/b', false],
    ['onvif://a/b', 'onvif://x/b', false],
  ])('rfc3986 %s vs %s → %s', (s1, s2, expected) => {
    expect(scopeMatches(s1, s2, MATCH_BY.rfc3986)).toBe(expected);
  });

  it('resolves type prefixes declared anywhere in scope', () => {
    const msg = parseDiscoveryMessage(probeXml({ types: 'x:Device', ns: { x: TDS } }));
    expect(msg).toMatchObject({ kind: 'probe', types: [{ ns: TDS, local: 'Device' }] });
  });

  it('refuses datagrams with a DTD instead of expanding them', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>${probeXml().replace(/^<\?xml[^>]*>/, '')}`;
    expect(parseDiscoveryMessage(bomb)).toBeUndefined();
  });
});

describe('unicast WS-Discovery over UDP', () => {
  it('answers a Probe with ProbeMatches carrying identity, types, scopes and XAddrs', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(11)));
    const client = await peer();
    const messageId = 'urn:uuid:11111111-2222-4333-8444-555555555555';
    await client.send(probeXml({ messageId, types: 'dn:NetworkVideoTransmitter' }), cam.discoveryPort ?? 0);
    const reply = await client.next(relatesTo(messageId), 'ProbeMatches');

    expect(reply.from).toEqual({ address: '127.0.0.1', port: cam.discoveryPort });
    const f = discoveryFields(reply);
    expect(f).toMatchObject({
      action: 'http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches',
      relatesTo: messageId,
      endpointReference: testEndpointReference(11),
      types: 'dn:NetworkVideoTransmitter tds:Device',
      xaddrs: `http://127.0.0.1:${cam.httpPort}/onvif/device_service`,
      metadataVersion: '1',
    });
    expect(f.scopes).toContain('onvif://www.onvif.org/hardware/SE-IPC-2000');
    expect(f.scopes).toContain('onvif://www.onvif.org/Profile/Streaming');
    expect(cam.stats()).toMatchObject({ probes_received: 1, probes_answered: 1 });
  });

  it('answers only matching probes (non-matching ones sent first get no reply)', async () => {
    const cam = pool.add(
      await startOnvifCamera(testCameraOptions(12, { scopes: ['onvif://www.onvif.org/location/gate'] })),
    );
    const client = await peer();
    const port = cam.discoveryPort ?? 0;
    const nonMatching = [
      probeXml({ messageId: 'urn:uuid:nm-1', types: 'dn:NetworkVideoDisplay' }),
      probeXml({ messageId: 'urn:uuid:nm-2', scopes: ['onvif://www.onvif.org/location/yard'] }),
      probeXml({ messageId: 'urn:uuid:nm-3', types: 'dn:Device' }),
    ];
    for (const p of nonMatching) await client.send(p, port);
    await client.send(
      probeXml({ messageId: 'urn:uuid:m-1', scopes: ['onvif://www.onvif.org/location'] }),
      port,
    );
    await client.send(probeXml({ messageId: 'urn:uuid:m-2', types: 'tds:Device' }), port);
    await client.next(relatesTo('urn:uuid:m-2'), 'reply to the last matching probe');
    // Datagrams on loopback are handled in order: replies to earlier probes would be here by now.
    expect(client.received.map((d) => discoveryFields(d).relatesTo)).toEqual([
      'urn:uuid:m-1',
      'urn:uuid:m-2',
    ]);
    expect(cam.stats()).toMatchObject({ probes_received: 5, probes_answered: 2 });
  });

  it("answers node-onvif's and agsh onvif's exact probe messages", async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(13)));
    const client = await peer();
    // node-onvif lib/node-onvif.js _sendProbe(), type NetworkVideoTransmitter.
    const nodeOnvifProbe =
      '<?xml version="1.0" encoding="UTF-8"?> <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>uuid:node-onvif-1</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><Probe xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery"><d:Types xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dp0="http://www.onvif.org/ver10/network/wsdl">dp0:NetworkVideoTransmitter</d:Types></Probe></s:Body></s:Envelope>';
    // agsh onvif lib/discovery.js probe().
    const agshProbe =
      '<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><Header><wsa:MessageID xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">urn:uuid:agsh-1</wsa:MessageID><wsa:To xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To><wsa:Action xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action></Header><Body><Probe xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Types>dn:NetworkVideoTransmitter</Types><Scopes /></Probe></Body></Envelope>';
    await client.send(nodeOnvifProbe, cam.discoveryPort ?? 0);
    await client.send(agshProbe, cam.discoveryPort ?? 0);
    for (const id of ['uuid:node-onvif-1', 'urn:uuid:agsh-1']) {
      const f = discoveryFields(await client.next(relatesTo(id), `reply to ${id}`));
      expect(f.endpointReference).toBe(testEndpointReference(13));
      expect(f.xaddrs).toBe(cam.xaddr);
    }
  });

  it('answers Resolve for its own endpoint reference only', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(14)));
    const client = await peer();
    const resolve = (id: string, epr: string): string =>
      probeXml({ messageId: id }).replace(
        /<d:Probe[^>]*><\/d:Probe>/,
        `<d:Resolve><a:EndpointReference><a:Address>${epr}</a:Address></a:EndpointReference></d:Resolve>`,
      );
    await client.send(resolve('urn:uuid:r-other', testEndpointReference(99)), cam.discoveryPort ?? 0);
    await client.send(resolve('urn:uuid:r-mine', testEndpointReference(14)), cam.discoveryPort ?? 0);
    const reply = await client.next(relatesTo('urn:uuid:r-mine'), 'ResolveMatches');
    expect(discoveryFields(reply)).toMatchObject({
      action: 'http://schemas.xmlsoap.org/ws/2005/04/discovery/ResolveMatches',
      endpointReference: testEndpointReference(14),
      xaddrs: cam.xaddr,
    });
    expect(client.received).toHaveLength(1);
  });

  it('sends Hello to announce_to on start and Bye on stop', async () => {
    const listener = await peer();
    const cam = await startOnvifCamera(
      testCameraOptions(15, {
        discovery: { mode: 'unicast', announce_to: { host: '127.0.0.1', port: listener.port } },
      }),
    );
    const xaddr = cam.xaddr;
    try {
      const hello = discoveryFields(await listener.next((d) => d.text.includes('discovery/Hello<'), 'Hello'));
      expect(hello).toMatchObject({
        endpointReference: testEndpointReference(15),
        xaddrs: xaddr,
        metadataVersion: '1',
      });
    } finally {
      await cam.stop();
    }
    const bye = discoveryFields(await listener.next((d) => d.text.includes('discovery/Bye<'), 'Bye'));
    expect(bye.endpointReference).toBe(testEndpointReference(15));
    expect(cam.stats().hellos_sent).toBe(1);
  });

  it('discovery off: no UDP socket', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(16, { discovery: { mode: 'off' } })));
    expect(cam.discoveryPort).toBeUndefined();
  });
});

describe('network-rule guards', () => {
  it('refuses multicast discovery without the explicit acknowledgement', async () => {
    const opts = testCameraOptions(21, { discovery: { mode: 'multicast' } as never });
    await expect(startOnvifCamera(opts)).rejects.toThrow(/i_understand_this_must_run_in_a_netns/);
    expect(() => {
      assertMulticastAllowed(undefined);
    }).toThrow(MulticastGuardError);
  });

  const hostNs = checkNetnsIsolation();
  it.skipIf(hostNs.isolated)(
    `refuses multicast discovery in this (host) namespace, which has ${hostNs.interfaces.join(', ')}` +
      (hostNs.isolated ? ' — skipped: this namespace has only lo, so the guard rightly allows it' : ''),
    async () => {
      const opts = testCameraOptions(22, {
        discovery: { mode: 'multicast', i_understand_this_must_run_in_a_netns: true },
      });
      const err: unknown = await startOnvifCamera(opts).catch((e: unknown) => e);
      expect(isSimError(err, 'SIM_ERR_MULTICAST_GUARD')).toBe(true);
      expect(String(err)).toMatch(/would reach a real network/);
    },
  );

  it.each([
    ['lo only', ['lo'], true],
    ['lo and eth0', ['lo', 'eth0'], false],
    ['an addressless veth', ['lo', 'veth0'], false],
    ['nothing listed', [], false],
  ])('isolation check from /proc/net/dev: %s → isolated=%s', (_name, ifaces, isolated) => {
    const dir = mkdtempSync(join(tmpdir(), 'sharpeyes-sim-procnet-'));
    try {
      const file = join(dir, 'dev');
      const header =
        'Inter-|   Receive                                                |  Transmit\n' +
        ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
      writeFileSync(
        file,
        header + ifaces.map((i) => `${i.padStart(6)}: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n`).join(''),
      );
      expect(checkNetnsIsolation(file)).toEqual({ isolated, interfaces: ifaces });
      if (isolated) assertMulticastAllowed(true, file);
      else
        expect(() => {
          assertMulticastAllowed(true, file);
        }).toThrow(MulticastGuardError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['http host', { host: '0.0.0.0' }, /camera\.host must be an IPv4 address in 127\.0\.0\.0\/8/],
    ['discovery host', { discovery: { mode: 'unicast', host: '192.168.1.10' } }, /camera\.discovery\.host/],
    [
      'announce_to',
      { discovery: { mode: 'unicast', announce_to: { host: '239.255.255.250', port: 3702 } } },
      /camera\.discovery\.announce_to\.host/,
    ],
  ] as const)('refuses a non-loopback %s', async (_name, overrides, message) => {
    const err: unknown = await startOnvifCamera(testCameraOptions(23, overrides as never)).catch(
      (e: unknown) => e,
    );
    expect(isSimError(err, 'SIM_ERR_CONFIG')).toBe(true);
    expect(String(err)).toMatch(message);
  });

  it('refuses move() to a non-loopback address', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(24)));
    const err: unknown = await cam.move('10.0.0.5').catch((e: unknown) => e);
    expect(isSimError(err, 'SIM_ERR_NOT_LOOPBACK')).toBe(true);
    expect(cam.host).toBe('127.0.0.1');
  });
});
