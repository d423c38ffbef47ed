/**
 * The bench's real services work and leave nothing behind: influxd, Mosquitto, Aedes and the
 * GStreamer RTSP server, each started on loopback, used once for real, and stopped.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from './lifetime.ts';
import {
  BENCH_ERROR_CODES,
  boundSockets,
  isLoopback,
  processGone,
  processGroupGone,
  seriesRows,
  startAedes,
  startInfluxd,
  startMosquitto,
  startRtspServer,
  writeMosquittoPasswordFile,
} from './services/index.ts';
import { waitFor } from './wait.ts';
import { makeTestVideo, readRtspFrames } from './fixtures/test-video.ts';

/** Things to stop after each test even when an assertion failed midway. */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** After a child service's stop(): its pid and process group are gone, and its temp dir too. */
async function expectChildGone(pid: number, tempDir: string): Promise<void> {
  // stop() resolves after the child was reaped, so the leader must be gone already.
  expect(processGone(pid)).toBe(true);
  // Stray group members get SIGKILL at that moment; give the kernel a moment to finish them.
  await waitFor(() => (processGroupGone(pid) ? true : undefined), {
    what: `process group ${pid} gone`,
    timeoutMs: 5000,
  });
  expect(() => process.kill(-pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }) as Error);
  expect(existsSync(tempDir)).toBe(false);
}

function expectLoopbackOnly(pid: number): void {
  const sockets = boundSockets(pid);
  expect(sockets.length).toBeGreaterThan(0);
  expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
}

/** Send one QoS 1 message through a broker and check both ends of the exchange. */
async function qos1RoundTrip(url: string, clientOpts: IClientOptions): Promise<void> {
  const connectOpts: IClientOptions = { reconnectPeriod: 0, connectTimeout: 10_000, ...clientOpts };
  const sub: MqttClient = await mqtt.connectAsync(url, { ...connectOpts, clientId: `sub-${process.pid}` });
  cleanups.push(() => sub.endAsync(true));
  const pub: MqttClient = await mqtt.connectAsync(url, { ...connectOpts, clientId: `pub-${process.pid}` });
  cleanups.push(() => pub.endAsync(true));

  const topic = `bench/${process.pid}/events`;
  const granted = await sub.subscribeAsync(topic, { qos: 1 });
  expect(granted.map((g) => g.qos)).toEqual([1]);

  const subscriberAcked = new Promise<void>((resolve) => {
    sub.on('packetsend', (packet) => {
      if (packet.cmd === 'puback') resolve();
    });
  });
  const received = new Promise<{ payload: string; qos: number }>((resolve) => {
    sub.on('message', (_topic, payload, packet) => {
      resolve({ payload: payload.toString('utf8'), qos: packet.qos });
    });
  });

  const brokerAcked = new Promise<number | undefined>((resolve) => {
    pub.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback') resolve(packet.messageId);
    });
  });

  const body = JSON.stringify({ camera_id: 'cam-1', seq: 1 });
  // publishAsync resolves only once the broker's PUBACK for this packet id has arrived.
  const sent = await pub.publishAsync(topic, body, { qos: 1 });
  expect(sent?.messageId).toBeTypeOf('number');
  expect(await brokerAcked).toBe(sent?.messageId);
  await expect(received).resolves.toEqual({ payload: body, qos: 1 });
  await subscriberAcked;
}

