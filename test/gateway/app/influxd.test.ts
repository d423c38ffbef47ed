/** The managed influxd: starts on loopback, is restarted when it dies, and stops. */
import { afterAll, describe, expect, it } from 'vitest';
import { startManagedInfluxd } from '../../../gateway/src/influxd/influxd.ts';
import { silentLogger } from '../../../gateway/src/log.ts';
import { makeTempDir } from '../../bench/lifetime.ts';
import { boundSockets, isLoopback, processGone } from '../../bench/services/index.ts';
import { waitFor } from '../../bench/wait.ts';

const dir = makeTempDir('gateway-influxd');
afterAll(() => {
  dir.remove();
});

describe('managed influxd', () => {
  it('listens on loopback only, comes back after a crash, and stops', async () => {
    const influxd = await startManagedInfluxd({
      influxdPath: '/usr/bin/influxd',
      dir: dir.path,
      port: 0,
      startTimeoutMs: 30_000,
      logger: silentLogger(),
    });
    try {
      const first = influxd.pid();
      if (first === undefined) throw new Error('no pid');
      expect((await fetch(`${influxd.url}/ping`)).status).toBe(204);
      const sockets = boundSockets(first);
      expect(sockets.length).toBeGreaterThan(0);
      expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);

      process.kill(first, 'SIGKILL');
      const second = await waitFor(
        async () => {
          const pid = influxd.pid();
          if (pid === undefined || pid === first || !influxd.running()) return undefined;
          return (await fetch(`${influxd.url}/ping`)).status === 204 ? pid : undefined;
        },
        { what: 'influxd restarted', timeoutMs: 30_000, intervalMs: 100 },
      );
      await influxd.stop();
      expect(processGone(second)).toBe(true);
      expect(influxd.running()).toBe(false);
    } finally {
      await influxd.stop();
    }
  }, 90_000);

  it('fails to start with the reason when influxd cannot run', async () => {
    await expect(
      startManagedInfluxd({
        influxdPath: '/nonexistent/influxd',
        dir: dir.path,
        port: 0,
        startTimeoutMs: 5000,
        logger: silentLogger(),
      }),
    ).rejects.toThrow(/influxd/);
  });
});
