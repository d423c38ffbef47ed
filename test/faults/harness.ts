/**
 * The fault suite's harness: a simulated site that produces synthetic events through the REAL
 * edge spool and MQTT link (edge-agent/src/spool, edge-agent/src/publish, built as the agent
 * builds them), a gateway (in this process with `startGatewayApp`, or as the `gateway/bin/gateway`
 * process), a real influxd, and the one check every fault ends with: count in InfluxDB.
 *
 * The check ({@link verifyIndex}) lists every point of the site straight from influxd (not
 * through the gateway's search, which de-duplicates) and compares them with what the edge
 * produced: every point counted (a duplicate would be a second point with the same event id),
 * none missing, none extra; then the gateway's search returns each event with the sha256 the
 * edge computed for its crop, and the evidence store returns bytes that hash to it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { Registry } from 'prom-client';
import sharp from 'sharp';
import { startGatewayApp, type GatewayApp } from '../../gateway/src/app.ts';
import { hashSitePassword } from '../../gateway/src/broker/passwords.ts';
import { parseConfig } from '../../gateway/src/config/load.ts';
import { DirEvidenceStore } from '../../gateway/src/evidence/index.ts';
import { indexOptionsFromConfig, InfluxEventIndex } from '../../gateway/src/index/index.ts';
import { createLogger, silentLogger, type Logger } from '../../gateway/src/log.ts';
import { Direction, Event, EventKind, PlateColour } from '../../proto/gen/sharpeyes/v1/event.ts';
import { encodeUlidRandom, encodeUlidTime } from '../../edge-agent/src/track/ulid.ts';
import type { Spool } from '../../edge-agent/src/spool/index.ts';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { createLogger as createEdgeLogger } from '../../edge-agent/src/log.ts';
import { makeEdge, testMqttSection, type TestEdge } from '../edge/publish/harness.ts';
import { spawnManaged, type ManagedChild, type TempDir } from '../bench/lifetime.ts';
import { freePort, waitFor } from '../bench/wait.ts';

/** The simulated site. */
export const SITE = 'village-7';
/** Its MQTT password (the sites file holds its hashes). */
export const SITE_PASSWORD = 'fault-suite-site-password';
/** The environment variable the edge reads its password from. */
export const SITE_PASSWORD_ENV = 'SHARPEYES_FAULT_SITE_PASSWORD';
/** The gateway ingest's MQTT credential with an external broker (Mosquitto's password file holds it). */
export const GATEWAY_MQTT = {
  username: '@sharpeyes-ingest',
  password: 'fault-suite-ingest-password',
} as const;

const ROOT = join(import.meta.dirname, '..', '..');
const GATEWAY_BIN = join(ROOT, 'gateway', 'bin', 'gateway');
const TSX_LOADER = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const EDGE_CHILD = join(import.meta.dirname, 'fixtures', 'edge-child.ts');
const execFileAsync = promisify(execFile);

// ── Synthetic events ─────────────────────────────────────────────────────────

/** A tiny real JPEG (24×24, flat grey, ~300 bytes), made once per process. */
let baseJpeg: Buffer | undefined;
export async function loadBaseJpeg(): Promise<Buffer> {
  baseJpeg ??= await sharp({
    create: { width: 24, height: 24, channels: 3, background: { r: 90, g: 110, b: 130 } },
  })
    .jpeg({ quality: 80 })
    .toBuffer();
  return baseJpeg;
}

