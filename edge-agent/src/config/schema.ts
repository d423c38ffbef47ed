/**
 * The edge agent's configuration file: one TypeBox schema per section, the TS types derived
 * from it. Every field has a description, a default (where one makes sense) and bounds;
 * unknown fields are errors. On disk: JSON, snake_case.
 */
import { Type, type Static } from '@sinclair/typebox';

/** An id usable as an MQTT topic level: no `/ + #`, no spaces. */
const Id = (description: string) =>
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$', description });

const Port = (description: string, dflt: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: dflt, description });

/**
 * A secret: given inline (discouraged outside tests), or read from an environment variable or a
 * file (e.g. a systemd credential). Exactly one of the three.
 */
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

export const CredentialsSchema = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128, description: 'ONVIF and RTSP user name.' }),
    password: SecretSchema,
  },
  { additionalProperties: false, description: 'Camera credentials (ONVIF and RTSP).' },
);

export const UnicastTargetSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'Address to send WS-Discovery probes to (unicast).' }),
    port: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 3702,
      description: 'UDP port, 3702 on real cameras.',
    }),
  },
  { additionalProperties: false },
);

export const DiscoverySectionSchema = Type.Object(
  {
    multicast: Type.Boolean({
      default: false,
      description: 'Probe the WS-Discovery multicast group 239.255.255.250:3702 on the site LAN.',
    }),
    unicast_targets: Type.Array(UnicastTargetSchema, {
      default: [],
      maxItems: 4096,
      description: 'Hosts probed directly, for sites where multicast does not cross VLANs.',
    }),
    xaddrs: Type.Array(Type.String({ pattern: '^https?://' }), {
      default: [],
      maxItems: 4096,
      description: 'ONVIF device-service addresses used without discovery.',
    }),
    hello_host: Type.String({
      default: '127.0.0.1',
      description: 'Address to hear unicast Hello/Bye on (multicast Hellos need `multicast`).',
    }),
    hello_port: Port('UDP port to hear unicast Hello/Bye announcements on (0 = off).', 0),
    probe_timeout_ms: Type.Integer({
      minimum: 100,
      maximum: 30_000,
      default: 2000,
      description: 'How long to collect ProbeMatches after a probe.',
    }),
    reprobe_interval_ms: Type.Integer({
      minimum: 1000,
      maximum: 86_400_000,
      default: 60_000,
      description: 'Time between probe rounds.',
    }),
    onvif_timeout_ms: Type.Integer({
      minimum: 500,
      maximum: 120_000,
      default: 15_000,
      description: 'Hard limit for describing one device (all its ONVIF calls).',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const CaptureSectionSchema = Type.Object(
  {
    width: Type.Integer({
      minimum: 64,
      maximum: 3840,
      default: 1280,
      description: 'Analysis frame width, px.',
    }),
    height: Type.Integer({
      minimum: 64,
      maximum: 2160,
      default: 720,
      description: 'Analysis frame height, px.',
    }),
    fps: Type.Number({
      exclusiveMinimum: 0,
      maximum: 30,
      default: 2,
      description: 'Frames analysed per second.',
    }),
    stall_timeout_ms: Type.Integer({
      minimum: 1000,
      maximum: 600_000,
      default: 10_000,
      description: 'No frame for this long = stalled: ffmpeg is restarted.',
    }),
    backoff_initial_ms: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 1000,
      description: 'First restart delay after a failure (doubles, with jitter).',
    }),
    backoff_max_ms: Type.Integer({
      minimum: 1000,
      maximum: 3_600_000,
      default: 60_000,
      description: 'Longest restart delay.',
    }),
    ffmpeg_path: Type.String({ minLength: 1, default: '/usr/bin/ffmpeg', description: 'The ffmpeg binary.' }),
  },
  { additionalProperties: false, default: {} },
);

export const DetectSectionSchema = Type.Object(
  {
    face: Type.Boolean({
      default: true,
      description: 'Run face detection (detection only: no identification).',
    }),
    plate: Type.Boolean({ default: true, description: 'Run licence-plate detection and reading.' }),
    workers: Type.Integer({
      minimum: 1,
      maximum: 16,
      default: 2,
      description:
        "Inference worker threads (each holds its own model sessions, ~100 MB). Two suit 2 cores: two cameras' frames are analysed at once.",
    }),
    threads: Type.Integer({
      minimum: 1,
      maximum: 16,
      default: 1,
      description: 'onnxruntime intra-op threads per session.',
    }),
    queue: Type.Integer({
      minimum: 1,
      maximum: 1024,
      default: 8,
      description: 'Frames waiting for inference at most; further frames are dropped and counted.',
    }),
    min_confidence: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0,
      description: 'Ignore detections below this confidence (on top of the detectors’ own thresholds).',
    }),
    events_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Without `mqtt`: append events as JSON lines here (default <data_dir>/events.jsonl). With `mqtt` events go to the spool.',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);

/** Connection to the MQTT broker (the gateway's embedded Aedes, or Mosquitto). */
export const MqttSectionSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^mqtts?://[^\\s/@]+(:[0-9]{1,5})?/?$',
      description:
        'Broker URL, mqtt://host:port or mqtts://host:port (TLS). No credentials in the URL. MQTT 3.1.1, QoS 1.',
    }),
    username: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'MQTT user name. Default: the site_id (credentials are per site).',
      }),
    ),
    password_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'File holding the MQTT password (trailing newline ignored); read at each connect, never logged.',
      }),
    ),
    password_env: Type.Optional(
      Type.String({
        pattern: '^[A-Z_][A-Z0-9_]*$',
        description:
          'Environment variable holding the MQTT password (instead of password_file); never logged.',
      }),
    ),
    ca_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'PEM CA certificate(s) to trust for mqtts:// (default: the system CAs).',
      }),
    ),
    cert_file: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM client certificate for mqtts:// (with key_file).' }),
    ),
    key_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of cert_file.' })),
    keepalive_s: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 30,
      description: 'MQTT keepalive, s: a silent link is declared dead after 1.5× this.',
    }),
    connect_timeout_ms: Type.Integer({
      minimum: 1000,
      maximum: 120_000,
      default: 10_000,
      description: 'Give up a connection attempt (TCP, TLS, CONNACK) after this long.',
    }),
    reconnect_initial_ms: Type.Integer({
      minimum: 10,
      maximum: 600_000,
      default: 1000,
      description: 'First reconnect delay (doubles, with jitter; refused credentials back off faster).',
    }),
    reconnect_max_ms: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 30_000,
      description: 'Longest reconnect delay.',
    }),
    status_interval_ms: Type.Integer({
      minimum: 1000,
      maximum: 3_600_000,
      default: 30_000,
      description: 'Agent and camera status are published this often (and at once on every change).',
    }),
  },
  { additionalProperties: false },
);

