/**
 * SOAP handling and authentication, seen from raw requests: access classes, WS-Security
 * UsernameToken checks (digest, replay, clock skew), SOAP faults, HTTP Digest on snapshots.
 */
import { randomBytes } from 'node:crypto';

import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';

import { nodeOnvifDevice } from './clients.ts';
import { DigestAuthenticator, digestAuthorization, parseDigestParams } from './onvif/http-digest.ts';
import { buildSecurityHeader, looksLikeJpeg, startOnvifCamera, type OnvifCamera } from './onvif/index.ts';
import { parseXml, path } from './onvif/xml.ts';
import { httpRequest, soapRequest } from './raw.ts';
import { CameraPool, TEST_PASSWORD, TEST_USER, testCameraOptions } from './sim-fixtures.ts';

const good = (): string => buildSecurityHeader(TEST_USER, TEST_PASSWORD);
const badPassword = (): string => buildSecurityHeader(TEST_USER, 'guess');

/** Fault subcodes and reason of a reply, or undefined for a non-fault. */
function faultOf(xml: string): { subcodes: string[]; reason: string } | undefined {
  const r = parseXml(xml);
  if (!r.ok) throw new Error(`reply is not XML: ${r.detail}`);
  const fault = path(r.root, 'Body', 'Fault');
  if (fault === undefined) return undefined;
  const subcodes: string[] = [];
  let code = path(fault, 'Code');
  for (;;) {
    code = path(code, 'Subcode');
    if (code === undefined) break;
    subcodes.push(path(code, 'Value')?.text ?? '');
  }
  return { subcodes, reason: path(fault, 'Reason', 'Text')?.text ?? '' };
}

