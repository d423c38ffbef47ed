/**
 * A real InfluxDB 1.x (`/usr/bin/influxd`) for tests: a foreground child on loopback ports with
 * its config, meta, data and WAL in a temp dir, plus small HTTP helpers for the v1 API
 * (`/write`, `/query`, `/ping`; influxd 1.6 has no `/api/v2`).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { influxdConfig } from '../../../gateway/src/influxd/influxd.ts';
import { makeTempDir } from '../lifetime.ts';
import { freePort, waitFor } from '../wait.ts';
import { exitedReason, readyOrExplain, retryOnPortClash, spawnService } from './child-service.ts';
import { BENCH_ERROR_CODES, BenchServiceError } from './errors.ts';
import { listensOn } from './process-state.ts';

const INFLUXD = '/usr/bin/influxd';
const REQUEST_TIMEOUT_MS = 30_000;
const DB_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Options for {@link startInfluxd}. */
export interface InfluxdOptions {
  /** HTTP port on 127.0.0.1. Default: a free port. Give a stopped instance's port to restart it in place. */
  port?: number;
  /**
   * Directory for meta/, data/ and wal/. Default: inside the instance's temp dir, removed by
   * `stop()`. A directory given here is kept, so a second instance can reopen the same data.
   */
  dataDir?: string;
  /** TSM index type. Default: the gateway's (`tsi1`, see gateway/src/influxd/influxd.ts). */
  indexVersion?: 'inmem' | 'tsi1';
  /**
   * influxd's `cache-snapshot-write-cold-duration` and `compact-full-write-cold-duration` (Go
   * duration): benches that load a month of events in minutes set it short so shards end written
   * to TSM and fully compacted, as a gateway's older shards are (see {@link waitForColdShards}).
   * Default influxd's (10m, 4h).
   */
  compactFullWriteColdDuration?: string;
  /** How long to wait for `/ping` to answer 204, in ms. Default 30000. */
  startTimeoutMs?: number;
}

/** Timestamp precision of written points, as the `/write` endpoint's `precision` parameter. */
export type InfluxPrecision = 'ns' | 'u' | 'ms' | 's' | 'm' | 'h';

/** A value in a query result: field and tag values, or `time`. */
export type InfluxValue = string | number | boolean | null;

/** A bound query parameter (`$name` in InfluxQL), sent in the `params` argument. */
export type InfluxParam = string | number | boolean;

/** One series of a query result, as influxd's JSON gives it. */
export interface InfluxSeries {
  /** Measurement name (or the SHOW command's subject). */
  name: string;
  /** Tag values of a GROUP BY series. */
  tags?: Record<string, string>;
  /** Column names; `time` first for SELECT. */
  columns: string[];
  /** Rows, each in `columns` order. */
  values: InfluxValue[][];
}

/** Options for {@link InfluxdHandle.query}. */
export interface InfluxQueryOptions {
  /** Values for `$name` placeholders in the statement. */
  params?: Record<string, InfluxParam>;
  /** Return `time` as an integer in this unit instead of an RFC 3339 string. */
  epoch?: InfluxPrecision;
}

/** A running influxd. */
export interface InfluxdHandle {
  /** Base URL of the HTTP API, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** HTTP port. */
  readonly port: number;
  /** Directory holding meta/, data/ and wal/. */
  readonly dataDir: string;
  /** The temp dir with the config and log; removed by `stop()`. */
  readonly tempDir: string;
  /** influxd's pid, also its process group id. */
  readonly pid: number;
  /** Write line protocol to `db` (which must exist); resolves on 204. */
  write(lineProtocol: string, db: string, precision?: InfluxPrecision): Promise<void>;
  /** Run InfluxQL against `db`; returns every statement's series, throws if any statement failed. */
  query(influxql: string, db?: string, opts?: InfluxQueryOptions): Promise<InfluxSeries[]>;
  /** `CREATE DATABASE` (idempotent). Names are limited to `[A-Za-z0-9_.-]`. */
  createDatabase(name: string): Promise<void>;
  /** Stop influxd (SIGTERM, then SIGKILL) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** influxd's JSON answer to `/query`. */
interface QueryResponse {
  results?: Array<{ statement_id?: number; series?: InfluxSeries[]; error?: string }>;
  error?: string;
}

/** Start influxd on loopback and wait until `/ping` answers. */
export async function startInfluxd(opts: InfluxdOptions = {}): Promise<InfluxdHandle> {
  // A fixed port cannot be re-picked, so a clash there is reported at once.
  return retryOnPortClash(() => startOnce(opts), opts.port === undefined ? 3 : 1);
}

async function startOnce(opts: InfluxdOptions): Promise<InfluxdHandle> {
  const tmp = makeTempDir('influxd');
  const port = opts.port ?? (await freePort());
  const rpcPort = await freePort();
  const dataDir = opts.dataDir ?? tmp.path;
  const configPath = join(tmp.path, 'influxd.conf');
  writeFileSync(
    configPath,
    // The gateway's own config writer, so tests run influxd as the gateway does.
    influxdConfig({ dir: dataDir, port, rpcPort, logLevel: 'info', ...indexOpt(opts) }),
  );

  const svc = spawnService(INFLUXD, ['run', '-config', configPath], {
    name: 'influxd',
    logFile: join(tmp.path, 'influxd.log'),
    env: withoutInfluxEnv(process.env),
    stopTimeoutMs: 5000,
  });
  const url = `http://127.0.0.1:${port}`;
  await readyOrExplain(
    svc,
    () =>
      waitFor(
        async () => {
          // The port was free when picked; make sure the answer will come from our influxd.
          if (!listensOn(svc.child.pid, port)) return undefined;
          const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) });
          await res.body?.cancel();
          return res.status === 204 ? true : undefined;
        },
        {
          what: `influxd /ping on port ${port}`,
          timeoutMs: opts.startTimeoutMs ?? 30_000,
          abortIf: () => exitedReason(svc),
        },
      ),
    () => {
      tmp.remove();
    },
  );

  const query = async (
    influxql: string,
    db?: string,
    qopts: InfluxQueryOptions = {},
  ): Promise<InfluxSeries[]> => {
    const form = new URLSearchParams({ q: influxql });
    if (db !== undefined) form.set('db', db);
    if (qopts.params !== undefined) form.set('params', JSON.stringify(qopts.params));
    if (qopts.epoch !== undefined) form.set('epoch', qopts.epoch);
    const res = await fetch(`${url}/query`, {
      method: 'POST',
      body: form,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) throw requestError('query', res.status, text);
    const parsed = JSON.parse(text) as QueryResponse;
    const failed = parsed.error ?? parsed.results?.find((r) => r.error !== undefined)?.error;
    if (failed !== undefined) throw requestError('query', res.status, failed);
    return (parsed.results ?? []).flatMap((r) => r.series ?? []);
  };

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir,
    tempDir: tmp.path,
    pid: svc.child.pid,
    async write(lineProtocol, db, precision = 'ns') {
      const params = new URLSearchParams({ db, precision });
      const res = await fetch(`${url}/write?${params.toString()}`, {
        method: 'POST',
        body: lineProtocol,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.status !== 204) throw requestError('write', res.status, text);
    },
    query,
    async createDatabase(name) {
      if (!DB_NAME.test(name)) {
        throw new BenchServiceError(
          BENCH_ERROR_CODES.BAD_OPTION,
          `database name not allowed: ${JSON.stringify(name)}`,
        );
      }
      // Identifiers cannot be bound parameters; the pattern above makes quoting safe.
      await query(`CREATE DATABASE "${name}"`);
    },
    stop() {
      stopping ??= (async () => {
        await svc.child.stop();
        tmp.remove();
      })();
      return stopping;
    },
  };
}

