/**
 * The gateway APIs under load, three phases:
 *
 * 1. search: N events (default 1M; `--events 10000000` for the issue's 10M scale) over 30 days
 *    loaded into a real influxd with the index's own schema (schema.ts `eventPoints`), 200
 *    registered cameras in 5 districts; then 20 concurrent gRPC clients (and then 20 REST clients)
 *    search for `--search-s` seconds (in the gateway's event loop; `--clients-in-worker 1`: in a
 *    worker thread, their own event loop — which measured no better on 2 cores: the clients' CPU
 *    is the same, plus a second V8 isolate's): exact plate over 30 days (global key), one camera over 24 h,
 *    a district-scoped key over 24 h. Every search is authorised, scoped and audited (fsynced
 *    SQLite) as in production. Latency percentiles per API.
 * 2. fan-out: 50 gRPC StreamEvents subscribers (in a worker thread: its own event loop, like
 *    remote clients) while events are published on the live bus at 1000/s; latency = receipt −
 *    publish time. Reports percentiles, first vs last third (growing lag?), delivered share.
 * 3. rss: a gateway process (the app: embedded broker, ingest, index, evidence; plus the registry
 *    with 10 000 cameras at 250 sites, the live bus, REST and gRPC APIs) while a simulated fleet
 *    (another process, 250 MQTT site connections) sends every camera's status every 10 s
 *    (1000 messages/s). RSS sampled every second; MALLOC_ARENA_MAX=2 (see docs/api.md).
 *
 *   npm run bench -- api [--events N] [--clients N] [--search-s S] [--subscribers N]
 *                        [--rate N] [--fanout-s S] [--cameras N] [--sites N] [--rss-s S]
 *                        [--skip search,fanout,rss] [--data-dir DIR] [--rss-node-options OPTS]
 *                        [--index-max-queries N] [--shard-hours H] [--clients-in-worker 1]
 *                        [--area-copies 0]
 *
 * Events are loaded with their district copies (`area_events`, as the gateway writes them), and
 * the copies declared complete from the data's start; `--area-copies 0` searches as if they were
 * not (district searches then read `events`).
 *
 * `--data-dir DIR` keeps influxd's data in DIR with a manifest of what was loaded; a later run
 * with the same `--events` and DIR skips the load (10M events take ~13 min here) and only
 * measures. Remove DIR yourself when done. influxd's retention still applies: a data set reused
 * days later has lost its oldest days.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { Client as GrpcClient, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import {
  EventServiceClient,
  EventServiceService,
  type SearchEventsRequest,
  type StreamEventsResponse,
} from '../../../proto/gen/sharpeyes/v1/api.ts';
import { Direction, EventKind, PlateColour, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { createUlidFactory } from '../../../edge-agent/src/track/ulid.ts';
import { AuditLog } from '../../../gateway/src/audit/log.ts';
import { startGrpcServer, type GrpcServer } from '../../../gateway/src/grpc/server.ts';
import { DEFAULT_MAX_CONCURRENT_QUERIES } from '../../../gateway/src/index/config.ts';
import { eventPoints } from '../../../gateway/src/index/schema.ts';
import { Registry } from '../../../gateway/src/registry/registry.ts';
import { openSqlite } from '../../../gateway/src/registry/sqlite.ts';
import { siteEntries } from '../../gateway/fixtures/broker.ts';
import { startApiEnv, type ApiEnv } from '../../gateway/fixtures-api/env.ts';
import { buildApiApp } from '../../gateway/http/helpers.ts';
import { spawnManaged, makeTempDir } from '../lifetime.ts';
import { startInfluxd, waitForColdShards, type InfluxdHandle } from '../services/index.ts';

export const description =
  'APIs: search p95 (20 clients, gRPC and REST), StreamEvents fan-out to 50 subscribers at 1000/s, gateway RSS with 10 000 cameras';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const SEED = 20_250_601;
const PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼';
const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const BENCH_CAMERAS = 200;
const DISTRICTS = 5;

interface Params {
  events: number;
  clients: number;
  searchS: number;
  subscribers: number;
  rate: number;
  fanoutS: number;
  cameras: number;
  sites: number;
  rssS: number;
  skip: Set<string>;
  /** Keep influxd's data here and reuse it on the next run with the same event count. */
  dataDir: string | undefined;
  /** Extra node options of the RSS phase's gateway process (e.g. `--max-old-space-size=192`). */
  rssNodeOptions: string[];
  /** The index's `maxConcurrentQueries` (default: the gateway's, `index.max_concurrent_queries`). */
  indexMaxQueries: number;
  /** The index's shard group length, hours (undefined: the index default). */
  shardHours: number | undefined;
  /** Run the search clients in a worker thread instead of the gateway's event loop. */
  clientsInWorker: boolean;
  /** Whether district searches may read the district copies (`area_events`). */
  areaCopies: boolean;
}