describe('SOAP endpoints (one shared camera)', () => {
  let cam: OnvifCamera;
  beforeAll(async () => {
    cam = await startOnvifCamera(testCameraOptions(31));
  });
  afterAll(async () => {
    await cam.stop();
  });

  const post = (service: 'device' | 'media', body: string, security = '') =>
    httpRequest(service === 'device' ? cam.xaddr : cam.mediaXaddr, { body: soapRequest(body, security) });

  it.each([
    ['GetSystemDateAndTime, no token', 'device', '<tds:GetSystemDateAndTime/>', 'none', 200, undefined],
    [
      'GetSystemDateAndTime, wrong password (always answered)',
      'device',
      '<tds:GetSystemDateAndTime/>',
      'bad',
      200,
      undefined,
    ],
    ['GetCapabilities, no token (PRE_AUTH)', 'device', '<tds:GetCapabilities/>', 'none', 200, undefined],
    ['GetCapabilities, wrong password', 'device', '<tds:GetCapabilities/>', 'bad', 400, 'ter:NotAuthorized'],
    [
      'GetServices, no token (PRE_AUTH)',
      'device',
      '<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>',
      'none',
      200,
      undefined,
    ],
    ['GetHostname, no token (PRE_AUTH)', 'device', '<tds:GetHostname/>', 'none', 200, undefined],
    [
      'GetDeviceInformation, no token',
      'device',
      '<tds:GetDeviceInformation/>',
      'none',
      400,
      'ter:NotAuthorized',
    ],
    ['GetDeviceInformation, valid token', 'device', '<tds:GetDeviceInformation/>', 'good', 200, undefined],
    ['GetScopes, wrong password', 'device', '<tds:GetScopes/>', 'bad', 400, 'ter:NotAuthorized'],
    ['GetProfiles, no token', 'media', '<trt:GetProfiles/>', 'none', 400, 'ter:NotAuthorized'],
    ['GetProfiles, valid token', 'media', '<trt:GetProfiles/>', 'good', 200, undefined],
    [
      'media operation on the device endpoint',
      'device',
      '<trt:GetProfiles/>',
      'good',
      500,
      'ter:ActionNotSupported',
    ],
    ['unknown operation', 'device', '<tds:SystemReboot/>', 'good', 500, 'ter:ActionNotSupported'],
    ['prototype key is no operation', 'device', '<tds:constructor/>', 'good', 500, 'ter:ActionNotSupported'],
    [
      'GetCapabilities for PTZ',
      'device',
      '<tds:GetCapabilities><tds:Category>PTZ</tds:Category></tds:GetCapabilities>',
      'none',
      500,
      'ter:ActionNotSupported',
    ],
    [
      'GetStreamUri for an unknown profile',
      'media',
      '<trt:GetStreamUri><trt:ProfileToken>x</trt:ProfileToken></trt:GetStreamUri>',
      'good',
      400,
      'ter:InvalidArgVal',
    ],
    [
      'GetStreamUri for RTP-Multicast',
      'media',
      '<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Multicast</tt:Stream><tt:Transport><tt:Protocol>UDP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>profile_main</trt:ProfileToken></trt:GetStreamUri>',
      'good',
      400,
      'ter:InvalidArgVal',
    ],
  ] as const)('%s → %s', async (_name, service, body, token, status, subcode) => {
    const security = token === 'good' ? good() : token === 'bad' ? badPassword() : '';
    const res = await post(service, body, security);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/soap+xml; charset=utf-8');
    const fault = faultOf(res.body);
    if (subcode === undefined) expect(fault).toBeUndefined();
    else expect(fault?.subcodes[0]).toBe(subcode);
  });

  it('NotAuthorized fault is SOAP 1.2 env:Sender with the ONVIF reason text', async () => {
    const res = await post('device', '<tds:GetDeviceInformation/>', badPassword());
    expect(res.status).toBe(400);
    expect(res.body).toContain('<s:Value>s:Sender</s:Value>');
    expect(faultOf(res.body)).toEqual({ subcodes: ['ter:NotAuthorized'], reason: 'Sender not Authorized' });
  });

  it('refuses a replayed UsernameToken nonce', async () => {
    const header = good();
    expect((await post('device', '<tds:GetDeviceInformation/>', header)).status).toBe(200);
    const replay = await post('device', '<tds:GetDeviceInformation/>', header);
    expect(replay.status).toBe(400);
    expect(faultOf(replay.body)?.subcodes).toEqual(['ter:NotAuthorized']);
  });

  it.each([
    ['10 minutes old', -600_000, 400],
    ['10 minutes ahead', 600_000, 400],
    ['4 minutes old', -240_000, 200],
  ])('Created %s → %s', async (_name, offsetMs, status) => {
    const created = new Date(Date.now() + offsetMs).toISOString();
    const header = buildSecurityHeader(TEST_USER, TEST_PASSWORD, { created, nonce: randomBytes(16) });
    expect((await post('device', '<tds:GetDeviceInformation/>', header)).status).toBe(status);
  });

  it('refuses PasswordText tokens', async () => {
    const header = good().replace(/#PasswordDigest">[^<]*</, `#PasswordText">${TEST_PASSWORD}<`);
    expect((await post('device', '<tds:GetDeviceInformation/>', header)).status).toBe(400);
  });

  it('refuses a request with a DTD without expanding it', async () => {
    const body = soapRequest('<tds:GetSystemDateAndTime/>').replace(
      '?>',
      '?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    );
    const res = await httpRequest(cam.xaddr, { body });
    expect(res.status).toBe(400);
    expect(faultOf(res.body)).toMatchObject({
      subcodes: ['ter:WellFormed'],
      reason: expect.stringMatching(/document type/) as unknown,
    });
  });

  it.each([
    [
      'not well-formed',
      '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x></s:Body>',
      400,
      'ter:WellFormed',
    ],
    [
      'SOAP 1.1 envelope',
      '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
      500,
      undefined,
    ],
    [
      'empty body',
      '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
      400,
      'ter:WellFormed',
    ],
  ])('%s → %s', async (_name, body, status, subcode) => {
    const res = await httpRequest(cam.xaddr, { body });
    expect(res.status).toBe(status);
    expect(faultOf(res.body)?.subcodes[0]).toBe(subcode);
    if (status === 500) expect(res.body).toContain('<s:Value>s:VersionMismatch</s:Value>');
  });

  it('HTTP-level refusals: GET on SOAP, unknown path, oversized body', async () => {
    expect((await httpRequest(cam.xaddr, { method: 'GET' })).status).toBe(405);
    expect(
      (await httpRequest(cam.xaddr.replace('device_service', 'nothing'), { method: 'GET' })).status,
    ).toBe(404);
    const huge = soapRequest(`<tds:GetHostname>${'x'.repeat(1_100_000)}</tds:GetHostname>`);
    expect((await httpRequest(cam.xaddr, { body: huge })).status).toBe(413);
  });

  it('read-only device operations describe the camera', async () => {
    const text = async (body: string, ...p: string[]): Promise<string[]> => {
      const res = await post('device', body, good());
      expect(res.status).toBe(200);
      const r = parseXml(res.body);
      if (!r.ok) throw new Error(r.detail);
      const resp = path(r.root, 'Body')?.children[0];
      const [first, ...rest] = p;
      return (resp?.children.filter((c) => c.local === first) ?? []).map(
        (c) => path(c, ...rest)?.text ?? c.text,
      );
    };
    expect(await text('<tds:GetScopes/>', 'Scopes', 'ScopeItem')).toContain(
      'onvif://www.onvif.org/Profile/Streaming',
    );
    expect(await text('<tds:GetHostname/>', 'HostnameInformation', 'Name')).toEqual(['cam-SN-1031']);
    expect(
      await text('<tds:GetNetworkInterfaces/>', 'NetworkInterfaces', 'IPv4', 'Config', 'Manual', 'Address'),
    ).toEqual(['127.0.0.1']);
    expect(
      await text(
        '<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>',
        'Service',
        'XAddr',
      ),
    ).toEqual([cam.xaddr, cam.mediaXaddr]);
    expect(await text('<tds:GetEndpointReference/>', 'GUID')).toEqual([cam.endpointReference]);
  });
});

describe('clock handling', () => {
  const pool = new CameraPool();
  afterEach(async () => {
    await pool.stopAll();
  });

  it('a camera clock 1 h ahead refuses tokens stamped with the host clock; node-onvif syncs and succeeds', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(32, { clock_offset_ms: 3_600_000 })));
    const res = await httpRequest(cam.xaddr, { body: soapRequest('<tds:GetDeviceInformation/>', good()) });
    expect(res.status).toBe(400);
    const device = nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD);
    await expect(device.init()).resolves.toMatchObject({ SerialNumber: 'SN-1032' });
  });
});

