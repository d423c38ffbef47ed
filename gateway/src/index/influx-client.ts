/**
 * The one adapter around `@influxdata/influxdb-client`, for InfluxDB's v1 HTTP API (`/write` line
 * protocol, `/query` InfluxQL, `/ping`): every InfluxDB generation serves it, and the Debian 1.6
 * that tests run has nothing else. The library provides the line-protocol escaping and the HTTP
 * transport; nothing outside this file imports it.
 *
 * Errors come out as GatewayError:
 * - GATEWAY_ERR_INDEX_UNAVAILABLE — influxd unreachable, timed out, 5xx, or refused our
 *   credentials: transient from the caller's point of view (retry later, keep the data);
 * - GATEWAY_ERR_INDEX_WRITE — influxd refused the points themselves (400: bad line protocol,
 *   field type conflict): writing the same points again fails again;
 * - GATEWAY_ERR_INDEX_QUERY — influxd refused a query or a statement failed.
 * A missing database or retention policy is reported as {@link InfluxMissingError} so the index can
 * recreate its schema (an influxd replaced by an empty one) and retry.
 */
import {
  escape,
  HttpError,
  InfluxDB,
  RequestTimedOutError,
  type Transport,
} from '@influxdata/influxdb-client';
import { GatewayError } from '../errors.ts';

/** Connection options of {@link InfluxV1Client}. */
export interface InfluxV1Options {
  /** Base URL of influxd's HTTP API, e.g. `http://127.0.0.1:8086`. */
  url: string;
  /** Deadline of one request (connect, send, answer), in ms. */
  timeoutMs: number;
  /**
   * Most `/query` requests in flight at once; the rest wait, those continuing a search first, each
   * in arrival order. Default: no limit. influxd shares its cores among every query it runs, so
   * with many at once each takes as long as all of them; a few at a time, in order, finish the
   * same work with a shorter tail, and a search that has started is finished before new ones.
   */
  maxConcurrentQueries?: number;
}

/** The caller of a query gave up (cancelled, or its deadline passed). */
function cancelled(): GatewayError {
  return new GatewayError('GATEWAY_ERR_UNAVAILABLE', 'the call was cancelled or its deadline passed');
}

/**
 * Runs at most `limit` tasks at once; the others wait, those that continue work already under
 * way (a search's second statement) before those that start new work, each in arrival order. A
 * waiting task whose signal aborts leaves the queue without running.
 */
class QueryLimit {
  private active = 0;
  private readonly waiting: { continuing: Array<() => void>; starting: Array<() => void> } = {
    continuing: [],
    starting: [],
  };

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>, continuing: boolean, signal: AbortSignal | undefined): Promise<T> {
    if (signal?.aborted === true) throw cancelled();
    if (this.active < this.limit) this.active++;
    else {
      // The slot is handed over by the task that frees it, so `active` stays counted.
      const queue = continuing ? this.waiting.continuing : this.waiting.starting;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = queue.indexOf(go);
          if (at >= 0) queue.splice(at, 1);
          reject(cancelled());
        };
        const go = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        queue.push(go);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.continuing.shift() ?? this.waiting.starting.shift();
      if (next !== undefined) next();
      else this.active--;
    }
  }
}

/** How one `/query` request is made. */
export interface QueryOptions {
  /** Database of unqualified measurements. */
  db?: string;
  /** Bound parameters (see {@link InfluxParam}). */
  params?: Readonly<Record<string, InfluxParam>>;
  /** The caller's cancellation: a query still waiting for a slot is dropped, one running is aborted. */
  signal?: AbortSignal;
  /** The query continues work already under way (waits ahead of queries that start new work). */
  continuing?: boolean;
}

/** A value in a `/query` result row: field and tag values, or `time` (RFC 3339 string). */
export type InfluxValue = string | number | boolean | null;

/** One series of a `/query` result. */
export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: InfluxValue[][];
}

/**
 * A bound query parameter: strings, numbers and booleans bind as literals of their type; the
 * typed forms bind as a regular expression (`=~ $re`), a duration (`GROUP BY time($d)`) or an
 * identifier (`FROM $rp.$m`), which influxd ≥ 1.6 supports.
 */
export type InfluxParam =
  string | number | boolean | { regex: string } | { duration: string } | { identifier: string };