function parseArgs(args: readonly string[]): Params {
  const p: Params = {
    events: 1_000_000,
    clients: 20,
    searchS: 30,
    subscribers: 50,
    rate: 1000,
    fanoutS: 20,
    cameras: 10_000,
    sites: 250,
    rssS: 60,
    skip: new Set(),
    dataDir: undefined,
    rssNodeOptions: [],
    indexMaxQueries: DEFAULT_MAX_CONCURRENT_QUERIES,
    shardHours: undefined,
    clientsInWorker: false,
    areaCopies: true,
  };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i] ?? '';
    const value = args[i + 1] ?? '';
    const n = Number(value);
    const num = (): number => {
      if (!Number.isFinite(n) || n < 0) throw new Error(`bad ${key} ${value}`);
      return n;
    };
    switch (key) {
      case '--events':
        p.events = num();
        break;
      case '--clients':
        p.clients = num();
        break;
      case '--search-s':
        p.searchS = num();
        break;
      case '--subscribers':
        p.subscribers = num();
        break;
      case '--rate':
        p.rate = num();
        break;
      case '--fanout-s':
        p.fanoutS = num();
        break;
      case '--cameras':
        p.cameras = num();
        break;
      case '--sites':
        p.sites = num();
        break;
      case '--rss-s':
        p.rssS = num();
        break;
      case '--skip':
        p.skip = new Set(value.split(','));
        break;
      case '--data-dir':
        p.dataDir = value;
        break;
      case '--index-max-queries':
        p.indexMaxQueries = num();
        break;
      case '--shard-hours':
        p.shardHours = num();
        break;
      case '--clients-in-worker':
        p.clientsInWorker = value === '1' || value === 'true';
        break;
      case '--area-copies':
        p.areaCopies = value === '1' || value === 'true';
        break;
      case '--rss-node-options':
        p.rssNodeOptions = value.split(' ').filter((x) => x !== '');
        break;
      default:
        throw new Error(`unknown argument ${key}`);
    }
  }
  return p;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (r: () => number, chars: string): string => chars[Math.floor(r() * chars.length)] ?? 'A';

function platePool(n: number): string[] {
  const r = rng(SEED);
  const seen = new Set<string>();
  while (seen.size < n) {
    let tail = '';
    for (let i = 0; i < 5; i++) tail += r() < 0.15 ? pick(r, LETTERS) : String(Math.floor(r() * 10));
    seen.add(`${r() < 0.5 ? '京' : pick(r, PROVINCES)}${pick(r, 'ABCDEFGH')}${tail}`);
  }
  return [...seen];
}

function percentiles(ms: readonly number[]): { p50: number; p95: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number =>
    Math.round((s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? 0) * 10) / 10;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) };
}

/** CPU time of process `pid` so far, in clock ticks (10 ms). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function procRss(pid: number): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(text)?.[1] ?? 0) * 1024;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cameraId = (i: number): string => `cam-${String(i).padStart(4, '0')}`;

/** Register the bench cameras (5 districts, 4 per site) in the env's registry. */
async function registerBenchCameras(env: ApiEnv): Promise<void> {
  const { registry } = env.deps;
  const sites = BENCH_CAMERAS / 4;
  for (let s = 0; s < sites; s++) {
    await registry.sites.create('system', {
      siteId: `bs-${s}`,
      name: `site ${s}`,
      place: { district: `D${s % DISTRICTS}` },
    });
  }
  env.db.transaction(() => {
    for (let i = 0; i < BENCH_CAMERAS; i++) {
      const site = Math.floor(i / 4);
      registry.cameras.create('system', {
        cameraId: cameraId(i),
        siteId: `bs-${site}`,
        code: `B-${i}`,
        name: `bench ${i}`,
        place: { district: `D${site % DISTRICTS}`, street: `S${site}` },
        category: 'road_checkpoint',
        identity: { serialNumber: `SN-${i}` },
      });
    }
  });
}

/** Load `n` events over 30 days into the env's index (two writers, 5000 events per request). */
async function loadEvents(
  influxd: InfluxdHandle,
  database: string,
  n: number,
  endMs: number,
  progress: (msg: string) => void,
): Promise<{ loaded: number; seconds: number; pool: string[] }> {
  const pool = platePool(100_000);
  const r = rng(SEED + 1);
  const ulid = createUlidFactory((bytes) => {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  });
  const span = 30 * DAY_MS - HOUR_MS;
  const start = endMs - span;
  const step = span / Math.max(1, n);
  const post = async (rp: string, lines: string[]): Promise<void> => {
    if (lines.length === 0) return;
    const res = await fetch(`${influxd.url}/write?db=${database}&rp=${rp}&precision=ns`, {
      method: 'POST',
      body: lines.join('\n'),
    });
    if (res.status !== 204) throw new Error(`write: HTTP ${res.status} ${await res.text()}`);
  };
  const t0 = performance.now();
  let inflight: Promise<void>[] = [];
  let plate: string[] = [];
  let face: string[] = [];
  let last = t0;
  for (let i = 0; i < n; i++) {
    const first = Math.floor(start + i * step);
    const isFace = r() < 0.1;
    const text = pool[r() < 0.7 ? Math.floor(r() * 20_000) : Math.floor(r() * pool.length)] ?? '京A12345';
    const cam = Math.floor(r() * BENCH_CAMERAS);
    const e: Event = {
      eventId: ulid(first),
      siteId: `bs-${Math.floor(cam / 4)}`,
      cameraId: cameraId(cam),
      kind: isFace ? EventKind.EVENT_KIND_FACE : EventKind.EVENT_KIND_PLATE,
      timeMs: first + 300,
      firstSeenMs: first,
      lastSeenMs: first + 1200,
      box: { x: 400, y: 300, width: 160, height: 52 },
      frameWidth: 1280,
      frameHeight: 720,
      confidence: 0.5 + r() / 2,
      trackId: `p${i}`,
      revision: 0,
      detail: isFace
        ? { $case: 'face', value: { keypoints: [{ x: 0.4, y: 0.4 }] } }
        : {
            $case: 'plate',
            value: {
              text,
              colour: PlateColour.PLATE_COLOUR_BLUE,
              charConfidences: Array.from(text, () => 0.9),
              agreeingReads: 3,
              totalReads: 4,
            },
          },
      evidence: undefined,
      modelIds: isFace ? ['blazeface-back-256'] : ['ppocr-v4-det', 'ppocr-v4-rec'],
      direction:
        [Direction.DIRECTION_IN, Direction.DIRECTION_OUT, Direction.DIRECTION_UNKNOWN][i % 3] ??
        Direction.DIRECTION_UNKNOWN,
    };
    // With its district copy, as the gateway writes it (the district registerBenchCameras gives).
    const pts = eventPoints(e, `D${Math.floor(cam / 4) % DISTRICTS}`);
    (pts.kind === 'plate' ? plate : face).push(...pts.lines);
    if ((i + 1) % 5000 === 0 || i === n - 1) {
      inflight.push(post('plate', plate), post('face', face));
      plate = [];
      face = [];
      if (inflight.length >= 4) {
        await Promise.all(inflight);
        inflight = [];
      }
      if (performance.now() - last > 10_000) {
        last = performance.now();
        progress(`loaded ${i + 1} events (${Math.round((i + 1) / ((last - t0) / 1000))}/s)`);
      }
    }
  }
  await Promise.all(inflight);
  return { loaded: n, seconds: (performance.now() - t0) / 1000, pool };
}

