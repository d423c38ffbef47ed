/**
 * The node-onvif adapter against real simulated cameras (and a hostile HTTP server): what it
 * reads, and the typed errors it turns failures into.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { OnvifAdapter } from '../../edge-agent/src/discovery/onvif-adapter.ts';
import { EdgeError, type EdgeErrorCode } from '../../edge-agent/src/errors.ts';
import { freePort } from '../bench/wait.ts';
import { looksLikeJpeg, startOnvifCamera } from '../sim/onvif/index.ts';
import { CameraPool, TEST_PASSWORD, TEST_USER, testCameraOptions } from '../sim/sim-fixtures.ts';
import { startHostileHttpServer, type HostileHttpServer } from './fixtures/discovery-hostile-http.ts';

const CREDS = { username: TEST_USER, password: TEST_PASSWORD };
const pool = new CameraPool();
const servers: HostileHttpServer[] = [];
const adapter = new OnvifAdapter({ timeoutMs: 10_000, requestTimeoutMs: 2_000 });

afterEach(async () => {
  await pool.stopAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await adapter.close();
});

async function failure(p: Promise<unknown>): Promise<EdgeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    return err as EdgeError;
  }
  throw new Error('expected the call to fail');
}

describe('OnvifAdapter.describe', () => {
  it('reads device information, every profile, stream and snapshot URIs, and picks the 720p sub-stream', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(7)));
    const d = await adapter.describe(cam.xaddr, CREDS);
    expect(d.information).toEqual({
      manufacturer: 'Sharpeyes Sim',
      model: 'SE-IPC-2000',
      firmwareVersion: '1.2.3',
      serialNumber: 'SN-1007',
      hardwareId: 'HW-2000-A',
    });
    expect(d.profiles).toEqual([
      {
        token: 'profile_main',
        name: 'MainStream',
        encoding: 'H264',
        width: 1920,
        height: 1080,
        fps: 25,
        streamUri: 'rtsp://127.0.0.1:8554/cam7',
        snapshotUri: `http://127.0.0.1:${cam.httpPort}/onvif/snapshot/profile_main`,
      },
      {
        token: 'profile_sub',
        name: 'SubStream',
        encoding: 'H264',
        width: 1280,
        height: 720,
        fps: 15,
        streamUri: 'rtsp://127.0.0.1:8554/cam7_sub',
        snapshotUri: `http://127.0.0.1:${cam.httpPort}/onvif/snapshot/profile_sub`,
      },
    ]);
    expect(d.analysisProfileToken).toBe('profile_sub');
    expect(d.snapshotUri).toBe(`http://127.0.0.1:${cam.httpPort}/onvif/snapshot/profile_sub`);
  });

  it.each<[string, EdgeErrorCode, RegExp, () => Promise<string>]>([
    [
      'wrong password',
      'EDGE_ERR_ONVIF_AUTH',
      /refused our ONVIF credentials.*Sender not Authorized/,
      async () => {
        const cam = pool.add(
          await startOnvifCamera(testCameraOptions(1, { fault: { kind: 'wrong_credentials' } })),
        );
        return cam.xaddr;
      },
    ],
    [
      'connection refused',
      'EDGE_ERR_ONVIF_UNREACHABLE',
      /does not answer.*ECONNREFUSED/,
      async () => `http://127.0.0.1:${await freePort()}/onvif/device_service`,
    ],
    [
      'silent camera',
      'EDGE_ERR_ONVIF_TIMEOUT',
      /did not answer in time/,
      async () => {
        const cam = pool.add(await startOnvifCamera(testCameraOptions(2, { fault: { kind: 'silent' } })));
        return cam.xaddr;
      },
    ],
    ['not an http address', 'EDGE_ERR_ONVIF_PROTOCOL', /http/, () => Promise.resolve('rtsp://127.0.0.1/x')],
  ])('%s → %s', async (_name, code, message, xaddr) => {
    const err = await failure(adapter.describe(await xaddr(), CREDS));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(TEST_PASSWORD);
  });

  it('without credentials, a camera that requires them is an auth failure', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(3)));
    const err = await failure(adapter.describe(cam.xaddr, undefined));
    expect(err.code).toBe('EDGE_ERR_ONVIF_AUTH');
  });
});

describe('OnvifAdapter.fetchSnapshot', () => {
  it('fetches a JPEG behind HTTP Digest, repeatedly', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(4)));
    const d = await adapter.describe(cam.xaddr, CREDS);
    for (let i = 0; i < 3; i++) {
      const snap = await adapter.fetchSnapshot(d.snapshotUri, CREDS);
      expect(snap.contentType).toBe('image/jpeg');
      expect(looksLikeJpeg(snap.body)).toBe(true);
    }
    expect(cam.stats().snapshot_requests).toBeGreaterThanOrEqual(3);
  });

  it('wrong credentials → AUTH (401)', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(5)));
    const d = await adapter.describe(cam.xaddr, CREDS);
    const err = await failure(
      adapter.fetchSnapshot(d.snapshotUri, { username: TEST_USER, password: 'nope' }),
    );
    expect(err.code).toBe('EDGE_ERR_ONVIF_AUTH');
  });

  it('a 50 MB snapshot → TOO_LARGE, and the server did not get to send it all', async () => {
    const huge = await startHostileHttpServer({ kind: 'huge' });
    servers.push(huge);
    const err = await failure(adapter.fetchSnapshot(huge.snapshotUri, CREDS));
    expect(err.code).toBe('EDGE_ERR_ONVIF_TOO_LARGE');
    expect(huge.stats().bytesSent).toBeLessThan(50 * 1024 * 1024);
  });

  it('a snapshot that never ends → TIMEOUT within the hard limit', async () => {
    const endless = await startHostileHttpServer({ kind: 'endless' });
    servers.push(endless);
    const quick = new OnvifAdapter({ timeoutMs: 2_000, requestTimeoutMs: 1_000 });
    const started = Date.now();
    const err = await failure(quick.fetchSnapshot(endless.snapshotUri, CREDS));
    expect(err.code).toBe('EDGE_ERR_ONVIF_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
