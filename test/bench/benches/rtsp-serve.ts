/**
 * CPU and memory of the bench's RTSP server serving the simulated site: three cameras, each
 * stream read by one client (ffmpeg decoding at the stream's full rate).
 *
 *   npm run bench -- rtsp-serve [seconds=20]
 */
import { readFileSync } from 'node:fs';
import { spawnManaged } from '../lifetime.ts';
import { startSimulatedSite } from '../../sim/site.ts';

export const description = 'CPU/RSS of the RTSP server looping 3 scene streams to 3 readers';

const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

export async function run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>> {
  const seconds = Number(args[0] ?? 20);
  progress('starting simulated site');
  const site = await startSimulatedSite();
  const readers = site.cameras.map((cam) => {
    const url = new URL(cam.rtspUrl);
    url.username = site.credentials.username;
    url.password = site.credentials.password;
    return spawnManaged(
      '/usr/bin/ffmpeg',
      ['-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-i', url.toString(), '-f', 'null', '-'],
      { name: `reader ${cam.name}` },
    );
  });
  try {
    const pid = site.rtsp.pid;
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = cpuTicks(pid);
    progress(`measuring for ${seconds} s`);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const ticks = cpuTicks(pid) - t0;
    return {
      streams: site.cameras.length,
      seconds,
      server_cpu_percent_of_core: Math.round((1000 * ticks) / CLK_TCK / seconds) / 10,
      server_rss_bytes: rssBytes(pid),
    };
  } finally {
    await Promise.all(readers.map((r) => r.stop()));
    await site.stop();
  }
}