/** The durable event spool under `<data_dir>/spool/`. */
export const SpoolSectionSchema = Type.Object(
  {
    max_bytes: Type.Integer({
      minimum: 1_048_576,
      maximum: 1_099_511_627_776,
      default: 1_073_741_824,
      description:
        'Upper bound of the spool on disk, bytes (default 1 GiB). When full, context JPEGs of the oldest events go first, then the oldest events; each is counted.',
    }),
    segment_bytes: Type.Integer({
      minimum: 65_536,
      maximum: 268_435_456,
      default: 8_388_608,
      description:
        'Segment file size, bytes (default 8 MiB); at most max_bytes / 4. Space is freed a segment at a time.',
    }),
    batch_max_events: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 500,
      description:
        'Events per MQTT message when replaying a backlog, at most (live traffic: one per message).',
    }),
    batch_max_bytes: Type.Integer({
      minimum: 1024,
      maximum: 67_108_864,
      default: 1_048_576,
      description:
        'Event bytes per MQTT message when replaying a backlog, at most (a larger event goes alone).',
    }),
    inflight_max: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 100,
      description: 'MQTT messages of events published and not yet acknowledged by the broker, at most.',
    }),
    inflight_max_bytes: Type.Integer({
      minimum: 65_536,
      maximum: 1_073_741_824,
      default: 4_194_304,
      description:
        'Event bytes published and not yet acknowledged, at most (default 4 MiB; at least one message): keeps a slow uplink from holding a large unacknowledged backlog.',
    }),
    ack_flush_ms: Type.Integer({
      minimum: 10,
      maximum: 60_000,
      default: 1000,
      description:
        'The acknowledged position is persisted this often at most: after a crash, events acknowledged since are sent again (harmless).',
    }),
  },
  { additionalProperties: false, default: {} },
);

const Inbound = Type.Union(
  [
    Type.Literal('left_to_right'),
    Type.Literal('right_to_left'),
    Type.Literal('towards'),
    Type.Literal('away'),
  ],
  {
    description: 'Image direction of motion that means entering (for an entrance camera: into the village).',
  },
);

export const CameraEntrySchema = Type.Object(
  {
    camera_id: Id('Registry id of the camera (as the gateway knows it).'),
    endpoint_reference: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Matches a discovered device by WS-Discovery endpoint reference.',
      }),
    ),
    serial_number: Type.Optional(
      Type.String({ minLength: 1, description: 'Matches a discovered device by serial number.' }),
    ),
    xaddr: Type.Optional(Type.String({ pattern: '^https?://', description: 'Direct ONVIF address.' })),
    credentials: Type.Optional(CredentialsSchema),
    profile_token: Type.Optional(
      Type.String({ minLength: 1, description: 'ONVIF profile to analyse; default: sub-stream near 720p.' }),
    ),
    enabled: Type.Boolean({ default: true, description: 'false = known but not analysed.' }),
    inbound: Type.Optional(Inbound),
  },
  { additionalProperties: false },
);

export const EdgeConfigSchema = Type.Object(
  {
    site_id: Id('This site (NVR) id; MQTT topics and events carry it.'),
    log_level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'pino log level.' },
    ),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', description: 'Bind address of /metrics and /healthz.' }),
        port: Port('Port of /metrics and /healthz (0 = any free port).', 9464),
      },
      { additionalProperties: false, default: {} },
    ),
    data_dir: Type.String({
      minLength: 1,
      default: '/var/lib/sharpeyes-edge',
      description: 'State directory (the event spool); its free space is reported in the agent status.',
    }),
    default_credentials: Type.Optional(CredentialsSchema),
    capture_discovered: Type.Boolean({
      default: false,
      description: 'Capture every discovered camera, registered or not (demo and bench).',
    }),
    discovery: DiscoverySectionSchema,
    capture: CaptureSectionSchema,
    detect: DetectSectionSchema,
    mqtt: Type.Optional(MqttSectionSchema),
    spool: SpoolSectionSchema,
    cameras: Type.Array(CameraEntrySchema, {
      default: [],
      maxItems: 1024,
      description: 'Cameras to analyse. The gateway pushes the same list as SiteConfig; its entries win.',
    }),
  },
  { additionalProperties: false },
);

/** The configuration file, after defaults. */
export type EdgeConfig = Static<typeof EdgeConfigSchema>;
export type CameraEntry = Static<typeof CameraEntrySchema>;
export type Secret = Static<typeof SecretSchema>;
export type MqttSection = Static<typeof MqttSectionSchema>;
export type SpoolSection = Static<typeof SpoolSectionSchema>;
export type CredentialsEntry = Static<typeof CredentialsSchema>;
