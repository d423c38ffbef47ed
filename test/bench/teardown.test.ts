/**
 * Nothing outlives a test process that dies: a child node process starts every service
 * (fixtures/hold-services.ts), then is SIGKILLed, or throws as a failing test would; its reaper
 * must then kill every service's process group and remove every temp dir.
 */
import { rmSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnManaged, type ManagedChild } from './lifetime.ts';
import type { HeldServices } from './fixtures/hold-services.ts';
import { processGone, processGroupGone } from './services/index.ts';
import { waitFor } from './wait.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(HERE, '..', '..');
const FIXTURE = join(HERE, 'fixtures', 'hold-services.ts');

/** What the current test started, so afterEach can clean up even after a failed assertion. */
let holder: ManagedChild | undefined;
let held: HeldServices | undefined;

afterEach(async () => {
  await holder?.stop();
  for (const pgid of Object.values(held?.pids ?? {})) {
    try {
      if (!processGroupGone(pgid)) process.kill(-pgid, 'SIGKILL');
    } catch (err) {
      // ESRCH: it went away between the check and the kill, as it should.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  for (const dir of held?.dirs ?? []) rmSync(dir, { recursive: true, force: true });
  holder = undefined;
  held = undefined;
});

/** Start the fixture and read its JSON line (services take a while on a loaded machine). */
async function startHolder(
  args: string[],
): Promise<{ child: ManagedChild; services: HeldServices; closed: Promise<void>; stderr: () => string }> {
  const child = spawnManaged(process.execPath, ['--import', 'tsx', FIXTURE, ...args], {
    name: 'hold-services',
    cwd: REPO_ROOT,
    pipeStdout: true,
  });
  holder = child;
  let stdout = '';
  let stderr = '';
  child.process.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.process.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  // 'close', not 'exit': with --fail the holder exits right after printing, and its last output
  // may still be in the pipe when 'exit' fires.
  let pipesClosed = false;
  const closed = new Promise<void>((resolve) => {
    child.process.once('close', () => {
      pipesClosed = true;
      resolve();
    });
  });
  const jsonLine = (): string | undefined => /^\{.*\}$/m.exec(stdout)?.[0];
  const line = await waitFor(jsonLine, {
    what: 'hold-services JSON line',
    timeoutMs: 120_000,
    intervalMs: 50,
    abortIf: () =>
      pipesClosed && jsonLine() === undefined ? `hold-services exited early:\n${stderr}` : undefined,
  });
  const services = JSON.parse(line) as HeldServices;
  held = services;
  return { child, services, closed, stderr: () => stderr };
}

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => {
      resolve(true);
    });
  });
}

/** Everything the holder listed is gone; waits (the reaper allows a grace period), then asserts. */
async function expectAllCleanedUp(services: HeldServices): Promise<void> {
  const pids = Object.values(services.pids);
  const lingering = (): string[] => [
    ...pids.filter((pgid) => !processGroupGone(pgid)).map((pgid) => `process group ${pgid}`),
    ...services.dirs.filter((dir) => existsSync(dir)),
  ];
  await waitFor(() => (lingering().length === 0 ? true : undefined), {
    what: 'reaper cleanup',
    timeoutMs: 20_000,
    intervalMs: 100,
  }).catch(() => undefined);
  expect(lingering()).toEqual([]);
  for (const pid of pids) expect(processGone(pid)).toBe(true);
  expect(await portRefuses(services.aedesPort)).toBe(true);
}

describe('teardown when the test process dies', () => {
  it('SIGKILL of the test process: the reaper stops every service and removes every temp dir', async () => {
    const { child, services } = await startHolder([]);
    expect(Object.keys(services.pids).sort()).toEqual(['influxd', 'mosquitto', 'rtsp']);
    // Everything is really up before the kill, or the test proves nothing.
    for (const pid of Object.values(services.pids)) expect(processGroupGone(pid)).toBe(false);
    for (const dir of services.dirs) expect(existsSync(dir)).toBe(true);
    expect(await portRefuses(services.aedesPort)).toBe(false);

    process.kill(child.pid, 'SIGKILL');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });

    await expectAllCleanedUp(services);
  });

  it('a test that throws after starting services: the same cleanup, no stop() called', async () => {
    const { child, services, closed, stderr } = await startHolder(['--fail']);
    // The holder may already be dying, so no "is it up" check here: the SIGKILL case does that.
    expect(Object.keys(services.pids).sort()).toEqual(['influxd', 'mosquitto', 'rtsp']);

    const exit = await child.exited;
    await closed;
    expect(exit.code).toBe(1);
    expect(stderr()).toContain('simulated test failure');

    await expectAllCleanedUp(services);
  });
});
