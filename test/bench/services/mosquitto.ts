/**
 * A real Mosquitto 2.0 (`/usr/sbin/mosquitto`) for tests: a foreground child listening on
 * 127.0.0.1 only, with config, log and persistence in a temp dir.
 *
 * Run as root, mosquitto switches to the user named by `user` (default `mosquitto`), which could
 * not write our root-owned temp dir; a credential change would also clear any parent-death
 * signal. So as root the config says `user root`, and nothing changes identity.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir } from '../lifetime.ts';
import { freePort, waitFor } from '../wait.ts';
import { exitedReason, readyOrExplain, retryOnPortClash, spawnService } from './child-service.ts';
import { BENCH_ERROR_CODES, BenchServiceError } from './errors.ts';
import { listensOn } from './process-state.ts';

const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

/** Options for {@link startMosquitto}. */
export interface MosquittoOptions {
  /** Port on 127.0.0.1. Default: a free port. Give a stopped broker's port to restart it in place. */
  port?: number;
  /** A `password_file` (see {@link writeMosquittoPasswordFile}). */
  passwordFile?: string;
  /** An `acl_file`. */
  aclFile?: string;
  /** `allow_anonymous`. Default: true without `passwordFile`, false with one. */
  allowAnonymous?: boolean;
  /** Lines appended to the generated config, e.g. `autosave_interval 1` for durability across SIGKILL. */
  extraConfig?: string;
  /**
   * Where `mosquitto.db` lives. Default: the temp dir, removed by `stop()`. A directory given
   * here is kept, so a restarted broker finds its sessions and queued messages.
   */
  persistenceDir?: string;
  /** `max_queued_messages` per client. Default 1,000,000: mosquitto's 1000 silently drops bursts. */
  maxQueuedMessages?: number;
  /** `max_inflight_messages` per client (QoS 1/2 sent but not yet acknowledged). Default 1000. */
  maxInflightMessages?: number;
  /** How long to wait for the broker to answer an MQTT CONNECT, in ms. Default 30000. */
  startTimeoutMs?: number;
}

/** A running Mosquitto. */
export interface MosquittoHandle {
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  /** Listener port. */
  readonly port: number;
  /** The generated config file (inside `tempDir`). */
  readonly configPath: string;
  /** The temp dir with config and log; removed by `stop()`. */
  readonly tempDir: string;
  /** Directory of `mosquitto.db`. */
  readonly persistenceDir: string;
  /** mosquitto's pid, also its process group id. */
  readonly pid: number;
  /** Stop mosquitto (SIGTERM, which saves the database; SIGKILL after 5 s) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Start Mosquitto on loopback and wait until it answers an MQTT CONNECT. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoHandle> {
  return retryOnPortClash(() => startOnce(opts), opts.port === undefined ? 3 : 1);
}

async function startOnce(opts: MosquittoOptions): Promise<MosquittoHandle> {
  const tmp = makeTempDir('mosquitto');
  const port = opts.port ?? (await freePort());
  const persistenceDir = opts.persistenceDir ?? tmp.path;
  const configPath = join(tmp.path, 'mosquitto.conf');
  writeFileSync(
    configPath,
    mosquittoConfig({ ...opts, port, persistenceDir, runningAsRoot: process.getuid?.() === 0 }),
  );

  const svc = spawnService(MOSQUITTO, ['-c', configPath], {
    name: 'mosquitto',
    logFile: join(tmp.path, 'mosquitto.log'),
    stopTimeoutMs: 5000,
  });
  await readyOrExplain(
    svc,
    () =>
      // The port was free when picked; make sure the CONNACK will come from our mosquitto.
      waitFor(() => (listensOn(svc.child.pid, port) ? mqttConnack(port) : undefined), {
        what: `mosquitto CONNACK on port ${port}`,
        timeoutMs: opts.startTimeoutMs ?? 30_000,
        abortIf: () => exitedReason(svc),
      }),
    () => {
      tmp.remove();
    },
  );

  let stopping: Promise<void> | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    configPath,
    tempDir: tmp.path,
    persistenceDir,
    pid: svc.child.pid,
    stop() {
      stopping ??= (async () => {
        await svc.child.stop();
        tmp.remove();
      })();
      return stopping;
    },
  };
}

/** The generated config: one loopback listener, persistence, raised queue limits. */
export function mosquittoConfig(
  c: MosquittoOptions & { port: number; persistenceDir: string; runningAsRoot: boolean },
): string {
  const allowAnonymous = c.allowAnonymous ?? c.passwordFile === undefined;
  const lines = [
    `listener ${c.port} 127.0.0.1`,
    `allow_anonymous ${allowAnonymous}`,
    'persistence true',
    // mosquitto concatenates location and file name: the trailing slash matters.
    `persistence_location ${c.persistenceDir.endsWith('/') ? c.persistenceDir : `${c.persistenceDir}/`}`,
    `max_queued_messages ${c.maxQueuedMessages ?? 1_000_000}`,
    'max_queued_bytes 0',
    `max_inflight_messages ${c.maxInflightMessages ?? 1000}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    'log_timestamp_format %Y-%m-%dT%H:%M:%S',
  ];
  if (c.runningAsRoot) lines.push('user root');
  if (c.passwordFile !== undefined) lines.push(`password_file ${c.passwordFile}`);
  if (c.aclFile !== undefined) lines.push(`acl_file ${c.aclFile}`);
  if (c.extraConfig !== undefined) lines.push(c.extraConfig);
  return `${lines.join('\n')}\n`;
}

/**
 * Write a mosquitto `password_file` holding `users` (name → password), hashed by
 * `mosquitto_passwd`. Overwrites `path`.
 */
export async function writeMosquittoPasswordFile(path: string, users: Record<string, string>): Promise<void> {
  const run = promisify(execFile);
  writeFileSync(path, '', { mode: 0o600 });
  for (const [user, password] of Object.entries(users)) {
    if (user.includes(':') || user === '') {
      throw new BenchServiceError(
        BENCH_ERROR_CODES.BAD_OPTION,
        `mosquitto user name not allowed: ${JSON.stringify(user)}`,
      );
    }
    await run(MOSQUITTO_PASSWD, ['-b', path, user, password]);
  }
}

/**
 * Readiness probe: an MQTT 3.1.1 CONNECT on a raw socket. Any CONNACK, accepted or refused
 * (a broker without anonymous access refuses us), means the broker is serving MQTT.
 */
function mqttConnack(port: number): Promise<true | undefined> {
  const clientId = Buffer.from(`sharpeyes-probe-${process.pid}`);
  const variableHeader = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00]);
  const payload = Buffer.concat([Buffer.from([clientId.length >> 8, clientId.length & 0xff]), clientId]);
  const connectPacket = Buffer.concat([
    Buffer.from([0x10, variableHeader.length + payload.length]),
    variableHeader,
    payload,
  ]);
  const disconnectPacket = Buffer.from([0xe0, 0x00]);
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      settle(false);
    }, 2000);
    const settle = (ok: boolean): void => {
      clearTimeout(timer);
      resolve(ok ? true : undefined);
      if (ok) socket.end(disconnectPacket);
      else socket.destroy();
    };
    socket.once('connect', () => socket.write(connectPacket));
    socket.once('data', (chunk: Buffer) => {
      settle(chunk[0] === 0x20);
    });
    socket.on('error', () => {
      settle(false);
    });
    socket.once('close', () => {
      settle(false);
    });
  });
}