describe('influxd', () => {
  it('stores a point and reads it back with a bound parameter, on loopback only', async () => {
    const influx = await startInfluxd();
    cleanups.push(() => influx.stop());
    expectLoopbackOnly(influx.pid);

    await influx.createDatabase('bench');
    await influx.write('detections,camera_id=cam-1 score=0.93,label="face" 1700000000000', 'bench', 'ms');
    await influx.write('detections,camera_id=cam-2 score=0.5,label="plate" 1700000001000', 'bench', 'ms');

    const series = await influx.query(
      'SELECT score, label, camera_id FROM detections WHERE camera_id = $cam',
      'bench',
      {
        params: { cam: 'cam-1' },
        epoch: 'ms',
      },
    );
    expect(series.map(seriesRows)).toEqual([
      [{ time: 1700000000000, score: 0.93, label: 'face', camera_id: 'cam-1' }],
    ]);

    await expect(influx.query('SELECT FROM', 'bench')).rejects.toMatchObject({
      code: BENCH_ERROR_CODES.INFLUX_REQUEST,
    });
    await expect(influx.createDatabase('x"; DROP')).rejects.toMatchObject({
      code: BENCH_ERROR_CODES.BAD_OPTION,
    });

    await influx.stop();
    await expectChildGone(influx.pid, influx.tempDir);
  });

  it('explains a failed start with the log tail', async () => {
    const dir = makeTempDir('influx-bad');
    cleanups.push(() => {
      dir.remove();
    });
    // A file where influxd wants its meta directory: it must exit with an error.
    const notADir = join(dir.path, 'file');
    writeFileSync(notADir, '');
    const failed = startInfluxd({ dataDir: notADir });
    await expect(failed).rejects.toMatchObject({ code: BENCH_ERROR_CODES.START_FAILED });
    await expect(failed).rejects.toThrow(/influxd exited[\s\S]*last output/);
  });
});

describe('mosquitto', () => {
  it('carries a QoS 1 message (MQTT 5), binds loopback only, and stops cleanly', async () => {
    const broker = await startMosquitto();
    cleanups.push(() => broker.stop());
    expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);
    expectLoopbackOnly(broker.pid);

    await qos1RoundTrip(broker.url, { protocolVersion: 5 });

    await broker.stop();
    await expectChildGone(broker.pid, broker.tempDir);
  });

  it('enforces a password file', async () => {
    const dir = makeTempDir('mosquitto-pw');
    cleanups.push(() => {
      dir.remove();
    });
    const passwordFile = join(dir.path, 'passwd');
    await writeMosquittoPasswordFile(passwordFile, { edge: 'edge-secret' });
    const broker = await startMosquitto({ passwordFile });
    cleanups.push(() => broker.stop());

    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/);
    await expect(
      mqtt.connectAsync(broker.url, { reconnectPeriod: 0, username: 'edge', password: 'wrong' }),
    ).rejects.toThrow(/Not authorized|Bad username or password/i);
    await qos1RoundTrip(broker.url, { username: 'edge', password: 'edge-secret' });
  });

  it('explains a config error with the log tail', async () => {
    await expect(startMosquitto({ extraConfig: 'no_such_option 1' })).rejects.toThrow(
      /mosquitto exited[\s\S]*Unknown configuration variable "no_such_option"/,
    );
  });
});

describe('aedes', () => {
  it('carries a QoS 1 message (MQTT 3.1.1) and closes its port on stop', async () => {
    const broker = await startAedes();
    cleanups.push(() => broker.stop());
    const brokerSawAck = new Promise<void>((resolve) => {
      broker.broker.on('ack', () => {
        resolve();
      });
    });

    await qos1RoundTrip(broker.url, { protocolVersion: 4 });
    // The subscriber's PUBACK reached the broker, which releases the message.
    await brokerSawAck;

    await broker.stop();
    expect(broker.broker.closed).toBe(true);
    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 5000 })).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });

  it('persistenceDir keeps retained messages across a restart', async () => {
    const dir = makeTempDir('aedes-level');
    cleanups.push(() => {
      dir.remove();
    });
    const first = await startAedes({ persistenceDir: dir.path });
    cleanups.push(() => first.stop());
    const pub = await mqtt.connectAsync(first.url, { reconnectPeriod: 0 });
    await pub.publishAsync('bench/retained', 'kept', { qos: 1, retain: true });
    await pub.endAsync();
    await first.stop();

    const second = await startAedes({ persistenceDir: dir.path });
    cleanups.push(() => second.stop());
    const sub = await mqtt.connectAsync(second.url, { reconnectPeriod: 0 });
    cleanups.push(() => sub.endAsync(true));
    const retained = new Promise<string>((resolve) => {
      sub.on('message', (_topic, payload) => {
        resolve(payload.toString('utf8'));
      });
    });
    await sub.subscribeAsync('bench/retained', { qos: 1 });
    await expect(retained).resolves.toBe('kept');
  });
});

