/**
 * Validation of camera inputs (registration and changes): pure, table-tested. Every rule gives
 * a field-level GATEWAY_ERR_INVALID_INPUT.
 */
import { isValidId } from '../../../proto/topics.ts';
import { parseScope, scopeDepth, scopeToPlace } from '../auth/scope.ts';
import { bool, int, invalid, num, oneOf, optionalText, text, timeMs } from './validate.ts';
import {
  CAMERA_CATEGORIES,
  INBOUND_DIRECTIONS,
  type AnalysisSettingsInfo,
  type CameraCapabilities,
  type CameraCategory,
  type CameraIdentityInfo,
  type CameraOwner,
  type NormPointXY,
  type Place,
  type TemporaryWindow,
} from './types.ts';

/** ONVIF/RTSP credentials stored for a camera (pushed only on its site's config topic). */
export interface CameraCredentialsInput {
  username: string;
  password: string;
}

/** What an installer gives when creating a camera. */
export interface CameraInput {
  cameraId: string;
  siteId: string;
  code: string;
  name: string;
  /** At least the district. */
  place: Partial<Place>;
  position?: { latitude: number; longitude: number } | null;
  headingDeg?: number | null;
  lanes?: number | null;
  coverage?: string;
  category: CameraCategory;
  owner?: CameraOwner;
  identity?: Partial<CameraIdentityInfo>;
  xaddr?: string;
  profileToken?: string;
  capabilities?: Partial<CameraCapabilities>;
  analysis?: Partial<AnalysisSettingsInfo>;
  temporary?: TemporaryWindow | null;
  /** undefined keeps what is stored; null removes it. */
  credentials?: CameraCredentialsInput | null;
}

/** A change to a camera: the fields given replace the stored ones (`analysis` field by field). */
export type CameraPatch = Partial<Omit<CameraInput, 'cameraId'>>;

/** A validated camera input, every field present. */
export interface ValidCamera {
  cameraId: string;
  siteId: string;
  code: string;
  name: string;
  place: Place;
  position: { latitude: number; longitude: number } | null;
  headingDeg: number | null;
  lanes: number | null;
  coverage: string;
  category: CameraCategory;
  owner: CameraOwner;
  identity: CameraIdentityInfo;
  xaddr: string;
  profileToken: string;
  capabilities: CameraCapabilities;
  analysis: AnalysisSettingsInfo;
  temporary: TemporaryWindow | null;
  credentials: CameraCredentialsInput | null | undefined;
}

/** Analysis defaults for fields a registration leaves out. */
export const DEFAULT_ANALYSIS: AnalysisSettingsInfo = Object.freeze({
  fps: 2,
  face: true,
  plate: true,
  masks: [],
  minConfidence: 0.5,
  inbound: 'unspecified',
});

const MAX_MASKS = 16;
const MAX_MASK_POINTS = 32;

function parseMasks(value: unknown, field: string): NormPointXY[][] {
  if (!Array.isArray(value)) return invalid(field, 'must be a list of polygons');
  if (value.length > MAX_MASKS) return invalid(field, `must have at most ${MAX_MASKS} polygons`);
  return value.map((poly: unknown, i) => {
    const f = `${field}[${i}]`;
    if (!Array.isArray(poly) || poly.length < 3 || poly.length > MAX_MASK_POINTS) {
      return invalid(f, `must be a polygon of 3 to ${MAX_MASK_POINTS} points`);
    }
    return poly.map((p: unknown, j) => {
      if (typeof p !== 'object' || p === null) return invalid(`${f}[${j}]`, 'must be {x, y}');
      const { x, y } = p as Record<string, unknown>;
      return { x: num(x, `${f}[${j}].x`, 0, 1), y: num(y, `${f}[${j}].y`, 0, 1) };
    });
  });
}

/** Analysis settings with defaults filled in; detectors must be among the capabilities. */
export function parseAnalysis(
  value: Partial<AnalysisSettingsInfo> | undefined,
  capabilities: CameraCapabilities,
  field = 'analysis',
): AnalysisSettingsInfo {
  const v = value ?? {};
  const a: AnalysisSettingsInfo = {
    fps: v.fps === undefined ? DEFAULT_ANALYSIS.fps : num(v.fps, `${field}.fps`, 0.1, 30),
    face: v.face === undefined ? capabilities.face : bool(v.face, `${field}.face`),
    plate: v.plate === undefined ? capabilities.plate : bool(v.plate, `${field}.plate`),
    masks: v.masks === undefined ? [] : parseMasks(v.masks, `${field}.masks`),
    minConfidence:
      v.minConfidence === undefined
        ? DEFAULT_ANALYSIS.minConfidence
        : num(v.minConfidence, `${field}.min_confidence`, 0, 1),
    inbound:
      v.inbound === undefined ? 'unspecified' : oneOf(v.inbound, `${field}.inbound`, INBOUND_DIRECTIONS),
  };
  if (a.face && !capabilities.face)
    invalid(`${field}.face`, 'cannot be enabled: the camera has no face capability');
  if (a.plate && !capabilities.plate)
    invalid(`${field}.plate`, 'cannot be enabled: the camera has no plate capability');
  return a;
}

