/**
 * The REST API, one function per call the pages make, each mapping the wire JSON to the shapes
 * in types.ts. Routes and field names follow docs/api.md; this module is the only one that knows
 * them.
 */
import { apiUrl, request, requestBytes } from './http.ts';
import {
  arr,
  bool,
  boolOrNull,
  enumName,
  field,
  list,
  num,
  numOrNull,
  obj,
  str,
  strOrNull,
  strs,
  type Json,
} from './read.ts';
import {
  AREA_LEVELS,
  type AlertEntryView,
  type AlertView,
  type AreaQualityView,
  type AreaScope,
  type CameraCategory,
  type CameraLifecycle,
  type CameraQualityView,
  type CameraRegistration,
  type CameraStatusName,
  type CameraView,
  type CollisionView,
  type DirectionName,
  type DiscoveredView,
  type EventKindName,
  type EventView,
  type InboundDirection,
  type Me,
  type NormPoint,
  type PassRow,
  type Place,
  type PlateColourName,
  type QualityView,
  type Role,
  type SearchFilters,
  type SearchPage,
  type SiteView,
  type UiConfig,
} from './types.ts';

// ---------- mapping helpers ----------

function place(o: unknown): Place {
  const p = obj(o, 'place') ?? {};
  return {
    district: str(p, 'district'),
    street: str(p, 'street'),
    community: str(p, 'community'),
    grid: str(p, 'grid'),
  };
}

function scope(o: unknown): AreaScope {
  const out: AreaScope = {};
  if (typeof o !== 'object' || o === null) return out;
  for (const level of AREA_LEVELS) {
    const v = str(o, level);
    if (v === '') break;
    out[level] = v;
  }
  return out;
}

function me(body: unknown): Me {
  const u = obj(body, 'user') ?? obj(body, 'principal') ?? (body as Json);
  return {
    username: str(u, 'username') || str(u, 'id'),
    displayName: str(u, 'display_name') || str(u, 'name') || str(u, 'username'),
    role: (str(u, 'role') || 'operator') as Role,
    scope: scope(obj(u, 'scope')),
    expiresMs: numOrNull(body, 'expires_ms') ?? numOrNull(obj(body, 'session'), 'expires_ms'),
  };
}

function statusName(raw: string): CameraStatusName {
  const s = enumName(raw, 'CAMERA_STATE_');
  if (s === 'online') return 'online';
  if (s === 'degraded') return 'degraded';
  if (s === 'offline' || s === 'unreachable' || s === 'auth_failed') return 'offline';
  return 'unknown';
}

function masks(o: unknown): NormPoint[][] {
  return arr(o, 'masks').map((m) =>
    (Array.isArray(m) ? m : arr(m, 'points')).map((p) => ({ x: num(p, 'x'), y: num(p, 'y') })),
  );
}

function camera(c: unknown): CameraView {
  const pos = obj(c, 'position');
  const lat = numOrNull(pos, 'latitude') ?? numOrNull(c, 'latitude');
  const lon = numOrNull(pos, 'longitude') ?? numOrNull(c, 'longitude');
  const analysis = obj(c, 'analysis') ?? {};
  const caps = obj(c, 'capabilities') ?? {};
  const ident = obj(c, 'identity') ?? {};
  const owner = obj(c, 'owner') ?? {};
  const st = obj(c, 'status');
  const rawState =
    st !== undefined ? str(st, 'state') : typeof field(c, 'status') === 'string' ? str(c, 'status') : '';
  return {
    cameraId: str(c, 'camera_id'),
    siteId: str(c, 'site_id'),
    code: str(c, 'code'),
    name: str(c, 'name'),
    place: place(c),
    position: lat !== null && lon !== null ? { lat, lon } : null,
    headingDeg: numOrNull(c, 'heading_deg'),
    category: (str(c, 'category') || 'other') as CameraCategory,
    lifecycle: (str(c, 'lifecycle') || 'registered') as CameraLifecycle,
    status: statusName(rawState),
    statusDetail: enumName(rawState, 'CAMERA_STATE_'),
    lastSeenMs: numOrNull(st, 'last_frame_ms') ?? numOrNull(c, 'last_seen_ms'),
    capabilities: { face: bool(caps, 'face', true), plate: bool(caps, 'plate', true) },
    detectors: { face: bool(analysis, 'face'), plate: bool(analysis, 'plate') },
    masks: masks(analysis),
    inbound: (str(analysis, 'inbound') || 'unspecified') as InboundDirection,
    owner:
      str(owner, 'kind') === 'organisation'
        ? {
            kind: 'organisation',
            organisation: str(owner, 'organisation'),
            sharingAgreementRef: str(owner, 'sharing_agreement_ref'),
          }
        : { kind: 'public' },
    manufacturer: str(ident, 'manufacturer'),
    model: str(ident, 'model'),
  };
}

