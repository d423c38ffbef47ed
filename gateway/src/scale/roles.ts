/**
 * The `--role` and `--worker-id` command-line overrides: applied to the loaded config and
 * checked as the config file's own role is (config/load.ts `roleProblems`).
 */
import { Value } from '@sinclair/typebox/value';
import { roleProblems } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { RoleSchema, ScaleConfigSchema } from './config.ts';

/** `config` with the overrides applied (GATEWAY_ERR_CONFIG when a value or the result is invalid). */
export function withRole(config: GatewayConfig, role?: string, workerId?: string): GatewayConfig {
  if (role === undefined && workerId === undefined) return config;
  const problems: string[] = [];
  const next: GatewayConfig = { ...config, scale: { ...config.scale } };
  if (role !== undefined) {
    if (Value.Check(RoleSchema, role)) next.role = role;
    else problems.push(`--role must be all, ingest or api (got ${JSON.stringify(role)})`);
  }
  if (workerId !== undefined) {
    if (Value.Check(ScaleConfigSchema.properties.worker_id, workerId)) next.scale.worker_id = workerId;
    else problems.push(`--worker-id must be 1–16 of [A-Za-z0-9._-] (got ${JSON.stringify(workerId)})`);
  }
  if (problems.length === 0) problems.push(...roleProblems(next));
  if (problems.length > 0) throw new GatewayError('GATEWAY_ERR_CONFIG', `\n  ${problems.join('\n  ')}`);
  return next;
}