function parseOwner(value: CameraOwner | undefined): CameraOwner {
  if (value === undefined) return { kind: 'public' };
  const kind = oneOf((value as { kind?: unknown }).kind, 'owner.kind', ['public', 'organisation'] as const);
  if (kind === 'public') return { kind };
  const v = value as Extract<CameraOwner, { kind: 'organisation' }>;
  return {
    kind,
    organisation: text(v.organisation, 'owner.organisation', { max: 200 }),
    sharingAgreementRef: text(v.sharingAgreementRef, 'owner.sharing_agreement_ref', { max: 100 }),
  };
}

function parseXaddr(value: unknown): string {
  const s = optionalText(value, 'xaddr', { max: 500 });
  if (s === '') return '';
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return invalid('xaddr', 'must be an http(s) URL of the ONVIF device service');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid('xaddr', 'must be an http(s) URL');
  if (url.username !== '' || url.password !== '')
    invalid('xaddr', 'must not contain credentials (use credentials)');
  return s;
}

/**
 * Validate a complete camera input. Identity: an endpoint reference, a serial number or an
 * xaddr is needed so the edge can find the camera.
 */
export function parseCameraInput(input: CameraInput): ValidCamera {
  if (typeof input.cameraId !== 'string' || !isValidId(input.cameraId)) {
    invalid('camera_id', 'must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"');
  }
  if (typeof input.siteId !== 'string' || !isValidId(input.siteId))
    invalid('site_id', 'is not a valid site id');
  const scope = parseScope(input.place, 'place');
  if (scopeDepth(scope) === 0) invalid('place.district', 'is required');
  const capabilities: CameraCapabilities = {
    face: input.capabilities?.face === undefined ? true : bool(input.capabilities.face, 'capabilities.face'),
    plate:
      input.capabilities?.plate === undefined ? true : bool(input.capabilities.plate, 'capabilities.plate'),
  };
  const identity: CameraIdentityInfo = {
    endpointReference: optionalText(input.identity?.endpointReference, 'identity.endpoint_reference', {
      max: 200,
    }),
    serialNumber: optionalText(input.identity?.serialNumber, 'identity.serial_number', { max: 100 }),
    manufacturer: optionalText(input.identity?.manufacturer, 'identity.manufacturer', { max: 100 }),
    model: optionalText(input.identity?.model, 'identity.model', { max: 100 }),
  };
  const xaddr = parseXaddr(input.xaddr);
  if (identity.endpointReference === '' && identity.serialNumber === '' && xaddr === '') {
    invalid(
      'identity',
      'needs an endpoint_reference, a serial_number or an xaddr so the edge can find the camera',
    );
  }
  let position: ValidCamera['position'] = null;
  if (input.position !== undefined && input.position !== null) {
    position = {
      latitude: num(input.position.latitude, 'position.latitude', -90, 90),
      longitude: num(input.position.longitude, 'position.longitude', -180, 180),
    };
  }
  let temporary: TemporaryWindow | null = null;
  if (input.temporary !== undefined && input.temporary !== null) {
    temporary = {
      startMs: timeMs(input.temporary.startMs, 'temporary.start_ms'),
      endMs: timeMs(input.temporary.endMs, 'temporary.end_ms'),
    };
    if (temporary.endMs <= temporary.startMs) invalid('temporary.end_ms', 'must be after temporary.start_ms');
  }
  let credentials: ValidCamera['credentials'] = input.credentials;
  if (input.credentials !== undefined && input.credentials !== null) {
    credentials = {
      username: text(input.credentials.username, 'credentials.username', { max: 128 }),
      // Passwords are taken as given (spaces may be meaningful), only bounded.
      password:
        typeof input.credentials.password === 'string' &&
        input.credentials.password.length > 0 &&
        input.credentials.password.length <= 256
          ? input.credentials.password
          : invalid('credentials.password', 'must be 1–256 characters'),
    };
  }
  return {
    cameraId: input.cameraId,
    siteId: input.siteId,
    code: text(input.code, 'code', { max: 64 }),
    name: text(input.name, 'name', { max: 200 }),
    place: scopeToPlace(scope),
    position,
    headingDeg:
      input.headingDeg === undefined || input.headingDeg === null
        ? null
        : num(input.headingDeg, 'heading_deg', 0, 360),
    lanes: input.lanes === undefined || input.lanes === null ? null : int(input.lanes, 'lanes', 1, 16),
    coverage: optionalText(input.coverage, 'coverage', { max: 200 }),
    category: oneOf(input.category, 'category', CAMERA_CATEGORIES),
    owner: parseOwner(input.owner),
    identity,
    xaddr,
    profileToken: optionalText(input.profileToken, 'profile_token', { max: 64 }),
    capabilities,
    analysis: parseAnalysis(input.analysis, capabilities),
    temporary,
    credentials,
  };
}
