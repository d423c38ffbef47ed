/** Helpers shared by the REST route modules. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../../auth/roles.ts';
import type { AreaScope } from '../../../auth/scope.ts';
import { GatewayError } from '../../../errors.ts';
import type { AccessContext } from '../core/context.ts';
import type { GatewayDeps } from '../deps.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling (set by the API's auth hook; undefined on public routes without credentials). */
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** false: the route needs no credentials (login, logout). */
    auth?: boolean;
  }
}

/** The caller of an authenticated route. */
export function ctxOf(request: FastifyRequest): AccessContext {
  const principal = request.principal;
  if (principal === undefined) throw new GatewayError('GATEWAY_ERR_UNAUTHENTICATED');
  return { principal, via: 'rest', sourceAddress: request.ip };
}

/** The stated reason: `reason` in the query (preferred) or the `x-reason` header (percent-encoded UTF-8). */
export function reasonOf(request: FastifyRequest, fromQuery: string | undefined): string | undefined {
  if (fromQuery !== undefined) return fromQuery;
  const h = request.headers['x-reason'];
  const raw = Array.isArray(h) ? h[0] : h;
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    // Not valid percent-encoding: take it as typed (requireReason still checks it).
    return raw;
  }
}

/** The area fields of a query as a scope request (undefined when none is given). */
export function areaOf(q: {
  district?: string;
  street?: string;
  community?: string;
  grid?: string;
}): AreaScope | undefined {
  const a: AreaScope = {};
  if (q.district !== undefined) a.district = q.district;
  if (q.street !== undefined) a.street = q.street;
  if (q.community !== undefined) a.community = q.community;
  if (q.grid !== undefined) a.grid = q.grid;
  return Object.keys(a).length === 0 ? undefined : a;
}

/** Page size from a query: the default when absent, capped at the configured maximum. */
export function pageSize(deps: GatewayDeps, limit: number | undefined): number {
  const c = deps.config.rest;
  return Math.min(limit ?? c.default_page_size, c.max_page_size);
}

/** Send 201 Created with `body`. */
export function created<T>(reply: FastifyReply, body: T): T {
  void reply.code(201);
  return body;
}
