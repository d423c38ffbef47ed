/**
 * Every error the gateway throws on purpose, with a stable `code` (fastify's FST_ERR_* style).
 * Codes appear in logs, API error bodies and tests. Add new codes here, never inline; keep each
 * section's codes together.
 */

/** The catalogue: code → default message. */
export const GATEWAY_ERRORS = {
  GATEWAY_ERR_CONFIG: 'invalid configuration',
  GATEWAY_ERR_CONFIG_READ: 'configuration file cannot be read',
  // Broker and MQTT.
  GATEWAY_ERR_BROKER: 'the MQTT broker failed',
  GATEWAY_ERR_SITES_FILE: 'the sites file cannot be read or is invalid',
  GATEWAY_ERR_MOSQUITTO_FILES: 'the Mosquitto password and ACL files cannot be generated',
  GATEWAY_ERR_INFLUXD: 'the managed influxd failed',
  // Ingest.
  GATEWAY_ERR_INGEST_DECODE: 'the payload is not a valid message for its topic',
  GATEWAY_ERR_INGEST_INVALID: 'the event fails validation',
  GATEWAY_ERR_INGEST_CONNECT: 'the ingest client cannot connect or subscribe to the broker',
  GATEWAY_ERR_INGEST_STOPPED: 'ingest stopped before the message was stored',
  // Index (InfluxDB).
  GATEWAY_ERR_INDEX_WRITE: 'the event index could not write',
  GATEWAY_ERR_INDEX_QUERY: 'the event index query failed',
  GATEWAY_ERR_INDEX_UNAVAILABLE: 'the event index is unavailable',
  GATEWAY_ERR_QUERY_INVALID: 'invalid search filter',
  // Evidence.
  GATEWAY_ERR_EVIDENCE_HASH: 'the evidence bytes do not match their sha256',
  GATEWAY_ERR_EVIDENCE_ID: 'not a sha256 evidence id',
  GATEWAY_ERR_EVIDENCE_WRITE: 'the evidence could not be stored',
  GATEWAY_ERR_EVIDENCE_READ: 'the evidence could not be read',
  // Registry database (SQLite).
  GATEWAY_ERR_DB_OPEN: 'the registry database cannot be opened',
  GATEWAY_ERR_DB_LOCKED: 'the registry database is in use by another process',
  GATEWAY_ERR_DB_MIGRATION: 'the registry database schema cannot be migrated',
  GATEWAY_ERR_DB: 'a registry database operation failed',
  // Registry, users, keys, alerts: input and state.
  GATEWAY_ERR_INVALID_INPUT: 'invalid input',
  GATEWAY_ERR_NOT_FOUND: 'not found',
  GATEWAY_ERR_CONFLICT: 'conflicts with an existing record',
  GATEWAY_ERR_LIFECYCLE: 'invalid camera lifecycle transition',
  GATEWAY_ERR_REASON_REQUIRED: 'a reason (case reference or description) is required',
  // Authentication and authorisation.
  GATEWAY_ERR_AUTH_FAILED: 'invalid user name or password',
  GATEWAY_ERR_AUTH_RATE_LIMITED: 'too many failed logins, try again later',
  GATEWAY_ERR_UNAUTHENTICATED: 'authentication is required, or the session or key is not valid',
  GATEWAY_ERR_FORBIDDEN: 'not permitted for this role, key or area',
  // Audit trail.
  GATEWAY_ERR_AUDIT_WRITE: 'the audit record could not be written',
  // Plate alerts.
  GATEWAY_ERR_ALERT_PATTERN: 'the plate or plate pattern is not allowed',
  GATEWAY_ERR_ALERT_APPROVAL: 'an alert entry must be approved by someone other than its requester',
  GATEWAY_ERR_ALERT_STATE: 'the alert entry or alert does not allow this in its current state',
  // REST and gRPC APIs.
  GATEWAY_ERR_RESOURCE_EXHAUSTED: 'too many requests or streams, or the client reads too slowly',
  GATEWAY_ERR_REQUEST_TOO_LARGE: 'the request body is too large',
  GATEWAY_ERR_UNAVAILABLE: 'the service is stopping or not ready',
  GATEWAY_ERR_UNIMPLEMENTED: 'not implemented by this gateway',
  GATEWAY_ERR_INTERNAL: 'internal error',
} as const;

/** One of the codes in {@link GATEWAY_ERRORS}. */
export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/** An error of the gateway. `message` never contains credentials. */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;

  constructor(code: GatewayErrorCode, detail?: string, options?: ErrorOptions) {
    super(detail === undefined ? GATEWAY_ERRORS[code] : `${GATEWAY_ERRORS[code]}: ${detail}`, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/** Narrow an unknown error to a {@link GatewayError} with one of `codes`. */
export function isGatewayError(err: unknown, ...codes: GatewayErrorCode[]): err is GatewayError {
  return err instanceof GatewayError && (codes.length === 0 || codes.includes(err.code));
}