/**
 * One SearchEvents call through `client` (a plain grpc-js Client), resolving with the response's
 * size once it has arrived whole. The response is not decoded: like the REST clients, which read
 * the body without parsing it, the load generator leaves out what a remote client would spend on
 * its own CPU — here it would compete with the gateway for the same 2 cores.
 */
function grpcSearch(client: GrpcClient, req: SearchEventsRequest, key: string): Promise<number> {
  const md = new Metadata();
  md.set('authorization', `Bearer ${key}`);
  const m = EventServiceService.searchEvents;
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      (bytes: Buffer) => bytes.length,
      req,
      md,
      { deadline: Date.now() + 60_000 },
      (err: ServiceError | null, size?: number) => {
        if (err !== null) reject(err);
        else resolve(size ?? 0);
      },
    );
  });
}

interface SearchFigures {
  /** influxd CPU per query, ms (not stretched by waiting for a CPU, unlike latency). */
  influxdCpuMs: number;
  /** This process's CPU per query (APIs, auth, audit, index client, and the clients), ms. */
  processCpuMs: number;
  queries: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  byKind: Record<string, number>;
  /** Median latency by kind of search, ms. */
  byKindP50: Record<string, number>;
  qps: number;
}

/** What the client loops saw: latencies (all, and by kind of search) and failures. */
interface ClientRun {
  lat: number[];
  byKindLat: Record<string, number[]>;
  errors: number;
  elapsedMs: number;
}

/** `clients` loops for `seconds`, each issuing `one()` back to back. */
async function clientLoops(
  clients: number,
  seconds: number,
  one: (r: () => number, kind: string) => Promise<void>,
): Promise<ClientRun> {
  const lat: number[] = [];
  const byKindLat: Record<string, number[]> = { plate_30d: [], camera_24h: [], district_24h: [] };
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const r = rng(SEED + 100 + c);
      while (performance.now() < until) {
        const x = r();
        const kind = x < 0.5 ? 'plate_30d' : x < 0.8 ? 'camera_24h' : 'district_24h';
        const s = performance.now();
        try {
          await one(r, kind);
          const ms = performance.now() - s;
          lat.push(ms);
          byKindLat[kind]?.push(ms);
        } catch {
          // Counted: the figure reports how many failed (deadline, index errors).
          errors += 1;
        }
      }
    }),
  );
  return { lat, byKindLat, errors, elapsedMs: performance.now() - t0 };
}

/** Run `loops`, measuring influxd's and this process's CPU around it. */
async function runClients(influxdPid: number, loops: () => Promise<ClientRun>): Promise<SearchFigures> {
  const ticks0 = cpuTicks(influxdPid);
  const cpu0 = process.cpuUsage();
  const { lat, byKindLat, errors, elapsedMs } = await loops();
  const p = percentiles(lat);
  const cpu = process.cpuUsage(cpu0);
  const n = Math.max(1, lat.length + errors);
  return {
    influxdCpuMs: Math.round(((cpuTicks(influxdPid) - ticks0) * 100) / n) / 10,
    processCpuMs: Math.round((cpu.user + cpu.system) / 100 / n) / 10,
    queries: lat.length,
    errors,
    ...p,
    byKind: Object.fromEntries(Object.entries(byKindLat).map(([k, v]) => [k, percentiles(v).p95])),
    byKindP50: Object.fromEntries(Object.entries(byKindLat).map(([k, v]) => [k, percentiles(v).p50])),
    qps: Math.round(lat.length / (elapsedMs / 1000)),
  };
}

// ---- Search clients (worker thread) ---------------------------------------------------------

/** The API clients of the search phase, run in a worker thread: their own event loop, like remote clients. */
interface SearchJob {
  apiSearch: true;
  api: 'grpc' | 'rest';
  /** gRPC address (host:port) or REST base URL. */
  address: string;
  keyAll: string;
  keyDistrict: string;
  clients: number;
  seconds: number;
  endMs: number;
}

const REASON = 'bench search measurement';

/** A random time range of the search mix: the whole 30 days, or `days` within them. */
function searchRange(r: () => number, endMs: number, days: number): { fromMs: number; toMs: number } {
  if (days >= 30) return { fromMs: endMs - 30 * DAY_MS + HOUR_MS, toMs: endMs + 60_000 };
  const from = endMs - 29 * DAY_MS + Math.floor(r() * 28 * DAY_MS);
  return { fromMs: from, toMs: from + days * DAY_MS };
}

/** A plate of the search mix: 70% from the 20 000 regulars. */
function searchPlate(r: () => number, pool: readonly string[]): string {
  return pool[r() < 0.7 ? Math.floor(r() * 20_000) : Math.floor(r() * pool.length)] ?? '';
}

