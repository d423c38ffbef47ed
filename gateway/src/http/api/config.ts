/**
 * The `api` section of the gateway configuration (TypeBox; the TS type derived from it): the REST
 * API, the gRPC API, per-principal limits and live streams. On disk: JSON, snake_case.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { StreamLimits } from '../../live/stream.ts';

const Int = (description: string, dflt: number, min: number, max: number) =>
  Type.Integer({ minimum: min, maximum: max, default: dflt, description });

export const ApiConfigSchema = Type.Object(
  {
    rest: Type.Object(
      {
        cookie_secure: Type.Boolean({
          default: false,
          description: 'Mark the session cookie Secure (set true when the UI is served over HTTPS).',
        }),
        body_limit_bytes: Int('Largest request body accepted.', 1_048_576, 1024, 64 * 1_048_576),
        docs: Type.Boolean({ default: true, description: 'Serve the OpenAPI document and its UI at /docs.' }),
        default_page_size: Int('List page size when none is asked for.', 100, 1, 1000),
        max_page_size: Int('Largest list page size.', 1000, 1, 10_000),
        max_export_events: Int('Most events one export returns.', 10_000, 1, 100_000),
      },
      { additionalProperties: false, default: {}, description: 'The REST API (under /api/v1).' },
    ),
    grpc: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve the gRPC API.' }),
        host: Type.String({ default: '127.0.0.1', description: 'Bind address of the gRPC API.' }),
        port: Int('gRPC port (0 = any free port).', 9490, 0, 65535),
        tls: Type.Optional(
          Type.Object(
            {
              key_file: Type.String({ minLength: 1, description: 'PEM private key.' }),
              cert_file: Type.String({ minLength: 1, description: 'PEM certificate (chain).' }),
              ca_file: Type.Optional(
                Type.String({ minLength: 1, description: 'PEM CA bundle for client certificates.' }),
              ),
              require_client_cert: Type.Boolean({
                default: false,
                description: 'Refuse clients without a certificate signed by ca_file.',
              }),
            },
            { additionalProperties: false, description: 'Serve gRPC over TLS (otherwise plaintext).' },
          ),
        ),
        max_message_bytes: Int(
          'Largest gRPC message sent or received.',
          8 * 1_048_576,
          65_536,
          64 * 1_048_576,
        ),
        default_deadline_ms: Int(
          'Deadline applied to a unary call that sets none (the client’s own deadline is respected).',
          30_000,
          100,
          600_000,
        ),
      },
      { additionalProperties: false, default: {}, description: 'The gRPC API for integrators.' },
    ),
    limits: Type.Object(
      {
        requests_per_s: Int('Sustained requests per second per user or API key.', 50, 1, 100_000),
        burst: Int('Requests a user or key may make at once above the sustained rate.', 200, 1, 100_000),
        max_streams: Int(
          'Live streams (SSE, StreamEvents, watches) open at once per user or key.',
          8,
          1,
          1000,
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Per-principal limits (429 / RESOURCE_EXHAUSTED).',
      },
    ),
    live: Type.Object(
      {
        ring_events: Int(
          'Events kept for exact stream resumption (~400 bytes each).',
          100_000,
          1000,
          10_000_000,
        ),
        max_queued: Int(
          'Events a stream may fall behind before it is ended as too slow.',
          10_000,
          100,
          1_000_000,
        ),
        heartbeat_ms: Int('A checkpoint at least this often on an idle stream.', 15_000, 1000, 600_000),
        future_skew_ms: Int(
          'A replay runs up to now plus this (event times ahead of the clock).',
          86_400_000,
          0,
          31 * 86_400_000,
        ),
        replay_window_events: Int('Events per index query while replaying.', 500, 10, 10_000),
        seam_grace_ms: Int(
          'How long a replayed event is watched for its own late publication (replay/live seam).',
          10_000,
          100,
          600_000,
        ),
      },
      { additionalProperties: false, default: {}, description: 'The live event bus and resumable streams.' },
    ),
  },
  { additionalProperties: false, default: {}, description: 'The REST and gRPC APIs.' },
);

/** The `api` section, defaults applied. */
export type ApiConfig = Static<typeof ApiConfigSchema>;

/** Stream limits from the `live` section. */
export function streamLimitsFromConfig(c: ApiConfig['live']): Partial<StreamLimits> {
  return {
    maxQueued: c.max_queued,
    heartbeatMs: c.heartbeat_ms,
    futureSkewMs: c.future_skew_ms,
    replayWindowEvents: c.replay_window_events,
    seamGraceMs: c.seam_grace_ms,
  };
}
