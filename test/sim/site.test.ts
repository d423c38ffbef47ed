/**
 * The simulated site as an edge agent will meet it: ONVIF devices that lead, through their
 * profiles, to authenticated RTSP streams of the generated scenes, and live snapshots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRtspFrames } from '../bench/fixtures/test-video.ts';
import { nodeOnvifDevice } from './clients.ts';
import { startSimulatedSite, type SimulatedSite } from './site.ts';

function withCredentials(url: string, user: string, pass: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(pass);
  return u.toString();
}

describe('simulated site', () => {
  let site: SimulatedSite | undefined;

  beforeAll(async () => {
    site = await startSimulatedSite();
  }, 300_000);

  afterAll(async () => {
    await site?.stop();
  });

  it('has three cameras with distinct identities and scenes', () => {
    const cams = site?.cameras ?? [];
    expect(cams.map((c) => c.preset)).toEqual(['village-entrance', 'checkpoint', 'street']);
    expect(new Set(cams.map((c) => c.onvif.endpointReference)).size).toBe(3);
    expect(new Set(cams.map((c) => c.onvif.identity.serial_number)).size).toBe(3);
    for (const cam of cams) {
      const plates = cam.truth.objects.filter((o) => o.kind === 'plate');
      expect(plates.length).toBeGreaterThanOrEqual(3);
    }
  });

  it('leads an ONVIF client from the device to the sub-stream and a live snapshot', async () => {
    const s = site;
    if (s === undefined) throw new Error('site did not start');
    const cam = s.cameras[1];
    if (cam === undefined) throw new Error('no second camera');
    const device = nodeOnvifDevice(cam.onvif.xaddr, s.credentials.username, s.credentials.password);
    await device.init();
    const profiles = device.getProfileList();
    expect(profiles.map((p) => [p.token, p.video.encoder?.resolution])).toEqual([
      ['profile_main', { width: 1920, height: 1080 }],
      ['profile_sub', { width: 1280, height: 720 }],
    ]);
    expect(profiles[1]?.stream.rtsp).toBe(cam.rtspUrl);

    const snap = await device.fetchSnapshot();
    expect(snap.headers['content-type']).toBe('image/jpeg');
    expect(snap.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('streams the scene at 720p over RTSP with the camera credentials, and refuses without', async () => {
    const s = site;
    const cam = s?.cameras[0];
    if (s === undefined || cam === undefined) throw new Error('site did not start');
    const url = withCredentials(cam.rtspUrl, s.credentials.username, s.credentials.password);
    const frames = await readRtspFrames(url, 10, { width: 1280, height: 720 });
    expect(frames.frames).toHaveLength(10);
    expect(frames.bytes).toBe(10 * 1280 * 720);

    await expect(readRtspFrames(cam.rtspUrl, 1, { timeoutMs: 20_000 })).rejects.toThrow(/401|Unauthorized/i);
  });
});
