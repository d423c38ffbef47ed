/**
 * Live snapshots end to end, nothing faked: the gateway's embedded Aedes broker (its real site
 * authentication and topic ACL), the gateway's MqttSnapshotSource on the internal listener, a
 * real edge agent (startEdgeApp: discovery, MQTT link, snapshot service) logged in as its site,
 * and a simulated ONVIF camera on loopback whose snapshot URI the agent fetches with HTTP Digest.
 * The camera is registered but disabled (no capture: nothing listens on its RTSP URI), so the
 * pictures come from its ONVIF snapshot; the analysed-frame path is covered by
 * test/edge/snapshot and by the UI acceptance flow.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topic } from '../../../proto/topics.ts';
import { startEdgeApp, type EdgeApp } from '../../../edge-agent/src/app.ts';
import { parseConfig } from '../../../edge-agent/src/config/load.ts';
import { silentLogger as edgeSilentLogger } from '../../../edge-agent/src/log.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { silentLogger } from '../../../gateway/src/log.ts';
import { MqttSnapshotSource } from '../../../gateway/src/wiring/snapshots.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';
import { waitFor } from '../../bench/wait.ts';
import { startOnvifCamera, type OnvifCamera } from '../../sim/onvif/index.ts';
import {
  TEST_PASSWORD,
  TEST_USER,
  testCameraOptions,
  testEndpointReference,
} from '../../sim/sim-fixtures.ts';
import {
  connectSite,
  GATEWAY_USER,
  siteEntries,
  sitePassword,
  startTestBroker,
  type TestBroker,
} from '../fixtures/broker.ts';

const SITE = 'village-7';
const OTHER = 'checkpoint-2';
const CAMERA = 'v7-gate';

let tmp: TempDir;
let broker: TestBroker;
let cam: OnvifCamera;
let edge: EdgeApp | undefined;
let source: MqttSnapshotSource;
let picture: Buffer;

/** The site of each camera the gateway knows (its registry, in the app). */
const SITES: Record<string, string> = { [CAMERA]: SITE, 'v7-ghost': SITE, 'cp-1': OTHER };

beforeAll(async () => {
  tmp = makeTempDir('snapshots-e2e');
  picture = await sharp({
    create: { width: 640, height: 360, channels: 3, background: { r: 30, g: 120, b: 200 } },
  })
    .jpeg({ quality: 80 })
    .toBuffer();
  broker = await startTestBroker(await siteEntries([SITE, OTHER]));
  cam = await startOnvifCamera(
    testCameraOptions(61, {
      snapshot: () => picture,
      // Nothing listens here: the camera is never captured in this test.
      profiles: testCameraOptions(61).profiles.map((p) => ({ ...p, rtsp_uri: 'rtsp://127.0.0.1:9/none' })),
    }),
  );
  const config = parseConfig({
    site_id: SITE,
    data_dir: join(tmp.path, 'edge'),
    http: { port: 0 },
    detect: { face: false, plate: false },
    default_credentials: { username: TEST_USER, password: { value: TEST_PASSWORD } },
    discovery: { unicast_targets: [{ host: '127.0.0.1', port: cam.discoveryPort ?? 0 }] },
    cameras: [{ camera_id: CAMERA, endpoint_reference: testEndpointReference(61), enabled: false }],
    mqtt: {
      url: broker.broker.url,
      password_env: 'SE_TEST_MQTT_PASSWORD',
      reconnect_initial_ms: 50,
      reconnect_max_ms: 500,
    },
  });
  edge = await startEdgeApp({
    config,
    logger: edgeSilentLogger(),
    env: { ...process.env, SE_TEST_MQTT_PASSWORD: sitePassword(SITE) },
  });
  source = new MqttSnapshotSource({
    url: broker.broker.internalUrl,
    clientId: '@gateway-snapshots',
    username: GATEWAY_USER.username,
    password: GATEWAY_USER.password,
    reconnectPeriodMs: 200,
    siteOfCamera: (id) => SITES[id],
    logger: silentLogger(),
    timeoutMs: 4000,
  });
  const running = edge;
  await waitFor(
    () =>
      source.ready &&
      running.transport?.link.isConnected() === true &&
      running.discovery.devices().some((d) => d.access === 'ok')
        ? true
        : undefined,
    { what: 'gateway and edge connected, camera described', timeoutMs: 30_000 },
  );
}, 60_000);

