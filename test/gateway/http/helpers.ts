/** REST test helpers: the gateway's fastify app with the API registered, logins, requests via inject. */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Registry as PromRegistry } from 'prom-client';
import { registerRestApi } from '../../../gateway/src/http/api/plugin.ts';
import { buildHttpApp } from '../../../gateway/src/http/server.ts';
import { PASSWORD, type ApiEnv } from '../fixtures-api/env.ts';

/** The app with the API (not listening: use inject). */
export async function buildApiApp(env: ApiEnv): Promise<FastifyInstance> {
  const app = buildHttpApp({
    registry: new PromRegistry(),
    version: 'test',
    components: () => ({}),
    logger: env.deps.logger,
  });
  await registerRestApi(app, env.deps);
  await app.ready();
  return app;
}

/** Log in as `username`; returns the Cookie header value. */
export async function login(app: FastifyInstance, username: string): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password: PASSWORD },
  });
  if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.statusCode} ${res.body}`);
  const set = res.headers['set-cookie'];
  const first = Array.isArray(set) ? set[0] : set;
  return (first ?? '').split(';')[0] ?? '';
}

/** Who makes a request: a session cookie or an API key. */
export type As = { cookie: string } | { key: string } | undefined;

export function headersOf(as: As): Record<string, string> {
  if (as === undefined) return {};
  return 'cookie' in as ? { cookie: as.cookie } : { authorization: `Bearer ${as.key}` };
}

/** The JSON body of an API answer. */
export type ApiJson = Record<string, unknown> & { error?: { code: string; message: string; field?: string } };

/** An answer of {@link call}. */
export interface ApiResponse {
  statusCode: number;
  headers: LightMyRequestResponse['headers'];
  body: string;
  rawPayload: Buffer;
  json(): ApiJson;
}

/** A JSON request. */
export async function call(
  app: FastifyInstance,
  as: As,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<ApiResponse> {
  const res = await app.inject({
    method,
    url,
    headers: headersOf(as),
    ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
  });
  return {
    statusCode: res.statusCode,
    headers: res.headers,
    body: res.body,
    rawPayload: res.rawPayload,
    json: () => res.json<ApiJson>(),
  };
}

/** A reason that passes the rules. */
export const REASON = 'case 2025-XS-0815 stolen vehicle';

/** `url` with query parameters. */
export function q(
  url: string,
  params: Record<string, string | number | boolean | readonly string[] | undefined>,
): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) u.append(k, String(x));
    else u.append(k, String(v));
  }
  const s = u.toString();
  return s === '' ? url : `${url}?${s}`;
}
