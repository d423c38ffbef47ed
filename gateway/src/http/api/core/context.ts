/**
 * Who is calling and through what, plus the per-principal limits shared by REST and gRPC: a token
 * bucket of requests and a count of open streams per user or API key (GATEWAY_ERR_RESOURCE_EXHAUSTED
 * → HTTP 429 / gRPC RESOURCE_EXHAUSTED).
 */
import { actorOf, type Principal } from '../../../auth/roles.ts';
import { GatewayError } from '../../../errors.ts';
import type { GatewayDeps } from '../deps.ts';

/** One API call's caller. */
export interface AccessContext {
  principal: Principal;
  /** Which API. */
  via: 'rest' | 'grpc';
  /** Client address, for the audit trail. */
  sourceAddress?: string;
}

interface Bucket {
  tokens: number;
  atMs: number;
  streams: number;
}

/** Per-principal request rate and open streams. */
export class PrincipalLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    private readonly maxStreams: number,
    private readonly now: () => number = Date.now,
  ) {}

  #bucket(key: string): Bucket {
    let b = this.#buckets.get(key);
    const now = this.now();
    if (b === undefined) {
      if (this.#buckets.size >= 100_000) this.#prune(now);
      b = { tokens: this.burst, atMs: now, streams: 0 };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.atMs) / 1000) * this.ratePerS);
      b.atMs = now;
    }
    return b;
  }

  #prune(now: number): void {
    for (const [k, b] of this.#buckets) {
      const full = b.tokens + ((now - b.atMs) / 1000) * this.ratePerS >= this.burst;
      if (full && b.streams === 0) this.#buckets.delete(k);
    }
  }

  /** Take one request from `principal`'s bucket, or throw GATEWAY_ERR_RESOURCE_EXHAUSTED. */
  take(principal: Principal): void {
    const b = this.#bucket(actorOf(principal));
    if (b.tokens < 1) {
      throw new GatewayError(
        'GATEWAY_ERR_RESOURCE_EXHAUSTED',
        `more than ${this.ratePerS} requests per second; retry in ${Math.ceil(((1 - b.tokens) / this.ratePerS) * 1000)} ms`,
      );
    }
    b.tokens -= 1;
  }

  /** Open a stream for `principal` (returns its release function), or throw GATEWAY_ERR_RESOURCE_EXHAUSTED. */
  openStream(principal: Principal): () => void {
    const b = this.#bucket(actorOf(principal));
    if (b.streams >= this.maxStreams) {
      throw new GatewayError(
        'GATEWAY_ERR_RESOURCE_EXHAUSTED',
        `at most ${this.maxStreams} streams may be open at once per user or key`,
      );
    }
    b.streams += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      b.streams -= 1;
    };
  }
}

const limiters = new WeakMap<GatewayDeps, PrincipalLimiter>();

/** The one limiter of a deps object (REST and gRPC share it). */
export function limiterOf(deps: GatewayDeps): PrincipalLimiter {
  let l = limiters.get(deps);
  if (l === undefined) {
    const c = deps.config.limits;
    l = new PrincipalLimiter(c.requests_per_s, c.burst, c.max_streams, deps.now);
    limiters.set(deps, l);
  }
  return l;
}

/**
 * The principal of presented credentials: an API key (`Authorization: Bearer se_…` or
 * `x-api-key`) wins over a session cookie. Undefined when nothing is presented; throws
 * GATEWAY_ERR_UNAUTHENTICATED when what is presented is not valid.
 */
export function authenticate(
  deps: GatewayDeps,
  creds: {
    authorization?: string | undefined;
    apiKey?: string | undefined;
    sessionToken?: string | undefined;
  },
): Principal | undefined {
  const bearer = creds.authorization?.trim();
  const key =
    creds.apiKey?.trim() ?? (bearer !== undefined && /^Bearer\s+/i.test(bearer) ? bearer : undefined);
  if (key !== undefined && key !== '') {
    const p = deps.apiKeys.authenticate(key);
    if (p === undefined) throw new GatewayError('GATEWAY_ERR_UNAUTHENTICATED', 'the API key is not valid');
    return p;
  }
  if (bearer !== undefined && bearer !== '') {
    throw new GatewayError('GATEWAY_ERR_UNAUTHENTICATED', 'use "Authorization: Bearer se_…" with an API key');
  }
  const token = creds.sessionToken;
  if (token !== undefined && token !== '') {
    const p = deps.sessions.authenticate(token);
    if (p === undefined)
      throw new GatewayError('GATEWAY_ERR_UNAUTHENTICATED', 'the session has ended; log in again');
    return p;
  }
  return undefined;
}
