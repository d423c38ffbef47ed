/**
 * The simulator against the two real ONVIF client libraries: node-onvif (what the edge agent
 * uses) and agsh onvif. Everything over real HTTP on loopback.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { makeTempDir } from '../bench/lifetime.ts';
import {
  agshConnect,
  agshDeviceInformation,
  agshSnapshotUri,
  agshStreamUri,
  nodeOnvifDevice,
} from './clients.ts';
import { defaultSnapshotJpeg, looksLikeJpeg, startOnvifCamera } from './onvif/index.ts';
import { CameraPool, TEST_PASSWORD, TEST_USER, testCameraOptions } from './sim-fixtures.ts';

const pool = new CameraPool();
afterEach(async () => {
  await pool.stopAll();
});

describe('node-onvif against the simulator', () => {
  it('init() lists both profiles with their resolutions, RTSP URIs and device information', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(1)));
    const device = nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD);
    const info = await device.init();

    expect(info).toMatchObject({
      Manufacturer: 'Sharpeyes Sim',
      Model: 'SE-IPC-2000',
      FirmwareVersion: '1.2.3',
      SerialNumber: 'SN-1001',
      HardwareId: 'HW-2000-A',
    });
    const profiles = device.getProfileList();
    expect(
      profiles.map((p) => [p.token, p.name, p.video.encoder?.resolution, p.video.encoder?.framerate]),
    ).toEqual([
      ['profile_main', 'MainStream', { width: 1920, height: 1080 }, 25],
      ['profile_sub', 'SubStream', { width: 1280, height: 720 }, 15],
    ]);
    expect(profiles.map((p) => p.video.encoder?.encoding)).toEqual(['H264', 'H264']);
    expect(profiles.map((p) => p.stream.rtsp)).toEqual([
      'rtsp://127.0.0.1:8554/cam1',
      'rtsp://127.0.0.1:8554/cam1_sub',
    ]);
    expect(profiles[0]?.snapshot).toBe(`http://127.0.0.1:${cam.httpPort}/onvif/snapshot/profile_main`);
    expect(cam.stats().auth_failures).toBe(0);
  });

  it('fetchSnapshot() returns the configured JPEG file through HTTP Digest', async () => {
    const dir = makeTempDir('onvif-snapshot');
    try {
      const jpeg = defaultSnapshotJpeg('file-backed snapshot');
      const file = join(dir.path, 'snap.jpg');
      writeFileSync(file, jpeg);
      const cam = pool.add(await startOnvifCamera(testCameraOptions(2, { snapshot: file })));
      const device = nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD);
      await device.init();
      const snap = await device.fetchSnapshot();
      expect(snap.headers['content-type']).toBe('image/jpeg');
      expect(Buffer.compare(snap.body, jpeg)).toBe(0);
      expect(cam.stats().snapshot_requests).toBe(2); // the 401 challenge, then the authorised GET
    } finally {
      dir.remove();
    }
  });

  it('fetchSnapshot() returns the bytes of a snapshot function, per profile', async () => {
    const calls: string[] = [];
    const cam = pool.add(
      await startOnvifCamera(
        testCameraOptions(3, {
          snapshot: (token) => {
            calls.push(token);
            return defaultSnapshotJpeg(`fn ${token}`);
          },
        }),
      ),
    );
    const device = nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD);
    await device.init();
    device.changeProfile('profile_sub');
    const snap = await device.fetchSnapshot();
    expect(looksLikeJpeg(snap.body)).toBe(true);
    expect(Buffer.compare(snap.body, defaultSnapshotJpeg('fn profile_sub'))).toBe(0);
    expect(calls).toEqual(['profile_sub']);
  });

  it('the built-in snapshot is a JPEG that ffprobe decodes', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(4)));
    const device = nodeOnvifDevice(cam.xaddr, TEST_USER, TEST_PASSWORD);
    await device.init();
    const snap = await device.fetchSnapshot();
    const probe = spawnSync(
      '/usr/bin/ffprobe',
      ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', '-i', 'pipe:0'],
      { input: snap.body, encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    expect(probe.stdout.trim()).toBe('mjpeg,16,16');
  });

  it('wrong password: init() rejects with the NotAuthorized fault and no snapshot is served', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(5)));
    const device = nodeOnvifDevice(cam.xaddr, TEST_USER, 'not-the-password');
    await expect(device.init()).rejects.toThrow(/400 Bad Request - Sender not Authorized/);
    expect(cam.stats().auth_failures).toBeGreaterThan(0);
  });

  it('wrong user name is refused the same way', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(6)));
    const device = nodeOnvifDevice(cam.xaddr, 'operator', TEST_PASSWORD);
    await expect(device.init()).rejects.toThrow(/Sender not Authorized/);
  });
});

describe('agsh onvif against the simulator', () => {
  it('connects and reads stream URI, snapshot URI and device information', async () => {
    const sim = pool.add(await startOnvifCamera(testCameraOptions(7)));
    const cam = await agshConnect({
      hostname: sim.host,
      port: sim.httpPort,
      username: TEST_USER,
      password: TEST_PASSWORD,
    });

    expect(cam.profiles?.map((p) => (p.$ as { token: string }).token)).toEqual([
      'profile_main',
      'profile_sub',
    ]);
    expect(cam.activeSource).toMatchObject({
      sourceToken: 'VideoSource_1',
      profileToken: 'profile_main',
      width: 1920,
      height: 1080,
    });
    expect(cam.uri?.media?.href).toBe(sim.mediaXaddr);

    expect((await agshStreamUri(cam)).uri).toBe('rtsp://127.0.0.1:8554/cam7');
    expect((await agshStreamUri(cam, 'profile_sub')).uri).toBe('rtsp://127.0.0.1:8554/cam7_sub');
    expect((await agshSnapshotUri(cam)).uri).toBe(
      `http://127.0.0.1:${sim.httpPort}/onvif/snapshot/profile_main`,
    );
    const info = await agshDeviceInformation(cam);
    expect(info).toMatchObject({
      manufacturer: 'Sharpeyes Sim',
      model: 'SE-IPC-2000',
      firmwareVersion: '1.2.3',
      serialNumber: 'SN-1007',
      hardwareId: 'HW-2000-A',
    });
    expect(sim.stats().auth_failures).toBe(0);
  });

  it('an unknown profile token is the ter:NoProfile fault', async () => {
    const sim = pool.add(await startOnvifCamera(testCameraOptions(8)));
    const cam = await agshConnect({
      hostname: sim.host,
      port: sim.httpPort,
      username: TEST_USER,
      password: TEST_PASSWORD,
    });
    await expect(agshStreamUri(cam, 'nope')).rejects.toThrow(
      /ONVIF SOAP Fault: The requested profile token nope does not exist/,
    );
  });

  it('wrong password: connect fails with the NotAuthorized SOAP fault', async () => {
    const sim = pool.add(await startOnvifCamera(testCameraOptions(9)));
    await expect(
      agshConnect({ hostname: sim.host, port: sim.httpPort, username: TEST_USER, password: 'wrong' }),
    ).rejects.toThrow(/ONVIF SOAP Fault: Sender not Authorized/);
  });
});
