/**
 * Discovery's pure parts, table-driven: the Probe we send, datagram parsing (including hostile
 * datagrams built by the simulator's own fault code), profile choice, identity keys, error
 * classification, retry backoff, the description narrowing and the proto mapping.
 */
import { describe, expect, it } from 'vitest';

import { retryDelayMs, type RetryPolicy } from '../../edge-agent/src/discovery/backoff.ts';
import {
  accessForError,
  classifyOnvifFailure,
  sanitizeDetail,
  type OnvifFailure,
} from '../../edge-agent/src/discovery/classify.ts';
import {
  identityKey,
  normaliseEndpointReference,
  pickXaddr,
  placeholderKey,
  stripUrlCredentials,
} from '../../edge-agent/src/discovery/identity.ts';
import { parseDescription } from '../../edge-agent/src/discovery/onvif-adapter.ts';
import { chooseAnalysisProfile, type ProfileShape } from '../../edge-agent/src/discovery/profiles.ts';
import { toProtoDiscoveredDevices } from '../../edge-agent/src/discovery/proto.ts';
import type { DiscoveredDevice } from '../../edge-agent/src/discovery/types.ts';
import {
  MAX_DATAGRAM_BYTES,
  PROBE_TYPES,
  buildProbe,
  decodeXmlText,
  parseDiscoveryDatagram,
  xmlDepthExceeds,
  type DiscoveryRejection,
} from '../../edge-agent/src/discovery/ws-discovery-xml.ts';
import { EdgeError, type EdgeErrorCode } from '../../edge-agent/src/errors.ts';
import { DeviceAccess, DiscoveredDevices } from '../../proto/gen/sharpeyes/v1/discovery.ts';
import {
  buildBye,
  buildHello,
  buildProbeMatches,
  parseDiscoveryMessage,
  probeMatches,
  type DiscoveryTarget,
} from '../sim/onvif/discovery.ts';
import { MAX_DATAGRAM_BYTES as SIM_MAX_DATAGRAM, hostileXml, malformedXml } from '../sim/onvif/faults.ts';

const EPR = 'urn:uuid:5e1a0000-0000-4000-8000-000000000001';
const TARGET: DiscoveryTarget = {
  endpointReference: EPR,
  scopes: ['onvif://www.onvif.org/type/video_encoder', 'onvif://www.onvif.org/name/Cam&Co'],
  xaddrs: 'http://127.0.0.1:8080/onvif/device_service http://[::1]:8080/onvif/device_service',
  metadataVersion: 3,
};
const seq = (): { instanceId: number; messageNumber: number } => ({ instanceId: 1, messageNumber: 0 });

describe('buildProbe', () => {
  it.each(PROBE_TYPES)('builds a %s probe the simulator parses and matches', (type) => {
    const xml = buildProbe('urn:uuid:0000-probe', type);
    const parsed = parseDiscoveryMessage(xml);
    expect(parsed).toMatchObject({ kind: 'probe', messageId: 'urn:uuid:0000-probe' });
    if (parsed?.kind !== 'probe') throw new Error('not a probe');
    expect(parsed.types).toHaveLength(1);
    expect(probeMatches(parsed, TARGET)).toBe(true);
  });

  it('escapes the message id', () => {
    expect(buildProbe('a<b&"c', 'tds:Device')).toContain('<a:MessageID>a&#60;b&#38;&#34;c</a:MessageID>');
  });
});

