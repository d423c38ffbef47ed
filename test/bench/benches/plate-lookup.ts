/**
 * Plate lookups in the event index at scale: load N events (default 10M) spread over 30 days into
 * a real influxd with the index's own schema (schema.ts line protocol: `events` + `plate_lookup_16k`),
 * then time the public search API: exact plate over the 30 days, wildcard over 24 h, plus a
 * camera search, getEvent and hourly pass statistics. Reports latency percentiles, load rate,
 * series cardinality, influxd RSS and disk.
 *
 *   npm run bench -- plate-lookup [--events N] [--plates N] [--cameras N] [--days N]
 *                                 [--index tsi1|inmem] [--shard-hours N] [--face-share F]
 *                                 [--exact-queries N] [--wildcard-queries N] [--settle-max-s N]
 *                                 [--data-dir DIR]
 *
 * Data: Chinese plates (province + letter + 5 letters/digits, some 6-character new-energy), a pool
 * of --plates distinct plates (default 300 000) of which a fifth ("regulars") make 70% of passes;
 * half the traffic from the local province. --cameras cameras (default 200) at 4 per site. Events
 * are generated and written (large line-protocol batches) by two worker threads, each owning half
 * of the time range — two concurrent writers. Deterministic (seeded).
 *
 * `--data-dir DIR` keeps influxd's data in DIR (with a manifest of the parameters) instead of a
 * temp dir; a later run with the same parameters and DIR skips the load and only measures — to
 * measure again when the machine is quieter. Remove DIR yourself when done.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createUlidFactory } from '../../../edge-agent/src/track/ulid.ts';
import { InfluxEventIndex } from '../../../gateway/src/index/influx-index.ts';
import { PLATE_BUCKETS } from '../../../gateway/src/index/plate.ts';
import { eventPoints, PLATE_LOOKUP_MEASUREMENT } from '../../../gateway/src/index/schema.ts';
import { Direction, EventKind, PlateColour, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { startInfluxd, waitForColdShards } from '../services/index.ts';

export const description = 'exact (30 d) and wildcard (24 h) plate search over 10M indexed events';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const DATABASE = 'sharpeyes';
const BATCH_EVENTS = 5000;
const SEED = 20_240_601;

const PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼';
const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '0123456789';

/** Bench parameters. */
interface Params {
  events: number;
  plates: number;
  cameras: number;
  days: number;
  index: 'tsi1' | 'inmem';
  shardHours: number;
  faceShare: number;
  exactQueries: number;
  wildcardQueries: number;
  settleMaxS: number;
  /** Keep influxd's data here and reuse it on the next run with the same parameters. */
  dataDir: string | undefined;
}

function parseArgs(args: readonly string[]): Params {
  const p: Params = {
    events: 10_000_000,
    plates: 300_000,
    cameras: 200,
    days: 30,
    index: 'tsi1',
    shardHours: 24,
    faceShare: 0.1,
    exactQueries: 200,
    wildcardQueries: 60,
    settleMaxS: 900,
    dataDir: undefined,
  };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i] ?? '';
    const value = args[i + 1] ?? '';
    const num = Number(value);
    switch (key) {
      case '--events':
        p.events = num;
        break;
      case '--plates':
        p.plates = num;
        break;
      case '--cameras':
        p.cameras = num;
        break;
      case '--days':
        p.days = num;
        break;
      case '--shard-hours':
        p.shardHours = num;
        break;
      case '--face-share':
        p.faceShare = num;
        break;
      case '--exact-queries':
        p.exactQueries = num;
        break;
      case '--wildcard-queries':
        p.wildcardQueries = num;
        break;
      case '--settle-max-s':
        p.settleMaxS = num;
        break;
      case '--data-dir':
        p.dataDir = value;
        break;
      case '--index':
        if (value !== 'tsi1' && value !== 'inmem') throw new Error('--index must be tsi1 or inmem');
        p.index = value;
        break;
      default:
        throw new Error(`unknown argument ${key}`);
    }
  }
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === 'number' && !(Number.isFinite(v) && v >= 0)) throw new Error(`bad --${k}`);
  }
  if (p.days < 1 || p.days > 30) throw new Error('--days must be within 1..30 (retention is 30 days)');
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

