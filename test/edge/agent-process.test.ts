/**
 * The edge-agent command as an operator runs it (edge-agent/bin/edge-agent --config FILE):
 * it captures the simulated site, and after SIGTERM — or SIGKILL, when it cannot clean up
 * itself — no ffmpeg of it remains.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnManaged, makeTempDir, type ManagedChild, type TempDir } from '../bench/lifetime.ts';
import { freePort, waitFor } from '../bench/wait.ts';
import { startSimulatedSite, type SimulatedSite } from '../sim/site.ts';

const BIN = join(import.meta.dirname, '..', '..', 'edge-agent', 'bin', 'edge-agent');

/** Pids of processes named `name` whose parent is `ppid`. */
function childrenNamed(ppid: number, name: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (comm === name && Number(fields[1]) === ppid) out.push(Number(entry));
    } catch {
      // The process ended while we looked: it is not a child any more.
    }
  }
  return out;
}

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

interface Healthz {
  cameras: { camera_id: string; state: string }[];
}

describe('edge-agent command', () => {
  let site: SimulatedSite | undefined;
  let tmp: TempDir | undefined;
  const agents: ManagedChild[] = [];

  beforeAll(async () => {
    site = await startSimulatedSite();
    tmp = makeTempDir('edge-process');
  }, 300_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await site?.stop();
    tmp?.remove();
  });

  async function startAgent(): Promise<{ agent: ManagedChild; ffmpegs: number[] }> {
    const s = site;
    const dir = tmp?.path;
    if (s === undefined || dir === undefined) throw new Error('setup failed');
    const port = await freePort();
    const configPath = join(dir, `edge-${port}.json`);
    writeFileSync(
      configPath,
      JSON.stringify({
        site_id: 'process-test',
        http: { port },
        data_dir: dir,
        capture_discovered: true,
        default_credentials: { username: s.credentials.username, password: { env: 'CAM_PASSWORD' } },
        discovery: { unicast_targets: s.cameras.map((c) => ({ host: '127.0.0.1', port: c.discoveryPort })) },
        capture: { width: 640, height: 360, fps: 2 },
      }),
    );
    const agent = spawnManaged(BIN, ['--config', configPath], {
      name: 'edge-agent',
      env: { ...process.env, CAM_PASSWORD: s.credentials.password, LOG_LEVEL: 'warn' },
      logFile: join(dir, `edge-${port}.log`),
    });
    agents.push(agent);
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        const body = (await res.json()) as Healthz;
        return body.cameras.filter((c) => c.state === 'online').length === 3 ? body : undefined;
      },
      {
        what: 'three cameras online',
        timeoutMs: 90_000,
        intervalMs: 250,
        abortIf: () => (agent.running() ? undefined : 'the agent exited'),
      },
    );
    const ffmpegs = childrenNamed(agent.pid, 'ffmpeg');
    return { agent, ffmpegs };
  }

  it('stops its ffmpegs on SIGTERM and exits 0', async () => {
    const { agent, ffmpegs } = await startAgent();
    expect(ffmpegs).toHaveLength(3);
    process.kill(agent.pid, 'SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(ffmpegs.filter(running)).toEqual([]);
  });

  it('leaves no ffmpeg behind when it is SIGKILLed', async () => {
    const { agent, ffmpegs } = await startAgent();
    expect(ffmpegs).toHaveLength(3);
    // Only the agent process itself: its ffmpegs are in process groups of their own, so this
    // is what a crash or an OOM kill looks like to them.
    process.kill(agent.pid, 'SIGKILL');
    await agent.exited;
    await waitFor(() => (ffmpegs.filter(running).length === 0 ? true : undefined), {
      what: `ffmpeg ${ffmpegs.join(', ')} to end after the agent died`,
      timeoutMs: 10_000,
      intervalMs: 100,
    });
  });
});
