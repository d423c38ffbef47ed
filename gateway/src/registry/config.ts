/**
 * The `registry` section of the gateway configuration (TypeBox; the TS type derived from it).
 * On disk: JSON, snake_case. The one SQLite file also holds users, keys, the audit trail and
 * alerts.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { RegistryOptions } from './registry.ts';

export const RegistryConfigSchema = Type.Object(
  {
    db_path: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'SQLite file of the registry, users, API keys, audit trail and alerts (WAL; opened exclusively by one gateway process). Default <data_dir>/registry.sqlite.',
      }),
    ),
    offline_after_ms: Type.Integer({
      minimum: 10_000,
      maximum: 7 * 86_400_000,
      default: 15 * 60_000,
      description: 'The collision report lists active cameras without frames for longer than this.',
    }),
    status_flush_interval_ms: Type.Integer({
      minimum: 1_000,
      maximum: 3_600_000,
      default: 30_000,
      description:
        'How often cameras\u2019 last-seen times are written to SQLite (state changes are written at once).',
    }),
    backup_keep: Type.Integer({
      minimum: 0,
      maximum: 365,
      default: 7,
      description:
        'Daily online copies of the registry database kept in <data_dir>/backups (0: none). Each is a consistent SQLite file.',
    }),
    status_retention_days: Type.Integer({
      minimum: 2,
      maximum: 400,
      default: 8,
      description: 'Camera status changes older than this are pruned (online share needs the last 24 h).',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Camera registry (SQLite).' },
);

/** The `registry` section, defaults applied. */
export type RegistryConfig = Static<typeof RegistryConfigSchema>;

/** Registry options from its configuration section (clock and logger added by the app). */
export function registryOptionsFromConfig(c: RegistryConfig): RegistryOptions {
  return { offlineAfterMs: c.offline_after_ms };
}
