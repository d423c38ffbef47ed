/** Domain values as the REST API's snake_case JSON (see schemas.ts). */
import { CameraState, type CameraStatus } from '../../../../proto/gen/sharpeyes/v1/camera.ts';
import { Direction, EventKind, PlateColour } from '../../../../proto/gen/sharpeyes/v1/event.ts';
import type { Alert } from '../../alerts/alerts.ts';
import type { AlertEntry } from '../../alerts/entries.ts';
import type { AuditRecord } from '../../audit/log.ts';
import type { ApiKey } from '../../auth/api-keys.ts';
import type { User } from '../../auth/users.ts';
import type { IndexedEvent } from '../../index/types.ts';
import type { Camera, MaintenanceEntry, Site } from '../../registry/types.ts';
import type { EventJson } from './schemas.ts';

const KIND: Readonly<Record<number, string>> = {
  [EventKind.EVENT_KIND_FACE]: 'face',
  [EventKind.EVENT_KIND_PLATE]: 'plate',
};
const DIRECTION: Readonly<Record<number, string>> = {
  [Direction.DIRECTION_UNSPECIFIED]: 'unspecified',
  [Direction.DIRECTION_IN]: 'in',
  [Direction.DIRECTION_OUT]: 'out',
  [Direction.DIRECTION_UNKNOWN]: 'unknown',
};
const COLOUR: Readonly<Record<number, string>> = {
  [PlateColour.PLATE_COLOUR_UNSPECIFIED]: 'unspecified',
  [PlateColour.PLATE_COLOUR_BLUE]: 'blue',
  [PlateColour.PLATE_COLOUR_YELLOW]: 'yellow',
  [PlateColour.PLATE_COLOUR_GREEN]: 'green',
  [PlateColour.PLATE_COLOUR_WHITE]: 'white',
  [PlateColour.PLATE_COLOUR_BLACK]: 'black',
};
const STATE: Readonly<Record<number, string>> = {
  [CameraState.CAMERA_STATE_UNSPECIFIED]: 'unspecified',
  [CameraState.CAMERA_STATE_ONLINE]: 'online',
  [CameraState.CAMERA_STATE_DEGRADED]: 'degraded',
  [CameraState.CAMERA_STATE_OFFLINE]: 'offline',
  [CameraState.CAMERA_STATE_AUTH_FAILED]: 'auth_failed',
  [CameraState.CAMERA_STATE_UNREACHABLE]: 'unreachable',
  [CameraState.CAMERA_STATE_DISABLED]: 'disabled',
};

/** The REST name of an event kind. */
export function kindName(kind: EventKind): string {
  return KIND[kind] ?? 'unspecified';
}

/** Base path of the REST API. */
export const API_PREFIX = '/api/v1';

/** An event as JSON (no evidence bytes; URLs to fetch them). */
export function eventJson(e: IndexedEvent): EventJson {
  const ev = e.evidence;
  const base = `${API_PREFIX}/events/${encodeURIComponent(e.eventId)}/evidence`;
  return {
    event_id: e.eventId,
    site_id: e.siteId,
    camera_id: e.cameraId,
    kind: kindName(e.kind),
    time_ms: e.timeMs,
    first_seen_ms: e.firstSeenMs,
    last_seen_ms: e.lastSeenMs,
    box: e.box === undefined ? null : { ...e.box },
    frame_width: e.frameWidth,
    frame_height: e.frameHeight,
    confidence: e.confidence,
    track_id: e.trackId,
    revision: e.revision,
    direction: DIRECTION[e.direction] ?? 'unspecified',
    plate:
      e.detail?.$case === 'plate'
        ? {
            text: e.detail.value.text,
            colour: COLOUR[e.detail.value.colour] ?? 'unspecified',
            char_confidences: [...e.detail.value.charConfidences],
            agreeing_reads: e.detail.value.agreeingReads,
            total_reads: e.detail.value.totalReads,
          }
        : null,
    face:
      e.detail?.$case === 'face'
        ? { keypoints: e.detail.value.keypoints.map((k) => ({ x: k.x, y: k.y })) }
        : null,
    evidence:
      ev === undefined
        ? null
        : {
            sha256: ev.sha256,
            width: ev.width,
            height: ev.height,
            crop_box: ev.cropBox === undefined ? null : { ...ev.cropBox },
            context_sha256: ev.contextSha256,
            url: ev.sha256 === '' ? '' : `${base}?part=crop`,
            context_url: ev.contextSha256 === '' ? '' : `${base}?part=context`,
          },
    model_ids: [...e.modelIds],
  };
}

/** A camera status as JSON. */
export function statusJson(s: CameraStatus) {
  return {
    state: STATE[s.state] ?? 'unspecified',
    input_fps: s.inputFps,
    analysed_fps: s.analysedFps,
    dropped_frames: s.droppedFrames,
    last_frame_ms: s.lastFrameMs,
    last_error: s.lastError,
    last_error_ms: s.lastErrorMs,
    restarts: s.restarts,
    updated_ms: s.updatedMs,
  };
}