/** The fields of one line-protocol point, by type. */
export interface PointFields {
  strings?: Readonly<Record<string, string>>;
  ints?: Readonly<Record<string, number>>;
  floats?: Readonly<Record<string, number>>;
}

/** influxd's JSON answer to `/query`. */
interface QueryAnswer {
  results?: Array<{ statement_id?: number; series?: InfluxSeries[]; error?: string }>;
  error?: string;
}

/** What a successful write reports. */
export interface WriteOutcome {
  /** Points influxd dropped because they are older than the retention policy keeps. */
  beyondRetention: number;
}

/** influxd does not have the database or retention policy a request named. */
export class InfluxMissingError extends GatewayError {
  constructor(detail: string) {
    super('GATEWAY_ERR_INDEX_WRITE', detail);
    this.name = 'InfluxMissingError';
  }
}

const BEYOND_RETENTION = /^partial write: points beyond retention policy dropped=(\d+)$/;
const MISSING = /^(database not found|retention policy not found)/;

const TAG_SPECIAL = /[, =\n\r\t]/;
const MEASUREMENT_SPECIAL = /[, \n\r\t]/;
const QUOTED_SPECIAL = /["\\]/;

/** A tag key or value, a field key, escaped (the library's rules; copied only when needed). */
function escapeTag(s: string): string {
  return TAG_SPECIAL.test(s) ? escape.tag(s) : s;
}

/** A string field value, quoted and escaped. */
function quoteString(s: string): string {
  return QUOTED_SPECIAL.test(s) ? escape.quoted(s) : `"${s}"`;
}

/**
 * One line of line protocol, identical to what the library's `Point.toLineProtocol()` makes
 * (tags and fields sorted by key, the library's escaping) but without building a Point: the
 * index writes two lines per event, and Point's per-character escaping of the long `detail`
 * field was most of the cost. Tag values must be non-empty without a trailing backslash;
 * numbers must be finite; `timestampNs` is the point time in ns.
 */
export function lineProtocol(
  measurement: string,
  tags: Readonly<Record<string, string>>,
  fields: PointFields,
  timestampNs: bigint,
): string {
  let line = MEASUREMENT_SPECIAL.test(measurement) ? escape.measurement(measurement) : measurement;
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key] ?? '';
    if (value === '' || value.endsWith('\\')) {
      throw new GatewayError(
        'GATEWAY_ERR_INDEX_WRITE',
        `tag ${key} must be non-empty without a trailing backslash`,
      );
    }
    line += `,${escapeTag(key)}=${escapeTag(value)}`;
  }
  const parts: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(fields.strings ?? {})) parts.push([k, quoteString(v)]);
  for (const [k, v] of Object.entries(fields.ints ?? {})) {
    if (!Number.isSafeInteger(v))
      throw new GatewayError('GATEWAY_ERR_INDEX_WRITE', `field ${k} is not an integer`);
    parts.push([k, `${v}i`]);
  }
  for (const [k, v] of Object.entries(fields.floats ?? {})) {
    if (!Number.isFinite(v))
      throw new GatewayError('GATEWAY_ERR_INDEX_WRITE', `field ${k} is not a finite number`);
    parts.push([k, String(v)]);
  }
  if (parts.length === 0)
    throw new GatewayError('GATEWAY_ERR_INDEX_WRITE', `point of ${measurement} without fields`);
  parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `${line} ${parts.map(([k, v]) => `${escapeTag(k)}=${v}`).join(',')} ${timestampNs.toString()}`;
}

/** A client of influxd's v1 HTTP API. */
export class InfluxV1Client {
  private readonly transport: Transport;
  private readonly timeoutMs: number;
  private readonly queries: QueryLimit | undefined;
  /** Base URL, for messages. */
  readonly url: string;

  constructor(opts: InfluxV1Options) {
    this.url = opts.url.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs;
    const limit = opts.maxConcurrentQueries ?? 0;
    this.queries = limit > 0 ? new QueryLimit(limit) : undefined;
    this.transport = new InfluxDB({ url: this.url, timeout: opts.timeoutMs }).transport;
  }

