/**
 * The `alerts` section of the gateway configuration (TypeBox; the TS type derived from it). On
 * disk: JSON, snake_case.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { AlertRules } from './entries.ts';

export const AlertsConfigSchema = Type.Object(
  {
    max_expiry_days: Type.Integer({
      minimum: 1,
      maximum: 90,
      default: 30,
      description: 'Longest time from an alert entry\u2019s request to its expiry.',
    }),
    min_specific_chars: Type.Integer({
      minimum: 3,
      maximum: 7,
      default: 4,
      description:
        'Fewest fixed serial characters of a plate pattern (province character and the letter after it do not count).',
    }),
    max_entries_per_case: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 10,
      description: 'Most pending or active entries one case reference may hold.',
    }),
    ack_timeout_ms: Type.Integer({
      minimum: 10_000,
      maximum: 86_400_000,
      default: 5 * 60_000,
      description: 'Time to acknowledge an alert before it escalates (and between escalations).',
    }),
    max_escalations: Type.Integer({
      minimum: 0,
      maximum: 10,
      default: 3,
      description: 'Escalation steps of an unacknowledged alert.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Case-bound plate alerts.' },
);

/** The `alerts` section, defaults applied. */
export type AlertsConfig = Static<typeof AlertsConfigSchema>;

/** Alert rules from the configuration section. */
export function alertRulesFromConfig(c: AlertsConfig): Partial<AlertRules> {
  return {
    maxExpiryMs: c.max_expiry_days * 86_400_000,
    minSpecificChars: c.min_specific_chars,
    maxEntriesPerCase: c.max_entries_per_case,
    ackTimeoutMs: c.ack_timeout_ms,
    maxEscalations: c.max_escalations,
  };
}
