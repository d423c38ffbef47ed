/**
 * The gateway's configuration file: one TypeBox schema per section, the TS types derived from
 * it. Every field has a description, a default where one makes sense, and bounds; unknown fields
 * are errors. On disk: JSON, snake_case. The `index` and `evidence` sections belong to their
 * modules (gateway/src/index, gateway/src/evidence).
 */
import { Type, type Static } from '@sinclair/typebox';
import { AlertsConfigSchema } from '../alerts/config.ts';
import { AuthConfigSchema } from '../auth/config.ts';
import { EvidenceConfigSchema, type EvidenceConfig } from '../evidence/config.ts';
import { ApiConfigSchema } from '../http/api/config.ts';
import { IndexConfigSchema, type IndexConfig } from '../index/config.ts';
import { RegistryConfigSchema } from '../registry/config.ts';
import { RoleSchema, ScaleConfigSchema } from '../scale/config.ts';

const Port = (description: string, dflt: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: dflt, description });

const Ms = (description: string, dflt: number, min: number, max: number) =>
  Type.Integer({ minimum: min, maximum: max, default: dflt, description });

/** A secret: inline (tests), from an environment variable, or from a file. Exactly one. */
export const SecretSchema = Type.Union(
  [
    Type.Object(
      { value: Type.String({ minLength: 1, description: 'The secret itself.' }) },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        env: Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$', description: 'Environment variable holding it.' }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      { file: Type.String({ minLength: 1, description: 'File holding it (trailing newline ignored).' }) },
      { additionalProperties: false },
    ),
  ],
  { description: 'A secret: {"value": …}, {"env": "NAME"} or {"file": "/path"}.' },
);

export const BrokerTlsSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Bind address of the TLS listener.' }),
    port: Port('TLS listener port (0 = any free port).', 8883),
    key_file: Type.String({ minLength: 1, description: 'PEM private key.' }),
    cert_file: Type.String({ minLength: 1, description: 'PEM certificate (chain).' }),
    ca_file: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM CA bundle for optional client certificates.' }),
    ),
  },
  { additionalProperties: false, description: 'MQTT over TLS (embedded broker).' },
);

export const BrokerSectionSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('embedded'), Type.Literal('external')], {
      default: 'embedded',
      description:
        'embedded: Aedes in the gateway; external: an MQTT broker run separately (Mosquitto, EMQX).',
    }),
    host: Type.String({
      default: '127.0.0.1',
      description:
        'Embedded: bind address of the plain MQTT listener (0.0.0.0 to serve edges on the network).',
    }),
    port: Port('Embedded: plain MQTT listener port (0 = any free port).', 1883),
    tls: Type.Optional(BrokerTlsSchema),
    sites_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Embedded: JSON file of site credentials (default <data_dir>/sites.json).',
      }),
    ),
    url: Type.Optional(
      Type.String({
        pattern: '^mqtts?://',
        description: 'External: where ingest connects, mqtt://host:port or mqtts://host:port.',
      }),
    ),
    ca_file: Type.Optional(
      Type.String({ minLength: 1, description: 'External mqtts: PEM CA of the broker.' }),
    ),
    mosquitto_files: Type.Optional(
      Type.Object(
        {
          password_file: Type.String({ minLength: 1, description: 'Mosquitto password_file to write.' }),
          acl_file: Type.String({ minLength: 1, description: 'Mosquitto acl_file to write.' }),
          reload_pid_file: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'Mosquitto’s pid file: it gets SIGHUP (re-read the files) after each write.',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'External Mosquitto: the gateway writes its password and ACL files from the registry at start and on every site credential change.',
        },
      ),
    ),
    username: Type.String({
      pattern: '^@[A-Za-z0-9._-]{1,63}$',
      default: '@sharpeyes-ingest',
      description: 'The gateway ingest’s MQTT user name ("@…": no site id can take it).',
    }),
    password: Type.Optional(SecretSchema),
    client_id: Type.String({
      pattern: '^@[A-Za-z0-9._-]{1,63}$',
      default: '@sharpeyes-ingest',
      description: 'Ingest’s MQTT client id; fixed, so the broker keeps its session while it is away.',
    }),
    keepalive_s: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 60,
      description: 'MQTT keepalive of ingest.',
    }),
    reconnect_period_ms: Ms('Delay between reconnection attempts.', 1000, 100, 60_000),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'The MQTT broker. Embedded: the gateway’s own password is random per start unless `password` is set. External: `url` and `password` are required.',
  },
);

export const InfluxSectionSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('child'), Type.Literal('external')], {
      default: 'external',
      description:
        'child: the gateway runs influxd itself (data in <data_dir>/influxdb, loopback); external: index.url.',
    }),
    influxd_path: Type.String({
      minLength: 1,
      default: '/usr/bin/influxd',
      description: 'Child: the influxd binary.',
    }),
    port: Port('Child: HTTP port on 127.0.0.1 (0 = any free port).', 0),
    start_timeout_ms: Ms('How long to wait for InfluxDB to answer at start.', 60_000, 1000, 600_000),
  },
  { additionalProperties: false, default: {}, description: 'Where InfluxDB runs.' },
);

