/**
 * The edge's MQTT link against real brokers — embedded Aedes and Mosquitto — with the real spool:
 * events arrive exactly as sent (live: one per message); a broker stopped and started again, and
 * a link cut through the TCP proxy, lose nothing and deliver in order (backlog: in batches); the
 * last will goes OFFLINE when the link is cut; agent, camera and discovered statuses are retained;
 * a SiteConfig on the config topic is applied live (a fake applySiteConfig records the calls);
 * per-site credentials, and TLS with a client certificate.
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentState, CameraState } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { DeviceAccess, type DiscoveredDevices } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { encodePayload, filter, topic } from '../../../proto/topics.ts';
import type { CameraHealth } from '../../../edge-agent/src/health/status.ts';
import { createLogger } from '../../../edge-agent/src/log.ts';
import { connectMqtt } from '../../../edge-agent/src/publish/index.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';
import { startTcpProxy } from '../../bench/tcp-proxy.ts';
import { waitFor } from '../../bench/wait.ts';
import { eventBytes, makeEvent } from '../spool/fixtures.ts';
import {
  decode,
  makeEdge,
  makeTlsFiles,
  readRetained,
  startCollector,
  startTestBroker,
  testMqttSection,
  untilCollected,
  untilConnected,
  type BrokerKind,
  type Collector,
  type TestBroker,
  type TestEdge,
} from './harness.ts';

const SITE = 'village-7';

function cameraHealth(cameraId: string, state: CameraHealth['state'], lastError = ''): CameraHealth {
  return {
    cameraId,
    state,
    inputFps: 2,
    analysedFps: 2,
    droppedFrames: 0,
    lastFrameMs: 1_750_000_000_000,
    lastError,
    lastErrorMs: 0,
    restarts: 0,
  };
}

describe.each<BrokerKind>(['aedes', 'mosquitto'])('mqtt link with %s', (kind) => {
  let tmp: TempDir;
  let n = 0;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(() => {
    tmp = makeTempDir(`link-${kind}`);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => {
    tmp.remove();
  });

  /** A fresh directory per test. */
  function dir(name: string): string {
    n += 1;
    return join(tmp.path, `${n}-${name}`);
  }

  /**
   * Events 0..n-1 all arrived, in the order the edge sent them. Mosquitto forwards in the order
   * it received, so the order seen by a subscriber is the edge's send order. Aedes handles all
   * packets of one socket read concurrently (lib/client.js `_parsingBatch`), so two messages in
   * flight together may be forwarded swapped: there, every event must arrive, and each message
   * must hold consecutive events in order (the gateway does not depend on order: it is idempotent
   * by event id and keeps the highest revision).
   */
  function expectDeliveredInOrder(c: Collector, count: number): void {
    const expected = Array.from({ length: count }, (_, i) => makeEvent(i).eventId);
    if (kind === 'mosquitto') {
      expect(c.firstArrivals()).toEqual(expected);
      return;
    }
    expect([...c.firstArrivals()].sort()).toEqual(expected);
    const index = new Map(expected.map((id, i) => [id, i]));
    let at = 0;
    for (const size of c.batchSizes()) {
      const inMessage = c
        .events()
        .slice(at, at + size)
        .map((e) => index.get(e.eventId) ?? -1);
      expect(inMessage).toEqual(Array.from({ length: size }, (_, k) => (inMessage[0] ?? 0) + k));
      at += size;
    }
  }

  async function broker(opts: Parameters<typeof startTestBroker>[2] = {}): Promise<TestBroker> {
    const b = await startTestBroker(kind, dir('broker'), opts);
    cleanups.push(() => b.close());
    return b;
  }

  async function collector(url: string, opts: Parameters<typeof startCollector>[2] = {}): Promise<Collector> {
    const c = await startCollector(url, SITE, opts);
    cleanups.push(() => c.stop());
    return c;
  }

  async function edge(opts: Parameters<typeof makeEdge>[1], dataDir = dir('edge')): Promise<TestEdge> {
    const e = await makeEdge(dataDir, opts);
    cleanups.push(() => e.stop());
    return e;
  }

  it('delivers events exactly as sent; live traffic goes one event per message', async () => {
    const b = await broker();
    const c = await collector(b.url);
    const e = await edge({ mqtt: testMqttSection(b.url) });
    await untilConnected(e);
    // Live: each event is sent before the next one exists.
    for (let i = 0; i < 20; i++) {
      await e.spool.publish(makeEvent(i));
      await untilCollected(c, i + 1);
    }
    expect(c.batchSizes()).toEqual(Array.from({ length: 20 }, () => 1));
    // A burst, then everything compared byte for byte, in order.
    await Promise.all(Array.from({ length: 480 }, (_, k) => e.spool.publish(makeEvent(20 + k))));
    await untilCollected(c, 500);
    expectDeliveredInOrder(c, 500);
    const byId = new Map(c.events().map((ev) => [ev.eventId, ev]));
    for (let i = 0; i < 500; i++) {
      const got = byId.get(makeEvent(i).eventId);
      expect(got && eventBytes(got)).toEqual(eventBytes(makeEvent(i)));
    }
    await waitFor(() => (e.spool.stats().events === 0 ? true : undefined), { what: 'the spool to empty' });
  });

  it('broker stopped and started again: events spooled meanwhile are replayed, in batches, none lost', async () => {
    const b = await broker();
    // The edge reaches the broker through the proxy, so the test can hold it back until the
    // collector is subscribed again after the restart (see startCollector).
    const proxy = await startTcpProxy({ targetPort: b.port });
    cleanups.push(() => proxy.stop());
    const c = await collector(b.url, { eventsOnly: true });
    const e = await edge({ mqtt: testMqttSection(proxy.url) });
    await untilConnected(e);
    await Promise.all(Array.from({ length: 50 }, (_, i) => e.spool.publish(makeEvent(i))));
    await untilCollected(c, 50);

    await b.stop();
    await waitFor(() => (e.link.isConnected() ? undefined : true), { what: 'the link to notice' });
    await Promise.all(Array.from({ length: 450 }, (_, k) => e.spool.publish(makeEvent(50 + k))));
    expect(e.spool.stats().events).toBeGreaterThanOrEqual(450);
    proxy.cut();
    await b.start();
    await waitFor(() => (c.connected() ? true : undefined), {
      what: 'the collector back',
      timeoutMs: 30_000,
    });
    proxy.restore();

    await untilCollected(c, 500);
    expectDeliveredInOrder(c, 500);
    // The backlog went in batches.
    expect(Math.max(...c.batchSizes())).toBeGreaterThan(1);
    await waitFor(() => (e.spool.stats().events === 0 ? true : undefined), { what: 'the spool to empty' });
  });

  it('link cut (proxy): the spool grows, the will says OFFLINE; restored: all delivered in order, ONLINE again', async () => {
    const b = await broker();
    const proxy = await startTcpProxy({ targetPort: b.port });
    cleanups.push(() => proxy.stop());
    const c = await collector(b.url);
    // A small in-flight byte bound: the backlog must still all go, in batches within it.
    const inflightBytes = 64 * 1024;
    const e = await edge({ mqtt: testMqttSection(proxy.url), spool: { inflight_max_bytes: inflightBytes } });
    await untilConnected(e);
    await waitFor(() => (c.lastAgent()?.state === AgentState.AGENT_STATE_ONLINE ? true : undefined), {
      what: 'ONLINE status',
    });
    await Promise.all(Array.from({ length: 100 }, (_, i) => e.spool.publish(makeEvent(i))));
    await untilCollected(c, 100);

    proxy.cut();
    // The broker sees the connection die without a DISCONNECT: it publishes the last will.
    await waitFor(() => (c.lastAgent()?.state === AgentState.AGENT_STATE_OFFLINE ? true : undefined), {
      what: 'the will (OFFLINE)',
    });
    // And it is retained: a new subscriber sees it.
    await readRetained(
      b.url,
      [topic.agent(SITE)],
      (r) => decode.agent(r.get(topic.agent(SITE)))?.state === AgentState.AGENT_STATE_OFFLINE,
      'OFFLINE retained',
    );
    // The agent keeps detecting: events pile up in the spool.
    for (let i = 100; i < 600; i++) await e.spool.publish(makeEvent(i));
    expect(e.spool.stats().events).toBeGreaterThanOrEqual(500);
    expect(e.link.isConnected()).toBe(false);

    proxy.restore();
    await untilCollected(c, 600);
    expectDeliveredInOrder(c, 600);
    expect(Math.max(...c.batchSizes()) * eventBytes(makeEvent(0)).length).toBeLessThanOrEqual(inflightBytes);
    await waitFor(() => (c.lastAgent()?.state === AgentState.AGENT_STATE_ONLINE ? true : undefined), {
      what: 'ONLINE again',
    });
    await waitFor(() => (e.spool.stats().events === 0 ? true : undefined), { what: 'the spool to empty' });
  });

  // One broker is enough here: noticing a dead link is the client's keepalive (and the broker's).
  if (kind === 'mosquitto') {
    it('a silent link (blackhole) is noticed by the keepalive; events wait in the spool and go after restore', async () => {
      const b = await broker();
      const proxy = await startTcpProxy({ targetPort: b.port });
      cleanups.push(() => proxy.stop());
      const c = await collector(b.url);
      const e = await edge({ mqtt: testMqttSection(proxy.url, { keepalive_s: 5 }) });
      await untilConnected(e);
      await Promise.all(Array.from({ length: 20 }, (_, i) => e.spool.publish(makeEvent(i))));
      await untilCollected(c, 20);

      proxy.blackhole();
      for (let i = 20; i < 120; i++) await e.spool.publish(makeEvent(i));
      // No RST, no FIN: only the keepalives can tell.
      await waitFor(() => (e.link.isConnected() ? undefined : true), {
        what: 'the edge to give up the silent connection',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      await waitFor(() => (c.lastAgent()?.state === AgentState.AGENT_STATE_OFFLINE ? true : undefined), {
        what: 'the broker to publish the will',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      expect(c.firstArrivals().length).toBeLessThan(120);
      proxy.restore();
      await untilCollected(c, 120);
      expectDeliveredInOrder(c, 120);
    });
  }

  it('retains the agent, camera and discovered statuses; publishes changes; clears a removed camera', async () => {
    const b = await broker();
    let devices: DiscoveredDevices = {
      siteId: SITE,
      devices: [
        {
          identity: {
            endpointReference: 'urn:uuid:1',
            serialNumber: 'SN-1',
            manufacturer: 'm',
            model: 'x',
            firmwareVersion: '',
            hardwareId: '',
          },
          xaddrs: ['http://192.0.2.1/onvif/device_service'],
          scopes: [],
          profiles: [],
          analysisProfileToken: '',
          hasSnapshot: false,
          access: DeviceAccess.DEVICE_ACCESS_OK,
          firstSeenMs: 1,
          lastSeenMs: 2,
          cameraId: 'v7-gate-in',
        },
      ],
      updatedMs: 3,
    };
    const listeners = new Set<() => void>();
    const e = await edge({
      mqtt: testMqttSection(b.url),
      discovered: {
        current: () => devices,
        onChange: (l) => {
          listeners.add(l);
          return () => listeners.delete(l);
        },
      },
    });
    e.health.setCamera(cameraHealth('v7-gate-in', 'online'));
    e.health.setCamera(cameraHealth('v7-yard', 'offline', 'no frame within the stall timeout'));
    await untilConnected(e);
    await e.spool.publish(makeEvent(0));

    const filters = [topic.agent(SITE), filter.cameraStatus, topic.discovered(SITE)];
    const camTopic = (id: string): string => topic.cameraStatus(SITE, id);
    const retained = await readRetained(b.url, filters, (r) => r.size >= 4, 'four retained statuses');
    const agent = decode.agent(retained.get(topic.agent(SITE)));
    expect(agent).toMatchObject({
      siteId: SITE,
      state: AgentState.AGENT_STATE_ONLINE,
      version: '0.1.0-test',
    });
    expect(agent?.memoryRssBytes).toBeGreaterThan(0);
    expect(decode.camera(retained.get(camTopic('v7-gate-in')))).toMatchObject({
      cameraId: 'v7-gate-in',
      state: CameraState.CAMERA_STATE_ONLINE,
    });
    expect(decode.camera(retained.get(camTopic('v7-yard')))).toMatchObject({
      state: CameraState.CAMERA_STATE_OFFLINE,
      lastError: 'no frame within the stall timeout',
    });
    expect(decode.discovered(retained.get(topic.discovered(SITE)))?.devices.map((d) => d.cameraId)).toEqual([
      'v7-gate-in',
    ]);

    // The periodic agent status carries the spool figures (one event, acknowledged by now).
    await readRetained(
      b.url,
      [topic.agent(SITE)],
      (r) => {
        const a = decode.agent(r.get(topic.agent(SITE)));
        return a !== undefined && a.spoolEvents === 0 && a.updatedMs > (agent?.updatedMs ?? 0);
      },
      'a periodic agent status',
    );

    // Changes are published at once.
    e.health.setCamera(cameraHealth('v7-yard', 'auth_failed', 'the camera refused our RTSP credentials'));
    e.health.removeCamera('v7-gate-in');
    devices = {
      ...devices,
      devices: [
        ...devices.devices,
        {
          ...devices.devices[0],
          identity: { ...devices.devices[0]?.identity, endpointReference: 'urn:uuid:2' },
          cameraId: '',
        } as DiscoveredDevices['devices'][number],
      ],
    };
    for (const l of listeners) l();
    await readRetained(
      b.url,
      filters,
      (r) =>
        decode.camera(r.get(camTopic('v7-yard')))?.state === CameraState.CAMERA_STATE_AUTH_FAILED &&
        !r.has(camTopic('v7-gate-in')) &&
        decode.discovered(r.get(topic.discovered(SITE)))?.devices.length === 2,
      'the changed statuses',
    );

    // A clean stop leaves OFFLINE retained.
    await e.stop();
    await readRetained(
      b.url,
      [topic.agent(SITE)],
      (r) => decode.agent(r.get(topic.agent(SITE)))?.state === AgentState.AGENT_STATE_OFFLINE,
      'OFFLINE retained after a clean stop',
    );
  });

  it('applies a SiteConfig pushed on the config topic live; ignores older revisions, other sites and garbage', async () => {
    const b = await broker();
    const admin = await connectMqtt(
      { url: b.url, clientId: `gateway-${process.pid}`, keepaliveS: 10, connectTimeoutMs: 5000, clean: true },
      () => undefined,
    );
    cleanups.push(() => admin.end(1000));
    const push = (cfg: Parameters<typeof SiteConfig.fromPartial>[0] | Buffer): Promise<void> =>
      admin.publish(
        topic.config(SITE),
        Buffer.isBuffer(cfg)
          ? cfg
          : encodePayload('config', SiteConfig.fromPartial({ siteId: SITE, ...cfg })),
        { qos: 1, retain: true },
      );
    // Retained before the agent connects: applied on connect.
    await push({ revision: 2, cameras: [{ cameraId: 'v7-gate-in', enabled: true }] });

    const applied: SiteConfig[] = [];
    const lines: string[] = [];
    const logger = createLogger(
      'debug',
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const e = await edge({
      mqtt: testMqttSection(b.url),
      logger,
      onSiteConfig: (cfg) => {
        applied.push(cfg);
        return true;
      },
    });
    await waitFor(() => (applied.length === 1 ? true : undefined), { what: 'the retained config applied' });
    expect(applied[0]).toMatchObject({ revision: 2, cameras: [{ cameraId: 'v7-gate-in' }] });

    await push({ revision: 1 });
    await push({ revision: 2 });
    await push({ siteId: 'village-8', revision: 9 });
    await push(Buffer.from([0x0a, 0xff, 0x01]));
    await push({ revision: 3, cameras: [] });
    await waitFor(() => (applied.length === 2 ? true : undefined), { what: 'revision 3 applied' });
    expect(applied.map((c) => c.revision)).toEqual([2, 3]);
    await waitFor(() => (e.link.stats().configsRejected >= 2 ? true : undefined), {
      what: 'rejections counted',
    });
    expect(
      lines.filter((l) => l.includes('undecodable site config ignored') && l.includes(topic.config(SITE))),
    ).toHaveLength(1);
    const metrics = await e.registry.getSingleMetric('sharpeyes_edge_config_messages_total')?.get();
    const outcome = (o: string): number => metrics?.values.find((v) => v.labels.outcome === o)?.value ?? 0;
    expect(outcome('applied')).toBe(2);
    expect(outcome('undecodable')).toBe(1);
    expect(outcome('other_site')).toBe(1);
    expect(outcome('stale')).toBe(2);
  });

  it('connects with per-site credentials; refused credentials are retried without crashing, and never logged', async () => {
    const password = 'pw-village-7-s3cret';
    const b = await broker({ auth: { username: SITE, password } });
    const c = await collector(b.url, { username: SITE, password, eventsOnly: true });
    const dataDir = dir('edge');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
    const lines: string[] = [];
    const logger = createLogger(
      'debug',
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    // Wrong password first (from the environment).
    const wrong = await edge(
      {
        mqtt: testMqttSection(b.url, { password_env: 'MQTT_PW' }),
        logger,
        env: { MQTT_PW: 'wrong-password-xyz' },
      },
      join(dataDir, 'wrong'),
    );
    await waitFor(() => (wrong.link.stats().connectFailures >= 2 ? true : undefined), { what: 'refusals' });
    expect(wrong.link.isConnected()).toBe(false);
    await wrong.stop();

    // The right one from a file; the user name defaults to the site id.
    const pwFile = join(dataDir, 'mqtt.pw');
    writeFileSync(pwFile, `${password}\n`);
    const e = await edge(
      { mqtt: testMqttSection(b.url, { password_file: pwFile }), logger },
      join(dataDir, 'right'),
    );
    await untilConnected(e);
    await e.spool.publish(makeEvent(1));
    await untilCollected(c, 1);
    const text = lines.join('');
    expect(text).toContain('mqtt connect failed');
    expect(text).not.toContain(password);
    expect(text).not.toContain('wrong-password-xyz');
  });

  it('connects over TLS (mqtts://) with a CA file and a client certificate', async () => {
    const tls = makeTlsFiles(dir('tls'));
    const b = await broker({ tls });
    const c = await collector(b.url, { eventsOnly: true });
    const url = b.tlsUrl;
    if (url === undefined) throw new Error('no TLS listener');
    const e = await edge({
      mqtt: testMqttSection(url, { ca_file: tls.ca, cert_file: tls.clientCert, key_file: tls.clientKey }),
    });
    await untilConnected(e);
    await Promise.all(Array.from({ length: 10 }, (_, i) => e.spool.publish(makeEvent(i))));
    await untilCollected(c, 10);

    // Without our CA the server is not trusted: no connection.
    const untrusted = await edge({ mqtt: testMqttSection(url) });
    await waitFor(() => (untrusted.link.stats().connectFailures >= 1 ? true : undefined), {
      what: 'a TLS refusal',
    });
    expect(untrusted.link.isConnected()).toBe(false);
  });
});
