#!/usr/bin/env node
/**
 * Container health check of the gateway and edge-agent images (their HEALTHCHECK runs it; plain
 * Node, no tsx, so a check every 30 s costs ~40 ms of CPU).
 *
 *   node healthcheck.mjs URL        e.g. http://127.0.0.1:9480/healthz
 *
 * Exit 0 when URL answers 200 with a JSON body whose `status` is "ok" or "degraded", else 1.
 * "degraded" is healthy on purpose: both programs report a component's trouble (InfluxDB down, a
 * camera offline, the uplink cut) as degraded, and restarting the container would not fix it;
 * alert on the metrics instead (docs/ops.md). One line goes to stdout (docker inspect keeps it).
 * SHARPEYES_HEALTH_TIMEOUT_MS (default 4000) bounds the request.
 */
/* global fetch, AbortSignal -- Node 20 globals */
import process from 'node:process';

const url = process.argv[2] ?? process.env.SHARPEYES_HEALTH_URL;
const timeoutMs = Number(process.env.SHARPEYES_HEALTH_TIMEOUT_MS ?? '4000');

function fail(message) {
  process.stdout.write(`unhealthy: ${message}\n`);
  process.exit(1);
}

if (url === undefined || !/^https?:\/\//.test(url)) fail('usage: healthcheck.mjs http://HOST:PORT/healthz');
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
  fail('SHARPEYES_HEALTH_TIMEOUT_MS must be a positive number');

let res;
let text;
try {
  res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  text = await res.text();
} catch (err) {
  fail(`${url}: ${err instanceof Error ? err.message : String(err)}`);
}
if (res.status !== 200) fail(`${url}: HTTP ${res.status}`);
let body;
try {
  body = JSON.parse(text);
} catch {
  fail(`${url}: the body is not JSON`);
}
const status = typeof body === 'object' && body !== null ? body.status : undefined;
if (status !== 'ok' && status !== 'degraded') fail(`${url}: status ${JSON.stringify(status)}`);
process.stdout.write(`${status}\n`);