/** `base` with a COM segment holding `tag` right after SOI: still a JPEG, with its own sha256. */
function taggedJpeg(base: Buffer, tag: string): Buffer {
  const text = Buffer.from(tag, 'utf8');
  const len = text.length + 2;
  return Buffer.concat([
    base.subarray(0, 2),
    Buffer.from([0xff, 0xfe, len >> 8, len & 0xff]),
    text,
    base.subarray(2),
  ]);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What identifies one run's events: a nonce in every id, and the time of event 0. */
export interface RunIdentity {
  /** 8 hex digits. */
  run: string;
  baseMs: number;
}

/** A new run identity: events start a minute in the past (inside any retention, never in the future). */
export function newRun(): RunIdentity {
  return {
    run: createHash('sha256').update(`${process.pid}-${Math.random()}`).digest('hex').slice(0, 8),
    baseMs: Date.now() - 60_000,
  };
}

/**
 * Synthetic events numbered i = 0, 1, …: deterministic from (run, i), so a child edge process
 * and the test agree on every id and every crop hash without talking. Event i is seen at
 * `baseMs + i` ms; its id is a ULID of that time whose random part holds the run nonce and i.
 * One in five is a face (the face retention policy), the rest plates; four cameras.
 */
export class SyntheticEvents {
  constructor(
    readonly ident: RunIdentity,
    private readonly jpeg: Buffer,
    readonly site: string = SITE,
  ) {}

  static async create(ident: RunIdentity, site: string = SITE): Promise<SyntheticEvents> {
    return new SyntheticEvents(ident, await loadBaseJpeg(), site);
  }

  id(i: number): string {
    const rand = new Uint8Array(10);
    const view = new DataView(rand.buffer);
    view.setUint32(0, Number.parseInt(this.ident.run, 16));
    view.setUint32(6, i);
    return encodeUlidTime(this.ident.baseMs + i) + encodeUlidRandom(rand);
  }

  crop(i: number): Buffer {
    return taggedJpeg(this.jpeg, this.id(i));
  }

  make(i: number): Event {
    const t = this.ident.baseMs + i;
    const eventId = this.id(i);
    const crop = this.crop(i);
    const face = i % 5 === 4;
    return Event.fromPartial({
      eventId,
      siteId: this.site,
      cameraId: `cam-${i % 4}`,
      kind: face ? EventKind.EVENT_KIND_FACE : EventKind.EVENT_KIND_PLATE,
      timeMs: t,
      firstSeenMs: t,
      lastSeenMs: t + 1200,
      box: { x: 100, y: 200, width: 120, height: 40 },
      frameWidth: 1280,
      frameHeight: 720,
      confidence: 0.9,
      trackId: `t${i}`,
      revision: 0,
      detail: face
        ? { $case: 'face', value: { keypoints: [{ x: 0.4, y: 0.5 }] } }
        : {
            $case: 'plate',
            value: {
              text: `京A${String(10000 + (i % 90000))}`,
              colour: PlateColour.PLATE_COLOUR_BLUE,
              charConfidences: [],
              agreeingReads: 3,
              totalReads: 4,
            },
          },
      evidence: {
        jpeg: crop,
        sha256: sha256Hex(crop),
        width: 24,
        height: 24,
        contextJpeg: Buffer.alloc(0),
        contextSha256: '',
      },
      modelIds: ['fault-suite'],
      direction: i % 2 === 0 ? Direction.DIRECTION_IN : Direction.DIRECTION_OUT,
    });
  }

  /** Event id → crop sha256 for the indices given. */
  expected(indices: Iterable<number>): Map<string, string> {
    const out = new Map<string, string>();
    for (const i of indices) out.set(this.id(i), sha256Hex(this.crop(i)));
    return out;
  }
}

/** `from, from+1, …, to-1`. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);
}

// ── Producing into the real spool ────────────────────────────────────────────

/** Options of {@link Producer}. */
export interface ProduceOptions {
  /** First event number. */
  from: number;
  /** Events to produce. */
  count: number;
  /** Events per second (the detector's pace); 0 = as fast as the spool takes them. */
  ratePerS: number;
  /** Publishes awaiting their fsync at once (the detector's tracks closing together). Default 64. */
  window?: number;
}

/**
 * Publishes events into the spool as the detector would (`Spool.publish` is the agent's
 * EventSink): paced, several awaiting their group-commit fsync at once. A refused event
 * (disk full) is counted, not thrown: the detector carries on.
 */
export class Producer {
  /** Events the spool accepted (fsynced). */
  accepted = 0;
  /** Events it refused, by error code. */
  readonly refused = new Map<string, number>();
  /** Events handed to the spool so far (accepted, refused or pending). */
  started = 0;
  /** Every event below `from + contiguous` is settled (accepted or refused). */
  contiguous = 0;
  /** Resolves once every event was handed over and settled. */
  readonly done: Promise<void>;
  readonly #settled: boolean[] = [];
  #stop = false;

  constructor(spool: Spool, events: SyntheticEvents, o: ProduceOptions) {
    this.done = this.#run(spool, events, o);
  }

  /** Stop after the publishes in progress. */
  stop(): Promise<void> {
    this.#stop = true;
    return this.done;
  }

  async #run(spool: Spool, events: SyntheticEvents, o: ProduceOptions): Promise<void> {
    const window = o.window ?? 64;
    const pending = new Set<Promise<void>>();
    const t0 = Date.now();
    for (let k = 0; k < o.count && !this.#stop; k++) {
      if (o.ratePerS > 0) {
        const due = t0 + (k * 1000) / o.ratePerS;
        const wait = due - Date.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      while (pending.size >= window) await Promise.race(pending);
      this.started += 1;
      const settle = (): void => {
        this.#settled[k] = true;
        while (this.#settled[this.contiguous] === true) this.contiguous += 1;
        pending.delete(p);
      };
      const p: Promise<void> = spool.publish(events.make(o.from + k)).then(
        () => {
          this.accepted += 1;
          settle();
        },
        (err: unknown) => {
          const code = isEdgeError(err) ? err.code : 'unexpected';
          this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
          settle();
        },
      );
      pending.add(p);
    }
    await Promise.all(pending);
  }
}

// ── The edge in this process ─────────────────────────────────────────────────

/** Build and start an edge (spool + link) for {@link SITE} on `url`, data in `dataDir`. */
export function startEdge(dataDir: string, url: string, logFile?: string): Promise<TestEdge> {
  return makeEdge(dataDir, {
    siteId: SITE,
    mqtt: testMqttSection(url, { password_env: SITE_PASSWORD_ENV }),
    env: { [SITE_PASSWORD_ENV]: SITE_PASSWORD },
    spool: { batch_max_events: 500, inflight_max: 64 },
    ...(logFile !== undefined && {
      logger: createEdgeLogger('debug', createWriteStream(logFile, { flags: 'a' })),
    }),
  });
}

function fileLogger(path: string): Logger {
  return createLogger('debug', createWriteStream(path, { flags: 'a' }));
}

/**
 * A pino log's warnings and errors (the last `max`), for a failure message: the log's directory
 * is deleted when the test ends, so a CI run keeps only what the error says.
 */
export function logProblems(path: string, max = 30): string {
  if (!existsSync(path)) return '(no log)';
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => /^\{"level":(4|5|6)0,/.test(line));
  return lines.length === 0 ? '(no warnings)' : lines.slice(-max).join('\n');
}

// ── The edge as a child process ──────────────────────────────────────────────

/** What the child edge is told (one JSON argument); see fixtures/edge-child.ts. */
export interface EdgeChildOptions {
  dataDir: string;
  url: string;
  ident: RunIdentity;
  from: number;
  count: number;
  ratePerS: number;
  /** Spool bound, bytes (default 256 MiB: the disk is the bound). */
  spoolMaxBytes?: number;
  segmentBytes?: number;
  /** Produce this many, then wait for SIGUSR2 before producing the rest. */
  holdAt?: number;
}

/** The last progress line of a child edge. */
export interface EdgeChildProgress {
  /** Events accepted by the spool: every event below `from + contiguous` is durably spooled. */
  accepted: number;
  contiguous: number;
  refused: Record<string, number>;
  produced: boolean;
  /** Waiting for SIGUSR2 (see `holdAt`). */
  holding: boolean;
  spool: { events: number; evicted: number; contextsDropped: number; acked: number; bytes: number };
  link: { connected: boolean; eventsSent: number; batchesSent: number };
  /** `sharpeyes_edge_spool_evicted_total{what="event"}` and `sharpeyes_edge_spool_refused_total`. */
  metrics: { evictedEvents: number; refusedEvents: number };
}

/** A running child edge. */
export interface EdgeChild {
  readonly child: ManagedChild;
  progress(): EdgeChildProgress | undefined;
  /** Resolves when the child reports that every event was produced. */
  readonly produced: Promise<EdgeChildProgress>;
}

/**
 * Run the edge (spool + link, as the agent builds them, producing synthetic events) as its own
 * process, optionally wrapped (`unshare …` for a private tmpfs). Progress comes as JSON lines.
 */
export function startEdgeChild(
  o: EdgeChildOptions,
  logFile: string,
  wrap?: { command: string; args: string[] },
): EdgeChild {
  const nodeArgs = ['--import', `file://${TSX_LOADER}`, EDGE_CHILD, JSON.stringify(o)];
  const env = { ...process.env, [SITE_PASSWORD_ENV]: SITE_PASSWORD };
  const child =
    wrap === undefined
      ? spawnManaged(process.execPath, nodeArgs, { name: 'edge-child', pipeStdout: true, logFile, env })
      : spawnManaged(wrap.command, [...wrap.args, process.execPath, ...nodeArgs], {
          name: 'edge-child',
          pipeStdout: true,
          logFile,
          env,
        });
  let last: EdgeChildProgress | undefined;
  let resolveProduced: (p: EdgeChildProgress) => void = () => undefined;
  let rejectProduced: (err: Error) => void = () => undefined;
  const produced = new Promise<EdgeChildProgress>((resolve, reject) => {
    resolveProduced = resolve;
    rejectProduced = reject;
  });
  produced.catch(() => undefined);
  const stdout = child.process.stdout;
  if (stdout !== null) {
    createInterface({ input: stdout }).on('line', (line) => {
      appendFileSync(logFile, `${line}\n`);
      if (!line.startsWith('{')) return;
      last = JSON.parse(line) as EdgeChildProgress;
      if (last.produced) resolveProduced(last);
    });
  }
  void child.exited.then((e) => {
    rejectProduced(new Error(`edge child exited (${e.signal ?? `code ${String(e.code)}`}) before producing`));
  });
  return { child, progress: () => last, produced };
}

// ── The gateway ──────────────────────────────────────────────────────────────

/** Where a gateway keeps its state, so a restart (in process or as a process) finds it again. */
export interface GatewaySetup {
  /** Root: config.json, sites.json, data/ (broker LevelDB, evidence). */
  dir: string;
  influxUrl: string;
  database: string;
  /** Plain MQTT port of the embedded broker, fixed so the edge finds a restarted gateway. */
  brokerPort: number;
  /** An external broker instead of the embedded one. */
  external?: { url: string };
  /** Extra `ingest` settings. */
  ingest?: Record<string, unknown>;
  /** Ingest's MQTT keepalive, s (default 60). */
  keepaliveS?: number;
}

/**
 * A gateway setup under `<tmp>/gateway` on a fresh broker port, with its sites file written
 * ({@link SITE} and `others`).
 */
export async function newGatewaySetup(
  tmp: TempDir,
  influxUrl: string,
  database: string,
  extra: Partial<Omit<GatewaySetup, 'dir' | 'influxUrl' | 'database'>> = {},
  others: readonly string[] = [],
): Promise<GatewaySetup> {
  const setup: GatewaySetup = {
    dir: join(tmp.path, 'gateway'),
    influxUrl,
    database,
    brokerPort: await freePort(),
    ...extra,
  };
  await writeSitesFile(setup, others);
  return setup;
}

/** The MQTT password of another test site. */
export function otherSitePassword(site: string): string {
  return `fault-suite-${site}-password`;
}

/**
 * Write the sites file once: {@link SITE} and any `others` (password {@link otherSitePassword}),
 * each with its scrypt and Mosquitto hashes. Returns {@link SITE}'s hashes.
 */
export async function writeSitesFile(
  setup: GatewaySetup,
  others: readonly string[] = [],
): Promise<{ passwordHash: string; mosquittoPasswordHash: string }> {
  mkdirSync(setup.dir, { recursive: true });
  const own = await hashSitePassword(SITE_PASSWORD);
  const entries = [{ site: SITE, h: own }];
  for (const site of others) entries.push({ site, h: await hashSitePassword(otherSitePassword(site)) });
  writeFileSync(
    join(setup.dir, 'sites.json'),
    JSON.stringify({
      sites: entries.map(({ site, h }) => ({
        site_id: site,
        password_hash: h.passwordHash,
        mosquitto_password_hash: h.mosquittoPasswordHash,
        enabled: true,
      })),
    }),
    { mode: 0o600 },
  );
  return own;
}

/** The gateway's configuration file content. */
export function gatewayConfig(setup: GatewaySetup, logLevel = 'info'): Record<string, unknown> {
  return {
    log_level: logLevel,
    data_dir: join(setup.dir, 'data'),
    http: { host: '127.0.0.1', port: 0 },
    api: { grpc: { port: 0 } },
    broker:
      setup.external === undefined
        ? {
            mode: 'embedded',
            host: '127.0.0.1',
            port: setup.brokerPort,
            sites_file: join(setup.dir, 'sites.json'),
            keepalive_s: setup.keepaliveS ?? 60,
            reconnect_period_ms: 200,
          }
        : {
            mode: 'external',
            url: setup.external.url,
            username: GATEWAY_MQTT.username,
            client_id: GATEWAY_MQTT.username,
            password: { value: GATEWAY_MQTT.password },
            keepalive_s: setup.keepaliveS ?? 60,
            reconnect_period_ms: 200,
          },
    influx: { mode: 'external' },
    index: { url: setup.influxUrl, database: setup.database },
    ingest: { retry_max_ms: 2000, ...setup.ingest },
  };
}

/**
 * Mosquitto's password and ACL files for `setup`, written by the gateway's own command
 * (`gateway mosquitto-files`, as a deployment does) from the sites file and the gateway's broker
 * credential, so they hold every MQTT user the gateway itself declares. Mosquitto is not running
 * yet, so the url in the configuration it reads is a placeholder.
 */
export async function writeMosquittoFilesByGateway(
  setup: GatewaySetup,
  files: { passwordFile: string; aclFile: string },
): Promise<void> {
  const config = gatewayConfig({ ...setup, external: { url: 'mqtt://127.0.0.1:1' } });
  const broker = { ...(config.broker as Record<string, unknown>), sites_file: join(setup.dir, 'sites.json') };
  const configPath = join(setup.dir, 'mosquitto-files.config.json');
  writeFileSync(configPath, JSON.stringify({ ...config, broker }));
  await execFileAsync(
    GATEWAY_BIN,
    [
      'mosquitto-files',
      '--config',
      configPath,
      '--password-file',
      files.passwordFile,
      '--acl-file',
      files.aclFile,
    ],
    { timeout: 120_000, killSignal: 'SIGKILL' },
  );
}

/** Start the gateway in this process. Logs (debug) go to `logFile` when given. */
export function startGateway(setup: GatewaySetup, logFile?: string): Promise<GatewayApp> {
  const config = parseConfig(gatewayConfig(setup));
  return startGatewayApp({ config, logger: logFile === undefined ? silentLogger() : fileLogger(logFile) });
}

/** The gateway process. */
export interface GatewayProcess {
  readonly child: ManagedChild;
  readonly httpUrl: string;
}

/** Run `gateway/bin/gateway --config <dir>/config.json`; resolves once it logs "gateway started". */
export function startGatewayProcess(setup: GatewaySetup, logFile: string): Promise<GatewayProcess> {
  const configPath = join(setup.dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(gatewayConfig(setup)));
  const child = spawnManaged(GATEWAY_BIN, ['--config', configPath], {
    name: 'gateway',
    pipeStdout: true,
    logFile,
    stopTimeoutMs: 15_000,
  });
  return new Promise((resolve, reject) => {
    const stdout = child.process.stdout;
    if (stdout === null) {
      reject(new Error('gateway has no stdout'));
      return;
    }
    createInterface({ input: stdout }).on('line', (line) => {
      appendFileSync(logFile, `${line}\n`);
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { msg?: string; http_url?: string };
      if (msg.msg === 'gateway started') resolve({ child, httpUrl: String(msg.http_url) });
    });
    void child.exited.then((e) => {
      reject(new Error(`gateway exited before it started: ${JSON.stringify(e)}; see ${logFile}`));
    });
  });
}

/** A value from a Prometheus text exposition (`name{labels} value`), summed over matching lines. */
export async function scrapeMetric(
  httpUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const l = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/**
 * A counter's or gauge's value in a prom-client registry (the gateway's, or an edge's), summed
 * over label sets matching `labels`.
 */
export async function registryMetric(
  app: { readonly registry: Registry },
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = app.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((a, v) => a + v.value, 0);
}

// ── Counting in InfluxDB ─────────────────────────────────────────────────────

interface QueryResult {
  results?: { series?: { columns: string[]; values: (string | number | null)[][] }[]; error?: string }[];
  error?: string;
}

async function influxQuery(
  influxUrl: string,
  database: string,
  q: string,
  params: Record<string, string>,
): Promise<(string | number | null)[][]> {
  const form = new URLSearchParams({ q, db: database, params: JSON.stringify(params), epoch: 'ns' });
  const res = await fetch(`${influxUrl}/query`, {
    method: 'POST',
    body: form,
    signal: AbortSignal.timeout(60_000),
  });
  const body = (await res.json()) as QueryResult;
  const failed = body.error ?? body.results?.find((r) => r.error !== undefined)?.error;
  if (!res.ok || failed !== undefined) {
    // A database not created yet (the gateway has not opened its index) holds nothing.
    if (failed !== undefined && /database not found/.test(failed)) return [];
    throw new Error(`influxd query failed (HTTP ${res.status}): ${failed ?? ''}`);
  }
  return (body.results ?? []).flatMap((r) => (r.series ?? []).flatMap((s) => s.values));
}

/** Points of `site` in the `events` measurement of both retention policies (COUNT, not distinct ids). */
export async function countPoints(influxUrl: string, database: string, site: string = SITE): Promise<number> {
  let n = 0;
  for (const rp of ['plate', 'face']) {
    const rows = await influxQuery(
      influxUrl,
      database,
      `SELECT count("event_id") FROM "${rp}"."events" WHERE "site" = $site`,
      { site },
    );
    n += Number(rows[0]?.[1] ?? 0);
  }
  return n;
}

/** What {@link verifyIndex} found. */
export interface IndexReport {
  /** Points of the site in `events` (face + plate policies). */
  points: number;
  /** Distinct event ids among them. */
  distinct: number;
  /** points − distinct. */
  duplicates: number;
  /** Expected ids with no point. */
  missing: string[];
  /** Ids with a point that were never expected. */
  extra: string[];
  /** Points of the site in the plate policy's `events`. */
  platePoints: number;
  /** Points in `plate_lookup_16k` for the site: one per plate event, so equal to `platePoints`. */
  lookupPoints: number;
  /** Crops of expected events read back from the evidence store and hashed. */
  evidenceChecked: number;
  /** Crops of the `extra` events (strangers with a crop) read back and hashed. */
  extraEvidenceChecked: number;
  /**
   * Event ids whose crop is missing from the store or does not hash to the sha256 the indexed
   * event names, or (expected events) whose sha256 is not the one the edge computed, or with a
   * point that the gateway's search does not return.
   */
  evidenceBad: string[];
}

/**
 * Check what the gateway stored for the events `indices` of `events` (and nothing else of its
 * site). Points are listed straight from influxd by the documented schema (decision 10:
 * measurement `events` per policy, tag `site`, field `event_id`), not through the gateway's
 * search, which de-duplicates: so a duplicate (two points of one id) and a stranger both show.
 * Then the gateway's own read path: its search returns each event with the sha256 of its crop,
 * which must be the edge's, and the evidence store returns bytes that hash to it.
 */
export async function verifyIndex(
  setup: GatewaySetup,
  events: SyntheticEvents,
  indices: Iterable<number>,
): Promise<IndexReport> {
  const { influxUrl, database } = setup;
  const site = events.site;
  const expected = events.expected(indices);
  const ids: string[] = [];
  /** Point time (ms) of each id: where the search finds an id outside the run's window. */
  const pointMs = new Map<string, number>();
  let platePoints = 0;
  for (const rp of ['plate', 'face']) {
    const got = await influxQuery(
      influxUrl,
      database,
      `SELECT "event_id" FROM "${rp}"."events" WHERE "site" = $site`,
      { site },
    );
    if (rp === 'plate') platePoints = got.length;
    for (const row of got) {
      ids.push(String(row[1]));
      pointMs.set(String(row[1]), Math.floor(Number(row[0]) / 1e6));
    }
  }
  const lookupRows = await influxQuery(
    influxUrl,
    database,
    'SELECT count("event_id") FROM "plate"."plate_lookup_16k" WHERE "site" = $site',
    { site },
  );
  const seen = new Map<string, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  const missing = [...expected.keys()].filter((id) => !seen.has(id));
  const extra = [...seen.keys()].filter((id) => !expected.has(id));

  // The gateway's read path: search (every page of the run's time window), then the evidence store.
  const config = parseConfig(gatewayConfig(setup));
  const index = await InfluxEventIndex.open({ ...indexOptionsFromConfig(config.index), url: influxUrl });
  const store = await DirEvidenceStore.open({ dir: config.evidence.dir });
  const found = new Map<string, string>();
  const query = {
    fromMs: events.ident.baseMs - 3600_000,
    toMs: events.ident.baseMs + 3600_000,
    siteIds: [site],
    limit: 1000,
  };
  let cursor: string | undefined;
  do {
    const page = await index.search({ ...query, ...(cursor !== undefined && { cursor }) });
    for (const e of page.events) found.set(e.eventId, e.evidence?.sha256 ?? '');
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  // Strangers outside the run's window (a fuzz mutant with a flipped time): searched at their
  // own point time, so every crop the gateway stored is verified, not only the expected ones.
  for (const id of extra) {
    const ms = pointMs.get(id);
    if (found.has(id) || ms === undefined) continue;
    const page = await index.search({ fromMs: ms - 1, toMs: ms + 2, siteIds: [site], limit: 1000 });
    const hit = page.events.find((e) => e.eventId === id);
    if (hit !== undefined) found.set(id, hit.evidence?.sha256 ?? '');
  }
  const evidenceBad: string[] = [];
  let evidenceChecked = 0;
  let extraEvidenceChecked = 0;
  for (const [id, sha] of found) {
    const want = expected.get(id);
    if (want === undefined && sha === '') continue;
    let ok = want === undefined || sha === want;
    if (ok) {
      if (want === undefined) extraEvidenceChecked += 1;
      else evidenceChecked += 1;
      const bytes = await store.get(sha).catch(() => undefined);
      ok = bytes !== undefined && sha256Hex(bytes) === sha;
    }
    if (!ok) evidenceBad.push(id);
  }
  for (const id of seen.keys()) if (!found.has(id)) evidenceBad.push(id);
  return {
    points: ids.length,
    distinct: seen.size,
    duplicates: ids.length - seen.size,
    missing,
    extra,
    platePoints,
    lookupPoints: Number(lookupRows[0]?.[1] ?? 0),
    evidenceChecked,
    extraEvidenceChecked,
    evidenceBad,
  };
}

/**
 * Wait until influxd holds `n` points of the site (or `timeoutMs` passes), polling. On timeout,
 * `explain()` says where the rest is.
 */
export async function untilPoints(
  influxUrl: string,
  database: string,
  n: number,
  opts: {
    timeoutMs?: number;
    explain?: () => Promise<string> | string;
    abortIf?: () => string | undefined;
    site?: string;
  } = {},
): Promise<void> {
  const site = opts.site ?? SITE;
  try {
    await waitFor(async () => ((await countPoints(influxUrl, database, site)) >= n ? true : undefined), {
      what: `${n} points in InfluxDB`,
      timeoutMs: opts.timeoutMs ?? 120_000,
      intervalMs: 500,
      ...(opts.abortIf !== undefined && { abortIf: opts.abortIf }),
    });
  } catch (err) {
    const detail = opts.explain === undefined ? '' : `; ${await opts.explain()}`;
    const have = await countPoints(influxUrl, database, site).catch(() => -1);
    throw new Error(`${(err as Error).message} (have ${have})${detail}`, { cause: err });
  }
}

/** Wait until `probe` holds (a fault's "mid-stream" moment); on timeout add `explain()`. */
export async function until(
  probe: () => boolean | Promise<boolean>,
  what: string,
  explain?: () => string,
  timeoutMs = 120_000,
): Promise<void> {
  try {
    await waitFor(async () => ((await probe()) ? true : undefined), { what, timeoutMs, intervalMs: 50 });
  } catch (err) {
    throw new Error(`${(err as Error).message}${explain === undefined ? '' : `; ${explain()}`}`, {
      cause: err,
    });
  }
}

/**
 * The end of a fault's temp dir. It holds ~10 000 evidence files in ~10 000 directories (the
 * store's two-level fan-out), and unlinking ~20 000 inodes takes 15–45 s on this busy disk —
 * longer than the fault itself. So the dir is not removed here: it stays registered with the
 * bench's reaper, which removes it right after this test process exits (vitest runs each file
 * in its own process), in the background, whether the test passed, failed or was killed.
 */
export function leaveToReaper(_dir: TempDir): void {
  // Deliberately nothing: see above.
}

/**
 * Run every teardown step in order, each even if an earlier one failed (a failed stop must not
 * leave the next child running until the process exits), then throw the failures together.
 */
export async function tearDown(...steps: (() => unknown)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} teardown steps failed`);
}

// ── Reporting ────────────────────────────────────────────────────────────────

/** One fault's figures, printed as a JSON line (and appended to $SHARPEYES_FAULT_REPORT when set). */
export function report(fault: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ fault, ...figures });
  process.stdout.write(`${line}\n`);
  const file = process.env.SHARPEYES_FAULT_REPORT;
  if (file !== undefined && file !== '') appendFileSync(file, `${line}\n`);
}

/** Ids, shortened for a failure message. */
export function sample(ids: readonly string[], n = 10): string {
  return ids.length <= n ? ids.join(',') : `${ids.slice(0, n).join(',')} … (${ids.length})`;
}