  /** POST line protocol to `/write?db&rp&precision=ns`; resolves once influxd answered 204. */
  async write(db: string, rp: string, body: string): Promise<WriteOutcome> {
    const path = `/write?${new URLSearchParams({ db, rp, precision: 'ns' }).toString()}`;
    try {
      await this.request(path, body, 'text/plain; charset=utf-8');
      return { beyondRetention: 0 };
    } catch (err) {
      if (err instanceof HttpError) {
        const msg = errorText(err);
        const beyond = BEYOND_RETENTION.exec(msg);
        if (err.statusCode === 400 && beyond !== null) return { beyondRetention: Number(beyond[1]) };
        if (err.statusCode === 404 && MISSING.test(msg)) throw new InfluxMissingError(msg);
        if (
          err.statusCode >= 400 &&
          err.statusCode < 500 &&
          err.statusCode !== 401 &&
          err.statusCode !== 403
        ) {
          throw new GatewayError(
            'GATEWAY_ERR_INDEX_WRITE',
            `influxd refused the write (HTTP ${err.statusCode}): ${msg}`,
          );
        }
      }
      throw this.unavailable('write', err);
    }
  }

  /**
   * Run InfluxQL (one or more `;`-separated statements) with bound `params`. Returns each
   * statement's series, in order. Throws GATEWAY_ERR_INDEX_QUERY if influxd refused the query or
   * any statement failed.
   */
  async query(statement: string, opts: QueryOptions = {}): Promise<InfluxSeries[][]> {
    const form = new URLSearchParams({ q: statement });
    if (opts.db !== undefined) form.set('db', opts.db);
    if (opts.params !== undefined && Object.keys(opts.params).length > 0) {
      form.set('params', JSON.stringify(opts.params));
    }
    let answer: QueryAnswer;
    try {
      const send = (): Promise<unknown> =>
        this.request('/query', form.toString(), 'application/x-www-form-urlencoded', 'POST', opts.signal);
      const raw = await (this.queries === undefined
        ? send()
        : this.queries.run(send, opts.continuing === true, opts.signal));
      answer = typeof raw === 'object' && raw !== null ? raw : {};
    } catch (err) {
      if (opts.signal?.aborted === true) throw cancelled();
      if (
        err instanceof HttpError &&
        err.statusCode >= 400 &&
        err.statusCode < 500 &&
        err.statusCode !== 401 &&
        err.statusCode !== 403
      ) {
        throw new GatewayError(
          'GATEWAY_ERR_INDEX_QUERY',
          `influxd refused the query (HTTP ${err.statusCode}): ${errorText(err)}`,
        );
      }
      throw this.unavailable('query', err);
    }
    if (answer.error !== undefined) throw new GatewayError('GATEWAY_ERR_INDEX_QUERY', answer.error);
    const results = answer.results ?? [];
    const failed = results.find((r) => r.error !== undefined);
    if (failed?.error !== undefined) throw new GatewayError('GATEWAY_ERR_INDEX_QUERY', failed.error);
    return results.map((r) => r.series ?? []);
  }

  /** `/ping`: resolves when influxd answers 204. */
  async ping(): Promise<void> {
    try {
      await this.request('/ping', '', 'text/plain', 'GET');
    } catch (err) {
      throw this.unavailable('ping', err);
    }
  }

  private async request(
    path: string,
    body: string,
    contentType: string,
    method = 'POST',
    signal?: AbortSignal,
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const answer: unknown = await this.transport.request(path, body, {
      method,
      headers: { 'content-type': contentType, accept: 'application/json' },
      signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
    });
    return answer;
  }

  private unavailable(what: string, err: unknown): GatewayError {
    let detail: string;
    if (err instanceof HttpError) detail = `HTTP ${err.statusCode}: ${errorText(err)}`;
    else if (err instanceof RequestTimedOutError) detail = `no answer within ${this.timeoutMs} ms`;
    else if (err instanceof Error && err.name === 'AbortError')
      detail = `no answer within ${this.timeoutMs} ms`;
    else if (err instanceof Error) detail = (err as NodeJS.ErrnoException).code ?? err.message;
    else detail = String(err);
    return new GatewayError('GATEWAY_ERR_INDEX_UNAVAILABLE', `${what} to ${this.url}: ${detail}`, {
      cause: err,
    });
  }
}

/** influxd's error text from an HTTP error (its JSON `error`, else the body). */
function errorText(err: HttpError): string {
  const json: unknown = err.json;
  if (typeof json === 'object' && json !== null && typeof (json as { error?: unknown }).error === 'string') {
    return (json as { error: string }).error;
  }
  const body = err.body ?? '';
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): the raw text is the best we have.
    return body.slice(0, 500);
  }
  return body.slice(0, 500);
}