function site(s: unknown): SiteView {
  const agent = str(s, 'agent') || enumName(str(obj(s, 'agent_status'), 'state'), 'AGENT_STATE_');
  return {
    siteId: str(s, 'site_id'),
    name: str(s, 'name'),
    place: place(s),
    agent: agent === 'online' || agent === 'offline' ? agent : 'unknown',
    agentSeenMs: numOrNull(s, 'agent_seen_ms'),
  };
}

function discovered(d: unknown, siteId: string): DiscoveredView {
  const ident = obj(d, 'identity') ?? (d as Json);
  const access = enumName(str(d, 'access'), 'DEVICE_ACCESS_');
  const endpoint = str(ident, 'endpoint_reference');
  return {
    siteId: str(d, 'site_id') || siteId,
    deviceKey: str(d, 'device_key') || str(d, 'device_id') || endpoint,
    endpointReference: endpoint,
    serialNumber: str(ident, 'serial_number'),
    manufacturer: str(ident, 'manufacturer'),
    model: str(ident, 'model'),
    xaddrs: strs(d, 'xaddrs'),
    access: (['ok', 'auth_failed', 'unreachable', 'protocol_error'].includes(access)
      ? access
      : 'unknown') as DiscoveredView['access'],
    hasSnapshot: bool(d, 'has_snapshot'),
    cameraId: strOrNull(d, 'registered_camera_id') || strOrNull(d, 'camera_id') || null,
    lastSeenMs: numOrNull(d, 'last_seen_ms'),
  };
}

/** An event from the API (snake_case) or protobuf JSON (camelCase, enum names). */
export function mapEvent(e: unknown): EventView {
  const plate = obj(e, 'plate');
  const ev = obj(e, 'evidence') ?? {};
  const box = obj(e, 'box');
  const kind = enumName(str(e, 'kind'), 'EVENT_KIND_');
  const dir = enumName(str(e, 'direction'), 'DIRECTION_');
  return {
    eventId: str(e, 'event_id'),
    siteId: str(e, 'site_id'),
    cameraId: str(e, 'camera_id'),
    kind: kind === 'face' ? 'face' : 'plate',
    timeMs: num(e, 'time_ms'),
    firstSeenMs: num(e, 'first_seen_ms', num(e, 'time_ms')),
    lastSeenMs: num(e, 'last_seen_ms', num(e, 'time_ms')),
    confidence: num(e, 'confidence'),
    direction: (['in', 'out', 'unknown'].includes(dir) ? dir : 'unspecified') as DirectionName,
    plate:
      plate === undefined
        ? null
        : {
            text: str(plate, 'text'),
            colour: (enumName(str(plate, 'colour'), 'PLATE_COLOUR_') || 'unspecified') as PlateColourName,
            agreeingReads: num(plate, 'agreeing_reads'),
            totalReads: num(plate, 'total_reads'),
          },
    evidenceSha256: str(ev, 'sha256') || str(e, 'evidence_sha256'),
    contextSha256: str(ev, 'context_sha256') || str(e, 'context_sha256'),
    box:
      box === undefined
        ? null
        : { x: num(box, 'x'), y: num(box, 'y'), width: num(box, 'width'), height: num(box, 'height') },
    frameWidth: num(e, 'frame_width'),
    frameHeight: num(e, 'frame_height'),
    trackId: str(e, 'track_id'),
    revision: num(e, 'revision'),
    modelIds: strs(e, 'model_ids'),
  };
}

