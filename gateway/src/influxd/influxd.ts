/**
 * A managed influxd child for the standalone gateway and the demo (`influx.mode: "child"`):
 * InfluxDB 1.x (`influxd run -config FILE`) with its config, meta, data and WAL under one
 * directory, listening on 127.0.0.1 only (HTTP on `port`, the RPC service on a free port; every
 * input plugin off).
 *
 * - It runs in its own process group behind `setpriv --pdeathsig SIGKILL` (util-linux), so it
 *   dies with the gateway even when the gateway is SIGKILLed.
 * - Ready when `/ping` answers 204; a child that exits first fails the start with the tail of
 *   its log.
 * - If it exits on its own later, it is restarted with backoff (1 s doubling to 30 s); writes
 *   meanwhile are retried by ingest.
 * - `stop()`: SIGTERM to the group, SIGKILL after 10 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  createWriteStream,
  mkdirSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** Options of {@link startManagedInfluxd}. */
export interface ManagedInfluxdOptions {
  /** The influxd binary. */
  influxdPath: string;
  /** Directory for influxd.conf, influxd.log, meta/, data/, wal/. */
  dir: string;
  /** HTTP port on 127.0.0.1; 0 = a free port (kept across restarts). */
  port: number;
  startTimeoutMs: number;
  logger: Logger;
}

/** A running managed influxd. */
export interface ManagedInfluxd {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Current pid (changes when restarted). */
  pid(): number | undefined;
  /** Whether influxd is running now. */
  running(): boolean;
  /** Stop it and stop restarting it. Idempotent. */
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 10_000;
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const TAIL_BYTES = 8192;

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr === null || typeof addr === 'string') reject(new Error('no port from listen(0)'));
        else resolve(addr.port);
      });
    });
  });
}

/** What {@link influxdConfig} writes. */
export interface InfluxdConfigOptions {
  /** Directory holding meta/, data/ and wal/. */
  dir: string;
  /** HTTP port on 127.0.0.1. */
  port: number;
  /** Port of the RPC (backup/restore) service on 127.0.0.1. */
  rpcPort: number;
  /**
   * TSM index: `tsi1` (default: on-disk, what the gateway runs) or influxd's own default `inmem`.
   * With 4 096 plate buckets per shard, tsi1 keeps influxd's heap small; the query cost of the
   * index's searches is the same with either (docs/decisions.md decision 10).
   */
  indexVersion?: 'tsi1' | 'inmem';
  /** influxd's log level. Default `warn`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * How long a shard must go without writes before influxd writes its cache to TSM and compacts
   * it fully (one TSM file: the cheapest to query), as a Go duration; sets both
   * `cache-snapshot-write-cold-duration` and `compact-full-write-cold-duration`. Default
   * influxd's (10m and 4h). Benchmarks that load 30 days of events in minutes set it short, so
   * that their shards are in the state a running gateway's older shards are in.
   */
  compactFullWriteColdDuration?: string;
}

/**
 * influxd's config file — the one writer of it, for the managed child and the test harness
 * (test/bench/services/influxd.ts). Everything that can listen is on 127.0.0.1 or off: the HTTP
 * API, the RPC service (top-level `bind-address`), and every input plugin `influxd config` lists.
 */
export function influxdConfig(c: InfluxdConfigOptions): string {
  const q = (s: string): string => JSON.stringify(s);
  return `reporting-enabled = false
bind-address = ${q(`127.0.0.1:${c.rpcPort}`)}

[meta]
  dir = ${q(join(c.dir, 'meta'))}
  logging-enabled = false

[data]
  dir = ${q(join(c.dir, 'data'))}
  wal-dir = ${q(join(c.dir, 'wal'))}
  index-version = ${q(c.indexVersion ?? 'tsi1')}
  query-log-enabled = false${
    c.compactFullWriteColdDuration === undefined
      ? ''
      : `\n  cache-snapshot-write-cold-duration = ${q(c.compactFullWriteColdDuration)}` +
        `\n  compact-full-write-cold-duration = ${q(c.compactFullWriteColdDuration)}`
  }

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = ${q(`127.0.0.1:${c.port}`)}
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
  https-enabled = false
  unix-socket-enabled = false

[logging]
  level = ${q(c.logLevel ?? 'warn')}
  suppress-logo = true

[ifql]
  enabled = false
  bind-address = "127.0.0.1:0"

[[graphite]]
  enabled = false
  bind-address = "127.0.0.1:0"

[[collectd]]
  enabled = false
  bind-address = "127.0.0.1:0"

[[opentsdb]]
  enabled = false
  bind-address = "127.0.0.1:0"

[[udp]]
  enabled = false
  bind-address = "127.0.0.1:0"
`;
}

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/bin'].filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here (or not executable): try the next directory.
      continue;
    }
  }
  return undefined;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    // ESRCH: the group is already gone, which is what we want.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function ping(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 204;
  } catch {
    // Not listening yet (ECONNREFUSED) or slow: the caller polls again.
    return false;
  }
}