afterAll(async () => {
  await source.stop();
  await edge?.stop();
  await cam.stop();
  await broker.stop();
  tmp.remove();
});

const never = (): AbortSignal => new AbortController().signal;

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isGatewayError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('live snapshots through the edge over MQTT', () => {
  it('fetches a registered camera’s picture, and a discovered device’s', async () => {
    // The first request may meet the edge's subscription still being made: retry briefly.
    const shot = await waitFor(async () => source.snapshot(CAMERA, never()).catch(() => undefined), {
      what: 'a first snapshot',
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    // A JPEG that fits the bounds comes through byte for byte.
    expect(Buffer.compare(Buffer.from(shot.jpeg), picture)).toBe(0);
    expect(shot.takenMs).toBeGreaterThan(Date.now() - 60_000);
    const device = await source.deviceSnapshot(
      SITE,
      { endpointReference: testEndpointReference(61), serialNumber: '' },
      never(),
    );
    expect(Buffer.compare(Buffer.from(device.jpeg), picture)).toBe(0);
    expect(source.pending()).toBe(0);
  }, 60_000);

  it('reports what the edge cannot do, an edge that does not answer, and a cancelled call', async () => {
    const unknown = await refusal(source.snapshot('v7-ghost', never()));
    expect(unknown.code).toBe('GATEWAY_ERR_UNAVAILABLE');
    expect(unknown.message).toMatch(/EDGE_NOT_FOUND: the edge of site village-7 answered: .*camera v7-ghost/);
    const noDevice = await refusal(
      source.deviceSnapshot(SITE, { endpointReference: 'urn:uuid:00000000-dead', serialNumber: '' }, never()),
    );
    expect(noDevice.message).toMatch(/EDGE_NOT_FOUND/);
    // No edge of checkpoint-2 is connected: nobody answers.
    const silent = await refusal(source.snapshot('cp-1', never()));
    expect(silent).toMatchObject({ code: 'GATEWAY_ERR_UNAVAILABLE' });
    expect(silent.message).toMatch(/the edge of site checkpoint-2 did not answer .* within 4000 ms/);
    // Unknown to the gateway: not found, nothing sent.
    expect((await refusal(source.snapshot('nowhere', never()))).code).toBe('GATEWAY_ERR_NOT_FOUND');

    const ac = new AbortController();
    cam.setFault({ kind: 'slow', delay_ms: 1500 });
    try {
      const p = source.snapshot(CAMERA, ac.signal);
      ac.abort();
      const cancelled = await refusal(p);
      expect(cancelled).toMatchObject({ code: 'GATEWAY_ERR_UNAVAILABLE' });
      expect(cancelled.message).toMatch(/cancelled/);
      expect(source.pending()).toBe(0);
    } finally {
      cam.setFault({ kind: 'none' });
    }
  }, 60_000);

  it('keeps another site out: it cannot read the requests nor answer for the site', async () => {
    const other = await connectSite(broker.broker.url, OTHER);
    try {
      // SUBACK 0x80, which mqtt.js reports as an error.
      await expect(other.subscribeAsync(topic.snapshotRequest(SITE), { qos: 0 })).rejects.toThrow(
        /Subscribe error/,
      );
      // Publishing under another site's prefix costs the connection (MQTT 3.1.1 has no NACK).
      const closed = new Promise<void>((resolve) =>
        other.once('close', () => {
          resolve();
        }),
      );
      other.publish(topic.snapshotResponse(SITE, source.replyTo), Buffer.from('forged'), { qos: 0 });
      await closed;
    } finally {
      await other.endAsync(true);
    }
    // The genuine edge still answers.
    await waitFor(async () => source.snapshot(CAMERA, never()).catch(() => undefined), {
      what: 'a snapshot after the forgery',
      timeoutMs: 20_000,
      intervalMs: 200,
    });
  }, 60_000);
});