/** A camera as JSON (never its credentials). */
export function cameraJson(c: Camera) {
  return {
    camera_id: c.cameraId,
    site_id: c.siteId,
    code: c.code,
    name: c.name,
    place: { ...c.place },
    position: c.position === null ? null : { ...c.position },
    heading_deg: c.headingDeg,
    lanes: c.lanes,
    coverage: c.coverage,
    category: c.category,
    owner:
      c.owner.kind === 'public'
        ? { kind: 'public' as const }
        : {
            kind: 'organisation' as const,
            organisation: c.owner.organisation,
            sharing_agreement_ref: c.owner.sharingAgreementRef,
          },
    identity: {
      endpoint_reference: c.identity.endpointReference,
      serial_number: c.identity.serialNumber,
      manufacturer: c.identity.manufacturer,
      model: c.identity.model,
    },
    xaddr: c.xaddr,
    profile_token: c.profileToken,
    capabilities: { ...c.capabilities },
    analysis: {
      fps: c.analysis.fps,
      face: c.analysis.face,
      plate: c.analysis.plate,
      masks: c.analysis.masks.map((m) => m.map((p) => ({ x: p.x, y: p.y }))),
      min_confidence: c.analysis.minConfidence,
      inbound: c.analysis.inbound,
    },
    lifecycle: c.lifecycle,
    temporary: c.temporary === null ? null : { start_ms: c.temporary.startMs, end_ms: c.temporary.endMs },
    has_credentials: c.hasCredentials,
    created_ms: c.createdMs,
    updated_ms: c.updatedMs,
    lifecycle_changed_ms: c.lifecycleChangedMs,
  };
}

/** A site as JSON (never its password or hashes). */
export function siteJson(s: Site) {
  return {
    site_id: s.siteId,
    name: s.name,
    place: { ...s.place },
    status: s.status,
    agent: s.agent,
    agent_seen_ms: s.agentSeenMs,
    agent_config_revision: s.agentConfigRevision,
    created_ms: s.createdMs,
    updated_ms: s.updatedMs,
    credentials_rotated_ms: s.credentialsRotatedMs,
  };
}

/** A maintenance log entry as JSON. */
export function maintenanceJson(m: MaintenanceEntry) {
  return { id: m.id, camera_id: m.cameraId, time_ms: m.timeMs, actor: m.actor, kind: m.kind, note: m.note };
}

/** A user as JSON (never the hash). */
export function userJson(u: User) {
  return {
    username: u.username,
    display_name: u.displayName,
    role: u.role,
    scope: { ...u.scope },
    disabled: u.disabled,
    created_ms: u.createdMs,
    updated_ms: u.updatedMs,
    password_changed_ms: u.passwordChangedMs,
  };
}

/** An API key as JSON (never the secret). */
export function apiKeyJson(k: ApiKey) {
  return {
    key_id: k.keyId,
    name: k.name,
    scope: { ...k.scope },
    services: [...k.services],
    created_by: k.createdBy,
    created_ms: k.createdMs,
    expires_ms: k.expiresMs,
    revoked_ms: k.revokedMs,
    revoked_by: k.revokedBy,
    last_used_ms: k.lastUsedMs,
  };
}

/** An audit record as JSON. */
export function auditJson(r: AuditRecord) {
  return { ...r };
}

/** An alert as JSON. */
export function alertJson(a: Alert) {
  return {
    alert_id: a.alertId,
    entry_id: a.entryId,
    case_ref: a.caseRef,
    event_id: a.eventId,
    camera_id: a.cameraId,
    site_id: a.siteId,
    place: { ...a.place },
    plate: a.plate,
    event_time_ms: a.eventTimeMs,
    raised_ms: a.raisedMs,
    ack_deadline_ms: a.ackDeadlineMs,
    acknowledged_by: a.acknowledgedBy,
    acknowledged_ms: a.acknowledgedMs,
    ack_note: a.ackNote,
    escalation_level: a.escalationLevel,
    escalated_ms: a.escalatedMs,
  };
}

/** An alert entry as JSON. */
export function alertEntryJson(e: AlertEntry) {
  return {
    entry_id: e.entryId,
    plate: e.plate,
    kind: e.kind,
    case_ref: e.caseRef,
    reason: e.reason,
    area: { ...e.area },
    requested_by: e.requestedBy,
    requested_ms: e.requestedMs,
    approved_by: e.approvedBy,
    approved_ms: e.approvedMs,
    expires_ms: e.expiresMs,
    revoked_by: e.revokedBy,
    revoked_ms: e.revokedMs,
    revoke_reason: e.revokeReason,
    status: e.status,
  };
}