function alert(a: unknown): AlertView {
  return {
    alertId: num(a, 'alert_id'),
    entryId: num(a, 'entry_id'),
    caseRef: str(a, 'case_ref'),
    eventId: str(a, 'event_id'),
    cameraId: str(a, 'camera_id'),
    siteId: str(a, 'site_id'),
    place: place(a),
    plate: str(a, 'plate'),
    eventTimeMs: num(a, 'event_time_ms'),
    raisedMs: num(a, 'raised_ms'),
    ackDeadlineMs: num(a, 'ack_deadline_ms'),
    acknowledgedBy: strOrNull(a, 'acknowledged_by'),
    acknowledgedMs: numOrNull(a, 'acknowledged_ms'),
    ackNote: strOrNull(a, 'ack_note'),
    escalationLevel: num(a, 'escalation_level'),
    escalatedMs: numOrNull(a, 'escalated_ms'),
  };
}

function entry(e: unknown): AlertEntryView {
  return {
    entryId: num(e, 'entry_id'),
    plate: str(e, 'plate'),
    kind: str(e, 'kind') === 'pattern' ? 'pattern' : 'plate',
    caseRef: str(e, 'case_ref'),
    reason: str(e, 'reason'),
    area: scope(obj(e, 'area')),
    requestedBy: str(e, 'requested_by'),
    requestedMs: num(e, 'requested_ms'),
    approvedBy: strOrNull(e, 'approved_by'),
    approvedMs: numOrNull(e, 'approved_ms'),
    expiresMs: num(e, 'expires_ms'),
    revokedBy: strOrNull(e, 'revoked_by'),
    status: (str(e, 'status') || 'pending') as AlertEntryView['status'],
  };
}

function scopeQuery(area: AreaScope | undefined): Record<string, string | undefined> {
  return { district: area?.district, street: area?.street, community: area?.community, grid: area?.grid };
}

// ---------- calls ----------