/** The calls of a {@link SearchJob}'s clients: one search of a kind, and closing the client. */
function searchCalls(job: SearchJob): {
  one: (r: () => number, kind: string) => Promise<void>;
  close: () => void;
} {
  const pool = platePool(100_000);
  const filter = (over: Partial<NonNullable<SearchEventsRequest['filter']>>) => ({
    kinds: [],
    cameraIds: [],
    siteIds: [],
    plate: '',
    platePattern: '',
    minConfidence: 0,
    direction: Direction.DIRECTION_UNSPECIFIED,
    area: undefined,
    ...over,
  });
  const base = { reason: REASON, filter: undefined, pageSize: 100, pageToken: '', includeEvidence: false };
  let one: (r: () => number, kind: string) => Promise<void>;
  let close = (): void => undefined;
  if (job.api === 'grpc') {
    const client = new GrpcClient(job.address, credentials.createInsecure());
    close = () => {
      client.close();
    };
    one = async (r, kind) => {
      if (kind === 'plate_30d') {
        const plate = searchPlate(r, pool);
        await grpcSearch(
          client,
          { ...base, ...searchRange(r, job.endMs, 30), filter: filter({ plate }) },
          job.keyAll,
        );
      } else if (kind === 'camera_24h') {
        await grpcSearch(
          client,
          {
            ...base,
            ...searchRange(r, job.endMs, 1),
            filter: filter({ cameraIds: [cameraId(Math.floor(r() * BENCH_CAMERAS))] }),
          },
          job.keyAll,
        );
      } else {
        await grpcSearch(client, { ...base, ...searchRange(r, job.endMs, 1) }, job.keyDistrict);
      }
    };
  } else {
    const agent = new HttpAgent({ keepAlive: true, maxSockets: job.clients });
    close = () => {
      agent.destroy();
    };
    one = async (r, kind) => {
      const q = new URLSearchParams({ reason: REASON, limit: '100' });
      let key = job.keyAll;
      const rr = searchRange(r, job.endMs, kind === 'plate_30d' ? 30 : 1);
      q.set('from_ms', String(rr.fromMs));
      q.set('to_ms', String(rr.toMs));
      if (kind === 'plate_30d') q.set('plate', pool[Math.floor(r() * 20_000)] ?? '');
      else if (kind === 'camera_24h') q.set('camera_id', cameraId(Math.floor(r() * BENCH_CAMERAS)));
      else key = job.keyDistrict;
      const code = await httpGet(`${job.address}/api/v1/events?${q.toString()}`, key, agent);
      if (code !== 200) throw new Error(`HTTP ${code}`);
    };
  }
  return { one, close };
}

/**
 * GET `url` with a bearer key; resolves with the status once the whole body has arrived. A plain
 * `http.request` on a keep-alive agent: the load generator's own CPU competes with the gateway on
 * this machine, and `fetch` (WHATWG streams and headers) costs several times more per request.
 */
