/**
 * Loading the configuration file: parse, fill defaults, validate, resolve secrets. Every problem
 * is reported at once, one `path message` line each, in an EdgeError(EDGE_ERR_CONFIG).
 */
import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { isValidId } from '../../../proto/topics.ts';
import { EdgeError } from '../errors.ts';
import { EdgeConfigSchema, type CredentialsEntry, type EdgeConfig, type Secret } from './schema.ts';

/** Credentials with the password resolved. Never log this object. */
export interface Credentials {
  username: string;
  password: string;
}

/** Environment variable that overrides `default_credentials.password` (a secret kept off disk). */
export const PASSWORD_ENV = 'SHARPEYES_EDGE_PASSWORD';

/** Validate an already-parsed config object; returns it with defaults filled in. */
export function parseConfig(raw: unknown): EdgeConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EdgeError('EDGE_ERR_CONFIG', 'the file must hold a JSON object');
  }
  const value = Value.Default(EdgeConfigSchema, structuredClone(raw));
  const problems = [...Value.Errors(EdgeConfigSchema, value)].map(
    (e) => `${e.path === '' ? '/' : e.path} ${e.message}`,
  );
  if (problems.length > 0) {
    // Unions report one error per branch; keep the list short and unique.
    throw new EdgeError('EDGE_ERR_CONFIG', `\n  ${[...new Set(problems)].join('\n  ')}`);
  }
  const config = value as EdgeConfig;
  const ids = new Set<string>();
  for (const [i, cam] of config.cameras.entries()) {
    if (ids.has(cam.camera_id)) {
      throw new EdgeError('EDGE_ERR_CONFIG', `\n  /cameras/${i}/camera_id duplicate id "${cam.camera_id}"`);
    }
    ids.add(cam.camera_id);
  }
  if (config.capture.backoff_initial_ms > config.capture.backoff_max_ms) {
    throw new EdgeError('EDGE_ERR_CONFIG', '\n  /capture/backoff_initial_ms must not exceed backoff_max_ms');
  }
  const transport = transportProblems(config);
  if (transport.length > 0) throw new EdgeError('EDGE_ERR_CONFIG', `\n  ${transport.join('\n  ')}`);
  return config;
}

/** Cross-field rules of the `mqtt` and `spool` sections. */
function transportProblems(config: EdgeConfig): string[] {
  const problems: string[] = [];
  const { spool, mqtt } = config;
  if (spool.segment_bytes * 4 > spool.max_bytes) {
    problems.push('/spool/segment_bytes must be at most a quarter of max_bytes');
  }
  if (mqtt === undefined) return problems;
  if (!isValidId(config.site_id)) {
    problems.push('/site_id must be 1–64 characters of [A-Za-z0-9._-] to be an MQTT topic level');
  }
  for (const [i, cam] of config.cameras.entries()) {
    if (!isValidId(cam.camera_id)) {
      problems.push(
        `/cameras/${i}/camera_id must be 1–64 characters of [A-Za-z0-9._-] to be an MQTT topic level`,
      );
    }
  }
  if (mqtt.password_file !== undefined && mqtt.password_env !== undefined) {
    problems.push('/mqtt give password_file or password_env, not both');
  }
  if ((mqtt.cert_file === undefined) !== (mqtt.key_file === undefined)) {
    problems.push('/mqtt cert_file and key_file go together');
  }
  const tlsFiles = mqtt.ca_file ?? mqtt.cert_file ?? mqtt.key_file;
  if (tlsFiles !== undefined && !mqtt.url.startsWith('mqtts://')) {
    problems.push('/mqtt/url TLS files are given: the URL must be mqtts://');
  }
  if (mqtt.reconnect_initial_ms > mqtt.reconnect_max_ms) {
    problems.push('/mqtt/reconnect_initial_ms must not exceed reconnect_max_ms');
  }
  return problems;
}

/** Read, parse and validate a config file. */
export function loadConfigFile(path: string): EdgeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EdgeError('EDGE_ERR_CONFIG_READ', `${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new EdgeError('EDGE_ERR_CONFIG', `${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseConfig(raw);
}

/** Resolve a secret from its source. Throws EDGE_ERR_CONFIG naming `where` (never the value). */
export function resolveSecret(secret: Secret, where: string, env: NodeJS.ProcessEnv = process.env): string {
  if ('value' in secret) return secret.value;
  if ('env' in secret) {
    const v = env[secret.env];
    if (v === undefined || v === '')
      throw new EdgeError('EDGE_ERR_CONFIG', `${where} environment variable ${secret.env} is not set`);
    return v;
  }
  try {
    return readFileSync(secret.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new EdgeError('EDGE_ERR_CONFIG', `${where} cannot read ${secret.file}: ${(err as Error).message}`);
  }
}

/** Resolve a credentials entry. */
export function resolveCredentials(
  entry: CredentialsEntry,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): Credentials {
  return { username: entry.username, password: resolveSecret(entry.password, `${where}/password`, env) };
}

/**
 * The site's default credentials: `default_credentials`, with the password replaced by
 * $SHARPEYES_EDGE_PASSWORD when that is set.
 */
export function defaultCredentials(
  config: EdgeConfig,
  env: NodeJS.ProcessEnv = process.env,
): Credentials | undefined {
  const entry = config.default_credentials;
  const override = env[PASSWORD_ENV];
  if (entry === undefined) return undefined;
  if (override !== undefined && override !== '') return { username: entry.username, password: override };
  return resolveCredentials(entry, '/default_credentials', env);
}