/** Start influxd and wait until it answers. */
export async function startManagedInfluxd(opts: ManagedInfluxdOptions): Promise<ManagedInfluxd> {
  const log = opts.logger.child({ module: 'influxd' });
  mkdirSync(opts.dir, { recursive: true });
  const port = opts.port === 0 ? await freeLoopbackPort() : opts.port;
  const url = `http://127.0.0.1:${port}`;
  const configPath = join(opts.dir, 'influxd.conf');
  const logPath = join(opts.dir, 'influxd.log');
  const setpriv = findExecutable('setpriv');
  if (setpriv === undefined) log.warn('setpriv not found: influxd runs without a parent-death signal');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INFLUXDB_')));

  let child: ChildProcess | undefined;
  let logStream: WriteStream | undefined;
  let tail = '';
  let stopping = false;
  let restartDelay = RESTART_MIN_MS;
  let restartTimer: NodeJS.Timeout | undefined;

  const spawnOnce = async (): Promise<ChildProcess> => {
    const rpcPort = await freeLoopbackPort();
    writeFileSync(configPath, influxdConfig({ dir: opts.dir, port, rpcPort }));
    const args = ['run', '-config', configPath];
    const [cmd, argv] =
      setpriv === undefined
        ? [opts.influxdPath, args]
        : [setpriv, ['--pdeathsig', 'SIGKILL', '--', opts.influxdPath, ...args]];
    logStream = createWriteStream(logPath, { flags: 'a' });
    const c = spawn(cmd, argv, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stream = logStream;
    const onData = (chunk: Buffer): void => {
      stream.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    c.stdout.on('data', onData);
    c.stderr.on('data', onData);
    c.once('close', () => stream.end());
    if (c.pid === undefined) {
      const err = await new Promise<Error>((resolve) => c.once('error', resolve));
      throw new GatewayError('GATEWAY_ERR_INFLUXD', `cannot run ${opts.influxdPath}: ${err.message}`, {
        cause: err,
      });
    }
    return c;
  };

  const waitReady = async (c: ChildProcess): Promise<void> => {
    const deadline = Date.now() + opts.startTimeoutMs;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new GatewayError(
          'GATEWAY_ERR_INFLUXD',
          `influxd exited (${c.signalCode ?? `code ${String(c.exitCode)}`}) before answering; last output:\n${tail.trim()}`,
        );
      }
      if (await ping(url)) return;
      if (Date.now() > deadline) {
        throw new GatewayError(
          'GATEWAY_ERR_INFLUXD',
          `influxd did not answer ${url}/ping within ${opts.startTimeoutMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const supervise = (c: ChildProcess): void => {
    c.once('exit', (code, signal) => {
      const pid = c.pid;
      if (pid !== undefined) signalGroup(pid, 'SIGKILL');
      if (stopping || child !== c) return;
      child = undefined;
      log.error(
        { code, signal, restart_in_ms: restartDelay, last_output: tail.slice(-1000) },
        'influxd exited; restarting',
      );
      scheduleRestart();
    });
  };

  function scheduleRestart(): void {
    if (stopping || restartTimer !== undefined) return;
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      void restart();
    }, restartDelay);
    restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
  }

  const restart = async (): Promise<void> => {
    if (stopping) return;
    try {
      const c = await spawnOnce();
      child = c;
      supervise(c);
      await waitReady(c);
      restartDelay = RESTART_MIN_MS;
      log.info({ influxd_pid: c.pid, url }, 'influxd restarted');
    } catch (err) {
      log.error({ err }, 'influxd restart failed');
      // A child that started and then died is handled by its exit listener; one that never
      // started is retried from here.
      if (child === undefined) scheduleRestart();
    }
  };

  const killChild = async (c: ChildProcess): Promise<void> => {
    const pid = c.pid;
    if (pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => {
      c.once('exit', () => {
        resolve();
      });
    });
    signalGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => {
      signalGroup(pid, 'SIGKILL');
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const first = await spawnOnce();
  child = first;
  try {
    await waitReady(first);
  } catch (err) {
    stopping = true;
    await killChild(first);
    throw err;
  }
  supervise(first);
  log.info({ influxd_pid: first.pid, url, dir: opts.dir }, 'influxd started');

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    pid: () => child?.pid,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        if (restartTimer !== undefined) clearTimeout(restartTimer);
        if (child !== undefined) await killChild(child);
        log.info('influxd stopped');
      })();
      return stopped;
    },
  };
}
