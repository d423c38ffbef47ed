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
  // Ingest.
  GATEWAY_ERR_INGEST_DECODE: 'the payload is not a valid message for its topic',
  GATEWAY_ERR_INGEST_INVALID: 'the event fails validation',
  // Index (InfluxDB).
  GATEWAY_ERR_INDEX_WRITE: 'the event index could not write',
  GATEWAY_ERR_INDEX_QUERY: 'the event index query failed',
  GATEWAY_ERR_INDEX_UNAVAILABLE: 'the event index is unavailable',
  GATEWAY_ERR_QUERY_INVALID: 'invalid search filter',
  // Evidence.
  GATEWAY_ERR_EVIDENCE_HASH: 'the evidence bytes do not match their sha256',
  GATEWAY_ERR_EVIDENCE_ID: 'not a sha256 evidence id',
  GATEWAY_ERR_EVIDENCE_WRITE: 'the evidence could not be stored',
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
