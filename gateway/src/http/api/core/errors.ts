/**
 * One error shape for both APIs. Every error leaves as `{error: {code, message, field?}}` (REST) or
 * a gRPC status with the same message and `sharpeyes-error-code` / `sharpeyes-error-field` trailers.
 * Codes are the stable GATEWAY_ERR_* catalogue (errors.ts); anything else is logged and answered
 * as GATEWAY_ERR_INTERNAL without detail.
 */
import { GATEWAY_ERRORS, GatewayError, type GatewayErrorCode } from '../../../errors.ts';

/** The body of every REST error. */
export interface ApiErrorBody {
  error: {
    /** Stable code from the catalogue, e.g. GATEWAY_ERR_INVALID_INPUT. */
    code: GatewayErrorCode;
    message: string;
    /** The offending input, snake_case path (e.g. `place.district`, `kinds[1]`), for bad input. */
    field?: string;
  };
}

/** A bad input naming its field (REST schema validation, gRPC request checks). */
export class ApiInputError extends GatewayError {
  readonly field: string;

  constructor(field: string, problem: string) {
    super('GATEWAY_ERR_INVALID_INPUT', `${field} ${problem}`);
    this.name = 'ApiInputError';
    this.field = field;
  }
}

const FIELD_RE = /^[a-z_][a-z0-9_]*(?:\[\d+\]|\.[a-z_][a-z0-9_]*)*$/;

/** Codes whose message starts with the field it is about (registry/validate.ts, auth/reason.ts). */
const FIELD_FIRST: ReadonlySet<GatewayErrorCode> = new Set([
  'GATEWAY_ERR_INVALID_INPUT',
  'GATEWAY_ERR_REASON_REQUIRED',
]);

/** The field an error is about, if it says. */
export function errorField(err: GatewayError): string | undefined {
  const own = (err as { field?: unknown }).field;
  if (typeof own === 'string' && own !== '') return own;
  if (!FIELD_FIRST.has(err.code)) return undefined;
  const prefix = `${GATEWAY_ERRORS[err.code]}: `;
  if (!err.message.startsWith(prefix)) return undefined;
  const first = err.message.slice(prefix.length).split(' ', 1)[0] ?? '';
  return FIELD_RE.test(first) ? first : undefined;
}

/** HTTP status of each code (default 500). */
const HTTP_STATUS: Partial<Record<GatewayErrorCode, number>> = {
  GATEWAY_ERR_INVALID_INPUT: 400,
  GATEWAY_ERR_QUERY_INVALID: 400,
  GATEWAY_ERR_REASON_REQUIRED: 400,
  GATEWAY_ERR_ALERT_PATTERN: 400,
  GATEWAY_ERR_EVIDENCE_ID: 400,
  GATEWAY_ERR_AUTH_FAILED: 401,
  GATEWAY_ERR_UNAUTHENTICATED: 401,
  GATEWAY_ERR_FORBIDDEN: 403,
  GATEWAY_ERR_NOT_FOUND: 404,
  GATEWAY_ERR_CONFLICT: 409,
  GATEWAY_ERR_LIFECYCLE: 409,
  GATEWAY_ERR_ALERT_APPROVAL: 409,
  GATEWAY_ERR_ALERT_STATE: 409,
  GATEWAY_ERR_REQUEST_TOO_LARGE: 413,
  GATEWAY_ERR_AUTH_RATE_LIMITED: 429,
  GATEWAY_ERR_RESOURCE_EXHAUSTED: 429,
  GATEWAY_ERR_UNIMPLEMENTED: 501,
  GATEWAY_ERR_INDEX_QUERY: 502,
  GATEWAY_ERR_INDEX_UNAVAILABLE: 503,
  GATEWAY_ERR_UNAVAILABLE: 503,
  GATEWAY_ERR_AUDIT_WRITE: 503,
};

