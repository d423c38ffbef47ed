/** Retry schedule for describing a device that failed: exponential with jitter, capped. */

/** Backoff settings. */
export interface RetryPolicy {
  /** First delay after a failure (not auth), ms. */
  initialMs: number;
  /** First delay after an authentication failure, ms: wrong credentials do not fix themselves. */
  authInitialMs: number;
  /** Longest delay, ms. */
  maxMs: number;
  /** Relative jitter, 0…1: the delay is scaled by a random factor in [1 − jitter, 1 + jitter]. */
  jitter: number;
}

/** Defaults: 5 s doubling to 10 min; auth failures start at 1 min; ±20 % jitter. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  initialMs: 5_000,
  authInitialMs: 60_000,
  maxMs: 600_000,
  jitter: 0.2,
};

/**
 * Delay before the next attempt after `failedAttempts` consecutive failures (≥ 1). `random` is
 * in [0, 1). With jitter < 1/3 each delay is longer than the one before until the cap.
 */
export function retryDelayMs(
  failedAttempts: number,
  policy: RetryPolicy,
  authFailure: boolean,
  random: number,
): number {
  const n = Math.max(1, Math.floor(failedAttempts));
  const initial = authFailure ? policy.authInitialMs : policy.initialMs;
  // 2^(n-1) without overflow: the cap is reached long before 2^30.
  const base = Math.min(policy.maxMs, initial * 2 ** Math.min(n - 1, 30));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const factor = 1 - jitter + 2 * jitter * Math.min(1, Math.max(0, random));
  return Math.max(1, Math.round(base * factor));
}
