/**
 * TypeBox schemas of the REST API's bodies and responses (snake_case on the wire). Routes declare
 * these for params, query, body and every response; the OpenAPI document is generated from them.
 */
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';

/** A string enum (as a union of literals, which both the validator and OpenAPI understand). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string; default?: T[number] } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  );
}

/** `T` or null. */
export const Nullable = <T extends TSchema>(t: T, description?: string) =>
  Type.Union([t, Type.Null()], description === undefined ? {} : { description });

/** Epoch milliseconds. */
export const TimeMs = (description: string) =>
  Type.Integer({ minimum: 0, maximum: 9_223_372_036_854, description });

/** A topic-safe id (site, camera, event). */
export const Id = (description: string) => Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description });

// ---- Errors -------------------------------------------------------------------------------

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code, e.g. GATEWAY_ERR_INVALID_INPUT.' }),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: 'The offending input (snake_case path).' })),
    }),
  },
  { description: 'Every error: a stable code, a message, and the field for bad input.' },
);

/** The error responses every authenticated route can give. */
export const ERRORS = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
} as const;

// ---- Shared shapes ------------------------------------------------------------------------

export const Place = Type.Object(
  {
    district: Type.String(),
    street: Type.String({ description: 'Street or township.' }),
    community: Type.String({ description: 'Community or village.' }),
    grid: Type.String(),
  },
  { description: 'Location hierarchy; unset levels are empty.' },
);

const Level = (d: string) => Type.Optional(Type.String({ maxLength: 64, description: d }));

/** An area scope: a prefix of the levels. */
export const Area = Type.Object(
  {
    district: Level('District.'),
    street: Level('Street or township (needs district).'),
    community: Level('Community or village (needs street).'),
    grid: Level('Grid cell (needs community).'),
  },
  { additionalProperties: false, description: 'A subtree of the location hierarchy; {} is everything.' },
);

/** Area filter fields in a query string. */
export const AreaQueryFields = {
  district: Level('Only this district (within your own area).'),
  street: Level('Only this street or township (needs district).'),
  community: Level('Only this community or village (needs street).'),
  grid: Level('Only this grid cell (needs community).'),
};

export const Reason = Type.String({
  minLength: 1,
  maxLength: 2000,
  description:
    'Why (case reference or description); required for event data, audited. Also accepted as the `x-reason` header (percent-encoded UTF-8).',
});

export const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Page size.' }));
export const Cursor = Type.Optional(
  Type.String({ maxLength: 1024, description: 'next_cursor of the previous page.' }),
);
export const NextCursor = Nullable(
  Type.String(),
  'Pass as `cursor` for the next page; null on the last page.',
);

export const Box = Type.Object({
  x: Type.Integer(),
  y: Type.Integer(),
  width: Type.Integer(),
  height: Type.Integer(),
});

// ---- Events -------------------------------------------------------------------------------

export const KIND_VALUES = ['face', 'plate'] as const;
export const DIRECTION_VALUES = ['unspecified', 'in', 'out', 'unknown'] as const;

export const EventJson = Type.Object(
  {
    event_id: Type.String(),
    site_id: Type.String(),
    camera_id: Type.String(),
    kind: Type.String({ description: 'face or plate.' }),
    time_ms: Type.Integer({ description: 'Time of the best detection’s frame.' }),
    first_seen_ms: Type.Integer(),
    last_seen_ms: Type.Integer(),
    box: Nullable(Box),
    frame_width: Type.Integer(),
    frame_height: Type.Integer(),
    confidence: Type.Number(),
    track_id: Type.String(),
    revision: Type.Integer(),
    direction: Type.String({ description: 'in, out, unknown or unspecified.' }),
    plate: Nullable(
      Type.Object({
        text: Type.String(),
        colour: Type.String(),
        char_confidences: Type.Array(Type.Number()),
        agreeing_reads: Type.Integer(),
        total_reads: Type.Integer(),
      }),
    ),
    face: Nullable(
      Type.Object({ keypoints: Type.Array(Type.Object({ x: Type.Number(), y: Type.Number() })) }),
    ),
    evidence: Nullable(
      Type.Object({
        sha256: Type.String({ description: 'Hex sha256 of the crop JPEG (empty when none).' }),
        width: Type.Integer(),
        height: Type.Integer(),
        crop_box: Nullable(Box),
        context_sha256: Type.String(),
        url: Type.String({ description: 'Where to fetch the crop (add ?reason=…).' }),
        context_url: Type.String(),
      }),
    ),
    model_ids: Type.Array(Type.String()),
  },
  { description: 'A detection event (one object pass).' },
);
export type EventJson = Static<typeof EventJson>;

