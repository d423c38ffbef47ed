/**
 * Hostile cameras change nothing else. One Discovery serves, at the same time, a healthy camera
 * and cameras whose every reply is an attack: XXE (file:///etc/passwd), billion laughs, deep
 * nesting, malformed XML (truncated, garbled), silence, a 50 MB reply and a reply that never
 * ends. Each hostile device ends with an error status within bounded time; the agent's memory
 * stays bounded; nothing from /etc/passwd appears anywhere; the healthy cameras are described
 * (one found before the attack, one announced in the middle of it).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { afterEach, describe, expect, it } from 'vitest';

import { Discovery } from '../../edge-agent/src/discovery/discovery.ts';
import type { DeviceAccess, DeviceChange } from '../../edge-agent/src/discovery/types.ts';
import type { EdgeErrorCode } from '../../edge-agent/src/errors.ts';
import { waitFor } from '../bench/wait.ts';
import { memoryLogger } from './fixtures/memory-logger.ts';
import { startOnvifCamera, type FaultMode, type OnvifCamera } from '../sim/onvif/index.ts';
import {
  CameraPool,
  TEST_PASSWORD,
  TEST_USER,
  testCameraOptions,
  testEndpointReference,
} from '../sim/sim-fixtures.ts';
import { startHostileHttpServer, type HostileHttpServer } from './fixtures/discovery-hostile-http.ts';

const pool = new CameraPool();
const servers: HostileHttpServer[] = [];
const running: Discovery[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  await pool.stopAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Lines of /etc/passwd long enough to be unmistakable if they leaked. */
const PASSWD_LINES = readFileSync('/etc/passwd', 'utf8')
  .split('\n')
  .filter((l) => l.split(':').length >= 7 && l.length > 12);

/** Generous: hostile describes end at the 8 s hard limit; queueing and a slow machine add some. */
const BOUNDED_MS = 30_000;
/** Agent RSS growth allowed while all of this runs (measured ~60 MB here: four workers at once). */
const RSS_BOUND_BYTES = 100 * 1024 * 1024;

interface HostileCase {
  name: string;
  fault?: FaultMode;
  http?: 'huge' | 'endless';
  codes: EdgeErrorCode[];
  access: DeviceAccess;
}

const CASES: HostileCase[] = [
  {
    name: 'xxe',
    fault: { kind: 'hostile_xml', variant: 'xxe' },
    codes: ['EDGE_ERR_ONVIF_PROTOCOL'],
    access: 'protocol_error',
  },
  {
    name: 'billion_laughs',
    fault: { kind: 'hostile_xml', variant: 'billion_laughs' },
    codes: ['EDGE_ERR_ONVIF_PROTOCOL'],
    access: 'protocol_error',
  },
  {
    name: 'deep_nesting',
    fault: { kind: 'hostile_xml', variant: 'deep_nesting' },
    codes: ['EDGE_ERR_ONVIF_PROTOCOL'],
    access: 'protocol_error',
  },
  {
    name: 'malformed truncated',
    fault: { kind: 'malformed_xml', variant: 'truncated' },
    codes: ['EDGE_ERR_ONVIF_PROTOCOL'],
    access: 'protocol_error',
  },
  {
    name: 'malformed garbled',
    fault: { kind: 'malformed_xml', variant: 'garbled' },
    codes: ['EDGE_ERR_ONVIF_PROTOCOL'],
    access: 'protocol_error',
  },
  { name: 'silent', fault: { kind: 'silent' }, codes: ['EDGE_ERR_ONVIF_TIMEOUT'], access: 'unreachable' },
  { name: '50 MB reply', http: 'huge', codes: ['EDGE_ERR_ONVIF_TOO_LARGE'], access: 'protocol_error' },
  { name: 'never-ending reply', http: 'endless', codes: ['EDGE_ERR_ONVIF_TIMEOUT'], access: 'unreachable' },
];

