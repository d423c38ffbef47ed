/**
 * The gateway's one root logger (pino). Modules log through `logger.child({ module })`. Secrets
 * never reach a log line: pino's `redact` removes known secret fields as a backstop, and code
 * never logs a password, a payload or a credential in the first place.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Create the root logger writing JSON lines to `destination` (default stdout). */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination(1),
): Logger {
  return pino(
    {
      name: 'gateway',
      level,
      redact: {
        paths: [
          'password',
          '*.password',
          '*.*.password',
          'password_hash',
          '*.password_hash',
          'credentials',
          '*.credentials',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A logger that drops everything (tests, modules used without a logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A gate for repetitive log lines: the first occurrence passes, then at most one per
 * `intervalMs`, reporting how many were suppressed in between.
 */
export class LogRateLimiter {
  #last = -Infinity;
  #suppressed = 0;

  constructor(private readonly intervalMs: number) {}

  /** Whether to log now; `suppressed` is how many calls were refused since the last pass. */
  take(now = Date.now()): { pass: boolean; suppressed: number } {
    if (now - this.#last >= this.intervalMs) {
      this.#last = now;
      const suppressed = this.#suppressed;
      this.#suppressed = 0;
      return { pass: true, suppressed };
    }
    this.#suppressed += 1;
    return { pass: false, suppressed: this.#suppressed };
  }
}