export const EventFilterQueryFields = {
  kind: Type.Optional(
    Type.Array(StringEnum(KIND_VALUES), { description: 'face, plate (repeat or comma-separate).' }),
  ),
  camera_id: Type.Optional(
    Type.Array(Id('A camera id.'), { maxItems: 5000, description: 'Only these cameras.' }),
  ),
  site_id: Type.Optional(Type.Array(Id('A site id.'), { maxItems: 1000, description: 'Only these sites.' })),
  plate: Type.Optional(Type.String({ maxLength: 64, description: 'Exact plate, e.g. 京A12345.' })),
  plate_pattern: Type.Optional(
    Type.String({ maxLength: 64, description: 'Plate with wildcards: ? one character, * any run.' }),
  ),
  min_confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  direction: Type.Optional(StringEnum(DIRECTION_VALUES)),
  ...AreaQueryFields,
};

// ---- Registry -----------------------------------------------------------------------------

export const CATEGORY_VALUES = [
  'village_entrance',
  'road_checkpoint',
  'key_area',
  'public_place',
  'other',
] as const;
export const LIFECYCLE_VALUES = ['discovered', 'registered', 'active', 'retired'] as const;
export const INBOUND_VALUES = ['unspecified', 'left_to_right', 'right_to_left', 'towards', 'away'] as const;
export const MAINTENANCE_VALUES = [
  'inspection',
  'repair',
  'cleaning',
  'relocation',
  'firmware',
  'replacement',
  'other',
] as const;

const Position = Type.Object(
  {
    latitude: Type.Number({ minimum: -90, maximum: 90 }),
    longitude: Type.Number({ minimum: -180, maximum: 180 }),
  },
  { additionalProperties: false },
);
const NormPoint = Type.Object(
  { x: Type.Number({ minimum: 0, maximum: 1 }), y: Type.Number({ minimum: 0, maximum: 1 }) },
  { additionalProperties: false },
);
const Owner = Type.Object(
  {
    kind: StringEnum(['public', 'organisation'] as const),
    organisation: Type.Optional(Type.String({ maxLength: 200 })),
    sharing_agreement_ref: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
const Identity = Type.Object(
  {
    endpoint_reference: Type.String(),
    serial_number: Type.String(),
    manufacturer: Type.String(),
    model: Type.String(),
  },
  { additionalProperties: false },
);
const Analysis = Type.Object(
  {
    fps: Type.Number(),
    face: Type.Boolean(),
    plate: Type.Boolean(),
    masks: Type.Array(Type.Array(NormPoint)),
    min_confidence: Type.Number(),
    inbound: Type.String(),
  },
  { additionalProperties: false },
);
const Temporary = Type.Object(
  { start_ms: TimeMs('Window start.'), end_ms: TimeMs('Window end.') },
  { additionalProperties: false },
);

export const CameraStatusJson = Type.Object({
  state: Type.String({
    description: 'online, degraded, offline, auth_failed, unreachable, disabled, unspecified.',
  }),
  input_fps: Type.Number(),
  analysed_fps: Type.Number(),
  dropped_frames: Type.Integer(),
  last_frame_ms: Type.Integer(),
  last_error: Type.String(),
  last_error_ms: Type.Integer(),
  restarts: Type.Integer(),
  updated_ms: Type.Integer(),
});

export const CameraJson = Type.Object({
  camera_id: Type.String(),
  site_id: Type.String(),
  code: Type.String(),
  name: Type.String(),
  place: Place,
  position: Nullable(Position),
  heading_deg: Nullable(Type.Number()),
  lanes: Nullable(Type.Integer()),
  coverage: Type.String(),
  category: Type.String(),
  owner: Owner,
  identity: Identity,
  xaddr: Type.String(),
  profile_token: Type.String(),
  capabilities: Type.Object({ face: Type.Boolean(), plate: Type.Boolean() }),
  analysis: Analysis,
  lifecycle: Type.String(),
  temporary: Nullable(Temporary),
  has_credentials: Type.Boolean(),
  created_ms: Type.Integer(),
  updated_ms: Type.Integer(),
  lifecycle_changed_ms: Type.Integer(),
});

export const CameraDetailJson = Type.Composite([
  CameraJson,
  Type.Object({
    status: Nullable(CameraStatusJson, 'Latest status the edge reported since the gateway started.'),
  }),
]);

const AnalysisInput = Type.Object(
  {
    fps: Type.Optional(Type.Number({ minimum: 0.1, maximum: 30 })),
    face: Type.Optional(Type.Boolean()),
    plate: Type.Optional(Type.Boolean()),
    masks: Type.Optional(Type.Array(Type.Array(NormPoint, { minItems: 3, maxItems: 32 }), { maxItems: 16 })),
    min_confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    inbound: Type.Optional(StringEnum(INBOUND_VALUES)),
  },
  { additionalProperties: false },
);

const CameraFields = {
  code: Type.String({ minLength: 1, maxLength: 64 }),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  place: Area,
  position: Type.Optional(Nullable(Position)),
  heading_deg: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 360 }))),
  lanes: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 16 }))),
  coverage: Type.Optional(Type.String({ maxLength: 200 })),
  category: StringEnum(CATEGORY_VALUES),
  owner: Type.Optional(Owner),
  identity: Type.Optional(Type.Partial(Identity)),
  xaddr: Type.Optional(Type.String({ maxLength: 500 })),
  profile_token: Type.Optional(Type.String({ maxLength: 64 })),
  capabilities: Type.Optional(
    Type.Object(
      { face: Type.Optional(Type.Boolean()), plate: Type.Optional(Type.Boolean()) },
      { additionalProperties: false },
    ),
  ),
  analysis: Type.Optional(AnalysisInput),
  temporary: Type.Optional(Nullable(Temporary)),
  credentials: Type.Optional(
    Nullable(
      Type.Object(
        {
          username: Type.String({ minLength: 1, maxLength: 128 }),
          password: Type.String({ minLength: 1, maxLength: 256 }),
        },
        { additionalProperties: false },
      ),
    ),
  ),
};

