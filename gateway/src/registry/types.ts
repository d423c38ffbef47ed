/**
 * The registry's domain types: sites (edge agents) and cameras. TypeScript shapes are
 * camelCase; SQLite columns and wire/API JSON are snake_case (the API layers map them).
 */
import type { Place } from '../../../proto/gen/sharpeyes/v1/common.ts';

export type { Place };

/** A site's administrative status: a disabled site's agent cannot log in to the broker. */
export type SiteStatus = 'active' | 'disabled';

/** Whether a site's agent is connected, as its retained AgentStatus says. */
export type AgentConnectivity = 'online' | 'offline' | 'unknown';

/** A site: one edge agent at one NVR. */
export interface Site {
  /** Topic-safe id (proto/topics.ts `isValidId`); also its MQTT user name. */
  siteId: string;
  name: string;
  place: Place;
  status: SiteStatus;
  /** From the agent's retained status messages. */
  agent: AgentConnectivity;
  agentSeenMs: number | null;
  /** Revision of the SiteConfig the agent reports running (0 = unknown). */
  agentConfigRevision: number;
  createdMs: number;
  updatedMs: number;
  credentialsRotatedMs: number;
}

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

/** Registry lifecycle of a camera (see lifecycle.ts for the allowed transitions). */
export type CameraLifecycle = 'discovered' | 'registered' | 'active' | 'retired';

/** Every lifecycle state. */
export const CAMERA_LIFECYCLES: readonly CameraLifecycle[] = [
  'discovered',
  'registered',
  'active',
  'retired',
];

/** Who owns a camera. */
export type CameraOwner =
  | { kind: 'public' }
  | {
      kind: 'organisation';
      /** The owning organisation, e.g. a school or a private car park. */
      organisation: string;
      /** Reference of the sharing agreement that lets the system use the camera. */
      sharingAgreementRef: string;
    };

/** ONVIF identity: how the camera is recognised whatever its address. */
export interface CameraIdentityInfo {
  /** WS-Discovery endpoint reference (preferred key). */
  endpointReference: string;
  serialNumber: string;
  manufacturer: string;
  model: string;
}

/** Motion in this image direction means entering. */
export type InboundDirection = 'unspecified' | 'left_to_right' | 'right_to_left' | 'towards' | 'away';

/** Every inbound direction. */
export const INBOUND_DIRECTIONS: readonly InboundDirection[] = [
  'unspecified',
  'left_to_right',
  'right_to_left',
  'towards',
  'away',
];

/** A point in normalised frame coordinates (0..1 from left and top). */
export interface NormPointXY {
  x: number;
  y: number;
}

/** Analysis settings of a camera (pushed to the edge in its SiteConfig). */
export interface AnalysisSettingsInfo {
  /** Frames per second analysed, 0.1..30. */
  fps: number;
  face: boolean;
  plate: boolean;
  /** Regions ignored by motion gate and detectors: polygons of 3..32 points. */
  masks: NormPointXY[][];
  /** Events below this confidence are not emitted, 0..1. */
  minConfidence: number;
  inbound: InboundDirection;
}

/** What the camera's view can serve. */
export interface CameraCapabilities {
  face: boolean;
  plate: boolean;
}

/** A temporary camera's deployment window. */
export interface TemporaryWindow {
  startMs: number;
  endMs: number;
}

/** A camera in the registry. */
export interface Camera {
  /** Topic-safe id used on the wire and in topics. */
  cameraId: string;
  siteId: string;
  /** Unique human-facing code (e.g. a national device code). */
  code: string;
  name: string;
  place: Place;
  /** WGS-84 position, when known. */
  position: { latitude: number; longitude: number } | null;
  /** Compass heading the camera faces, degrees from north, when known. */
  headingDeg: number | null;
  /** Lanes covered, when it watches a road. */
  lanes: number | null;
  /** Lanes or direction covered, free text (e.g. "inbound, 2 lanes"). */
  coverage: string;
  category: CameraCategory;
  owner: CameraOwner;
  identity: CameraIdentityInfo;
  /** Direct ONVIF device-service address, when not found by discovery. */
  xaddr: string;
  /** Preferred ONVIF profile; empty = the edge picks. */
  profileToken: string;
  capabilities: CameraCapabilities;
  analysis: AnalysisSettingsInfo;
  lifecycle: CameraLifecycle;
  /** Set for temporary cameras: analysed only within the window. */
  temporary: TemporaryWindow | null;
  /** Whether ONVIF/RTSP credentials are stored for it (never shown). */
  hasCredentials: boolean;
  createdMs: number;
  updatedMs: number;
  lifecycleChangedMs: number;
}

/** Kinds of maintenance log entry. */
export type MaintenanceKind =
  'inspection' | 'repair' | 'cleaning' | 'relocation' | 'firmware' | 'replacement' | 'other';

/** Every maintenance kind. */
export const MAINTENANCE_KINDS: readonly MaintenanceKind[] = [
  'inspection',
  'repair',
  'cleaning',
  'relocation',
  'firmware',
  'replacement',
  'other',
];

/** One maintenance log entry of a camera. */
export interface MaintenanceEntry {
  id: number;
  cameraId: string;
  /** When the work was done. */
  timeMs: number;
  /** Audit actor who logged it. */
  actor: string;
  kind: MaintenanceKind;
  note: string;
}