describe('hostile devices', () => {
  it('each ends in an error status within bounded time and memory; healthy cameras are served meanwhile', async () => {
    // Hostile simulators: their SOAP replies AND their ProbeMatches carry the attack.
    const hostile: { c: HostileCase; xaddr: string; cam?: OnvifCamera }[] = [];
    for (const [i, c] of CASES.entries()) {
      if (c.fault !== undefined) {
        const cam = pool.add(await startOnvifCamera(testCameraOptions(40 + i, { fault: c.fault })));
        hostile.push({ c, xaddr: cam.xaddr, cam });
      } else {
        const server = await startHostileHttpServer({ kind: c.http ?? 'huge' });
        servers.push(server);
        hostile.push({ c, xaddr: server.xaddr });
      }
    }
    const healthy = pool.add(await startOnvifCamera(testCameraOptions(60)));
    const log = memoryLogger();
    const discovery = new Discovery({
      unicastTargets: [
        { host: '127.0.0.1', port: healthy.discoveryPort ?? 0 },
        ...hostile.flatMap((h) =>
          h.cam?.discoveryPort !== undefined ? [{ host: '127.0.0.1', port: h.cam.discoveryPort }] : [],
        ),
      ],
      xaddrs: hostile.map((h) => h.xaddr),
      helloListen: { host: '127.0.0.1', port: 0 },
      credentialsFor: () => ({ username: TEST_USER, password: TEST_PASSWORD }),
      reprobeIntervalMs: 3_600_000,
      probeTimeoutMs: 1_000,
      onvif: { timeoutMs: 8_000, requestTimeoutMs: 2_000 },
      logger: log.logger,
    });
    running.push(discovery);
    const changes: DeviceChange[] = [];
    /** When each device first had a definite status (ok or an error), ms after the start. */
    const settledAfterMs = new Map<string, number>();
    discovery.onChange((c) => {
      changes.push(c);
      if (c.device.access !== 'unknown' && !settledAfterMs.has(c.device.key)) {
        settledAfterMs.set(c.device.key, Date.now() - started);
      }
    });

    global.gc?.();
    const started = Date.now();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 25);
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
    try {
      await discovery.start();
      const round = discovery.probeNow();

      // In the middle of the attack, a second healthy camera announces itself.
      await waitFor(() => (discovery.stats().describeAttempts >= 4 ? true : undefined), {
        what: 'hostile describes under way',
        timeoutMs: BOUNDED_MS,
      });
      const helloPort = discovery.helloPort ?? 0;
      const late = pool.add(
        await startOnvifCamera(
          testCameraOptions(61, {
            discovery: { mode: 'unicast', announce_to: { host: '127.0.0.1', port: helloPort } },
          }),
        ),
      );
      await round;
      await waitFor(() => (discovery.device(testEndpointReference(61))?.access === 'ok' ? true : undefined), {
        what: 'the late healthy camera described',
        timeoutMs: BOUNDED_MS,
      });
      expect(late.stats().soap_requests).toBeGreaterThan(0);
    } finally {
      clearInterval(sampler);
      loopDelay.disable();
    }
    const elapsed = Date.now() - started;

    // Healthy cameras: found and described, the first by probe, the second by its Hello.
    expect(discovery.device(testEndpointReference(60))).toMatchObject({
      access: 'ok',
      analysisProfileToken: 'profile_sub',
      identity: { serialNumber: 'SN-1060' },
    });

    // Every hostile device: listed (by placeholder: its identity could never be read), with an
    // error status and a typed last error.
    for (const h of hostile) {
      const d = discovery.device(`xaddr:${h.xaddr}`);
      expect(d, h.c.name).toBeDefined();
      expect(d?.access, h.c.name).toBe(h.c.access);
      expect(h.c.codes, `${h.c.name}: ${d?.lastError?.message ?? ''}`).toContain(d?.lastError?.code);
      expect(d?.nextRetryAtMs, h.c.name).toBeGreaterThan(0);
      expect(settledAfterMs.get(`xaddr:${h.xaddr}`), h.c.name).toBeLessThan(BOUNDED_MS);
    }
    // Their discovery datagrams (hostile ProbeMatches) were dropped and counted, not parsed.
    expect(discovery.stats().malformedDatagrams).toBeGreaterThanOrEqual(5);
    expect(
      discovery
        .devices()
        .filter((d) => d.identified)
        .map((d) => d.key)
        .sort(),
    ).toEqual([testEndpointReference(60), testEndpointReference(61)].sort());

    // Bounded time and memory; the agent's event loop was never blocked by parsing.
    expect(elapsed).toBeLessThan(BOUNDED_MS * 2);
    const growth = rssPeak - rssBefore;
    console.info(
      `hostile run: ${elapsed} ms, RSS ${Math.round(rssBefore / 2 ** 20)} → peak ${Math.round(rssPeak / 2 ** 20)} MB ` +
        `(+${Math.round(growth / 2 ** 20)} MB), event loop delay max ${Math.round(loopDelay.max / 1e6)} ms; ` +
        `error status after (ms): ${hostile.map((h) => `${h.c.name} ${settledAfterMs.get(`xaddr:${h.xaddr}`) ?? '?'}`).join(', ')}`,
    );
    expect(growth).toBeLessThan(RSS_BOUND_BYTES);
    expect(loopDelay.max / 1e6).toBeLessThan(3_000);

    // No /etc/passwd content anywhere: devices, events, logs.
    const everything = JSON.stringify(discovery.devices()) + JSON.stringify(changes) + log.text();
    for (const line of PASSWD_LINES) expect(everything).not.toContain(line);
    expect(everything).not.toContain(TEST_PASSWORD);
  }, 120_000);
});