function pick(r: () => number, chars: string): string {
  return chars[Math.floor(r() * chars.length)] ?? chars[0] ?? '';
}

/** The plate pool: the first fifth are the regulars. Same seed, same pool, in every thread. */
function platePool(n: number): string[] {
  const r = rng(SEED);
  const seen = new Set<string>();
  while (seen.size < n) {
    const province = r() < 0.5 ? '京' : pick(r, PROVINCES);
    const letter = r() < 0.6 ? pick(r, 'ABCDEFGH') : pick(r, LETTERS);
    let tail = '';
    if (r() < 0.08) {
      tail = pick(r, 'DF') + Array.from({ length: 5 }, () => pick(r, DIGITS)).join('');
    } else {
      for (let i = 0; i < 5; i++) tail += r() < 0.15 ? pick(r, LETTERS) : pick(r, DIGITS);
    }
    seen.add(`${province}${letter}${tail}`);
  }
  return [...seen];
}

function choosePlate(r: () => number, pool: readonly string[]): string {
  const regulars = Math.max(1, Math.floor(pool.length / 5));
  const i = r() < 0.7 ? Math.floor(r() * regulars) : Math.floor(r() * pool.length);
  return pool[i] ?? pool[0] ?? '';
}

function hex64(r: () => number): string {
  let s = '';
  for (let i = 0; i < 8; i++)
    s += Math.floor(r() * 4294967296)
      .toString(16)
      .padStart(8, '0');
  return s;
}

/** What a loader worker is told. */
interface LoaderJob {
  plateLookupLoader: true;
  url: string;
  worker: number;
  fromIndex: number;
  toIndex: number;
  params: Params;
  startMs: number;
  spanMs: number;
}

/** Worker: generate events [fromIndex, toIndex) and write them in batches; report progress. */
async function loader(job: LoaderJob): Promise<void> {
  const { params } = job;
  const pool = platePool(params.plates);
  const r = rng(SEED + 1 + job.worker);
  const ulid = createUlidFactory((bytes) => {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  });
  const directions = [Direction.DIRECTION_IN, Direction.DIRECTION_OUT, Direction.DIRECTION_UNKNOWN];
  const models = { plate: ['ppocr-v4-det', 'ppocr-v4-rec'], face: ['blazeface-back-256'] };
  const step = job.spanMs / params.events;
  const batches = { plate: [] as string[], face: [] as string[] };
  const post = async (rp: 'plate' | 'face', lines: string[]): Promise<void> => {
    if (lines.length === 0) return;
    const res = await fetch(`${job.url}/write?db=${DATABASE}&rp=${rp}&precision=ns`, {
      method: 'POST',
      body: lines.join('\n'),
    });
    if (res.status !== 204) throw new Error(`write failed: HTTP ${res.status} ${await res.text()}`);
  };
  let pending = 0;
  for (let i = job.fromIndex; i < job.toIndex; i++) {
    const firstSeenMs = Math.floor(job.startMs + i * step + r() * step);
    const cam = Math.floor(r() * params.cameras);
    const face = r() < params.faceShare;
    const plate = face ? '' : choosePlate(r, pool);
    const event: Event = {
      eventId: ulid(firstSeenMs),
      siteId: `site-${String(Math.floor(cam / 4)).padStart(3, '0')}`,
      cameraId: `cam-${String(cam).padStart(4, '0')}`,
      kind: face ? EventKind.EVENT_KIND_FACE : EventKind.EVENT_KIND_PLATE,
      timeMs: firstSeenMs + 300,
      firstSeenMs,
      lastSeenMs: firstSeenMs + 1200,
      box: { x: 400 + Math.floor(r() * 400), y: 300 + Math.floor(r() * 200), width: 160, height: 52 },
      frameWidth: 1280,
      frameHeight: 720,
      confidence: 0.5 + r() / 2,
      trackId: `p${i}`,
      revision: 0,
      detail: face
        ? {
            $case: 'face',
            value: {
              keypoints: [
                { x: 0.4, y: 0.4 },
                { x: 0.6, y: 0.4 },
              ],
            },
          }
        : {
            $case: 'plate',
            value: {
              text: plate,
              colour: plate.length === 8 ? PlateColour.PLATE_COLOUR_GREEN : PlateColour.PLATE_COLOUR_BLUE,
              charConfidences: Array.from(plate, () => 0.9),
              agreeingReads: 3,
              totalReads: 4,
            },
          },
      evidence: {
        jpeg: Buffer.alloc(0),
        sha256: hex64(r),
        width: 200,
        height: 80,
        cropBox: { x: 380, y: 280, width: 200, height: 80 },
        contextJpeg: Buffer.alloc(0),
        contextSha256: hex64(r),
      },
      modelIds: face ? models.face : models.plate,
      direction: directions[Math.floor(r() * 3)] ?? Direction.DIRECTION_UNKNOWN,
    };
    const { kind, lines } = eventPoints(event);
    batches[kind].push(...lines);
    if (++pending >= BATCH_EVENTS) {
      await Promise.all([post('plate', batches.plate), post('face', batches.face)]);
      batches.plate = [];
      batches.face = [];
      parentPort?.postMessage({ loaded: pending });
      pending = 0;
    }
  }
  await Promise.all([post('plate', batches.plate), post('face', batches.face)]);
  parentPort?.postMessage({ loaded: pending, done: true });
}

