/**
 * Restart delays: exponential backoff with jitter (pure; table-tested).
 *
 * - Ordinary failures (stall, exit, refused, corrupt) use FULL jitter: a delay drawn uniformly
 *   from [0, min(max, initial·2^n)] after the n-th consecutive failure (n from 0). When a whole
 *   site loses its network, its cameras then come back spread out rather than in lockstep.
 * - Authentication failures will not heal by retrying soon: the credentials must change (and a
 *   `setSource` with new credentials restarts at once anyway). They start AUTH_HEAD_START
 *   doublings further on and draw from the upper half, [cap/2, cap] ("equal jitter"), so each
 *   delay is at least the previous cap: the delays grow until the maximum, never a retry storm.
 */
import type { BackoffOptions } from './types.ts';

/** The backoff with every default filled in. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

/** Defaults: 1 s doubling to 60 s; 30 s of healthy frames forgets past failures. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 30_000 };

/** Doublings an authentication failure starts ahead: with 1 s initial, its first delay is 4–8 s. */
export const AUTH_HEAD_START = 3;

/** Fill defaults into user options. */
export function backoffPolicy(opts?: BackoffOptions): BackoffPolicy {
  if (opts === undefined) return DEFAULT_BACKOFF;
  return {
    initialMs: opts.initialMs,
    maxMs: opts.maxMs,
    resetAfterMs: opts.resetAfterMs ?? DEFAULT_BACKOFF.resetAfterMs,
  };
}

/** The ceiling of the delay after `failures` earlier consecutive failures. */
export function backoffCapMs(policy: BackoffPolicy, failures: number): number {
  // 2^failures overflows to Infinity long after it passed maxMs, and min() handles Infinity.
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, failures));
}

/**
 * The delay before the next start, given how many consecutive failures came before this one
 * (0 for the first) and whether this one was an authentication failure. `random` returns [0, 1).
 */
export function backoffDelayMs(
  policy: BackoffPolicy,
  failures: number,
  kind: 'normal' | 'auth',
  random: () => number = Math.random,
): number {
  if (kind === 'auth') {
    const cap = backoffCapMs(policy, failures + AUTH_HEAD_START);
    return Math.round(cap / 2 + random() * (cap / 2));
  }
  return Math.round(random() * backoffCapMs(policy, failures));
}
