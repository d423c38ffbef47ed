/**
 * Wrong credentials: the device is listed as auth_failed with a clear message, credentials never
 * show, and retries back off (observable through nextRetryAtMs and the camera's own counters)
 * instead of storming the camera.
 */

import { afterEach, describe, expect, it } from 'vitest';

import { Discovery } from '../../edge-agent/src/discovery/discovery.ts';
import type { DeviceChange } from '../../edge-agent/src/discovery/types.ts';
import { waitFor } from '../bench/wait.ts';
import { memoryLogger } from './fixtures/memory-logger.ts';
import { startOnvifCamera } from '../sim/onvif/index.ts';
import {
  CameraPool,
  TEST_PASSWORD,
  TEST_USER,
  testCameraOptions,
  testEndpointReference,
} from '../sim/sim-fixtures.ts';

const pool = new CameraPool();
const running: Discovery[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  await pool.stopAll();
});

describe('wrong credentials', () => {
  it('auth_failed with a clear message; retries back off; fixed credentials recover', async () => {
    const cam = pool.add(
      await startOnvifCamera(testCameraOptions(31, { fault: { kind: 'wrong_credentials' } })),
    );
    const key = testEndpointReference(31);
    const log = memoryLogger();
    const discovery = new Discovery({
      unicastTargets: [{ host: '127.0.0.1', port: cam.discoveryPort ?? 0 }],
      credentialsFor: () => ({ username: TEST_USER, password: TEST_PASSWORD }),
      reprobeIntervalMs: 3_600_000,
      // Short delays so the schedule is observable in a test; ±20 % jitter as in production.
      retry: { initialMs: 250, authInitialMs: 250, maxMs: 60_000, jitter: 0.2 },
      logger: log.logger,
    });
    running.push(discovery);
    const changes: DeviceChange[] = [];
    discovery.onChange((c) => changes.push(c));
    await discovery.start();
    await discovery.probeNow();

    const first = discovery.device(key);
    expect(first).toMatchObject({
      access: 'auth_failed',
      failedAttempts: 1,
      lastError: { code: 'EDGE_ERR_ONVIF_AUTH' },
    });
    expect(first?.lastError?.message).toMatch(
      /^the camera refused our ONVIF credentials: .*Sender not Authorized/,
    );
    expect(first?.nextRetryAtMs).toBeGreaterThan(Date.now());

    // Watch the schedule for a while: each retry waits about twice as long as the one before.
    const windowStart = Date.now();
    const schedule: { attempts: number; nextRetryAtMs: number; atMs: number }[] = [];
    await waitFor(
      () => {
        const d = discovery.device(key);
        const last = schedule.at(-1);
        if (d?.nextRetryAtMs !== undefined && d.failedAttempts !== last?.attempts) {
          schedule.push({
            attempts: d.failedAttempts,
            nextRetryAtMs: d.nextRetryAtMs,
            atMs: d.lastError?.atMs ?? 0,
          });
        }
        return Date.now() - windowStart >= 5_000 ? true : undefined;
      },
      { what: 'a 5 s observation window', timeoutMs: 10_000, intervalMs: 10 },
    );
    // 0.25 + 0.5 + 1 + 2 s (±20 %) fit in 5 s: at most 5 describe attempts in all, never a storm.
    const attempts = discovery.device(key)?.describeAttempts ?? 0;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(6);
    expect(cam.stats().auth_failures).toBeLessThanOrEqual(attempts);
    for (let i = 1; i < schedule.length; i++) {
      const prev = schedule[i - 1];
      const cur = schedule[i];
      if (prev === undefined || cur === undefined) continue;
      expect(cur.nextRetryAtMs).toBeGreaterThan(prev.nextRetryAtMs);
      expect(cur.nextRetryAtMs - cur.atMs).toBeGreaterThan(prev.nextRetryAtMs - prev.atMs);
    }
    expect(schedule.length).toBeGreaterThanOrEqual(2);

    // Credentials never appear, neither in the device nor in any log line.
    expect(JSON.stringify(discovery.devices())).not.toContain(TEST_PASSWORD);
    expect(JSON.stringify(changes)).not.toContain(TEST_PASSWORD);
    expect(log.text()).not.toContain(TEST_PASSWORD);
    // One warning for the new state; the retries log at debug.
    const warnings = log
      .text()
      .split('\n')
      .filter((l) => l.includes('"level":40') && l.includes('cannot describe device'));
    expect(warnings).toHaveLength(1);

    // The installer fixes the camera (here: the camera's password back): retryNow recovers at once.
    cam.setFault({ kind: 'none' });
    await discovery.retryNow(key);
    expect(discovery.device(key)).toMatchObject({
      access: 'ok',
      lastError: undefined,
      failedAttempts: 0,
      nextRetryAtMs: undefined,
      analysisProfileToken: 'profile_sub',
    });
    expect(changes.at(-1)).toMatchObject({ kind: 'updated', device: { access: 'ok' } });
  });

  it('with default settings the first auth retry is about a minute away', async () => {
    const cam = pool.add(
      await startOnvifCamera(testCameraOptions(32, { fault: { kind: 'wrong_credentials' } })),
    );
    const discovery = new Discovery({
      xaddrs: [cam.xaddr],
      credentialsFor: () => ({ username: TEST_USER, password: TEST_PASSWORD }),
    });
    running.push(discovery);
    await discovery.start();
    await discovery.probeNow();
    const d = discovery.device(`xaddr:${cam.xaddr}`);
    expect(d?.access).toBe('auth_failed');
    expect((d?.nextRetryAtMs ?? 0) - (d?.lastError?.atMs ?? 0)).toBeGreaterThanOrEqual(48_000);
    // More rounds do not retry a device in backoff.
    await discovery.probeNow();
    await discovery.probeNow();
    expect(discovery.device(`xaddr:${cam.xaddr}`)?.describeAttempts).toBe(1);
  });

  it('no credentials configured: auth_failed, and the message says so', async () => {
    const cam = pool.add(await startOnvifCamera(testCameraOptions(33)));
    const discovery = new Discovery({
      unicastTargets: [{ host: '127.0.0.1', port: cam.discoveryPort ?? 0 }],
      credentialsFor: () => undefined,
    });
    running.push(discovery);
    await discovery.start();
    await discovery.probeNow();
    const d = discovery.device(testEndpointReference(33));
    expect(d?.access).toBe('auth_failed');
    expect(d?.lastError?.message).toContain('no credentials are configured for this device');
  });
});
