/**
 * The agent's snapshot service against real pieces: a simulated ONVIF camera (test/sim) found by
 * the agent's own Discovery (unicast, loopback), the real ONVIF snapshot fetch (HTTP Digest, in
 * discovery's bounded worker), real sharp for the JPEGs, and frames delivered through
 * LatestFrames.tap as the camera supervisor delivers them. Checks which picture answers (latest
 * analysed frame, else the camera's ONVIF snapshot), the bounds (bytes, width), the per-target
 * sharing and rate limit, BUSY, TIMEOUT, AUTH_FAILED, NOT_FOUND and BAD_REQUEST.
 */
import { afterEach, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { Registry } from 'prom-client';
import { CameraIdentity } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { SnapshotOrigin, SnapshotRequest, SnapshotStatus } from '../../../proto/gen/sharpeyes/v1/snapshot.ts';
import type { FrameSink } from '../../../edge-agent/src/cameras/supervisor.ts';
import type { Frame } from '../../../edge-agent/src/capture/index.ts';
import type { CameraPlan } from '../../../edge-agent/src/config/merge.ts';
import { Discovery } from '../../../edge-agent/src/discovery/discovery.ts';
import { silentLogger } from '../../../edge-agent/src/log.ts';
import { LatestFrames, SnapshotService } from '../../../edge-agent/src/snapshot/index.ts';
import { startOnvifCamera, type OnvifCamera } from '../../sim/onvif/index.ts';
import {
  CameraPool,
  TEST_PASSWORD,
  TEST_USER,
  testCameraOptions,
  testEndpointReference,
} from '../../sim/sim-fixtures.ts';
import { waitFor } from '../../bench/wait.ts';

const pool = new CameraPool();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await pool.stopAll();
});

/** A 1920×1080 JPEG of noise (so it does not compress to nothing): ~800 KB at quality 50. */
async function bigJpeg(quality = 50): Promise<Buffer> {
  const w = 1920;
  const h = 1080;
  const data = Buffer.alloc(w * h * 3);
  let x = 12345;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    data[i] = (x >> 16) & 0xff;
  }
  return sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}

/** A 1280×720 frame: a horizontal gradient, with `noise` added (incompressible when high). */
function frame(seq: number, capturedAtMs: number, noise = 0): Frame {
  const width = 1280;
  const height = 720;
  const data = Buffer.alloc(width * height * 3);
  let x = seq + 7;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const n = noise === 0 ? 0 : ((x >> 16) % noise) - noise / 2;
      const o = (y * width + i) * 3;
      data[o] = Math.max(0, Math.min(255, (i / width) * 255 + n));
      data[o + 1] = Math.max(0, Math.min(255, (y / height) * 255 + n));
      data[o + 2] = 128;
    }
  }
  return { data, width, height, seq, capturedAtMs };
}

/** Deliver `frames` for `cameraId` through a tapped sink; the sink holds the last one until released. */
function deliver(latest: LatestFrames, cameraId: string, frames: Frame[]): () => void {
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => {
    release = r;
  });
  const sink: FrameSink = {
    async consume(_id, gen) {
      for await (const _f of gen) {
        // Taken.
      }
    },
  };
  async function* source(): AsyncGenerator<Frame, void, undefined> {
    for (const f of frames) yield f;
    await held;
  }
  const done = latest.tap(sink).consume(cameraId, source());
  cleanups.push(async () => {
    release();
    await done;
  });
  return release;
}

async function startDiscovery(cam: OnvifCamera): Promise<Discovery> {
  const discovery = new Discovery({
    unicastTargets: [{ host: '127.0.0.1', port: cam.discoveryPort ?? 0 }],
    credentialsFor: () => ({ username: TEST_USER, password: TEST_PASSWORD }),
    reprobeIntervalMs: 3_600_000,
    logger: silentLogger(),
  });
  cleanups.push(() => discovery.stop());
  await discovery.start();
  await discovery.probeNow();
  await waitFor(() => (discovery.devices().some((d) => d.access === 'ok') ? true : undefined), {
    what: 'the camera described',
    timeoutMs: 30_000,
  });
  return discovery;
}

function request(over: Partial<SnapshotRequest> = {}): SnapshotRequest {
  return SnapshotRequest.fromPartial({ requestId: 'r1', replyTo: 'gw', timeoutMs: 10_000, ...over });
}

const deviceTarget = (index: number) =>
  ({
    $case: 'device',
    value: CameraIdentity.fromPartial({ endpointReference: testEndpointReference(index) }),
  }) as const;