export const IngestSectionSchema = Type.Object(
  {
    batch_max_events: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 5000,
      description: 'Events per index write, at most.',
    }),
    batch_max_bytes: Type.Integer({
      minimum: 65_536,
      maximum: 1024 * 1024 * 1024,
      default: 16 * 1024 * 1024,
      description: 'Evidence bytes per batch, at most.',
    }),
    batch_max_delay_ms: Ms(
      'A batch is written at the latest this long after its first message.',
      50,
      1,
      10_000,
    ),
    max_in_flight_batches: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 4,
      description: 'Batches stored at once; when all are busy and the next is full, ingest stops reading.',
    }),
    evidence_concurrency: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 32,
      description: 'Evidence files written at once.',
    }),
    retry_initial_ms: Ms('First retry delay after a store failure (doubles, with jitter).', 200, 10, 60_000),
    retry_max_ms: Ms('Longest retry delay.', 10_000, 100, 600_000),
    stop_timeout_ms: Ms('On stop, how long to wait for batches in flight.', 10_000, 0, 600_000),
    max_payload_bytes: Type.Integer({
      minimum: 1024,
      maximum: 256 * 1024 * 1024,
      default: 32 * 1024 * 1024,
      description: 'Largest events message accepted.',
    }),
    max_evidence_bytes: Type.Integer({
      minimum: 1024,
      maximum: 64 * 1024 * 1024,
      default: 512 * 1024,
      description: 'Largest crop (and context) JPEG accepted.',
    }),
    max_events_per_message: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 10_000,
      description: 'Most events in one message.',
    }),
    max_future_skew_ms: Ms(
      'How far ahead of the gateway clock an event time may be.',
      86_400_000,
      0,
      31 * 86_400_000,
    ),
  },
  { additionalProperties: false, default: {}, description: 'Ingest batching, back-off and limits.' },
);

export const UiSectionSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Serve the web UI under /ui/.' }),
    dist_dir: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'The built UI (default gateway/ui/dist of this installation, made by scripts/build-ui.sh).',
      }),
    ),
    tile_url: Type.String({
      default: '',
      description:
        'Offline map tile server, an {z}/{x}/{y} URL template ({s} allowed). Empty: cameras are drawn on a plain coordinate canvas.',
    }),
    tile_attribution: Type.String({ default: '', description: 'Attribution shown on tiled maps.' }),
    tile_max_zoom: Type.Integer({
      minimum: 1,
      maximum: 22,
      default: 18,
      description: 'Highest zoom the tile server has.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The web UI.' },
);

const TierId = (description: string) => Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description });

/** Tier cascade (decision 15): bridging a lower gateway's Mosquitto up to an upper one. */
export const TierSectionSchema = Type.Object(
  {
    upstream: Type.Optional(
      Type.Object(
        {
          tier_id: TierId('This (lower) tier’s id, as the upper gateway lists it in tier.downstream.'),
          url: Type.String({ pattern: '^mqtts?://', description: 'The upper tier’s Mosquitto.' }),
          password: SecretSchema,
          ca_file: Type.Optional(
            Type.String({ minLength: 1, description: 'mqtts: PEM CA of the upper broker.' }),
          ),
          bridge_file: Type.String({
            minLength: 1,
            description: 'Bridge stanza to write, in a directory the lower Mosquitto includes (include_dir).',
          }),
          restart_timeout_s: Type.Integer({
            minimum: 1,
            maximum: 3600,
            default: 2,
            description: 'First delay before the bridge reconnects.',
          }),
          restart_timeout_max_s: Type.Integer({
            minimum: 1,
            maximum: 3600,
            default: 30,
            description: 'Longest delay between bridge reconnections.',
          }),
        },
        {
          additionalProperties: false,
          description: 'Lower tier: forward events upward by a Mosquitto bridge.',
        },
      ),
    ),
    downstream: Type.Array(
      Type.Object(
        {
          tier_id: TierId('The lower tier’s id (its Mosquitto user is ~tier-<id>).'),
          password: SecretSchema,
          sites: Type.Array(TierId('A site of the lower tier.'), {
            maxItems: 100_000,
            description: 'The sites whose events this tier may publish here.',
          }),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        maxItems: 1000,
        description:
          'Upper tier: lower tiers whose bridges may connect (written into broker.mosquitto_files).',
      },
    ),
  },
  { additionalProperties: false, default: {}, description: 'Tier cascade (Mosquitto bridging).' },
);

export const GatewayConfigSchema = Type.Object(
  {
    log_level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'pino log level; LOG_LEVEL in the environment overrides it.' },
    ),
    data_dir: Type.String({
      minLength: 1,
      default: '/var/lib/sharpeyes-gateway',
      description: 'State directory: broker database, managed InfluxDB, default evidence and sites file.',
    }),
    http: Type.Object(
      {
        host: Type.String({
          default: '127.0.0.1',
          description: 'Bind address of the web UI, the REST API, /healthz and /metrics.',
        }),
        port: Port('Port of the web UI, the REST API, /healthz and /metrics (0 = any free port).', 9480),
      },
      { additionalProperties: false, default: {} },
    ),
    ui: UiSectionSchema,
    api: ApiConfigSchema,
    auth: AuthConfigSchema,
    registry: RegistryConfigSchema,
    alerts: AlertsConfigSchema,
    broker: BrokerSectionSchema,
    influx: InfluxSectionSchema,
    index: Type.Optional(IndexConfigSchema),
    evidence: Type.Optional(EvidenceConfigSchema),
    ingest: IngestSectionSchema,
    role: RoleSchema,
    scale: ScaleConfigSchema,
    tier: TierSectionSchema,
  },
  { additionalProperties: false },
);

/**
 * The configuration file, after defaults. `index` and `evidence` are always present: when the
 * file leaves them out, their defaults apply, with the evidence under `<data_dir>/evidence`.
 */
export type GatewayConfig = Static<typeof GatewayConfigSchema> & {
  index: IndexConfig;
  evidence: EvidenceConfig;
};
export type Secret = Static<typeof SecretSchema>;
