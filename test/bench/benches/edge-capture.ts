/**
 * The edge agent capturing eight simulated cameras (720p H.264 sub-streams) at 2 fps for 60 s:
 * CPU and RSS of the agent process, and of its ffmpeg children, sampled from /proc.
 *
 *   npm run bench -- edge-capture [seconds=60] [cameras=8]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, spawnManaged } from '../lifetime.ts';
import { freePort, waitFor } from '../wait.ts';
import { startSimulatedSite } from '../../sim/site.ts';
import { PRESET_NAMES } from '../../scene/presets.ts';

export const description = 'edge agent capturing N simulated cameras at 2 fps: CPU and RSS';

const CLK_TCK = 100;
const PAGE = 4096;

interface ProcSample {
  ticks: number;
  rssBytes: number;
}

function sample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ticks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE };
}

function children(ppid: number, name: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppidOf = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return comm === name && ppidOf === ppid ? [Number(e)] : [];
      } catch {
        return [];
      }
    });
}

interface Healthz {
  cameras: { state: string; analysed_fps: number; dropped_frames: number; restarts: number }[];
}

export async function run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>> {
  const seconds = Number(args[0] ?? 60);
  const count = Number(args[1] ?? 8);
  const presets = Array.from({ length: count }, (_, i) => PRESET_NAMES[i % PRESET_NAMES.length] ?? 'street');
  progress(`starting a simulated site with ${count} cameras`);
  const site = await startSimulatedSite({ presets });
  const tmp = makeTempDir('bench-edge');
  const port = await freePort();
  const configPath = join(tmp.path, 'edge.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      site_id: 'bench',
      http: { port },
      data_dir: tmp.path,
      capture_discovered: true,
      default_credentials: {
        username: site.credentials.username,
        password: { value: site.credentials.password },
      },
      discovery: { unicast_targets: site.cameras.map((c) => ({ host: '127.0.0.1', port: c.discoveryPort })) },
      capture: { width: 1280, height: 720, fps: 2 },
      // Capture only: this bench measures capture; edge-pipeline measures detection.
      detect: { face: false, plate: false },
    }),
  );
  const agent = spawnManaged(
    join(import.meta.dirname, '..', '..', '..', 'edge-agent', 'bin', 'edge-agent'),
    ['-c', configPath],
    {
      name: 'edge-agent',
      env: { ...process.env, LOG_LEVEL: 'warn' },
      logFile: join(tmp.path, 'edge.log'),
    },
  );
  const healthz = async (): Promise<Healthz> =>
    (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as Promise<Healthz>;
  try {
    progress('waiting for every camera to be online');
    await waitFor(
      async () =>
        (await healthz()).cameras.filter((c) => c.state === 'online').length === count ? true : undefined,
      {
        what: `${count} cameras online`,
        timeoutMs: 120_000,
        intervalMs: 500,
        abortIf: () => (agent.running() ? undefined : 'the agent exited'),
      },
    );
    const ffmpegs = children(agent.pid, 'ffmpeg');
    const a0 = sample(agent.pid);
    const f0 = ffmpegs.map(sample);
    let peakRss = a0.rssBytes;
    progress(`measuring for ${seconds} s (${ffmpegs.length} ffmpeg)`);
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000));
      peakRss = Math.max(peakRss, sample(agent.pid).rssBytes);
      const left = Math.round((end - Date.now()) / 1000);
      if (left % 15 === 0) progress(`${left} s left`);
    }
    const a1 = sample(agent.pid);
    const f1 = ffmpegs.map(sample);
    const body = await healthz();
    const pct = (ticks: number) => Math.round((1000 * ticks) / CLK_TCK / seconds) / 10;
    return {
      cameras: count,
      fps: 2,
      analysis_size: '1280x720',
      seconds,
      cameras_online_at_end: body.cameras.filter((c) => c.state === 'online').length,
      analysed_fps_total: Math.round(body.cameras.reduce((s, c) => s + c.analysed_fps, 0) * 10) / 10,
      restarts_total: body.cameras.reduce((s, c) => s + c.restarts, 0),
      agent_cpu_percent_of_core: pct(a1.ticks - a0.ticks),
      agent_rss_bytes: a1.rssBytes,
      agent_peak_rss_bytes: peakRss,
      ffmpeg_processes: ffmpegs.length,
      ffmpeg_cpu_percent_of_core_total: pct(
        f1.reduce((s, x) => s + x.ticks, 0) - f0.reduce((s, x) => s + x.ticks, 0),
      ),
      ffmpeg_rss_bytes_total: f1.reduce((s, x) => s + x.rssBytes, 0),
    };
  } finally {
    await agent.stop();
    await site.stop();
    tmp.remove();
  }
}