function httpGet(url: string, key: string, agent: HttpAgent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function searchWorker(job: SearchJob): void {
  const port = parentPort;
  if (port === null) return;
  const { one, close } = searchCalls(job);
  void clientLoops(job.clients, job.seconds, one).then((run) => {
    close();
    port.postMessage({ run });
  });
}

/** Run a {@link SearchJob}'s clients in this thread (sharing the gateway's event loop). */
async function clientsHere(job: SearchJob): Promise<ClientRun> {
  const { one, close } = searchCalls(job);
  try {
    return await clientLoops(job.clients, job.seconds, one);
  } finally {
    close();
  }
}

if (!isMainThread && (workerData as Partial<SearchJob> | null)?.apiSearch === true) {
  searchWorker(workerData as SearchJob);
}

/** Run a {@link SearchJob} in a worker thread; resolves with what its clients saw. */
function clientsInWorker(job: SearchJob): Promise<ClientRun> {
  const boot = new URL('../../../edge-agent/src/detect/worker-boot.mjs', import.meta.url);
  const worker = new Worker(boot, {
    workerData: { ...job, entry: pathToFileURL(import.meta.filename).href },
  });
  return new Promise<ClientRun>((resolve, reject) => {
    worker.on('message', (m: { run?: ClientRun }) => {
      if (m.run !== undefined) {
        resolve(m.run);
        void worker.terminate();
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      reject(new Error(`search client worker exited (${code}) before reporting`));
    });
  });
}

// ---- Fan-out subscribers (worker thread) ----------------------------------------------------

interface FanoutJob {
  apiFanout: true;
  address: string;
  key: string;
  subscribers: number;
  maxBatch: number;
}

function fanoutWorker(job: FanoutJob): void {
  const port = parentPort;
  if (port === null) return;
  const latencies: number[][] = Array.from({ length: job.subscribers }, () => []);
  const clients: EventServiceClient[] = [];
  let connected = 0;
  const calls: { cancel(): void }[] = [];
  for (let i = 0; i < job.subscribers; i++) {
    const client = new EventServiceClient(job.address, credentials.createInsecure(), {
      // Separate connections, like separate integrators.
      'grpc.use_local_subchannel_pool': 1,
    });
    clients.push(client);
    const md = new Metadata();
    md.set('authorization', `Bearer ${job.key}`);
    const call = client.streamEvents(
      {
        reason: 'bench fan-out measurement',
        filter: undefined,
        includeEvidence: false,
        resumeCursor: '',
        fromMs: 0,
        maxBatch: job.maxBatch,
      },
      md,
    );
    let first = true;
    call.on('data', (m: StreamEventsResponse) => {
      if (first) {
        first = false;
        connected += 1;
        if (connected === job.subscribers) port.postMessage({ ready: true });
      }
      const t = Date.now();
      if (m.event !== undefined) latencies[i]?.push(t - m.event.lastSeenMs);
      for (const e of m.events) latencies[i]?.push(t - e.lastSeenMs);
    });
    call.on('error', (err: ServiceError) => {
      if (err.code !== status.CANCELLED) port.postMessage({ error: `${err.code} ${err.details}` });
    });
    calls.push(call);
  }
  port.on('message', (m: { stop?: boolean }) => {
    if (m.stop !== true) return;
    for (const c of calls) c.cancel();
    for (const c of clients) c.close();
    port.postMessage({ latencies });
  });
}

if (!isMainThread && (workerData as Partial<FanoutJob> | null)?.apiFanout === true) {
  fanoutWorker(workerData as FanoutJob);
}

async function fanout(
  env: ApiEnv,
  grpc: GrpcServer,
  p: Params,
  maxBatch: number,
  prefix: string,
  progress: (msg: string) => void,
): Promise<Record<string, unknown>> {
  const boot = new URL('../../../edge-agent/src/detect/worker-boot.mjs', import.meta.url);
  const job: FanoutJob = {
    apiFanout: true,
    address: grpc.address,
    key: env.keys.keyAll,
    subscribers: p.subscribers,
    maxBatch,
  };
  const worker = new Worker(boot, {
    workerData: { ...job, entry: pathToFileURL(import.meta.filename).href },
  });
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { ready?: boolean; error?: string }) => {
      if (m.ready === true) resolve();
      if (m.error !== undefined) progress(`subscriber error: ${m.error}`);
    });
    worker.on('error', reject);
  });
  // Checkpoints come every heartbeat: the first one tells each subscriber it is connected.
  await ready;
  progress(
    `${p.subscribers} subscribers (max_batch ${maxBatch}) connected; publishing ${p.rate} events/s for ${p.fanoutS} s`,
  );
  let published = 0;
  let n = 0;
  const total = p.rate * p.fanoutS;
  const ids = createUlidFactory((b) => {
    for (let i = 0; i < b.length; i++) b[i] = (n * 31 + i) & 0xff;
  });
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * p.rate));
      const batch: Event[] = [];
      while (published + batch.length < due) {
        n += 1;
        const now = Date.now();
        batch.push({
          eventId: ids(now),
          siteId: 'bs-0',
          cameraId: cameraId(n % BENCH_CAMERAS),
          kind: EventKind.EVENT_KIND_PLATE,
          timeMs: now,
          firstSeenMs: now,
          lastSeenMs: now,
          box: undefined,
          frameWidth: 1280,
          frameHeight: 720,
          confidence: 0.9,
          trackId: `f${n}`,
          revision: 0,
          detail: {
            $case: 'plate',
            value: {
              text: `京A${String(10000 + (n % 90000))}`,
              colour: PlateColour.PLATE_COLOUR_BLUE,
              charConfidences: [],
              agreeingReads: 3,
              totalReads: 3,
            },
          },
          evidence: undefined,
          modelIds: ['ppocr-v4-rec'],
          direction: Direction.DIRECTION_IN,
        });
      }
      if (batch.length > 0) env.live.publish(...batch);
      published += batch.length;
      if (published >= total) resolve();
      else setTimeout(tick, 10);
    };
    tick();
  });
  const elapsed = (Date.now() - t0) / 1000;
  await sleep(2000); // let the last events arrive
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const wallS = (Date.now() - t0) / 1000;
  const result = await new Promise<{ latencies: number[][] }>((resolve) => {
    worker.on('message', (m: { latencies?: number[][] }) => {
      if (m.latencies !== undefined) resolve({ latencies: m.latencies });
    });
    worker.postMessage({ stop: true });
  });
  await worker.terminate();
  const all = result.latencies.flat();
  const third = Math.floor(published / 3);
  const firstThird = result.latencies.flatMap((l) => l.slice(0, third));
  const lastThird = result.latencies.flatMap((l) => l.slice(l.length - third));
  const p95 = percentiles(all);
  const figures: Record<string, unknown> = {
    subscribers: p.subscribers,
    rate_per_s: Math.round(published / elapsed),
    published: published,
    delivered: all.length,
    delivered_share: Math.round((all.length / (published * p.subscribers)) * 10000) / 10000,
    p50_ms: p95.p50,
    p95_ms: p95.p95,
    p99_ms: p95.p99,
    max_ms: p95.max,
    first_third_p95_ms: percentiles(firstThird).p95,
    last_third_p95_ms: percentiles(lastThird).p95,
    // CPU of this process (server and subscriber thread together) over the run and its drain,
    // and the server thread's event-loop utilisation: on a busy shared machine the latency
    // reflects the CPU share the process got; the CPU per message does not.
    process_cpu_percent: Math.round(((cpu.user + cpu.system) / 1e6 / wallS) * 100),
    process_cpu_us_per_event: Math.round((cpu.user + cpu.system) / Math.max(1, all.length)),
    server_loop_utilisation: Math.round(elu.utilization * 100) / 100,
  };
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${prefix}_${k}`, v]));
}

// ---- Search ---------------------------------------------------------------------------------

/** The index database of a kept data set (a fixed name, so a later run finds it). */
const KEPT_DATABASE = 'sharpeyes_api_bench';
/** What a kept data set was made with: a change here makes an old one unusable. */
const KEPT_SCHEMA =
  'api bench v4: 200 cameras, 100 000 plates, seed 20250601, events (lookup_bucket) + plate_lookup_16k + area_events';

/**
 * The kept data set in `--data-dir`, if any: the end time of its load when it holds `p.events`
 * events made by this loader, else undefined (and `save` records a new load). Refuses a
 * directory holding something else.
 */
function keptDataSet(p: Params): { endMs: number | undefined; save(endMs: number): void } {
  const dir = p.dataDir;
  if (dir === undefined) return { endMs: undefined, save: () => undefined };
  const file = join(dir, 'api-bench.json');
  const wanted = {
    events: p.events,
    schema: KEPT_SCHEMA,
    ...(p.shardHours === undefined ? {} : { shard_hours: p.shardHours }),
  };
  if (existsSync(file)) {
    const m = JSON.parse(readFileSync(file, 'utf8')) as { params: unknown; end_ms: number };
    if (JSON.stringify(m.params) !== JSON.stringify(wanted))
      throw new Error(`${dir} holds another data set: ${JSON.stringify(m.params)}`);
    return { endMs: m.end_ms, save: () => undefined };
  }
  if (readdirSync(dir).some((f) => f !== 'meta' && f !== 'data' && f !== 'wal'))
    throw new Error(`${dir} is not an api bench data dir: refusing to load into it`);
  return {
    endMs: undefined,
    save: (endMs) => {
      writeFileSync(file, JSON.stringify({ params: wanted, end_ms: endMs }));
    },
  };
}

async function search(
  env: ApiEnv,
  influxd: InfluxdHandle,
  grpc: GrpcServer,
  app: FastifyInstance,
  p: Params,
  progress: (msg: string) => void,
): Promise<Record<string, unknown>> {
  const kept = keptDataSet(p);
  const endMs = kept.endMs ?? Date.now() - 60_000;
  let load: { loaded: number; seconds: number | undefined; pool: string[] };
  if (kept.endMs === undefined) {
    progress(`loading ${p.events} events over 30 days`);
    load = await loadEvents(influxd, env.index.names.database, p.events, endMs, progress);
    kept.save(endMs);
    progress(`loaded in ${(load.seconds ?? 0).toFixed(1)} s; settling 10 s`);
  } else {
    progress(`reusing ${p.events} events in ${p.dataDir ?? ''} (loaded ${new Date(endMs).toISOString()})`);
    load = { loaded: p.events, seconds: undefined, pool: platePool(100_000) };
  }
  // Every loaded event has its district copy: the copies are complete from the data's start
  // (`--area-copies 0`: searched as if they were not, reading `events`).
  if (p.areaCopies) env.deps.registry.areaCopies.declare(endMs - 30 * DAY_MS);
  else env.deps.registry.areaCopies.end();
  // Shards as a running gateway's older ones are: written out and fully compacted (at most 15 min).
  const cold = await waitForColdShards(influxd.dataDir, env.index.names.database, 900, progress);
  progress(`shards: ${JSON.stringify(cold)}`);
  const district = env.deps.apiKeys.create('system', {
    name: 'bench district key',
    services: ['events'],
    scope: { district: 'D1' },
  }).key;
  const pool = load.pool;
  // The same mix straight on the index (no API, no audit): what the APIs add on top of it.
  const districtCameras = env.deps.registry.cameraIdsInScope({ district: 'D1' });
  const directS = Math.max(5, Math.round(p.searchS / 2));
  progress(`index directly: ${p.clients} concurrent callers for ${directS} s`);
  const direct = await runClients(influxd.pid, () =>
    clientLoops(p.clients, directS, async (r, kind) => {
      if (kind === 'plate_30d') {
        await env.index.search({ ...searchRange(r, endMs, 30), plate: searchPlate(r, pool), limit: 100 });
      } else if (kind === 'camera_24h') {
        await env.index.search({
          ...searchRange(r, endMs, 1),
          cameraIds: [cameraId(Math.floor(r() * BENCH_CAMERAS))],
          limit: 100,
        });
      } else {
        await env.index.search({ ...searchRange(r, endMs, 1), cameraIds: districtCameras, limit: 100 });
      }
    }),
  );
  progress(`index search: ${JSON.stringify(direct)}`);
  const job = {
    apiSearch: true as const,
    keyAll: env.keys.keyAll,
    keyDistrict: district,
    clients: p.clients,
    endMs,
  };
  const clientsRun = p.clientsInWorker ? clientsInWorker : clientsHere;
  const where = p.clientsInWorker ? 'in a worker thread' : "in the gateway's event loop";
  progress(`gRPC: ${p.clients} concurrent clients (${where}) for ${p.searchS} s`);
  const g = await runClients(influxd.pid, () =>
    clientsRun({ ...job, api: 'grpc', address: grpc.address, seconds: p.searchS }),
  );
  progress(`gRPC search: ${JSON.stringify(g)}`);

  const addr = app.server.address();
  const restBase = typeof addr === 'object' && addr !== null ? `http://127.0.0.1:${addr.port}` : '';
  progress(`REST: ${p.clients} concurrent clients (${where}) for ${directS} s`);
  const rest = await runClients(influxd.pid, () =>
    clientsRun({ ...job, api: 'rest', address: restBase, seconds: directS }),
  );
  progress(`REST search: ${JSON.stringify(rest)}`);
  return {
    events: load.loaded,
    load_s: load.seconds === undefined ? null : Math.round(load.seconds),
    reused_data: load.seconds === undefined,
    index_shards: cold.shards,
    index_shards_not_compacted: cold.pending,
    search_clients: p.clients,
    search_index_max_queries: p.indexMaxQueries,
    search_area_copies: p.areaCopies,
    search_index_shard_hours: p.shardHours ?? null,
    search_clients_in_worker: p.clientsInWorker,
    search_grpc_queries: g.queries,
    search_grpc_errors: g.errors,
    search_grpc_qps: g.qps,
    search_grpc_p50_ms: g.p50,
    search_grpc_p95_ms: g.p95,
    search_grpc_p99_ms: g.p99,
    search_grpc_max_ms: g.max,
    search_grpc_plate_30d_p95_ms: g.byKind.plate_30d,
    search_grpc_camera_24h_p95_ms: g.byKind.camera_24h,
    search_grpc_district_24h_p95_ms: g.byKind.district_24h,
    search_grpc_p50_ms_by_kind: g.byKindP50,
    search_grpc_influxd_cpu_ms_per_query: g.influxdCpuMs,
    search_grpc_process_cpu_ms_per_query: g.processCpuMs,
    search_rest_queries: rest.queries,
    search_rest_errors: rest.errors,
    search_rest_p95_ms: rest.p95,
    search_rest_p99_ms: rest.p99,
    search_p95_ms: Math.max(g.p95, rest.p95),
    search_index_direct_p95_ms: direct.p95,
    search_index_direct_plate_30d_p95_ms: direct.byKind.plate_30d,
    search_index_direct_district_24h_p95_ms: direct.byKind.district_24h,
    search_index_direct_influxd_cpu_ms_per_query: direct.influxdCpuMs,
    search_index_direct_process_cpu_ms_per_query: direct.processCpuMs,
    search_rest_influxd_cpu_ms_per_query: rest.influxdCpuMs,
    search_rest_process_cpu_ms_per_query: rest.processCpuMs,
  };
}

