/** Conversions between the gRPC messages (proto/) and the APIs' service layer. */
import {
  AlertChange as ProtoAlertChange,
  CameraCategory,
  CameraLifecycle as ProtoLifecycle,
  type Alert as ProtoAlert,
  type Camera as ProtoCamera,
  type EventFilter,
} from '../../../proto/gen/sharpeyes/v1/api.ts';
import { CameraState, type CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { Place } from '../../../proto/gen/sharpeyes/v1/common.ts';
import { Direction } from '../../../proto/gen/sharpeyes/v1/event.ts';
import type { Alert } from '../alerts/alerts.ts';
import type { AlertStreamItem } from '../http/api/core/alerts.ts';
import { requestedArea } from '../http/api/core/scope.ts';
import type { AreaScope } from '../auth/scope.ts';
import type { EventFilterInput } from '../live/filter.ts';
import type { Camera, CameraCategory as DomainCategory, CameraLifecycle } from '../registry/types.ts';

const CATEGORY: Readonly<Record<DomainCategory, CameraCategory>> = {
  village_entrance: CameraCategory.CAMERA_CATEGORY_VILLAGE_ENTRANCE,
  road_checkpoint: CameraCategory.CAMERA_CATEGORY_ROAD_CHECKPOINT,
  key_area: CameraCategory.CAMERA_CATEGORY_KEY_AREA,
  public_place: CameraCategory.CAMERA_CATEGORY_PUBLIC_PLACE,
  other: CameraCategory.CAMERA_CATEGORY_OTHER,
};

const LIFECYCLE: Readonly<Record<CameraLifecycle, ProtoLifecycle>> = {
  discovered: ProtoLifecycle.CAMERA_LIFECYCLE_DISCOVERED,
  registered: ProtoLifecycle.CAMERA_LIFECYCLE_REGISTERED,
  active: ProtoLifecycle.CAMERA_LIFECYCLE_ACTIVE,
  retired: ProtoLifecycle.CAMERA_LIFECYCLE_RETIRED,
};

/** Proto lifecycle values → domain names (unknown values are dropped, UNSPECIFIED means all). */
export function lifecyclesOf(values: readonly ProtoLifecycle[]): CameraLifecycle[] {
  const out: CameraLifecycle[] = [];
  for (const [name, v] of Object.entries(LIFECYCLE) as [CameraLifecycle, ProtoLifecycle][]) {
    if (values.includes(v)) out.push(name);
  }
  return out;
}

/** A requested area from a proto Place (absent or all-empty: none). */
export function areaOfPlace(place: Place | undefined, field: string): AreaScope | undefined {
  if (place === undefined) return undefined;
  return requestedArea(place, field);
}

/**
 * A proto EventFilter as the service layer's filter. proto3 cannot tell an empty list or a zero
 * from an absent field, so empty lists, empty strings, 0 and UNSPECIFIED mean "no filter".
 */
export function filterOf(f: EventFilter | undefined): EventFilterInput & { area?: AreaScope } {
  if (f === undefined) return {};
  const area = areaOfPlace(f.area, 'filter.area');
  return {
    ...(f.kinds.length > 0 ? { kinds: f.kinds } : {}),
    ...(f.cameraIds.length > 0 ? { cameraIds: f.cameraIds } : {}),
    ...(f.siteIds.length > 0 ? { siteIds: f.siteIds } : {}),
    ...(f.plate !== '' ? { plate: f.plate } : {}),
    ...(f.platePattern !== '' ? { platePattern: f.platePattern } : {}),
    ...(f.minConfidence > 0 ? { minConfidence: f.minConfidence } : {}),
    ...(f.direction !== Direction.DIRECTION_UNSPECIFIED ? { direction: f.direction } : {}),
    ...(area !== undefined ? { area } : {}),
  };
}

/** A registry camera as integrators see it. */
export function cameraToProto(c: Camera, status: CameraStatus | undefined): ProtoCamera {
  return {
    cameraId: c.cameraId,
    siteId: c.siteId,
    code: c.code,
    name: c.name,
    place: { ...c.place },
    ...(c.position !== null
      ? { position: { latitude: c.position.latitude, longitude: c.position.longitude } }
      : {}),
    headingDeg: c.headingDeg ?? 0,
    category: CATEGORY[c.category],
    lifecycle: LIFECYCLE[c.lifecycle],
    state: status?.state ?? CameraState.CAMERA_STATE_UNSPECIFIED,
    faceEnabled: c.analysis.face,
    plateEnabled: c.analysis.plate,
    identity: {
      endpointReference: c.identity.endpointReference,
      serialNumber: c.identity.serialNumber,
      manufacturer: c.identity.manufacturer,
      model: c.identity.model,
      firmwareVersion: '',
      hardwareId: '',
    },
    coverage: c.coverage,
  };
}

/** An alert as the proto message. */
export function alertToProto(a: Alert): ProtoAlert {
  return {
    alertId: a.alertId,
    entryId: a.entryId,
    caseRef: a.caseRef,
    eventId: a.eventId,
    cameraId: a.cameraId,
    siteId: a.siteId,
    place: { ...a.place },
    plate: a.plate,
    eventTimeMs: a.eventTimeMs,
    raisedMs: a.raisedMs,
    ackDeadlineMs: a.ackDeadlineMs,
    acknowledgedBy: a.acknowledgedBy ?? '',
    acknowledgedMs: a.acknowledgedMs ?? 0,
    ackNote: a.ackNote ?? '',
    escalationLevel: a.escalationLevel,
    escalatedMs: a.escalatedMs ?? 0,
  };
}

const CHANGE: Readonly<Record<AlertStreamItem['change'], ProtoAlertChange>> = {
  raised: ProtoAlertChange.ALERT_CHANGE_RAISED,
  escalated: ProtoAlertChange.ALERT_CHANGE_ESCALATED,
  acknowledged: ProtoAlertChange.ALERT_CHANGE_ACKNOWLEDGED,
  open: ProtoAlertChange.ALERT_CHANGE_OPEN,
};

/** An alert stream item's change as the proto enum. */
export function alertChangeToProto(change: AlertStreamItem['change']): ProtoAlertChange {
  return CHANGE[change];
}
