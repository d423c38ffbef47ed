/**
 * What the pages work with: the REST API's JSON (snake_case on the wire) mapped once, in
 * client.ts, to these shapes. A change of the wire format touches client.ts only.
 */

/** A role (see gateway/src/auth/roles.ts). */
export type Role = 'admin' | 'installer' | 'operator' | 'integrator' | 'auditor';

/** The levels of the location hierarchy, top down. */
export const AREA_LEVELS = ['district', 'street', 'community', 'grid'] as const;

/** One level of the hierarchy. */
export type AreaLevel = (typeof AREA_LEVELS)[number];

/** A subtree of the hierarchy (a prefix of the levels); `{}` = everything. */
export type AreaScope = Partial<Record<AreaLevel, string>>;

/** A camera's place; unset levels are empty strings. */
export type Place = Record<AreaLevel, string>;

/** The signed-in user. */
export interface Me {
  username: string;
  displayName: string;
  role: Role;
  scope: AreaScope;
  /** When the session ends at the latest, if the API says. */
  expiresMs: number | null;
}

/** A camera's status as the map colours it. */
export type CameraStatusName = 'online' | 'degraded' | 'offline' | 'unknown';

/** Registry category of a camera. */
export type CameraCategory = 'village_entrance' | 'road_checkpoint' | 'key_area' | 'public_place' | 'other';

/** Every camera category. */
export const CAMERA_CATEGORIES: readonly CameraCategory[] = [
  'village_entrance',
  'road_checkpoint',
  'key_area',
  'public_place',
  'other',
];

/** Lifecycle of a registered camera. */
export type CameraLifecycle = 'discovered' | 'registered' | 'active' | 'retired';

/** Image direction that means entering. */
export type InboundDirection = 'unspecified' | 'left_to_right' | 'right_to_left' | 'towards' | 'away';

/** Every inbound direction. */
export const INBOUND_DIRECTIONS: readonly InboundDirection[] = [
  'unspecified',
  'left_to_right',
  'right_to_left',
  'towards',
  'away',
];

/** A point in normalised frame coordinates. */
export interface NormPoint {
  x: number;
  y: number;
}

/** A WGS-84 position. */
export interface LatLon {
  lat: number;
  lon: number;
}

/** A camera as the UI shows it. */
export interface CameraView {
  cameraId: string;
  siteId: string;
  code: string;
  name: string;
  place: Place;
  position: LatLon | null;
  headingDeg: number | null;
  category: CameraCategory;
  lifecycle: CameraLifecycle;
  status: CameraStatusName;
  /** Detail of the status (e.g. `auth_failed`), when the API gives one. */
  statusDetail: string;
  lastSeenMs: number | null;
  capabilities: { face: boolean; plate: boolean };
  detectors: { face: boolean; plate: boolean };
  masks: NormPoint[][];
  inbound: InboundDirection;
  owner: { kind: 'public' } | { kind: 'organisation'; organisation: string; sharingAgreementRef: string };
  manufacturer: string;
  model: string;
}

/** A site (edge agent). */
export interface SiteView {
  siteId: string;
  name: string;
  place: Place;
  agent: 'online' | 'offline' | 'unknown';
  agentSeenMs: number | null;
}

/** A device an edge discovered. */
export interface DiscoveredView {
  siteId: string;
  /** A key the API uses to address the device (endpoint reference). */
  deviceKey: string;
  endpointReference: string;
  serialNumber: string;
  manufacturer: string;
  model: string;
  xaddrs: string[];
  access: 'ok' | 'auth_failed' | 'unreachable' | 'protocol_error' | 'unknown';
  hasSnapshot: boolean;
  /** The registered camera it is, when it is one. */
  cameraId: string | null;
  lastSeenMs: number | null;
}

/** What a new camera is registered with. */
export interface CameraRegistration {
  siteId: string;
  cameraId: string;
  code: string;
  name: string;
  place: Place;
  position: LatLon | null;
  headingDeg: number | null;
  category: CameraCategory;
  owner: CameraView['owner'];
  endpointReference: string;
  serialNumber: string;
  manufacturer: string;
  model: string;
  xaddr: string;
  detectors: { face: boolean; plate: boolean };
  masks: NormPoint[][];
  inbound: InboundDirection;
}