/** The HTTP status of a gateway error. */
export function httpStatusOf(code: GatewayErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

/** The gRPC status names the gateway answers with (as @grpc/grpc-js `status` keys). */
export type GrpcStatusName =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'UNAUTHENTICATED';

const GRPC = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  UNIMPLEMENTED: 'UNIMPLEMENTED',
  INTERNAL: 'INTERNAL',
  UNAVAILABLE: 'UNAVAILABLE',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
} as const satisfies Record<GrpcStatusName, GrpcStatusName>;

const GRPC_STATUS: Partial<Record<GatewayErrorCode, GrpcStatusName>> = {
  GATEWAY_ERR_INVALID_INPUT: GRPC.INVALID_ARGUMENT,
  GATEWAY_ERR_QUERY_INVALID: GRPC.INVALID_ARGUMENT,
  GATEWAY_ERR_REASON_REQUIRED: GRPC.INVALID_ARGUMENT,
  GATEWAY_ERR_ALERT_PATTERN: GRPC.INVALID_ARGUMENT,
  GATEWAY_ERR_EVIDENCE_ID: GRPC.INVALID_ARGUMENT,
  GATEWAY_ERR_REQUEST_TOO_LARGE: GRPC.INVALID_ARGUMENT,
  GATEWAY_ERR_AUTH_FAILED: GRPC.UNAUTHENTICATED,
  GATEWAY_ERR_UNAUTHENTICATED: GRPC.UNAUTHENTICATED,
  GATEWAY_ERR_FORBIDDEN: GRPC.PERMISSION_DENIED,
  GATEWAY_ERR_NOT_FOUND: GRPC.NOT_FOUND,
  GATEWAY_ERR_CONFLICT: GRPC.ALREADY_EXISTS,
  GATEWAY_ERR_LIFECYCLE: GRPC.FAILED_PRECONDITION,
  GATEWAY_ERR_ALERT_APPROVAL: GRPC.FAILED_PRECONDITION,
  GATEWAY_ERR_ALERT_STATE: GRPC.FAILED_PRECONDITION,
  GATEWAY_ERR_AUTH_RATE_LIMITED: GRPC.RESOURCE_EXHAUSTED,
  GATEWAY_ERR_RESOURCE_EXHAUSTED: GRPC.RESOURCE_EXHAUSTED,
  GATEWAY_ERR_UNIMPLEMENTED: GRPC.UNIMPLEMENTED,
  GATEWAY_ERR_INDEX_QUERY: GRPC.UNAVAILABLE,
  GATEWAY_ERR_INDEX_UNAVAILABLE: GRPC.UNAVAILABLE,
  GATEWAY_ERR_UNAVAILABLE: GRPC.UNAVAILABLE,
  GATEWAY_ERR_AUDIT_WRITE: GRPC.UNAVAILABLE,
};

/** The gRPC status (name) of a gateway error. */
export function grpcStatusOf(code: GatewayErrorCode): GrpcStatusName {
  return GRPC_STATUS[code] ?? GRPC.INTERNAL;
}

/**
 * A thrown value as an API error: a GatewayError keeps its code, message and field; anything
 * else becomes GATEWAY_ERR_INTERNAL (its detail is for the log, not the client). `internal` is
 * true when the caller should log the original error.
 */
export function toApiError(err: unknown): { body: ApiErrorBody; internal: boolean } {
  if (err instanceof GatewayError) {
    const field = errorField(err);
    const internal = httpStatusOf(err.code) >= 500;
    // Internal failures keep their code but not their detail (paths, upstream messages).
    const message =
      internal && err.code !== 'GATEWAY_ERR_UNAVAILABLE' && err.code !== 'GATEWAY_ERR_UNIMPLEMENTED'
        ? GATEWAY_ERRORS[err.code]
        : err.message;
    return {
      body: { error: { code: err.code, message, ...(field !== undefined ? { field } : {}) } },
      internal,
    };
  }
  return {
    body: { error: { code: 'GATEWAY_ERR_INTERNAL', message: GATEWAY_ERRORS.GATEWAY_ERR_INTERNAL } },
    internal: true,
  };
}