describe('parseDiscoveryDatagram', () => {
  const good = buildProbeMatches(TARGET, 'urn:uuid:our-probe', seq());

  it('reads ProbeMatches: relatesTo, endpoint, types, scopes (entities decoded), xaddrs, version', () => {
    const r = parseDiscoveryDatagram(Buffer.from(good));
    expect(r).toEqual({
      ok: true,
      message: {
        kind: 'probe_matches',
        relatesTo: 'urn:uuid:our-probe',
        matches: [
          {
            endpointReference: EPR,
            types: ['dn:NetworkVideoTransmitter', 'tds:Device'],
            scopes: TARGET.scopes,
            xaddrs: TARGET.xaddrs.split(' '),
            metadataVersion: 3,
          },
        ],
      },
    });
  });

  it('reads several ProbeMatch elements in one datagram', () => {
    const two = good.replace(
      '</d:ProbeMatches>',
      '<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:second</a:Address></a:EndpointReference>' +
        '<d:XAddrs>http://127.0.0.9/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches>',
    );
    const r = parseDiscoveryDatagram(two);
    if (!r.ok || r.message.kind !== 'probe_matches') throw new Error('not parsed');
    expect(r.message.matches.map((m) => m.endpointReference)).toEqual([EPR, 'urn:uuid:second']);
  });

  it('reads Hello and Bye', () => {
    expect(parseDiscoveryDatagram(buildHello(TARGET, seq()))).toMatchObject({
      ok: true,
      message: { kind: 'hello', endpoint: { endpointReference: EPR, metadataVersion: 3 } },
    });
    expect(parseDiscoveryDatagram(buildBye(TARGET, seq()))).toEqual({
      ok: true,
      message: { kind: 'bye', endpointReference: EPR },
    });
  });

  it('treats a Probe (ours looped back, or another client) as nothing for us', () => {
    expect(parseDiscoveryDatagram(buildProbe('urn:uuid:x', 'tds:Device'))).toMatchObject({
      ok: true,
      message: { kind: 'other', action: 'http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe' },
    });
  });

  it('keeps only http(s) XAddrs', () => {
    const r = parseDiscoveryDatagram(
      good.replace(
        TARGET.xaddrs,
        'file:///etc/passwd javascript:alert(1) http://127.0.0.5/onvif/device_service',
      ),
    );
    if (!r.ok || r.message.kind !== 'probe_matches') throw new Error('not parsed');
    expect(r.message.matches[0]?.xaddrs).toEqual(['http://127.0.0.5/onvif/device_service']);
  });

  const passwdLine = 'root:x:0:0:root:/root:/bin/bash';
  const hostile: [string, string | Buffer, DiscoveryRejection][] = [
    ['billion laughs', hostileXml(good, 'billion_laughs'), 'doctype'],
    ['XXE (file:///etc/passwd)', hostileXml(good, 'xxe'), 'doctype'],
    ['lower-case doctype', good.replace('<s:Envelope', '<!doctype s:Envelope><s:Envelope'), 'doctype'],
    [
      'deep nesting capped to a datagram',
      hostileXml(good, 'deep_nesting', undefined, SIM_MAX_DATAGRAM),
      'too_deep',
    ],
    ['deep nesting, 40 levels', hostileXml(good, 'deep_nesting', 40), 'too_deep'],
    ['truncated', malformedXml(good, 'truncated'), 'not_well_formed'],
    ['garbled', malformedXml(good, 'garbled'), 'not_well_formed'],
    ['not XML', 'hello world', 'not_well_formed'],
    ['empty', '', 'not_well_formed'],
    ['binary', Buffer.from([0, 1, 2, 0xff, 0xfe, 0x3c]), 'not_well_formed'],
    ['a bare element', '<a>b</a>', 'not_discovery'],
    ['over 64 KiB', Buffer.alloc(MAX_DATAGRAM_BYTES + 1, 0x20), 'too_large'],
    ['ProbeMatches without RelatesTo', good.replace(/<a:RelatesTo>.*<\/a:RelatesTo>/, ''), 'not_discovery'],
    [
      'Hello without endpoint reference',
      buildHello({ ...TARGET, endpointReference: '' }, seq()),
      'not_discovery',
    ],
    [
      'endpoint reference of 300 characters',
      buildHello({ ...TARGET, endpointReference: `urn:uuid:${'a'.repeat(291)}` }, seq()),
      'not_discovery',
    ],
  ];
  it.each(hostile)('refuses %s without throwing', (_name, input, reason) => {
    const r = parseDiscoveryDatagram(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
    expect(JSON.stringify(r)).not.toContain(passwdLine);
  });

  it('drops ProbeMatch entries without an endpoint reference, keeps the others', () => {
    const r = parseDiscoveryDatagram(good.replace(EPR, ''));
    expect(r).toMatchObject({ ok: true, message: { kind: 'probe_matches', matches: [] } });
  });

  it('does not let element names pollute prototypes', () => {
    const xml = good.replace(
      '<d:ProbeMatches>',
      '<d:ProbeMatches><__proto__><polluted>1</polluted></__proto__>',
    );
    parseDiscoveryDatagram(xml);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('decodeXmlText and xmlDepthExceeds', () => {
  it.each([
    ['a &amp; b', 'a & b'],
    ['&lt;&gt;&quot;&apos;', `<>"'`],
    ['&#65;&#x42;', 'AB'],
    ['&lol9;', '&lol9;'],
    ['&#0;&#xD800;&#x110000;', '&#0;&#xD800;&#x110000;'],
    ['&amp;amp;', '&amp;'],
  ])('%s → %s', (input, output) => {
    expect(decodeXmlText(input)).toBe(output);
  });

  it.each([
    ['<a><b/><c></c></a>', 2, false],
    ['<a><b><c></c></b></a>', 2, true],
    ['<a/>'.repeat(100), 1, false],
    ['<a>'.repeat(5) + '</a>'.repeat(5), 4, true],
  ])('%s deeper than %d: %s', (xml, limit, exceeds) => {
    expect(xmlDepthExceeds(xml, limit)).toBe(exceeds);
  });
});

describe('chooseAnalysisProfile', () => {
  const p = (token: string, width: number, height: number, fps = 25): ProfileShape => ({
    token,
    width,
    height,
    fps,
  });
  const cases: [string, ProfileShape[], string | undefined][] = [
    ['main 1080p + sub 720p → sub', [p('main', 1920, 1080), p('sub', 1280, 720)], 'sub'],
    ['sub listed first', [p('sub', 1280, 720), p('main', 1920, 1080)], 'sub'],
    ['4K main, 720p and 360p subs', [p('main', 3840, 2160), p('s1', 640, 360), p('s2', 1280, 720)], 's2'],
    ['sub at 576 lines is near 720p', [p('main', 1920, 1080), p('d1', 704, 576)], 'd1'],
    ['two near-720p subs: closest wins', [p('main', 2560, 1440), p('a', 1024, 576), p('b', 1280, 800)], 'b'],
    ['tie: earlier wins', [p('main', 2560, 1440), p('a', 1280, 720), p('b', 1280, 720)], 'a'],
    ['main 720p alone is not a sub-stream, but ≥ 640', [p('main', 1280, 720)], 'main'],
    [
      'no sub near 720p → smallest ≥ 640 wide',
      [p('main', 1920, 1080), p('cif', 352, 288), p('vga', 640, 480)],
      'vga',
    ],
    ['all below 640 → first', [p('a', 352, 288), p('b', 176, 144)], 'a'],
    ['unknown sizes → first', [p('a', 0, 0), p('b', 0, 0)], 'a'],
    ['sub at 1080 lines on a 4K camera is not near 720p', [p('main', 3840, 2160), p('s', 1920, 1080)], 's'],
    ['empty', [], undefined],
  ];
  it.each(cases)('%s', (_name, profiles, expected) => {
    const i = chooseAnalysisProfile(profiles);
    expect(i < 0 ? undefined : profiles[i]?.token).toBe(expected);
  });
});

describe('identity', () => {
  it.each([
    [
      { endpointReference: 'urn:uuid:ABCDEF01-0000-4000-8000-000000000001' },
      'urn:uuid:abcdef01-0000-4000-8000-000000000001',
    ],
    [{ endpointReference: '  urn:uuid:abc ', serialNumber: 'SN1' }, 'urn:uuid:abc'],
    [{ endpointReference: 'http://vendor/Device-1' }, 'http://vendor/Device-1'],
    [{ endpointReference: '', serialNumber: ' SN-1001 ' }, 'serial:SN-1001'],
    [{ serialNumber: '' }, undefined],
    [{}, undefined],
  ])('identityKey(%j) = %s', (id, key) => {
    expect(identityKey(id)).toBe(key);
  });

  it('never keys by address', () => {
    expect(identityKey({ endpointReference: '', serialNumber: '' })).toBeUndefined();
    expect(placeholderKey('http://10.0.0.5/onvif/device_service')).toBe(
      'xaddr:http://10.0.0.5/onvif/device_service',
    );
    expect(normaliseEndpointReference('URN:UUID:AB-CD')).toBe('urn:uuid:ab-cd');
  });

  it.each([
    ['rtsp://admin:secret@127.0.0.1:554/cam1', 'rtsp://127.0.0.1:554/cam1'],
    ['rtsp://127.0.0.1:554/cam1', 'rtsp://127.0.0.1:554/cam1'],
    ['http://u@h/snap?x=1', 'http://h/snap?x=1'],
    ['rtsp://a:b@not a url', 'rtsp://not a url'],
  ])('stripUrlCredentials(%s) = %s', (input, output) => {
    expect(stripUrlCredentials(input)).toBe(output);
  });

  it.each([
    [['http://a/x', 'http://b/x'], 'http://b/x', 'http://b/x'],
    [['http://a/x', 'http://b/x'], 'http://c/x', 'http://a/x'],
    [['http://[::1]/x', 'http://127.0.0.1/x'], undefined, 'http://127.0.0.1/x'],
    [['https://h/x'], undefined, 'https://h/x'],
    [['ftp://h/x'], undefined, undefined],
    [[], undefined, undefined],
  ])('pickXaddr(%j, %s) = %s', (xaddrs, current, picked) => {
    expect(pickXaddr(xaddrs, current)).toBe(picked);
  });
});

describe('classifyOnvifFailure', () => {
  const err = (message: string, timedOut = false): OnvifFailure => ({ kind: 'error', message, timedOut });
  const cases: [OnvifFailure, EdgeErrorCode][] = [
    [
      err('Failed to initialize the device: Error: 400 Bad Request - Sender not Authorized'),
      'EDGE_ERR_ONVIF_AUTH',
    ],
    [err('ONVIF SOAP Fault: Sender not Authorized'), 'EDGE_ERR_ONVIF_AUTH'],
    [err('401 Unauthorized'), 'EDGE_ERR_ONVIF_AUTH'],
    [err('Network Error: connect ECONNREFUSED 127.0.0.1:1'), 'EDGE_ERR_ONVIF_UNREACHABLE'],
    [err('Network Error: connect EHOSTUNREACH 10.0.0.5:80'), 'EDGE_ERR_ONVIF_UNREACHABLE'],
    [err('Network Error: socket hang up'), 'EDGE_ERR_ONVIF_UNREACHABLE'],
    [err('Network Error: socket hang up', true), 'EDGE_ERR_ONVIF_TIMEOUT'],
    [err('connect ETIMEDOUT 10.0.0.5:80'), 'EDGE_ERR_ONVIF_TIMEOUT'],
    [err('Invalid character entity Line: 0 Column: 409'), 'EDGE_ERR_ONVIF_PROTOCOL'],
    [err('invalid SOAP: reply carries a DTD'), 'EDGE_ERR_ONVIF_PROTOCOL'],
    [err('Unclosed root tag'), 'EDGE_ERR_ONVIF_PROTOCOL'],
    [err('The device seems to not support the GetProfiles() method.'), 'EDGE_ERR_ONVIF_PROTOCOL'],
    [err('Maximum call stack size exceeded'), 'EDGE_ERR_ONVIF_PROTOCOL'],
    [{ kind: 'too_large' }, 'EDGE_ERR_ONVIF_TOO_LARGE'],
    [{ kind: 'out_of_memory' }, 'EDGE_ERR_ONVIF_TOO_LARGE'],
    [{ kind: 'deadline' }, 'EDGE_ERR_ONVIF_TIMEOUT'],
  ];
  it.each(cases)('%j → %s', (failure, code) => {
    expect(classifyOnvifFailure(failure)).toBe(code);
  });

  it.each([
    ['EDGE_ERR_ONVIF_AUTH', 'auth_failed'],
    ['EDGE_ERR_ONVIF_UNREACHABLE', 'unreachable'],
    ['EDGE_ERR_ONVIF_TIMEOUT', 'unreachable'],
    ['EDGE_ERR_ONVIF_PROTOCOL', 'protocol_error'],
    ['EDGE_ERR_ONVIF_TOO_LARGE', 'protocol_error'],
    ['EDGE_ERR_ONVIF_NO_STREAM', 'protocol_error'],
  ] as const)('%s → access %s', (code, access) => {
    expect(accessForError(code)).toBe(access);
  });

  it('sanitizes details: credentials, control characters, length', () => {
    expect(sanitizeDetail('GET rtsp://admin:Sim&Pass-42@127.0.0.1/x failed')).toBe(
      'GET rtsp://***@127.0.0.1/x failed',
    );
    expect(sanitizeDetail('a\u0000\u001bb\nc')).toBe('a b c');
    expect(sanitizeDetail('x'.repeat(500), 10)).toBe(`${'x'.repeat(10)}…`);
  });
});

describe('retryDelayMs', () => {
  const policy: RetryPolicy = { initialMs: 1000, authInitialMs: 60_000, maxMs: 600_000, jitter: 0.2 };
  it.each([
    [1, false, 0.5, 1000],
    [2, false, 0.5, 2000],
    [5, false, 0.5, 16_000],
    [30, false, 0.5, 600_000],
    [1000, false, 0.5, 600_000],
    [1, true, 0.5, 60_000],
    [2, true, 0.5, 120_000],
    [1, false, 0, 800],
    [1, false, 0.999_999, 1200],
    [0, false, 0.5, 1000],
  ])('attempt %d (auth %s, random %f) → %d ms', (attempts, auth, random, ms) => {
    expect(retryDelayMs(attempts, policy, auth, random)).toBe(ms);
  });

  it('grows with every failure until the cap, whatever the jitter', () => {
    for (let n = 1; n < 9; n++) {
      expect(retryDelayMs(n + 1, policy, false, 0)).toBeGreaterThan(retryDelayMs(n, policy, false, 0.999));
    }
  });
});

describe('parseDescription (the typed boundary of the worker result)', () => {
  const raw = {
    information: {
      manufacturer: 'Acme',
      model: 'X1',
      firmwareVersion: '1.0',
      serialNumber: 'SN9',
      hardwareId: 'HW',
    },
    profiles: [
      {
        token: 'main',
        name: 'Main',
        encoding: 'H264',
        width: 1920,
        height: 1080,
        fps: 25,
        streamUri: 'rtsp://admin:pw@10.0.0.5/main',
        snapshotUri: 'http://10.0.0.5/snap/main',
      },
      {
        token: 'sub',
        name: 'Sub',
        encoding: 'H264',
        width: 1280,
        height: 720,
        fps: 15,
        streamUri: 'rtsp://admin:pw@10.0.0.5/sub',
        snapshotUri: 'http://admin:pw@10.0.0.5/snap/sub',
      },
    ],
  };

  it('chooses the sub-stream, strips credentials from URIs', () => {
    const d = parseDescription(raw);
    expect(d.analysisProfileToken).toBe('sub');
    expect(d.snapshotUri).toBe('http://10.0.0.5/snap/sub');
    expect(d.profiles.map((p) => p.streamUri)).toEqual(['rtsp://10.0.0.5/main', 'rtsp://10.0.0.5/sub']);
    expect(JSON.stringify(d)).not.toContain('pw');
  });

  it('ignores profiles without an RTSP URI when choosing', () => {
    const d = parseDescription({
      ...raw,
      profiles: [raw.profiles[0], { ...raw.profiles[1], streamUri: 'udp://239.1.1.1:5000' }],
    });
    expect(d.analysisProfileToken).toBe('main');
    expect(d.profiles[1]?.streamUri).toBe('');
  });

  it.each([
    ['not an object', 'EDGE_ERR_ONVIF_PROTOCOL', 42],
    ['no profiles', 'EDGE_ERR_ONVIF_NO_STREAM', { information: {}, profiles: [] }],
    [
      'no stream URI',
      'EDGE_ERR_ONVIF_NO_STREAM',
      { information: {}, profiles: [{ token: 't', streamUri: '' }] },
    ],
  ])('%s → %s', (_name, code, input) => {
    expect(() => parseDescription(input)).toThrow(EdgeError);
    try {
      parseDescription(input);
    } catch (err) {
      expect((err as EdgeError).code).toBe(code);
    }
  });

  it('caps hostile sizes', () => {
    const d = parseDescription({
      information: { manufacturer: 'x'.repeat(100_000), serialNumber: 7 },
      profiles: Array.from({ length: 1000 }, (_, i) => ({
        token: `t${i}`,
        width: 1e12,
        height: -5,
        fps: Number.NaN,
        streamUri: 'rtsp://h/s',
      })),
    });
    expect(d.information.manufacturer).toHaveLength(1024);
    expect(d.information.serialNumber).toBe('');
    expect(d.profiles).toHaveLength(64);
    expect(d.profiles[0]).toMatchObject({ width: 16_384, height: 0, fps: 0 });
  });
});

describe('toProtoDiscoveredDevices', () => {
  const device: DiscoveredDevice = {
    key: EPR,
    identified: true,
    identity: {
      endpointReference: EPR,
      serialNumber: 'SN-1001',
      manufacturer: 'Sharpeyes Sim',
      model: 'SE-IPC-2000',
      firmwareVersion: '1.2.3',
      hardwareId: 'HW-2000-A',
    },
    xaddr: 'http://127.0.0.2/onvif/device_service',
    xaddrs: ['http://127.0.0.1/onvif/device_service', 'http://127.0.0.2/onvif/device_service'],
    scopes: ['onvif://www.onvif.org/type/video_encoder'],
    metadataVersion: 2,
    profiles: [
      {
        token: 'profile_sub',
        name: 'SubStream',
        encoding: 'H264',
        width: 1280,
        height: 720,
        fps: 15,
        streamUri: 'rtsp://u:p@127.0.0.1/sub',
      },
    ],
    analysisProfileToken: 'profile_sub',
    snapshotUri: 'http://127.0.0.2/snap',
    hasSnapshot: true,
    access: 'auth_failed',
    lastError: { code: 'EDGE_ERR_ONVIF_AUTH', message: 'refused', atMs: 5 },
    failedAttempts: 1,
    describeAttempts: 2,
    nextRetryAtMs: 1000,
    describedAtMs: 4,
    seen: true,
    source: 'probe',
    firstSeenMs: 1,
    lastSeenMs: 9,
  };

  it('maps every field, address in use first, credentials removed; survives encode/decode', () => {
    const msg = toProtoDiscoveredDevices('village-7', [device], {
      updatedMs: 42,
      cameraIdFor: (d) => (d.identity.serialNumber === 'SN-1001' ? 'cam-gate' : undefined),
    });
    expect(msg).toEqual({
      siteId: 'village-7',
      updatedMs: 42,
      devices: [
        {
          identity: device.identity,
          xaddrs: ['http://127.0.0.2/onvif/device_service', 'http://127.0.0.1/onvif/device_service'],
          scopes: device.scopes,
          profiles: [{ ...device.profiles[0], streamUri: 'rtsp://127.0.0.1/sub' }],
          analysisProfileToken: 'profile_sub',
          hasSnapshot: true,
          access: DeviceAccess.DEVICE_ACCESS_AUTH_FAILED,
          firstSeenMs: 1,
          lastSeenMs: 9,
          cameraId: 'cam-gate',
        },
      ],
    });
    expect(DiscoveredDevices.decode(DiscoveredDevices.encode(msg).finish())).toEqual(msg);
  });

  it.each([
    ['unknown', DeviceAccess.DEVICE_ACCESS_UNSPECIFIED],
    ['ok', DeviceAccess.DEVICE_ACCESS_OK],
    ['unreachable', DeviceAccess.DEVICE_ACCESS_UNREACHABLE],
    ['protocol_error', DeviceAccess.DEVICE_ACCESS_PROTOCOL_ERROR],
  ] as const)('access %s → %s', (access, proto) => {
    expect(toProtoDiscoveredDevices('s', [{ ...device, access }]).devices[0]?.access).toBe(proto);
  });
});