// ---- RSS ----------------------------------------------------------------------------------

/** `process.memoryUsage()` of the bench gateway, as it reports it each second. */
interface GatewayMemory {
  rss: number;
  heap_total: number;
  heap_used: number;
  external: number;
  array_buffers: number;
}

async function rss(
  influxd: InfluxdHandle,
  p: Params,
  progress: (msg: string) => void,
): Promise<Record<string, unknown>> {
  const dir = makeTempDir('api-rss');
  progress(`preparing ${p.sites} sites (broker credentials, scrypt) and ${p.cameras} registered cameras`);
  const siteIds = Array.from({ length: p.sites }, (_, s) => `rs-${s}`);
  writeFileSync(join(dir.path, 'sites.json'), JSON.stringify(await siteEntries(siteIds)));
  const db = openSqlite(join(dir.path, 'gateway.sqlite'));
  try {
    const registry = new Registry(db, new AuditLog(db));
    for (const [s, siteId] of siteIds.entries()) {
      await registry.sites.create('system', {
        siteId,
        name: `site ${s}`,
        place: { district: `D${s % DISTRICTS}`, street: `S${s}` },
      });
    }
    db.transaction(() => {
      for (let n = 0; n < p.cameras; n++) {
        const s = n % p.sites;
        registry.cameras.create('system', {
          cameraId: `rc-${n}`,
          siteId: `rs-${s}`,
          code: `RC-${n}`,
          name: `camera ${n}`,
          place: { district: `D${s % DISTRICTS}`, street: `S${s}` },
          category: 'village_entrance',
          identity: { serialNumber: `RSN-${n}` },
        });
      }
    });
  } finally {
    db.close();
  }
  const tsx = join(import.meta.dirname, '..', '..', '..', 'node_modules', 'tsx', 'dist', 'loader.mjs');
  const fixtures = join(import.meta.dirname, '..', '..', 'gateway', 'fixtures-api');
  try {
    const gw = spawnManaged(
      process.execPath,
      [
        ...p.rssNodeOptions,
        '--import',
        `file://${tsx}`,
        join(fixtures, 'bench-gateway.ts'),
        JSON.stringify({ influxUrl: influxd.url, dir: dir.path }),
      ],
      {
        name: 'bench-gateway',
        pipeStdout: true,
        env: { ...process.env, MALLOC_ARENA_MAX: '2' },
        logFile: join(dir.path, 'gateway.log'),
      },
    );
    const lines = createInterface({ input: gw.process.stdout ?? process.stdin });
    let statuses = 0;
    let mem: GatewayMemory | undefined;
    let ready: { broker_url: string } | undefined;
    const readyP = new Promise<void>((resolve) => {
      lines.on('line', (line) => {
        const m = JSON.parse(line) as {
          ready?: boolean;
          broker_url?: string;
          statuses?: number;
          mem?: GatewayMemory;
        };
        if (m.ready === true) {
          ready = { broker_url: m.broker_url ?? '' };
          resolve();
        }
        if (m.statuses !== undefined) statuses = m.statuses;
        if (m.mem !== undefined) mem = m.mem;
      });
    });
    await Promise.race([
      readyP,
      gw.exited.then(() => Promise.reject(new Error('bench gateway exited early (see its log)'))),
    ]);
    if (ready === undefined) throw new Error('not ready');
    const rssIdle = procRss(gw.pid);
    progress(
      `gateway ready (RSS ${Math.round(rssIdle / 2 ** 20)} MiB); starting the fleet: ${p.cameras} cameras at ${p.sites} sites, status every 10 s`,
    );
    const fleet = spawnManaged(
      process.execPath,
      [
        '--import',
        `file://${tsx}`,
        join(fixtures, 'status-fleet.ts'),
        JSON.stringify({
          url: ready.broker_url,
          cameras: p.cameras,
          sites: p.sites,
          interval_ms: 10_000,
          duration_ms: (p.rssS + 40) * 1000,
        }),
      ],
      { name: 'status-fleet', pipeStdout: true, logFile: join(dir.path, 'fleet.log') },
    );
    const connectStart = Date.now();
    let connectPeak = 0;
    const connected = new Promise<void>((resolve) => {
      createInterface({ input: fleet.process.stdout ?? process.stdin }).on('line', (line) => {
        if ((JSON.parse(line) as { connected?: number }).connected !== undefined) resolve();
      });
    });
    const sampler = setInterval(() => {
      connectPeak = Math.max(connectPeak, procRss(gw.pid));
    }, 500);
    await Promise.race([
      connected,
      fleet.exited.then(() => Promise.reject(new Error('fleet exited early (see its log)'))),
    ]);
    clearInterval(sampler);
    const connectS = (Date.now() - connectStart) / 1000;
    progress(
      `${p.sites} sites connected in ${connectS.toFixed(1)} s (RSS peak ${Math.round(connectPeak / 2 ** 20)} MiB); warming up 30 s`,
    );
    const samples: { t: number; rss: number; statuses: number; mem: GatewayMemory | undefined }[] = [];
    const t0 = Date.now();
    const warm = 30_000;
    while (Date.now() - t0 < warm + p.rssS * 1000) {
      await sleep(1000);
      samples.push({ t: Date.now() - t0, rss: procRss(gw.pid), statuses, mem });
      if (samples.length % 15 === 0)
        progress(
          `RSS ${Math.round((samples[samples.length - 1]?.rss ?? 0) / 2 ** 20)} MiB, ${statuses} statuses applied`,
        );
    }
    await fleet.stop();
    const measured = samples.filter((s) => s.t >= warm);
    const firstM = measured[0];
    const lastM = measured[measured.length - 1];
    const rate =
      firstM !== undefined && lastM !== undefined && lastM.t > firstM.t
        ? ((lastM.statuses - firstM.statuses) / (lastM.t - firstM.t)) * 1000
        : 0;
    await gw.stop();
    // What the process's memory was made of at the steady peak (the gateway's own report of the
    // second before): V8 heap in use and reserved, and memory outside it (Buffers, WASM SQLite).
    const peak = measured.reduce<(typeof measured)[number] | undefined>(
      (best, x) => (best === undefined || x.rss > best.rss ? x : best),
      undefined,
    );
    const heapMax = Math.max(...measured.map((x) => x.mem?.heap_used ?? 0));
    return {
      rss_node_options: p.rssNodeOptions.join(' '),
      rss_cameras: p.cameras,
      rss_sites: p.sites,
      rss_status_per_s_target: Math.round(p.cameras / 10),
      rss_status_per_s_applied: Math.round(rate),
      rss_idle_bytes: rssIdle,
      rss_connect_s: Math.round(connectS),
      rss_connect_peak_bytes: connectPeak,
      rss_peak_bytes: Math.max(...samples.map((s) => s.rss)),
      rss_steady_peak_bytes: Math.max(...measured.map((s) => s.rss)),
      rss_end_bytes: lastM?.rss ?? 0,
      rss_growth_bytes: (lastM?.rss ?? 0) - (firstM?.rss ?? 0),
      rss_at_peak_heap_used_bytes: peak?.mem?.heap_used ?? null,
      rss_at_peak_heap_total_bytes: peak?.mem?.heap_total ?? null,
      rss_at_peak_external_bytes: peak?.mem?.external ?? null,
      rss_at_peak_array_buffers_bytes: peak?.mem?.array_buffers ?? null,
      rss_heap_used_max_bytes: heapMax,
      rss_heap_used_end_bytes: lastM?.mem?.heap_used ?? null,
    };
  } finally {
    dir.remove();
  }
}