/** UI settings (tile server), served by the gateway next to the app. */
export async function getUiConfig(): Promise<UiConfig> {
  try {
    const res = await fetch('./config.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(String(res.status));
    const body = (await res.json()) as unknown;
    return {
      tileUrl: str(body, 'tile_url'),
      tileAttribution: str(body, 'tile_attribution'),
      tileMaxZoom: num(body, 'tile_max_zoom', 18),
    };
  } catch {
    // No config served (e.g. `vite preview`): the plain coordinate canvas.
    return { tileUrl: '', tileAttribution: '', tileMaxZoom: 18 };
  }
}

/** Sign in; the session cookie is set by the answer. */
export async function login(username: string, password: string): Promise<Me> {
  return me(await request('/auth/login', { method: 'POST', body: { username, password }, quiet401: true }));
}

/** End the session. */
export async function logout(): Promise<void> {
  await request('/auth/logout', { method: 'POST', body: {}, quiet401: true });
}

/** Who is signed in (401 when nobody). */
export async function whoAmI(): Promise<Me> {
  return me(await request('/auth/me', { quiet401: true }));
}

/** Cameras in the caller's scope (registry only: statuses come from {@link withStatuses}). */
export async function listCameras(): Promise<CameraView[]> {
  const out: CameraView[] = [];
  let cursor: string | undefined;
  // Follow the pages: a county has thousands of cameras.
  for (let i = 0; i < 100; i++) {
    const body = await request<unknown>('/cameras', { query: { limit: 1000, cursor } });
    out.push(...list(body, 'items').map(camera));
    cursor = str(body, 'next_cursor') || undefined;
    if (cursor === undefined) break;
  }
  return out;
}

/**
 * The cameras with their current status. The camera list carries no status, so it is taken
 * from the data-quality report (online now, last seen) of the same area.
 */
export async function listCamerasWithStatus(): Promise<CameraView[]> {
  const [cameras, quality] = await Promise.all([listCameras(), qualityReport().catch(() => undefined)]);
  if (quality === undefined) return cameras;
  const q = new Map(quality.cameras.map((c) => [c.cameraId, c]));
  return cameras.map((c) => {
    const s = q.get(c.cameraId);
    if (s === undefined || c.status !== 'unknown') return c;
    return {
      ...c,
      status: s.onlineNow === null ? 'unknown' : s.onlineNow ? 'online' : 'offline',
      lastSeenMs: c.lastSeenMs ?? s.lastSeenMs,
    };
  });
}

/** One camera. */
export async function getCamera(cameraId: string): Promise<CameraView> {
  const body = await request<unknown>(`/cameras/${encodeURIComponent(cameraId)}`);
  return camera(obj(body, 'camera') ?? body);
}

/** Sites in the caller's scope. */
export async function listSites(): Promise<SiteView[]> {
  return list(await request<unknown>('/sites', { query: { limit: 1000 } }), 'items').map(site);
}

/** Devices the edges discovered (installers). */
export async function listDiscovered(siteId?: string): Promise<DiscoveredView[]> {
  const body = await request<unknown>('/discovered', { query: { site_id: siteId } });
  const groups = list(body, 'items');
  if (groups.length > 0 && field(groups[0], 'devices') !== undefined) {
    return groups.flatMap((g) => arr(g, 'devices').map((d) => discovered(d, str(g, 'site_id'))));
  }
  return list(body, 'devices').map((d) => discovered(d, siteId ?? ''));
}

/** URL of a discovered device's live snapshot (through the gateway, from the edge). */
export function discoveredSnapshotPath(d: DiscoveredView): string {
  return `/discovered/${encodeURIComponent(d.siteId)}/${encodeURIComponent(d.deviceKey)}/snapshot`;
}

/** Register a discovered camera. */
export async function registerCamera(r: CameraRegistration): Promise<CameraView> {
  const body = {
    camera_id: r.cameraId,
    site_id: r.siteId,
    code: r.code,
    name: r.name,
    place: r.place,
    position: r.position === null ? null : { latitude: r.position.lat, longitude: r.position.lon },
    heading_deg: r.headingDeg,
    category: r.category,
    owner:
      r.owner.kind === 'public'
        ? { kind: 'public' }
        : {
            kind: 'organisation',
            organisation: r.owner.organisation,
            sharing_agreement_ref: r.owner.sharingAgreementRef,
          },
    // Identity, address and profile come from the site's discovery report.
    from_device: { endpoint_reference: r.endpointReference, serial_number: r.serialNumber },
    capabilities: { face: r.detectors.face, plate: r.detectors.plate },
    analysis: { face: r.detectors.face, plate: r.detectors.plate, masks: r.masks, inbound: r.inbound },
  };
  const res = await request<unknown>('/cameras', { method: 'POST', body });
  return camera(obj(res, 'camera') ?? res);
}

/** Set a camera's lifecycle (e.g. registered → active). */
export async function setLifecycle(cameraId: string, lifecycle: CameraLifecycle): Promise<CameraView> {
  const res = await request<unknown>(`/cameras/${encodeURIComponent(cameraId)}/lifecycle`, {
    method: 'POST',
    body: { to: lifecycle },
  });
  return camera(obj(res, 'camera') ?? res);
}

/** Query string of a search. */
export function searchQuery(
  f: SearchFilters,
  reason: string,
): Record<string, string | number | string[] | undefined> {
  const pattern = f.plate !== undefined && /[*?]/.test(f.plate);
  return {
    from_ms: f.fromMs,
    to_ms: f.toMs,
    plate: pattern ? undefined : f.plate,
    plate_pattern: pattern ? f.plate : undefined,
    camera_id: f.cameraIds,
    kind: f.kinds,
    min_confidence: f.minConfidence,
    direction: f.direction,
    limit: f.limit,
    cursor: f.cursor,
    reason,
    ...scopeQuery(f.area),
  };
}

/** Search events (a reason is required and audited). */
export async function searchEvents(
  f: SearchFilters,
  reason: string,
  signal?: AbortSignal,
): Promise<SearchPage> {
  const body = await request<unknown>('/events', {
    query: searchQuery(f, reason),
    reason,
    ...(signal && { signal }),
  });
  return { events: list(body, 'items').map(mapEvent), nextCursor: str(body, 'next_cursor') || null };
}

/** One event. */
export async function getEvent(eventId: string, reason: string): Promise<EventView> {
  const body = await request<unknown>(`/events/${encodeURIComponent(eventId)}`, {
    query: { reason },
    reason,
  });
  return mapEvent(obj(body, 'event') ?? body);
}

/** Path of an event's evidence crop or context frame. */
export function evidencePath(eventId: string, which: 'crop' | 'context'): string {
  return `/events/${encodeURIComponent(eventId)}/evidence?part=${which}`;
}

/** Fetch an evidence file (bytes + type). */
export async function fetchEvidence(
  eventId: string,
  which: 'crop' | 'context',
  reason: string,
): Promise<{ bytes: Uint8Array; type: string }> {
  return requestBytes(evidencePath(eventId, which), { query: { reason }, reason });
}

/** Path of a camera's live snapshot (via the edge). */
export function snapshotPath(cameraId: string): string {
  return `/cameras/${encodeURIComponent(cameraId)}/snapshot`;
}

/**
 * Every event matching `f` (up to the gateway's export limit), through the export route — which
 * the gateway audits as an export. The evidence files are fetched one by one afterwards.
 */
export async function exportEvents(
  f: SearchFilters,
  reason: string,
): Promise<{ events: EventView[]; truncated: boolean }> {
  const { limit: _limit, cursor: _cursor, ...rest } = f;
  const body = await request<unknown>('/events/export', { query: searchQuery(rest, reason), reason });
  return { events: list(body, 'events').map(mapEvent), truncated: bool(body, 'truncated') };
}

/** Pass statistics. */
export async function passStats(q: {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  cameraIds?: string[];
  area?: AreaScope;
  kinds?: EventKindName[];
  timeZone?: string;
}): Promise<PassRow[]> {
  const body = await request<unknown>('/stats/passes', {
    query: {
      from_ms: q.fromMs,
      to_ms: q.toMs,
      interval_ms: q.intervalMs,
      camera_id: q.cameraIds,
      kind: q.kinds,
      time_zone: q.timeZone,
      ...scopeQuery(q.area),
    },
  });
  return list(body, 'cameras').map((r) => ({
    cameraId: str(r, 'camera_id'),
    siteId: str(r, 'site_id'),
    kind: enumName(str(r, 'kind'), 'EVENT_KIND_') === 'face' ? 'face' : 'plate',
    startMs: num(r, 'start_ms'),
    total: num(r, 'total'),
    in: num(r, 'in'),
    out: num(r, 'out'),
    other: num(r, 'other'),
  }));
}

/** Alerts in scope (newest first). */
export async function listAlerts(open?: boolean): Promise<AlertView[]> {
  return list(await request<unknown>('/alerts', { query: { open, limit: 200 } }), 'items').map(alert);
}

/** Acknowledge an alert. */
export async function acknowledgeAlert(alertId: number, note: string): Promise<AlertView> {
  const res = await request<unknown>(`/alerts/${alertId}/ack`, { method: 'POST', body: { note } });
  return alert(obj(res, 'alert') ?? res);
}

/** Alert entries in scope. */
export async function listEntries(): Promise<AlertEntryView[]> {
  return list(await request<unknown>('/alert-entries', { query: { limit: 200 } }), 'items').map(entry);
}

/** Request an alert entry (inactive until another operator approves it). */
export async function requestEntry(input: {
  plate: string;
  caseRef: string;
  reason: string;
  expiresMs: number;
  area?: AreaScope;
}): Promise<AlertEntryView> {
  const res = await request<unknown>('/alert-entries', {
    method: 'POST',
    body: {
      plate: input.plate,
      case_ref: input.caseRef,
      reason: input.reason,
      expires_ms: input.expiresMs,
      ...(input.area && { area: input.area }),
    },
  });
  return entry(obj(res, 'entry') ?? res);
}

/** Approve an entry (not one's own). */
export async function approveEntry(entryId: number): Promise<AlertEntryView> {
  const res = await request<unknown>(`/alert-entries/${entryId}/approve`, { method: 'POST', body: {} });
  return entry(obj(res, 'entry') ?? res);
}

/** Revoke an entry. */
export async function revokeEntry(entryId: number, reason: string): Promise<AlertEntryView> {
  const res = await request<unknown>(`/alert-entries/${entryId}/revoke`, {
    method: 'POST',
    body: { reason },
  });
  return entry(obj(res, 'entry') ?? res);
}

/** Camera and area quality with the sites. */
export async function qualityReport(): Promise<QualityView> {
  const body = await request<unknown>('/reports/quality');
  return {
    cameras: arr(body, 'cameras').map((c): CameraQualityView => ({
      cameraId: str(c, 'camera_id'),
      siteId: str(c, 'site_id'),
      place: place(c),
      lastSeenMs: numOrNull(c, 'last_seen_ms'),
      onlineNow: boolOrNull(c, 'online_now'),
      onlineShare: numOrNull(c, 'online_share'),
      events: num(c, 'events'),
      ingestLagMs: numOrNull(c, 'ingest_lag_ms'),
      evidenceShare: numOrNull(c, 'evidence_share'),
      droppedFrames: numOrNull(c, 'dropped_frames'),
    })),
    areas: arr(body, 'areas').map((a): AreaQualityView => ({
      area: scope(obj(a, 'area')),
      cameras: num(a, 'cameras'),
      camerasOnline: num(a, 'cameras_online'),
      onlineShare: numOrNull(a, 'online_share'),
      lastSeenMs: numOrNull(a, 'last_seen_ms'),
      events: num(a, 'events'),
      ingestLagMs: numOrNull(a, 'ingest_lag_ms'),
      evidenceShare: numOrNull(a, 'evidence_share'),
    })),
  };
}

/** The collision report. */
export async function collisionReport(): Promise<CollisionView> {
  const body = await request<unknown>('/reports/collision');
  return {
    generatedMs: num(body, 'generated_ms'),
    unregistered: arr(body, 'unregistered').map((u) => {
      const ident = obj(u, 'identity') ?? {};
      return {
        siteId: str(u, 'site_id'),
        manufacturer: str(ident, 'manufacturer'),
        model: str(ident, 'model'),
        serialNumber: str(ident, 'serial_number'),
        xaddrs: strs(u, 'xaddrs'),
        lastSeenMs: numOrNull(u, 'last_seen_ms'),
      };
    }),
    missing: arr(body, 'missing').map((m) => ({
      cameraId: str(m, 'camera_id'),
      siteId: str(m, 'site_id'),
      reason: str(m, 'reason'),
    })),
    offline: arr(body, 'offline').map((o) => ({
      cameraId: str(o, 'camera_id'),
      siteId: str(o, 'site_id'),
      state: str(o, 'state'),
      offlineForMs: numOrNull(o, 'offline_for_ms'),
      lastError: str(o, 'last_error'),
    })),
    moved: arr(body, 'moved').map((m) => ({
      cameraId: str(m, 'camera_id'),
      kind: str(m, 'kind'),
      registeredSiteId: str(m, 'registered_site_id'),
      seenSiteId: str(m, 'seen_site_id'),
      fromXaddrs: strs(m, 'from_xaddrs'),
      toXaddrs: strs(m, 'to_xaddrs'),
      sinceMs: num(m, 'since_ms'),
    })),
  };
}

/** URL of the live event stream (SSE). */
export function liveStreamUrl(q: {
  reason: string;
  cameraIds?: string[];
  kinds?: EventKindName[];
  area?: AreaScope;
}): string {
  return apiUrl('/live/events', {
    reason: q.reason,
    camera_id: q.cameraIds,
    kind: q.kinds,
    ...scopeQuery(q.area),
  });
}

/** URL of the live alert stream (SSE). */
export function liveAlertsUrl(): string {
  return apiUrl('/live/alerts');
}
