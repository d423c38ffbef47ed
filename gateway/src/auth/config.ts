/**
 * The `auth` section of the gateway configuration (TypeBox; the TS type derived from it). On
 * disk: JSON, snake_case.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { RateLimitRules } from './rate-limit.ts';
import type { ReasonRules } from './reason.ts';
import type { SessionRules } from './sessions.ts';
import type { PasswordRules } from './users.ts';

const Ms = (description: string, dflt: number, min: number, max: number) =>
  Type.Integer({ minimum: min, maximum: max, default: dflt, description });

export const AuthConfigSchema = Type.Object(
  {
    session_ttl_ms: Ms('Absolute lifetime of a login session.', 12 * 3_600_000, 60_000, 7 * 86_400_000),
    session_idle_ms: Ms('A session ends after this long without a request.', 30 * 60_000, 60_000, 86_400_000),
    login_max_failures_per_user: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 5,
      description: 'Failed logins of one user name within the window that lock it out.',
    }),
    login_max_failures_per_address: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 20,
      description: 'Failed logins from one address within the window that lock it out.',
    }),
    login_window_ms: Ms('Window over which failed logins are counted.', 15 * 60_000, 1_000, 86_400_000),
    login_lockout_ms: Ms('How long a lockout lasts.', 15 * 60_000, 1_000, 86_400_000),
    password_min_length: Type.Integer({
      minimum: 8,
      maximum: 128,
      default: 12,
      description: 'Shortest password accepted.',
    }),
    reason_min_length: Type.Integer({
      minimum: 4,
      maximum: 100,
      default: 8,
      description:
        'Shortest reason (case reference or description) accepted for searches, exports and evidence.',
    }),
    reason_max_length: Type.Integer({
      minimum: 50,
      maximum: 2000,
      default: 500,
      description: 'Longest reason accepted.',
    }),
    bootstrap_admin: Type.Optional(
      Type.Object(
        {
          username: Type.String({
            pattern: '^[a-z0-9][a-z0-9._-]{1,63}$',
            description: 'User name of the first admin.',
          }),
          password_file: Type.String({
            minLength: 1,
            description: 'File holding the first admin\u2019s password.',
          }),
        },
        {
          additionalProperties: false,
          description: 'Creates this admin when there are no users yet (first start).',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Users, sessions, login rate limits, API keys, reasons.',
  },
);

/** The `auth` section, defaults applied. */
export type AuthConfig = Static<typeof AuthConfigSchema>;

/** The rules of each auth component from the configuration section. */
export function authRulesFromConfig(c: AuthConfig): {
  sessions: Partial<SessionRules>;
  rateLimit: Partial<RateLimitRules>;
  passwords: Partial<PasswordRules>;
  reason: Partial<ReasonRules>;
} {
  return {
    sessions: { ttlMs: c.session_ttl_ms, idleMs: c.session_idle_ms },
    rateLimit: {
      maxFailuresPerUser: c.login_max_failures_per_user,
      maxFailuresPerAddress: c.login_max_failures_per_address,
      windowMs: c.login_window_ms,
      lockoutMs: c.login_lockout_ms,
    },
    passwords: { minLength: c.password_min_length },
    reason: { minLength: c.reason_min_length, maxLength: c.reason_max_length },
  };
}