describe('rtsp server', () => {
  const clipFrames = 40; // 4 s at 10 fps
  let videoDir: TempDir;
  let video: string;

  beforeAll(async () => {
    videoDir = makeTempDir('rtsp-video');
    video = await makeTestVideo(videoDir.path, { width: 1280, height: 720, fps: 10, seconds: 4, gop: 10 });
  });
  afterAll(() => {
    videoDir.remove();
  });

  it('streams H.264 endlessly: frames keep coming across the loop boundary, seamlessly', async () => {
    const rtsp = await startRtspServer({ mounts: [{ path: '/cam1', file: video }] });
    cleanups.push(() => rtsp.stop());
    expectLoopbackOnly(rtsp.pid);

    const wanted = clipFrames + 20;
    const { frames, ptsSeconds, bytes } = await readRtspFrames(rtsp.url('/cam1'), wanted, {
      timeoutMs: 90_000,
    });
    expect(bytes).toBe(wanted * 64 * 36);
    expect(frames).toHaveLength(wanted);
    // Timestamps never go back at the seam, and run past the clip's length. (showinfo may log
    // one frame more than ffmpeg wrote out.)
    expect(ptsSeconds.length).toBeGreaterThanOrEqual(wanted);
    const pts = ptsSeconds.slice(0, wanted);
    expect(pts.every((t, i) => i === 0 || t >= (pts[i - 1] ?? 0))).toBe(true);
    expect(pts.at(-1)).toBeGreaterThan(4);
    // The second pass decodes to exactly the first: the loop neither drops nor repeats frames.
    for (let i = 0; i + clipFrames < wanted; i++) {
      expect(
        frames[i + clipFrames]?.equals(frames[i] ?? Buffer.alloc(0)),
        `frame ${i + clipFrames} = frame ${i}`,
      ).toBe(true);
    }
    expect(frames[1]?.equals(frames[0] ?? Buffer.alloc(0))).toBe(false);

    await rtsp.stop();
    await expectChildGone(rtsp.pid, rtsp.tempDir);
  });

  it('serves MJPEG, a mount behind RTSP auth, and a shared mount to two clients at once', async () => {
    const auth = { user: 'viewer', password: 'p@ss word' };
    const rtsp = await startRtspServer({
      mounts: [
        { path: '/mjpeg', file: video, codec: 'mjpeg' },
        { path: '/secure', file: video, auth },
        { path: '/shared', file: video, shared: true },
      ],
    });
    cleanups.push(() => rtsp.stop());

    const [first, second] = await Promise.all([
      readRtspFrames(rtsp.url('/shared'), 20),
      readRtspFrames(rtsp.url('/shared'), 10),
    ]);
    expect([first.frames.length, second.frames.length]).toEqual([20, 10]);

    const mjpeg = await readRtspFrames(rtsp.url('/mjpeg'), clipFrames + 5, { timeoutMs: 90_000 });
    expect(mjpeg.frames).toHaveLength(clipFrames + 5);

    await expect(readRtspFrames(rtsp.url('/secure'), 1)).rejects.toThrow(/401 Unauthorized/);
    await expect(readRtspFrames(rtsp.url('/secure', { ...auth, password: 'nope' }), 1)).rejects.toThrow(
      /401 Unauthorized/,
    );
    const secure = await readRtspFrames(rtsp.url('/secure', auth), 5);
    expect(secure.frames).toHaveLength(5);
  });

  it('refuses a missing input file before starting anything', async () => {
    await expect(
      startRtspServer({ mounts: [{ path: '/cam1', file: join(videoDir.path, 'missing.mp4') }] }),
    ).rejects.toMatchObject({ code: BENCH_ERROR_CODES.BAD_OPTION });
  });

  it('explains a file it cannot serve with the log tail', async () => {
    const junk = join(videoDir.path, 'junk.mp4');
    writeFileSync(junk, 'not a video');
    await expect(startRtspServer({ mounts: [{ path: '/cam1', file: junk }] })).rejects.toThrow(
      /rtsp-server exited[\s\S]*cannot read/,
    );
  });
});