if (!isMainThread && (workerData as Partial<LoaderJob> | null)?.plateLookupLoader === true) {
  await loader(workerData as LoaderJob);
}

/** Percentiles of latencies (ms). */
function percentiles(ms: number[]): { p50: number; p95: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number =>
    Math.round((s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? 0) * 10) / 10;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) };
}

/** influxd's memory: resident total, peak, and its parts (heap etc. vs mapped TSM files). */
function procStatus(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function diskBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? diskBytes(p) : statSync(p).size;
  }
  return total;
}

/** A wildcard pattern from a plate: two inner characters become `?`, the last two `*`. */
function wildcardOf(plate: string, r: () => number): string {
  const chars = Array.from(plate);
  const a = 2 + Math.floor(r() * 3);
  chars[a] = '?';
  return `${chars.slice(0, chars.length - 2).join('')}*`;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

/** Generate and write `p.events` events with two worker threads; progress every 10 s. */
async function load(
  url: string,
  pid: number,
  p: Params,
  startMs: number,
  spanMs: number,
  progress: (msg: string) => void,
): Promise<{ loaded: number; seconds: number; peakRss: number }> {
  progress(`loading ${p.events} events over ${p.days} days with 2 writers`);
  let loaded = 0;
  let peakRss = 0;
  const t0 = performance.now();
  const half = Math.floor(p.events / 2);
  const boot = new URL('../../../edge-agent/src/detect/worker-boot.mjs', import.meta.url);
  const workers = [
    [0, half],
    [half, p.events],
  ].map(
    ([fromIndex, toIndex], worker) =>
      new Promise<void>((resolve, reject) => {
        const job: LoaderJob = {
          plateLookupLoader: true,
          url,
          worker,
          fromIndex: fromIndex ?? 0,
          toIndex: toIndex ?? 0,
          params: p,
          startMs,
          spanMs,
        };
        const w = new Worker(boot, {
          workerData: { ...job, entry: pathToFileURL(import.meta.filename).href },
        });
        w.on('message', (m: { loaded: number; done?: boolean }) => {
          loaded += m.loaded;
          if (m.done === true) resolve();
        });
        w.on('error', reject);
        w.on('exit', (code) => {
          if (code !== 0) reject(new Error(`loader ${worker} exited with ${code}`));
        });
      }),
  );
  const ticker = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    const rss = procStatus(pid).rss;
    peakRss = Math.max(peakRss, rss);
    progress(
      `loaded ${loaded} events (${Math.round(loaded / s)}/s), influxd RSS ${Math.round(rss / 2 ** 20)} MiB`,
    );
  }, 10_000);
  try {
    await Promise.all(workers);
  } finally {
    clearInterval(ticker);
  }
  const seconds = (performance.now() - t0) / 1000;
  progress(`loaded ${loaded} events in ${seconds.toFixed(1)} s (${Math.round(loaded / seconds)} events/s)`);
  return { loaded, seconds, peakRss };
}

