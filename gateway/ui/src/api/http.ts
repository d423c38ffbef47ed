/**
 * The one place the UI calls the gateway: `fetch` with the session cookie, JSON in and out,
 * the API's error body turned into {@link ApiError}, and a 401 announced as an ended session
 * (the app shows sign-in with "session expired").
 */

/** Where the REST API lives, relative to the page's origin. */
export const API_BASE = '/api/v1';

/** An error answer of the API (`{ error: { code, message, field? } }` or `{ code, message }`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = () => void;
const expiredListeners = new Set<Listener>();

/** Call `fn` when a request finds the session gone (401). Returns an unsubscribe function. */
export function onSessionExpired(fn: Listener): () => void {
  expiredListeners.add(fn);
  return () => {
    expiredListeners.delete(fn);
  };
}

/** Query values: arrays repeat the key; undefined, null and '' are left out. */
export type Query = Record<
  string,
  string | number | boolean | readonly (string | number)[] | undefined | null
>;

/** Build `path?query` under the API base. */
export function apiUrl(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v))
      for (const item of v as readonly (string | number)[]) params.append(k, String(item));
    else params.set(k, String(v));
  }
  const qs = params.toString();
  if (qs === '') return `${API_BASE}${path}`;
  return `${API_BASE}${path}${path.includes('?') ? '&' : '?'}${qs}`;
}

/** Options of {@link request}. */
export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  query?: Query;
  body?: unknown;
  /** The stated reason (searches, evidence, exports): sent as the `X-Reason` header as well. */
  reason?: string;
  signal?: AbortSignal;
  /** Do not announce a 401 as an expired session (the sign-in call itself). */
  quiet401?: boolean;
}

async function toApiError(res: Response, quiet401: boolean): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let field: string | undefined;
  try {
    const body = (await res.json()) as Record<string, unknown>;
    const e = (typeof body.error === 'object' && body.error !== null ? body.error : body) as Record<
      string,
      unknown
    >;
    if (typeof e.code === 'string') code = e.code;
    if (typeof e.message === 'string') message = e.message;
    if (typeof e.field === 'string') field = e.field;
  } catch {
    // Not a JSON body (a proxy's error page): keep the status text.
    code = `HTTP_${res.status}`;
  }
  if (res.status === 401 && !quiet401) for (const fn of expiredListeners) fn();
  return new ApiError(res.status, code, message, field);
}

function headers(opts: RequestOptions, json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  if (json) h['content-type'] = 'application/json';
  // Header values must be ISO-8859-1: a Chinese reason goes percent-encoded (the query carries it too).
  if (opts.reason !== undefined) h['x-reason'] = encodeURIComponent(opts.reason);
  return h;
}

/** A JSON request. Resolves with the parsed body (undefined for 204). */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const json = opts.body !== undefined;
  const res = await fetch(apiUrl(path, opts.query), {
    method: opts.method ?? (json ? 'POST' : 'GET'),
    credentials: 'same-origin',
    headers: headers(opts, json),
    ...(json && { body: JSON.stringify(opts.body) }),
    ...(opts.signal !== undefined && { signal: opts.signal }),
  });
  if (!res.ok) throw await toApiError(res, opts.quiet401 === true);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Most times a GET refused with 429 (per-user rate limit) is retried after its Retry-After. */
const MAX_RATE_RETRIES = 5;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const id = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(id);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Binary GET (evidence, snapshots). An export fetches many files in a row and may meet the
 * per-user rate limit: a 429 is waited out (Retry-After) a few times before it is an error.
 */
export async function requestBytes(
  path: string,
  opts: RequestOptions = {},
): Promise<{ bytes: Uint8Array; type: string; headers: Headers }> {
  let res: Response;
  for (let attempt = 0; ; attempt++) {
    res = await fetch(apiUrl(path, opts.query), {
      method: opts.method ?? 'GET',
      credentials: 'same-origin',
      headers: { ...headers(opts, opts.body !== undefined), accept: '*/*' },
      ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
      ...(opts.signal !== undefined && { signal: opts.signal }),
      cache: 'no-store',
    });
    if (res.status !== 429 || attempt >= MAX_RATE_RETRIES || opts.signal?.aborted === true) break;
    const wait = Number(res.headers.get('retry-after') ?? '1');
    await sleep(Math.min(10, Number.isFinite(wait) && wait > 0 ? wait : 1) * 1000, opts.signal);
  }
  if (!res.ok) throw await toApiError(res, false);
  return {
    bytes: new Uint8Array(await res.arrayBuffer()),
    type: res.headers.get('content-type') ?? 'application/octet-stream',
    headers: res.headers,
  };
}
