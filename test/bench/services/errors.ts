/** Errors thrown by the bench's service harness, each with a stable `code`. */

/** Every code a {@link BenchServiceError} can carry. */
export const BENCH_ERROR_CODES = {
  /** A service did not come up: it exited, or it was not ready in time. The message has its log tail. */
  START_FAILED: 'BENCH_ERR_START_FAILED',
  /** An option is invalid (a database name, a mount path, …). */
  BAD_OPTION: 'BENCH_ERR_BAD_OPTION',
  /** influxd answered an HTTP call with an error status, or a statement failed. */
  INFLUX_REQUEST: 'BENCH_ERR_INFLUX_REQUEST',
} as const;

/** One of {@link BENCH_ERROR_CODES}. */
export type BenchErrorCode = (typeof BENCH_ERROR_CODES)[keyof typeof BENCH_ERROR_CODES];

/** An error from the service harness. */
export class BenchServiceError extends Error {
  /** Stable machine-readable code. */
  readonly code: BenchErrorCode;

  constructor(code: BenchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchServiceError';
    this.code = code;
  }
}
