/**
 * Login rate limiting: failed logins are counted per user name and per source address over a
 * sliding window; reaching the limit locks that user name (or address) out for a while. A
 * success clears the user name's count (not the address's, so one valid account cannot launder
 * an address that is guessing others). Unknown user names are counted like known ones, so the
 * limiter does not reveal which exist.
 *
 * State is in memory: a restart forgets it (the audit log keeps every failure). Memory is
 * bounded: at most `maxTracked` keys, expired ones pruned first, then the oldest.
 */

/** Limits. */
export interface RateLimitRules {
  /** Failures of one user name within the window that lock it (default 5). */
  maxFailuresPerUser: number;
  /** Failures from one address within the window that lock it (default 20). */
  maxFailuresPerAddress: number;
  /** Sliding window for counting failures (default 15 min). */
  windowMs: number;
  /** How long a lockout lasts (default 15 min). */
  lockoutMs: number;
  /** Most keys tracked (default 10 000). */
  maxTracked: number;
}

/** Defaults of {@link RateLimitRules}. */
export const DEFAULT_RATE_LIMIT_RULES: RateLimitRules = Object.freeze({
  maxFailuresPerUser: 5,
  maxFailuresPerAddress: 20,
  windowMs: 15 * 60_000,
  lockoutMs: 15 * 60_000,
  maxTracked: 10_000,
});

/** Whether a login may be attempted. */
export type RateLimitDecision =
  { allowed: true } | { allowed: false; by: 'user' | 'address'; retryAfterMs: number };

interface Counter {
  failures: number[];
  lockedUntil: number;
  /** Whether a refusal during the current lockout was already reported. */
  refusalReported: boolean;
}

/** Per user name and per address failure counting with lockout. */
export class LoginRateLimiter {
  private readonly rules: RateLimitRules;
  private readonly counters = new Map<string, Counter>();

  constructor(
    rules: Partial<RateLimitRules> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.rules = { ...DEFAULT_RATE_LIMIT_RULES, ...rules };
  }

  private static userKey(user: string): string {
    return `u:${user.normalize('NFC').trim().toLowerCase()}`;
  }

  private static addressKey(address: string): string {
    // IPv4-mapped IPv6 is the same client as plain IPv4.
    return `a:${address.replace(/^::ffff:/i, '')}`;
  }

  private locked(key: string, now: number): number {
    const c = this.counters.get(key);
    return c !== undefined && c.lockedUntil > now ? c.lockedUntil - now : 0;
  }

  /** May `user` try to log in from `address` now? */
  check(user: string, address: string): RateLimitDecision {
    const now = this.now();
    const byAddress = this.locked(LoginRateLimiter.addressKey(address), now);
    if (byAddress > 0) return { allowed: false, by: 'address', retryAfterMs: byAddress };
    const byUser = this.locked(LoginRateLimiter.userKey(user), now);
    if (byUser > 0) return { allowed: false, by: 'user', retryAfterMs: byUser };
    return { allowed: true };
  }

  /** Count a failed login; returns the decision for the next attempt. */
  recordFailure(user: string, address: string): RateLimitDecision {
    const now = this.now();
    this.bump(LoginRateLimiter.userKey(user), this.rules.maxFailuresPerUser, now);
    this.bump(LoginRateLimiter.addressKey(address), this.rules.maxFailuresPerAddress, now);
    this.bound(now);
    return this.check(user, address);
  }

  /**
   * Note a refused attempt; true only for the first refusal of the current lockout of that user
   * name and of that address, so a flood of refused attempts is audited once per lockout
   * rather than once per attempt (a flood must not fill the disk).
   */
  noteRefused(user: string, address: string): boolean {
    let first = false;
    for (const key of [LoginRateLimiter.userKey(user), LoginRateLimiter.addressKey(address)]) {
      const c = this.counters.get(key);
      if (c !== undefined && c.lockedUntil > this.now() && !c.refusalReported) {
        c.refusalReported = true;
        first = true;
      }
    }
    return first;
  }

  /** A successful login clears the user name's failures. */
  recordSuccess(user: string): void {
    this.counters.delete(LoginRateLimiter.userKey(user));
  }

  /** Keys currently tracked (for tests and metrics). */
  get tracked(): number {
    return this.counters.size;
  }

  private bump(key: string, max: number, now: number): void {
    let c = this.counters.get(key);
    if (c === undefined) {
      c = { failures: [], lockedUntil: 0, refusalReported: false };
      this.counters.set(key, c);
    }
    if (c.lockedUntil > now) return;
    c.failures = c.failures.filter((t) => t > now - this.rules.windowMs);
    c.failures.push(now);
    if (c.failures.length >= max) {
      c.lockedUntil = now + this.rules.lockoutMs;
      c.refusalReported = false;
      c.failures = [];
    }
  }

  private bound(now: number): void {
    if (this.counters.size <= this.rules.maxTracked) return;
    for (const [key, c] of this.counters) {
      if (c.lockedUntil <= now && c.failures.every((t) => t <= now - this.rules.windowMs))
        this.counters.delete(key);
    }
    for (const key of this.counters.keys()) {
      if (this.counters.size <= this.rules.maxTracked) break;
      this.counters.delete(key);
    }
  }
}