export const CameraCreateBody = Type.Object(
  {
    camera_id: Id('Topic-safe id used on the wire.'),
    site_id: Id('The site (edge agent) that analyses it.'),
    ...CameraFields,
    lifecycle: Type.Optional(StringEnum(['discovered', 'registered'] as const, { default: 'registered' })),
    from_device: Type.Optional(
      Type.Object(
        {
          endpoint_reference: Type.Optional(Type.String({ maxLength: 200 })),
          serial_number: Type.Optional(Type.String({ maxLength: 100 })),
        },
        {
          additionalProperties: false,
          description:
            'Register a device the site’s edge discovered: identity, model and address are taken from its discovery report.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CameraCreateBody = Static<typeof CameraCreateBody>;

export const CameraPatchBody = Type.Partial(
  Type.Object({ site_id: Id('Move to another site.'), ...CameraFields }, { additionalProperties: false }),
  { additionalProperties: false },
);
export type CameraPatchBody = Static<typeof CameraPatchBody>;

export const SiteJson = Type.Object({
  site_id: Type.String(),
  name: Type.String(),
  place: Place,
  status: Type.String({ description: 'active or disabled.' }),
  agent: Type.String({ description: 'online, offline or unknown.' }),
  agent_seen_ms: Nullable(Type.Integer()),
  agent_config_revision: Type.Integer(),
  created_ms: Type.Integer(),
  updated_ms: Type.Integer(),
  credentials_rotated_ms: Type.Integer(),
});

export const MaintenanceJson = Type.Object({
  id: Type.Integer(),
  camera_id: Type.String(),
  time_ms: Type.Integer(),
  actor: Type.String(),
  kind: Type.String(),
  note: Type.String(),
});

// ---- Users, keys, audit, alerts ------------------------------------------------------------

export const ROLE_VALUES = ['admin', 'installer', 'operator', 'auditor'] as const;
export const SERVICE_VALUES = ['events', 'evidence', 'snapshots', 'cameras', 'alerts', 'stats'] as const;

export const UserJson = Type.Object({
  username: Type.String(),
  display_name: Type.String(),
  role: Type.String(),
  scope: Area,
  disabled: Type.Boolean(),
  created_ms: Type.Integer(),
  updated_ms: Type.Integer(),
  password_changed_ms: Type.Integer(),
});

export const ApiKeyJson = Type.Object({
  key_id: Type.String(),
  name: Type.String(),
  scope: Area,
  services: Type.Array(Type.String()),
  created_by: Type.String(),
  created_ms: Type.Integer(),
  expires_ms: Nullable(Type.Integer()),
  revoked_ms: Nullable(Type.Integer()),
  revoked_by: Nullable(Type.String()),
  last_used_ms: Nullable(Type.Integer()),
});

export const AuditRecordJson = Type.Object({
  seq: Type.Integer(),
  time_ms: Type.Integer(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
  prev_hash: Type.String(),
  hash: Type.String(),
});

export const AlertJson = Type.Object({
  alert_id: Type.Integer(),
  entry_id: Type.Integer(),
  case_ref: Type.String(),
  event_id: Type.String(),
  camera_id: Type.String(),
  site_id: Type.String(),
  place: Place,
  plate: Type.String(),
  event_time_ms: Type.Integer(),
  raised_ms: Type.Integer(),
  ack_deadline_ms: Type.Integer(),
  acknowledged_by: Nullable(Type.String()),
  acknowledged_ms: Nullable(Type.Integer()),
  ack_note: Nullable(Type.String()),
  escalation_level: Type.Integer(),
  escalated_ms: Nullable(Type.Integer()),
});

export const AlertEntryJson = Type.Object({
  entry_id: Type.Integer(),
  plate: Type.String(),
  kind: Type.String({ description: 'plate or pattern.' }),
  case_ref: Type.String(),
  reason: Type.String(),
  area: Area,
  requested_by: Type.String(),
  requested_ms: Type.Integer(),
  approved_by: Nullable(Type.String()),
  approved_ms: Nullable(Type.Integer()),
  expires_ms: Type.Integer(),
  revoked_by: Nullable(Type.String()),
  revoked_ms: Nullable(Type.Integer()),
  revoke_reason: Nullable(Type.String()),
  status: Type.String({ description: 'pending, active, expired or revoked.' }),
});

/** A page of a list. */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: NextCursor });