function indexOpt(opts: InfluxdOptions): {
  indexVersion?: 'inmem' | 'tsi1';
  compactFullWriteColdDuration?: string;
} {
  return {
    ...(opts.indexVersion === undefined ? {} : { indexVersion: opts.indexVersion }),
    ...(opts.compactFullWriteColdDuration === undefined
      ? {}
      : { compactFullWriteColdDuration: opts.compactFullWriteColdDuration }),
  };
}

/** influxd lets `INFLUXDB_*` variables override the config file: none may leak in from the caller. */
function withoutInfluxEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('INFLUXDB_')));
}

function requestError(what: string, status: number, detail: string): BenchServiceError {
  return new BenchServiceError(
    BENCH_ERROR_CODES.INFLUX_REQUEST,
    `influxd ${what} failed (HTTP ${status}): ${detail.trim()}`,
  );
}

/** Rows of a series as objects keyed by column, with the series' tags merged in. */
export function seriesRows(series: InfluxSeries): Array<Record<string, InfluxValue>> {
  return series.values.map((row) => {
    const obj: Record<string, InfluxValue> = { ...series.tags };
    series.columns.forEach((col, i) => {
      obj[col] = row[i] ?? null;
    });
    return obj;
  });
}

/** The config file writer, shared with the gateway's managed influxd (one source). */
export { influxdConfig };

/** What {@link waitForColdShards} found. */
export interface ColdShards {
  /** Shards of the database. */
  shards: number;
  /** Shards not yet in one TSM file (data still only in the WAL, or several files). */
  pending: number;
  /** Seconds waited. */
  waitedS: number;
}

/**
 * Wait until every shard of `database` in `dataDir` is in the state a running gateway's older
 * shards are in: its cache written out (no WAL segment with data left) and fully compacted (one
 * TSM file, no compaction temp file). influxd does this only after the shard has had no writes
 * for its cold durations ({@link InfluxdOptions.compactFullWriteColdDuration}), so a bench that
 * just loaded data waits here before it measures queries. Gives up after `maxS` seconds and
 * reports what is still pending.
 */
export async function waitForColdShards(
  dataDir: string,
  database: string,
  maxS: number,
  progress: (msg: string) => void = () => undefined,
): Promise<ColdShards> {
  const t0 = performance.now();
  const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
  for (;;) {
    let shards = 0;
    let pending = 0;
    // `_series` is the database's series file, not a retention policy.
    for (const rp of list(join(dataDir, 'data', database)).filter((d) => d !== '_series')) {
      for (const shard of list(join(dataDir, 'data', database, rp))) {
        shards += 1;
        const files = list(join(dataDir, 'data', database, rp, shard));
        const tsm = files.filter((f) => f.endsWith('.tsm')).length;
        if (tsm !== 1 || files.some((f) => f.endsWith('.tmp'))) pending += 1;
      }
    }
    const waitedS = (performance.now() - t0) / 1000;
    if (pending === 0 || waitedS >= maxS) return { shards, pending, waitedS };
    progress(
      `waiting for influxd to write out and compact ${pending} of ${shards} shards (${waitedS.toFixed(0)} s)`,
    );
    await new Promise((r) => setTimeout(r, 10_000));
  }
}