export async function run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>> {
  const p = parseArgs(args);
  // With --data-dir, a loaded data set is kept with a manifest and reused by the next run.
  const manifestFile = p.dataDir === undefined ? undefined : join(p.dataDir, 'plate-lookup.json');
  // The schema is part of what a kept data set was made with.
  const wanted = {
    ...p,
    dataDir: undefined,
    exactQueries: 0,
    wildcardQueries: 0,
    settleMaxS: 0,
    schema: `buckets ${PLATE_BUCKETS}, detail v2`,
  };
  let manifest: { params: typeof wanted; end_ms: number } | undefined;
  if (p.dataDir !== undefined && manifestFile !== undefined) {
    mkdirSync(p.dataDir, { recursive: true });
    if (existsSync(manifestFile)) {
      manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as typeof manifest;
      if (JSON.stringify(manifest?.params) !== JSON.stringify(wanted)) {
        throw new Error(
          `${p.dataDir} holds a data set made with other parameters: ${JSON.stringify(manifest?.params)}`,
        );
      }
    } else if (readdirSync(p.dataDir).length > 0) {
      throw new Error(`${p.dataDir} is not empty and has no plate-lookup.json: refusing to load into it`);
    }
  }
  progress(`starting influxd (${p.index})`);
  const influxd = await startInfluxd({
    indexVersion: p.index,
    // 30 days loaded in minutes: compact the shards fully (as a running gateway's older shards
    // are) soon after the load, not 4 h later; the settle step below waits for that.
    compactFullWriteColdDuration: '1m',
    // Reopening a large data set (shards, WAL replay) takes a while.
    startTimeoutMs: 600_000,
    ...(p.dataDir === undefined ? {} : { dataDir: p.dataDir }),
  });
  try {
    const index = await InfluxEventIndex.open({
      url: influxd.url,
      database: DATABASE,
      retentionDays: { face: 30, plate: 30 },
      shardDurationHours: p.shardHours,
      requestTimeoutMs: 60_000,
    });
    const endMs = manifest?.end_ms ?? Date.now() - 60_000;
    const spanMs = p.days * DAY_MS - HOUR_MS;
    const startMs = endMs - spanMs;

    let loaded = p.events;
    let loadS: number | undefined;
    let peakRss = 0;
    if (manifest === undefined) {
      const l = await load(influxd.url, influxd.pid, p, startMs, spanMs, progress);
      loaded = l.loaded;
      loadS = l.seconds;
      peakRss = l.peakRss;
      if (manifestFile !== undefined)
        writeFileSync(manifestFile, JSON.stringify({ params: wanted, end_ms: endMs }));
    } else {
      progress(`reusing the data set in ${p.dataDir ?? ''} (loaded ${new Date(endMs).toISOString()})`);
    }
    const points = Math.round(loaded * (1 + (1 - p.faceShare)));

    // Shards as a running gateway's older ones are: written out and fully compacted.
    const settle0 = performance.now();
    const cold = await waitForColdShards(influxd.dataDir, DATABASE, p.settleMaxS, progress);
    progress(`shards: ${JSON.stringify(cold)}`);
    peakRss = Math.max(peakRss, procStatus(influxd.pid).rss);
    const settleS = (performance.now() - settle0) / 1000;

    // Check what was stored.
    const count = async (rp: string, m: string): Promise<number> => {
      const s = await influxd.query(`SELECT COUNT("event_id") FROM "${DATABASE}"."${rp}"."${m}"`, DATABASE);
      return Number(s[0]?.values[0]?.[1] ?? 0);
    };
    const stored = {
      plate_events: await count('plate', 'events'),
      plate_lookup: await count('plate', PLATE_LOOKUP_MEASUREMENT),
      face_events: await count('face', 'events'),
    };
    progress(`stored: ${JSON.stringify(stored)}`);

    // Queries.
    const pool = platePool(p.plates);
    const r = rng(SEED + 99);
    const regulars = Math.floor(pool.length / 5);
    const exactPlates = Array.from({ length: p.exactQueries }, (_, i) => {
      if (i % 10 === 9) return `京I${String(i).padStart(5, '0')}`; // absent: I is never issued
      return i % 2 === 0
        ? (pool[Math.floor(r() * regulars)] ?? '')
        : (pool[Math.floor(r() * pool.length)] ?? '');
    });
    const range30 = { fromMs: endMs - 30 * DAY_MS + HOUR_MS, toMs: endMs + 60_000 };
    progress(`exact plate over 30 days × ${exactPlates.length}`);
    // Warm-up (a running gateway's influxd has its TSM indexes paged in): other plates, not timed.
    for (let i = 0; i < 30; i++) {
      await index.search({
        ...range30,
        plate: pool[Math.floor(r() * pool.length)] ?? '京A12345',
        limit: 100,
      });
    }
    // influxd's own CPU per query: unlike latency, not stretched by other work on the machine.
    const exactCpu0 = cpuTicks(influxd.pid);
    const exactMs: number[] = [];
    const byClass: Record<'regular' | 'occasional' | 'absent', number[]> = {
      regular: [],
      occasional: [],
      absent: [],
    };
    let exactRows = 0;
    for (const [i, plate] of exactPlates.entries()) {
      const [ms, page] = await timed(() => index.search({ ...range30, plate, limit: 100 }));
      exactMs.push(ms);
      byClass[i % 10 === 9 ? 'absent' : i % 2 === 0 ? 'regular' : 'occasional'].push(ms);
      exactRows += page.events.length;
    }
    const exact = percentiles(exactMs);
    const exactCpuMs = ((cpuTicks(influxd.pid) - exactCpu0) * 10) / exactPlates.length;
    progress(`exact: ${JSON.stringify(exact)} ms, ${(exactRows / exactPlates.length).toFixed(1)} rows/query`);

    progress(`wildcard over 24 h × ${p.wildcardQueries}`);
    const wildMs: number[] = [];
    let wildCpuTicks = 0;
    let wildRows = 0;
    for (let i = 0; i < p.wildcardQueries + 3; i++) {
      const plate = pool[Math.floor(r() * regulars)] ?? '京A12345';
      const pattern = wildcardOf(plate, r);
      const from = startMs + Math.floor(r() * (spanMs - DAY_MS));
      const c0 = cpuTicks(influxd.pid);
      const [ms, page] = await timed(() =>
        index.search({ fromMs: from, toMs: from + DAY_MS, platePattern: pattern, limit: 100 }),
      );
      if (i < 3) continue; // warm-up
      wildCpuTicks += cpuTicks(influxd.pid) - c0;
      wildMs.push(ms);
      wildRows += page.events.length;
    }
    const wildcard = percentiles(wildMs);
    progress(
      `wildcard: ${JSON.stringify(wildcard)} ms, ${(wildRows / Math.max(1, wildMs.length)).toFixed(1)} rows/query`,
    );

    // Context: newest 100 of one camera over 24 h, getEvent, hourly stats for every camera.
    const camMs: number[] = [];
    const someIds: string[] = [];
    for (let i = 0; i < 30; i++) {
      const from = startMs + Math.floor(r() * (spanMs - DAY_MS));
      const cam = `cam-${String(Math.floor(r() * p.cameras)).padStart(4, '0')}`;
      const [ms, page] = await timed(() =>
        index.search({ fromMs: from, toMs: from + DAY_MS, cameraIds: [cam], limit: 100 }),
      );
      camMs.push(ms);
      const e = page.events[Math.floor(r() * page.events.length)];
      if (e !== undefined) someIds.push(e.eventId);
    }
    // Every camera merged newest first (located, then the page fetched).
    const allMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const from = startMs + Math.floor(r() * (spanMs - DAY_MS));
      allMs.push((await timed(() => index.search({ fromMs: from, toMs: from + DAY_MS, limit: 100 })))[0]);
    }
    const getMs: number[] = [];
    for (const id of someIds) getMs.push((await timed(() => index.getEvent(id)))[0]);
    const [statsMs, statsRows] = await timed(() =>
      index.passStats({ fromMs: endMs - DAY_MS, toMs: endMs, intervalMs: HOUR_MS }),
    );

    // Cardinality: distinct series keys per measurement, the database-wide estimate, and the sum
    // over shards (each shard indexes the series it holds).
    const distinct = async (rp: string, m: string): Promise<number> =>
      (await influxd.query(`SHOW SERIES FROM "${rp}"."${m}"`, DATABASE)).reduce(
        (n, x) => n + x.values.length,
        0,
      );
    const perShard = async (rp: string, m: string): Promise<number> =>
      Number(
        (await influxd.query(`SHOW SERIES EXACT CARDINALITY FROM "${rp}"."${m}"`, DATABASE))[0]
          ?.values[0]?.[0] ?? 0,
      );
    const series = {
      plate_events: await distinct('plate', 'events'),
      face_events: await distinct('face', 'events'),
      plate_lookup: await distinct('plate', PLATE_LOOKUP_MEASUREMENT),
    };
    const shardSeries =
      (await perShard('plate', 'events')) +
      (await perShard('face', 'events')) +
      (await perShard('plate', PLATE_LOOKUP_MEASUREMENT));
    const estimate = Number(
      (await influxd.query('SHOW SERIES CARDINALITY', DATABASE))[0]?.values[0]?.[0] ?? 0,
    );
    const shards = await influxd.query('SHOW SHARDS');
    const shardCount = shards.find((s) => s.name === DATABASE)?.values.length ?? 0;
    const mem = procStatus(influxd.pid);
    // Other work on the machine shifts latencies: the 1-minute load average says how busy it was.
    const loadAvg = Math.round((loadavg()[0] ?? 0) * 100) / 100;

    return {
      events: loaded,
      points: points,
      stored_plate_events: stored.plate_events,
      stored_plate_lookup: stored.plate_lookup,
      stored_face_events: stored.face_events,
      distinct_plates: p.plates,
      cameras: p.cameras,
      days: p.days,
      index_version: p.index,
      shard_hours: p.shardHours,
      shards: shardCount,
      reused_data: manifest !== undefined,
      load_s: loadS === undefined ? null : Math.round(loadS),
      load_events_per_s: loadS === undefined ? null : Math.round(loaded / loadS),
      load_points_per_s: loadS === undefined ? null : Math.round(points / loadS),
      settle_s: Math.round(settleS),
      shards_not_compacted: cold.pending,
      exact_30d_queries: exactMs.length,
      exact_30d_p50_ms: exact.p50,
      exact_30d_p95_ms: exact.p95,
      exact_30d_p99_ms: exact.p99,
      exact_30d_max_ms: exact.max,
      exact_30d_rows_per_query: Math.round((exactRows / exactPlates.length) * 10) / 10,
      exact_30d_influxd_cpu_ms_per_query: Math.round(exactCpuMs * 10) / 10,
      exact_30d_regular_p95_ms: percentiles(byClass.regular).p95,
      exact_30d_occasional_p95_ms: percentiles(byClass.occasional).p95,
      exact_30d_absent_p95_ms: percentiles(byClass.absent).p95,
      wildcard_24h_queries: wildMs.length,
      wildcard_24h_p50_ms: wildcard.p50,
      wildcard_24h_p95_ms: wildcard.p95,
      wildcard_24h_p99_ms: wildcard.p99,
      wildcard_24h_max_ms: wildcard.max,
      wildcard_24h_influxd_cpu_ms_per_query:
        Math.round((wildCpuTicks * 10 * 10) / Math.max(1, wildMs.length)) / 10,
      wildcard_24h_rows_per_query: Math.round((wildRows / Math.max(1, wildMs.length)) * 10) / 10,
      camera_24h_p95_ms: percentiles(camMs).p95,
      all_cameras_24h_p95_ms: percentiles(allMs).p95,
      get_event_p95_ms: percentiles(getMs).p95,
      pass_stats_24h_hourly_ms: Math.round(statsMs),
      pass_stats_rows: statsRows.length,
      series_plate_events: series.plate_events,
      series_face_events: series.face_events,
      series_plate_lookup: series.plate_lookup,
      series_total: series.plate_events + series.face_events + series.plate_lookup,
      series_cardinality_estimate: estimate,
      series_summed_over_shards: shardSeries,
      machine_load_avg_1m: loadAvg,
      influxd_rss_bytes: mem.rss,
      influxd_rss_anon_bytes: mem.anon,
      influxd_rss_file_bytes: mem.file,
      influxd_peak_rss_bytes: Math.max(mem.hwm, peakRss),
      influxd_disk_bytes: diskBytes(influxd.dataDir),
    };
  } finally {
    await influxd.stop();
  }
}