describe('snapshot service', () => {
  it('answers a camera from its latest analysed frame, within the bounds, else from ONVIF', async () => {
    const jpeg = await bigJpeg();
    const cam = pool.add(await startOnvifCamera(testCameraOptions(41, { snapshot: () => jpeg })));
    const discovery = await startDiscovery(cam);
    const latest = new LatestFrames();
    const plans: CameraPlan[] = [
      { cameraId: 'gate-1', enabled: true, endpointReference: testEndpointReference(41) },
    ];
    const registry = new Registry();
    const service = new SnapshotService({
      siteId: 'v1',
      plans: () => plans,
      discovery,
      frames: latest,
      logger: silentLogger(),
      registry,
      minIntervalMs: 0,
    });

    // No frame yet: the camera's ONVIF snapshot, downscaled to the width asked for.
    const onvif = await service.handle(
      request({ target: { $case: 'cameraId', value: 'gate-1' }, maxWidth: 640 }),
    );
    expect(onvif).toMatchObject({
      requestId: 'r1',
      siteId: 'v1',
      status: SnapshotStatus.SNAPSHOT_STATUS_OK,
      origin: SnapshotOrigin.SNAPSHOT_ORIGIN_ONVIF,
      width: 640,
      height: 360,
    });
    expect((await sharp(onvif.jpeg).metadata()).width).toBe(640);
    // HTTP requests of one fetch (the Digest challenge, then the authorised one).
    const perFetch = cam.stats().snapshot_requests;
    expect(perFetch).toBeGreaterThan(0);

    // A JPEG that fits is passed through untouched.
    const whole = await service.handle(
      request({ target: { $case: 'cameraId', value: 'gate-1' }, maxBytes: 1_048_576 }),
    );
    expect(Buffer.compare(Buffer.from(whole.jpeg), jpeg)).toBe(0);

    // With frames flowing: the latest analysed frame, no request to the camera.
    const now = Date.now();
    deliver(latest, 'gate-1', [frame(1, now - 100), frame(2, now)]);
    await waitFor(() => (latest.latest('gate-1')?.seq === 2 ? true : undefined), { what: 'frame 2' });
    const fromFrame = await service.handle(
      request({ target: { $case: 'cameraId', value: 'gate-1' }, maxBytes: 200_000 }),
    );
    expect(fromFrame).toMatchObject({
      status: SnapshotStatus.SNAPSHOT_STATUS_OK,
      origin: SnapshotOrigin.SNAPSHOT_ORIGIN_ANALYSIS_FRAME,
      takenMs: now,
      width: 1280,
      height: 720,
    });
    expect(fromFrame.jpeg.length).toBeLessThanOrEqual(200_000);
    expect((await sharp(fromFrame.jpeg).metadata()).format).toBe('jpeg');
    // The same camera asked by its device identity: the frame too.
    const byDevice = await service.handle(request({ target: deviceTarget(41) }));
    expect(byDevice.origin).toBe(SnapshotOrigin.SNAPSHOT_ORIGIN_ANALYSIS_FRAME);
    expect(cam.stats().snapshot_requests).toBe(2 * perFetch);

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/sharpeyes_edge_snapshot_requests_total\{outcome="ok",origin="onvif"\} 2/);
    expect(metrics).toMatch(
      /sharpeyes_edge_snapshot_requests_total\{outcome="ok",origin="analysis_frame"\} 2/,
    );
  }, 60_000);

  it('downscales a frame to fit max_bytes, and says TOO_LARGE when it cannot', async () => {
    const latest = new LatestFrames();
    deliver(latest, 'noisy', [frame(1, Date.now(), 120)]);
    await waitFor(() => (latest.latest('noisy') !== undefined ? true : undefined), { what: 'the frame' });
    const service = new SnapshotService({
      siteId: 'v1',
      plans: () => [],
      discovery: { devices: () => [], fetchSnapshot: () => Promise.reject(new Error('unused')) },
      frames: latest,
      logger: silentLogger(),
      minIntervalMs: 0,
    });
    const small = await service.handle(
      request({ target: { $case: 'cameraId', value: 'noisy' }, maxBytes: 40_000 }),
    );
    expect(small.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_OK);
    expect(small.jpeg.length).toBeLessThanOrEqual(40_000);
    expect(small.width).toBeLessThan(1280);
    expect(small.height).toBe(Math.round((720 * small.width) / 1280));
    const tiny = await service.handle(
      request({ target: { $case: 'cameraId', value: 'noisy' }, maxBytes: 300 }),
    );
    expect(tiny.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_TOO_LARGE);
    expect(tiny.jpeg.length).toBe(0);
    expect(tiny.message).toMatch(/over the 300 asked for/);
  }, 60_000);

  it('shares one picture among requests for the same target, and rate-limits it', async () => {
    const jpeg = await bigJpeg();
    const cam = pool.add(
      await startOnvifCamera(
        testCameraOptions(42, {
          snapshot: async () => {
            await new Promise((r) => setTimeout(r, 300));
            return jpeg;
          },
        }),
      ),
    );
    const discovery = await startDiscovery(cam);
    const service = new SnapshotService({
      siteId: 'v1',
      plans: () => [],
      discovery,
      frames: new LatestFrames(),
      logger: silentLogger(),
      minIntervalMs: 60_000,
    });
    const before = cam.stats().snapshot_requests;
    const [a, b] = await Promise.all([
      service.handle(request({ requestId: 'a', target: deviceTarget(42) })),
      service.handle(request({ requestId: 'b', target: deviceTarget(42) })),
    ]);
    expect(a.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_OK);
    expect(b).toMatchObject({ requestId: 'b', status: SnapshotStatus.SNAPSHOT_STATUS_OK });
    expect(Buffer.compare(Buffer.from(a.jpeg), Buffer.from(b.jpeg))).toBe(0);
    const perFetch = cam.stats().snapshot_requests - before;
    // Within the interval: the same picture again, and other bounds are BUSY.
    const again = await service.handle(request({ requestId: 'c', target: deviceTarget(42) }));
    expect(again.takenMs).toBe(a.takenMs);
    const other = await service.handle(request({ requestId: 'd', target: deviceTarget(42), maxWidth: 320 }));
    expect(other.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_BUSY);
    expect(other.retryAfterMs).toBeGreaterThan(0);
    // One fetch from the camera for all four requests (a Digest exchange is at most 2 requests).
    expect(perFetch).toBeLessThanOrEqual(2);
    expect(cam.stats().snapshot_requests - before).toBe(perFetch);
  }, 60_000);

  it('says BUSY past the concurrency bound, TIMEOUT past the timeout, AUTH_FAILED when refused', async () => {
    const jpeg = await bigJpeg();
    const cam = pool.add(await startOnvifCamera(testCameraOptions(43, { snapshot: () => jpeg })));
    const discovery = await startDiscovery(cam);
    const latest = new LatestFrames();
    deliver(latest, 'other', [frame(1, Date.now())]);
    await waitFor(() => (latest.latest('other') !== undefined ? true : undefined), { what: 'the frame' });
    const service = new SnapshotService({
      siteId: 'v1',
      plans: () => [],
      discovery,
      frames: latest,
      logger: silentLogger(),
      minIntervalMs: 0,
      maxConcurrent: 1,
      // The frame stays "live" through the slow fetch below.
      maxFrameAgeMs: 120_000,
    });
    cam.setFault({ kind: 'slow', delay_ms: 1500 });
    const slow = service.handle(request({ requestId: 's', target: deviceTarget(43), timeoutMs: 500 }));
    const busy = await service.handle(request({ target: { $case: 'cameraId', value: 'other' } }));
    expect(busy.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_BUSY);
    const timedOut = await slow;
    expect(timedOut).toMatchObject({ requestId: 's', status: SnapshotStatus.SNAPSHOT_STATUS_TIMEOUT });
    expect(timedOut.message).toMatch(/within 500 ms/);
    // The slot is held until the camera's answer actually ends, then freed.
    await waitFor(() => (service.inFlight() === 0 ? true : undefined), {
      what: 'the slow fetch to end',
      timeoutMs: 20_000,
    });
    const ok = await service.handle(request({ target: { $case: 'cameraId', value: 'other' } }));
    expect(ok.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_OK);

    cam.setFault({ kind: 'wrong_credentials' });
    const refused = await service.handle(request({ target: deviceTarget(43) }));
    expect(refused.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_AUTH_FAILED);
    expect(refused.message).not.toContain(TEST_PASSWORD);
  }, 60_000);

  it('says NOT_FOUND for what the agent does not know, BAD_REQUEST without a target', async () => {
    const service = new SnapshotService({
      siteId: 'v1',
      plans: () => [{ cameraId: 'planned', enabled: true, endpointReference: 'urn:uuid:9' }],
      discovery: { devices: () => [], fetchSnapshot: () => Promise.reject(new Error('unused')) },
      frames: new LatestFrames(),
      logger: silentLogger(),
    });
    expect((await service.handle(request({ target: { $case: 'cameraId', value: 'nope' } }))).status).toBe(
      SnapshotStatus.SNAPSHOT_STATUS_NOT_FOUND,
    );
    expect((await service.handle(request({ target: deviceTarget(99) }))).status).toBe(
      SnapshotStatus.SNAPSHOT_STATUS_NOT_FOUND,
    );
    // Planned but neither captured nor discovered: known, but no picture.
    const planned = await service.handle(request({ target: { $case: 'cameraId', value: 'planned' } }));
    expect(planned.status).toBe(SnapshotStatus.SNAPSHOT_STATUS_UNAVAILABLE);
    expect(planned.message).toMatch(/no recent frame/);
    expect((await service.handle(request())).status).toBe(SnapshotStatus.SNAPSHOT_STATUS_BAD_REQUEST);
  });
});