/** Event kinds. */
export type EventKindName = 'plate' | 'face';

/** Direction of travel. */
export type DirectionName = 'in' | 'out' | 'unknown' | 'unspecified';

/** Plate background colour. */
export type PlateColourName = 'blue' | 'yellow' | 'green' | 'white' | 'black' | 'unspecified';

/** An event. */
export interface EventView {
  eventId: string;
  siteId: string;
  cameraId: string;
  kind: EventKindName;
  timeMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  confidence: number;
  direction: DirectionName;
  plate: { text: string; colour: PlateColourName; agreeingReads: number; totalReads: number } | null;
  evidenceSha256: string;
  contextSha256: string;
  box: { x: number; y: number; width: number; height: number } | null;
  frameWidth: number;
  frameHeight: number;
  trackId: string;
  revision: number;
  modelIds: string[];
}

/** A search's filters. */
export interface SearchFilters {
  fromMs: number;
  toMs: number;
  /** Exact plate, or a pattern with `?` and `*`. */
  plate?: string;
  cameraIds?: string[];
  area?: AreaScope;
  kinds?: EventKindName[];
  minConfidence?: number;
  direction?: DirectionName;
  limit?: number;
  cursor?: string;
}

/** A page of results. */
export interface SearchPage {
  events: EventView[];
  nextCursor: string | null;
}

/** Passes of one camera, kind and interval. */
export interface PassRow {
  cameraId: string;
  siteId: string;
  kind: EventKindName;
  startMs: number;
  total: number;
  in: number;
  out: number;
  other: number;
}

/** An alert raised by an entry's hit. */
export interface AlertView {
  alertId: number;
  entryId: number;
  caseRef: string;
  eventId: string;
  cameraId: string;
  siteId: string;
  place: Place;
  plate: string;
  eventTimeMs: number;
  raisedMs: number;
  ackDeadlineMs: number;
  acknowledgedBy: string | null;
  acknowledgedMs: number | null;
  ackNote: string | null;
  escalationLevel: number;
  escalatedMs: number | null;
}

/** Status of an alert entry. */
export type AlertEntryStatus = 'pending' | 'active' | 'expired' | 'revoked';

/** A case-bound alert entry. */
export interface AlertEntryView {
  entryId: number;
  plate: string;
  kind: 'plate' | 'pattern';
  caseRef: string;
  reason: string;
  area: AreaScope;
  requestedBy: string;
  requestedMs: number;
  approvedBy: string | null;
  approvedMs: number | null;
  expiresMs: number;
  revokedBy: string | null;
  status: AlertEntryStatus;
}

/** Quality of one camera. */
export interface CameraQualityView {
  cameraId: string;
  siteId: string;
  place: Place;
  lastSeenMs: number | null;
  onlineNow: boolean | null;
  onlineShare: number | null;
  events: number;
  ingestLagMs: number | null;
  evidenceShare: number | null;
  droppedFrames: number | null;
}

/** Quality of an area. */
export interface AreaQualityView {
  area: AreaScope;
  cameras: number;
  camerasOnline: number;
  onlineShare: number | null;
  lastSeenMs: number | null;
  events: number;
  ingestLagMs: number | null;
  evidenceShare: number | null;
}

/** Quality report. */
export interface QualityView {
  cameras: CameraQualityView[];
  areas: AreaQualityView[];
}

/** The collision report. */
export interface CollisionView {
  generatedMs: number;
  unregistered: {
    siteId: string;
    manufacturer: string;
    model: string;
    serialNumber: string;
    xaddrs: string[];
    lastSeenMs: number | null;
  }[];
  missing: { cameraId: string; siteId: string; reason: string }[];
  offline: {
    cameraId: string;
    siteId: string;
    state: string;
    offlineForMs: number | null;
    lastError: string;
  }[];
  moved: {
    cameraId: string;
    kind: string;
    registeredSiteId: string;
    seenSiteId: string;
    fromXaddrs: string[];
    toXaddrs: string[];
    sinceMs: number;
  }[];
}

/** UI settings served next to the app (gateway/src/http/ui.ts). */
export interface UiConfig {
  /** `{z}/{x}/{y}` tile URL of the offline tile server; empty = plain coordinate canvas. */
  tileUrl: string;
  tileAttribution: string;
  tileMaxZoom: number;
}