export async function run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>> {
  const p = parseArgs(args);
  const out: Record<string, unknown> = {};
  if (p.dataDir !== undefined) mkdirSync(p.dataDir, { recursive: true });
  const influxd = await startInfluxd({
    indexVersion: 'tsi1',
    // 30 days loaded in minutes: compact the shards fully (as a running gateway's older shards
    // are) soon after the load, not 4 h later; the search phase waits for that.
    compactFullWriteColdDuration: '1m',
    // Reopening a large kept data set (shards, WAL replay) takes a while.
    ...(p.dataDir === undefined ? {} : { dataDir: p.dataDir, startTimeoutMs: 600_000 }),
  });
  try {
    if (!p.skip.has('search') || !p.skip.has('fanout')) {
      const env = await startApiEnv({
        influxd,
        ...(p.dataDir === undefined ? {} : { database: KEPT_DATABASE }),
        indexMaxConcurrentQueries: p.indexMaxQueries,
        ...(p.shardHours === undefined ? {} : { indexShardHours: p.shardHours }),
        config: {
          limits: { requests_per_s: 100_000, burst: 100_000, max_streams: 1000 },
          live: { heartbeat_ms: 1000 },
        },
      });
      const grpc = await startGrpcServer(env.deps, { host: '127.0.0.1', port: 0 });
      const app = await buildApiApp(env);
      await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        await registerBenchCameras(env);
        if (!p.skip.has('search')) Object.assign(out, await search(env, influxd, grpc, app, p, progress));
        if (!p.skip.has('fanout')) {
          await sleep(5000); // let influxd settle after the search phase
          // Batched (max_batch 100: the events ready together in one message), then one per message.
          Object.assign(out, await fanout(env, grpc, p, 100, 'fanout', progress));
          Object.assign(out, await fanout(env, grpc, p, 1, 'fanout_unbatched', progress));
        }
      } finally {
        await app.close();
        await grpc.stop();
        await env.stop();
      }
    }
    if (!p.skip.has('rss')) Object.assign(out, await rss(influxd, p, progress));
  } finally {
    await influxd.stop();
  }
  out.machine_load_avg_1m = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  out.targets = 'search p95 <= 200 ms; fan-out p95 <= 250 ms; RSS <= 400 MB';
  return out;
}
