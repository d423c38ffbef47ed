/**
 * Loading the configuration file: parse, fill defaults, validate, check what the schema cannot
 * (cross-field rules), resolve secrets. Every problem is reported at once, one `path message`
 * line each, in a GatewayError(GATEWAY_ERR_CONFIG).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { GatewayError } from '../errors.ts';
import { EvidenceConfigSchema, type EvidenceConfig } from '../evidence/config.ts';
import { IndexConfigSchema, type IndexConfig } from '../index/config.ts';
import { GatewayConfigSchema, type GatewayConfig, type Secret } from './schema.ts';

/** Validate an already-parsed config object; returns it with defaults filled in. */
export function parseConfig(raw: unknown): GatewayConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GatewayError('GATEWAY_ERR_CONFIG', 'the file must hold a JSON object');
  }
  const value = Value.Default(GatewayConfigSchema, structuredClone(raw));
  const problems = [...Value.Errors(GatewayConfigSchema, value)].map(
    (e) => `${e.path === '' ? '/' : e.path} ${e.message}`,
  );
  if (problems.length === 0) {
    const c = value as GatewayConfig;
    if (c.broker.mode === 'external') {
      if (c.broker.url === undefined) problems.push('/broker/url is required with an external broker');
      if (c.broker.password === undefined)
        problems.push('/broker/password is required with an external broker');
      if (c.broker.tls !== undefined)
        problems.push(
          '/broker/tls applies to the embedded broker only (configure TLS in the external broker)',
        );
    }
    if (c.broker.mode === 'embedded' && c.broker.mosquitto_files !== undefined)
      problems.push('/broker/mosquitto_files applies to an external Mosquitto only');
    if (c.ingest.retry_initial_ms > c.ingest.retry_max_ms)
      problems.push('/ingest/retry_initial_ms must not exceed retry_max_ms');
    problems.push(...roleProblems(c));
  }
  if (problems.length > 0) {
    // Unions report one error per branch; keep the list short and unique.
    throw new GatewayError('GATEWAY_ERR_CONFIG', `\n  ${[...new Set(problems)].join('\n  ')}`);
  }
  // `index` and `evidence` may be absent from the file: their own defaults apply.
  const partial = value as Omit<GatewayConfig, 'index' | 'evidence'> & {
    index?: IndexConfig;
    evidence?: EvidenceConfig;
  };
  const c = partial as GatewayConfig;
  c.index = Value.Default(IndexConfigSchema, partial.index ?? {}) as IndexConfig;
  c.evidence = Value.Default(
    EvidenceConfigSchema,
    partial.evidence ?? { dir: join(c.data_dir, 'evidence') },
  ) as EvidenceConfig;
  return c;
}

/** What a scale-out role needs (decision 15), as `path message` lines. */
export function roleProblems(c: GatewayConfig): string[] {
  if (c.role === 'all') return [];
  const out: string[] = [];
  if (c.broker.mode !== 'external')
    out.push(
      `/broker/mode must be external with role ${c.role}: the embedded broker (Aedes) has no MQTT 5 shared subscriptions; use Mosquitto or EMQX`,
    );
  if (c.role === 'ingest' && c.influx.mode !== 'external')
    out.push('/influx/mode must be external with role ingest: a worker writes the shared InfluxDB');
  return out;
}

/** Read, parse and validate a config file. */
export function loadConfigFile(path: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayError('GATEWAY_ERR_CONFIG_READ', `${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new GatewayError('GATEWAY_ERR_CONFIG', `${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseConfig(raw);
}

/** Resolve a secret from its source. Throws GATEWAY_ERR_CONFIG naming `where` (never the value). */
export function resolveSecret(secret: Secret, where: string, env: NodeJS.ProcessEnv = process.env): string {
  if ('value' in secret) return secret.value;
  if ('env' in secret) {
    const v = env[secret.env];
    if (v === undefined || v === '')
      throw new GatewayError('GATEWAY_ERR_CONFIG', `${where} environment variable ${secret.env} is not set`);
    return v;
  }
  try {
    return readFileSync(secret.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new GatewayError(
      'GATEWAY_ERR_CONFIG',
      `${where} cannot read ${secret.file}: ${(err as Error).message}`,
    );
  }
}