describe('snapshot HTTP Digest', () => {
  const pool = new CameraPool();
  afterEach(async () => {
    await pool.stopAll();
  });

  it('challenges, accepts a correct response once per nonce-count, refuses wrong password and Basic', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(33)));
    const url = `http://127.0.0.1:${cam.httpPort}/onvif/snapshot/profile_main`;
    const uri = '/onvif/snapshot/profile_main';

    const first = await httpRequest(url, { method: 'GET' });
    expect(first.status).toBe(401);
    const challenge = String(first.headers['www-authenticate']);
    expect(challenge).toMatch(/^Digest realm="[^"]+", qop="auth", nonce="[0-9a-f]+", algorithm=MD5$/);

    const creds = { username: TEST_USER, password: TEST_PASSWORD };
    const ok = await httpRequest(url, {
      method: 'GET',
      headers: { Authorization: digestAuthorization(challenge, { method: 'GET', uri }, creds, 1) },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('image/jpeg');

    const replay = await httpRequest(url, {
      method: 'GET',
      headers: { Authorization: digestAuthorization(challenge, { method: 'GET', uri }, creds, 1) },
    });
    expect(replay.status).toBe(401);
    const next = await httpRequest(url, {
      method: 'GET',
      headers: { Authorization: digestAuthorization(challenge, { method: 'GET', uri }, creds, 2) },
    });
    expect(next.status).toBe(200);

    const wrong = await httpRequest(url, {
      method: 'GET',
      headers: {
        Authorization: digestAuthorization(challenge, { method: 'GET', uri }, { ...creds, password: 'x' }, 3),
      },
    });
    expect(wrong.status).toBe(401);
    const basic = await httpRequest(url, {
      method: 'GET',
      headers: { Authorization: `Basic ${Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
    expect((await httpRequest(url.replace('profile_main', 'nope'), { method: 'GET' })).status).toBe(404);
  });

  it('node-onvif fetches a JPEG through its own Digest implementation', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(34)));
    const device = nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD);
    await device.init();
    expect(looksLikeJpeg((await device.fetchSnapshot()).body)).toBe(true);
  });
});

describe('DigestAuthenticator (pure)', () => {
  const creds = { username: 'u', password: 'p' };
  const req = { method: 'GET', uri: '/snap' };

  it.each([
    ['correct', (c: string) => digestAuthorization(c, req, creds, 1), 0, { ok: true }],
    [
      'wrong password',
      (c: string) => digestAuthorization(c, req, { ...creds, password: 'q' }, 1),
      0,
      { ok: false, why: 'bad_response' },
    ],
    [
      'wrong user',
      (c: string) => digestAuthorization(c, req, { ...creds, username: 'v' }, 1),
      0,
      { ok: false, why: 'unknown_user' },
    ],
    [
      'other uri',
      (c: string) => digestAuthorization(c, { ...req, uri: '/other' }, creds, 1),
      0,
      { ok: false, why: 'uri_mismatch' },
    ],
    [
      'nonce we never issued',
      (c: string) => digestAuthorization(c.replace(/nonce="[0-9a-f]+"/, 'nonce="abcd"'), req, creds, 1),
      0,
      { ok: false, why: 'unknown_nonce' },
    ],
    [
      'expired nonce',
      (c: string) => digestAuthorization(c, req, creds, 1),
      301_000,
      { ok: false, why: 'stale_nonce' },
    ],
    [
      'no qop',
      (c: string) =>
        digestAuthorization(c, req, creds, 1).replace(/, qop=auth, nc=[0-9a-f]+, cnonce="[0-9a-f]+"/, ''),
      0,
      { ok: false, why: 'bad_qop' },
    ],
    ['Basic', () => 'Basic dTpw', 0, { ok: false, why: 'not_digest' }],
    [
      'SHA-256',
      (c: string) => digestAuthorization(c, req, creds, 1).replace('algorithm=MD5', 'algorithm=SHA-256'),
      0,
      { ok: false, why: 'bad_algorithm' },
    ],
  ])('%s', (_name, makeHeader, laterMs, expected) => {
    const auth = new DigestAuthenticator('realm');
    const challenge = auth.challenge(1_000);
    expect(auth.verify(makeHeader(challenge), req, creds, 1_000 + laterMs)).toEqual(expected);
  });

  it('parses quoted parameters with commas and the no-space form agsh sends', () => {
    expect(parseDigestParams('realm="a, b",qop=auth,nc=00000001, cnonce="x\\"y"')).toEqual({
      realm: 'a, b',
      qop: 'auth',
      nc: '00000001',
      cnonce: 'x"y',
    });
  });
});
