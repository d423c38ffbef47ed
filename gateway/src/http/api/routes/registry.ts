/**
 * Sites, cameras (registration — also from a discovered device —, changes, lifecycle,
 * maintenance, live snapshot), discovered devices (and their live snapshots), the collision
 * report and data quality. Single resources
 * outside the caller's area answer 404; creating or moving something into a place outside it
 * answers 403.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DeviceAccess } from '../../../../../proto/gen/sharpeyes/v1/discovery.ts';
import { actorOf, assertAuthorized } from '../../../auth/roles.ts';
import { AREA_LEVELS, parseScope, scopeDepth, type AreaScope } from '../../../auth/scope.ts';
import type { CameraInput, CameraPatch } from '../../../registry/camera-input.ts';
import type { NewCamera } from '../../../registry/cameras.ts';
import type { AnalysisSettingsInfo } from '../../../registry/types.ts';
import {
  discoveredDeviceKey,
  getCamera,
  getDiscoveredSnapshot,
  getSnapshot,
  listCameras,
} from '../core/cameras.ts';
import { ApiInputError } from '../core/errors.ts';
import { decodeListCursor, pageByKey } from '../core/paging.ts';
import { effectiveArea, notFound, placeVisible } from '../core/scope.ts';
import type { GatewayDeps } from '../deps.ts';
import { cameraJson, maintenanceJson, siteJson, statusJson } from '../json.ts';
import {
  Area,
  AreaQueryFields,
  CameraCreateBody,
  CameraDetailJson,
  CameraJson,
  CameraPatchBody,
  Cursor,
  ERRORS,
  Id,
  LIFECYCLE_VALUES,
  Limit,
  MAINTENANCE_VALUES,
  MaintenanceJson,
  Nullable,
  Page,
  Place as PlaceSchema,
  Reason,
  SiteJson,
  StringEnum,
  TimeMs,
} from '../schemas.ts';
import { areaOf, created, ctxOf, pageSize, reasonOf } from './common.ts';

const SiteParams = Type.Object({ site_id: Id('Site id.') }, { additionalProperties: false });
const CameraParams = Type.Object({ camera_id: Id('Camera id.') }, { additionalProperties: false });

const SiteCreateBody = Type.Object(
  {
    site_id: Id('Topic-safe id; also its MQTT user name.'),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    place: Area,
  },
  { additionalProperties: false },
);
const SitePatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    place: Type.Optional(Area),
    status: Type.Optional(StringEnum(['active', 'disabled'] as const)),
  },
  { additionalProperties: false },
);
const SiteWithSecret = Type.Object({
  site: SiteJson,
  mqtt_password: Type.String({ description: 'The site’s MQTT password: shown once, stored only as a hash.' }),
});

const CameraListQuery = Type.Object(
  {
    site_id: Type.Optional(Id('Only cameras of this site.')),
    lifecycle: Type.Optional(Type.Array(StringEnum(LIFECYCLE_VALUES))),
    ...AreaQueryFields,
    limit: Limit,
    cursor: Cursor,
  },
  { additionalProperties: false },
);

const LifecycleBody = Type.Object(
  { to: StringEnum(LIFECYCLE_VALUES), note: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);
const MaintenanceBody = Type.Object(
  {
    kind: StringEnum(MAINTENANCE_VALUES),
    note: Type.String({ minLength: 1, maxLength: 2000 }),
    time_ms: Type.Optional(TimeMs('When the work was done (default now).')),
  },
  { additionalProperties: false },
);

const IdentityJson = Type.Object({
  endpoint_reference: Type.String(),
  serial_number: Type.String(),
  manufacturer: Type.String(),
  model: Type.String(),
  firmware_version: Type.String(),
  hardware_id: Type.String(),
});

const SnapshotQuery = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });
const DeviceParams = Type.Object(
  {
    site_id: Id('Site id.'),
    device_key: Type.String({
      minLength: 1,
      maxLength: 300,
      description:
        'The device’s `device_key` from GET /discovered: its endpoint reference, else `serial:<serial number>`.',
    }),
  },
  { additionalProperties: false },
);
const JPEG_200 = {
  description:
    'The JPEG, taken now by the edge (x-snapshot-taken-ms: when, epoch ms; x-snapshot-sha256: its hash).',
  content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } },
};

/** An AbortSignal that fires when the client goes away before the answer. */
function requestSignal(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  // The response's 'close' comes when it is finished or when the connection is gone first.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

/** Send a live picture. */
function sendJpeg(reply: FastifyReply, shot: { jpeg: Uint8Array; takenMs: number }): FastifyReply {
  const bytes = Buffer.from(shot.jpeg.buffer, shot.jpeg.byteOffset, shot.jpeg.byteLength);
  return reply
    .header('content-type', 'image/jpeg')
    .header('x-snapshot-taken-ms', String(shot.takenMs))
    .header('x-snapshot-sha256', createHash('sha256').update(bytes).digest('hex'))
    .header('cache-control', 'no-store')
    .send(bytes);
}

const DiscoveredJson = Type.Object({
  site_id: Type.String(),
  updated_ms: Type.Integer(),
  devices: Type.Array(
    Type.Object({
      device_key: Type.String({
        description:
          'Key of the device on its site (endpoint reference, else `serial:<serial>`), for its live snapshot.',
      }),
      identity: IdentityJson,
      xaddrs: Type.Array(Type.String()),
      access: Type.String({ description: 'ok, auth_failed, unreachable, protocol_error, unspecified.' }),
      analysis_profile_token: Type.String(),
      profiles: Type.Array(
        Type.Object({
          token: Type.String(),
          name: Type.String(),
          encoding: Type.String(),
          width: Type.Integer(),
          height: Type.Integer(),
          fps: Type.Number(),
        }),
      ),
      has_snapshot: Type.Boolean(),
      first_seen_ms: Type.Integer(),
      last_seen_ms: Type.Integer(),
      registered_camera_id: Nullable(Type.String()),
    }),
  ),
});

const ACCESS: Readonly<Record<number, string>> = {
  [DeviceAccess.DEVICE_ACCESS_OK]: 'ok',
  [DeviceAccess.DEVICE_ACCESS_AUTH_FAILED]: 'auth_failed',
  [DeviceAccess.DEVICE_ACCESS_UNREACHABLE]: 'unreachable',
  [DeviceAccess.DEVICE_ACCESS_PROTOCOL_ERROR]: 'protocol_error',
};

const CollisionJson = Type.Object({
  generated_ms: Type.Integer(),
  unregistered: Type.Array(
    Type.Object({
      site_id: Type.String(),
      identity: Type.Object({
        endpoint_reference: Type.String(),
        serial_number: Type.String(),
        manufacturer: Type.String(),
        model: Type.String(),
      }),
      xaddrs: Type.Array(Type.String()),
      access: Type.String(),
      last_seen_ms: Type.Integer(),
    }),
  ),
  missing: Type.Array(
    Type.Object({
      camera_id: Type.String(),
      site_id: Type.String(),
      lifecycle: Type.String(),
      reason: Type.String({ description: 'not_discovered or site_never_reported.' }),
    }),
  ),
  offline: Type.Array(
    Type.Object({
      camera_id: Type.String(),
      site_id: Type.String(),
      state: Type.String(),
      since_ms: Nullable(Type.Integer()),
      offline_for_ms: Nullable(Type.Integer()),
      last_error: Type.String(),
    }),
  ),
  moved: Type.Array(
    Type.Object({
      camera_id: Type.String(),
      kind: Type.String({ description: 'site or address.' }),
      registered_site_id: Type.String(),
      seen_site_id: Type.String(),
      from_xaddrs: Type.Array(Type.String()),
      to_xaddrs: Type.Array(Type.String()),
      since_ms: Type.Integer(),
    }),
  ),
});

const Share = Nullable(Type.Number({ description: '0..1; null when unknown.' }));
const QualityJson = Type.Object({
  from_ms: Type.Integer(),
  to_ms: Type.Integer(),
  cameras: Type.Array(
    Type.Object({
      camera_id: Type.String(),
      site_id: Type.String(),
      place: PlaceSchema,
      last_seen_ms: Nullable(Type.Integer()),
      online_now: Nullable(Type.Boolean()),
      online_share: Share,
      events: Type.Integer(),
      ingest_lag_ms: Nullable(Type.Number()),
      ingest_lag_max_ms: Nullable(Type.Number()),
      evidence_share: Share,
    }),
  ),
  areas: Type.Array(
    Type.Object({
      area: Area,
      cameras: Type.Integer(),
      cameras_online: Type.Integer(),
      cameras_offline: Type.Integer(),
      online_share: Share,
      last_seen_ms: Nullable(Type.Integer()),
      events: Type.Integer(),
      ingest_lag_ms: Nullable(Type.Number()),
      ingest_lag_max_ms: Nullable(Type.Number()),
      evidence_share: Share,
    }),
  ),
});

type CameraFieldsBody = Omit<CameraPatchBody, 'site_id'>;

/** The camera fields of a body as the registry's camelCase input (only the fields given). */
function cameraFields(b: CameraFieldsBody): CameraPatch {
  const out: CameraPatch = {};
  if (b.code !== undefined) out.code = b.code;
  if (b.name !== undefined) out.name = b.name;
  if (b.place !== undefined) out.place = { ...b.place };
  if (b.position !== undefined) out.position = b.position;
  if (b.heading_deg !== undefined) out.headingDeg = b.heading_deg;
  if (b.lanes !== undefined) out.lanes = b.lanes;
  if (b.coverage !== undefined) out.coverage = b.coverage;
  if (b.category !== undefined) out.category = b.category;
  if (b.owner !== undefined) {
    out.owner =
      b.owner.kind === 'public'
        ? { kind: 'public' }
        : {
            kind: 'organisation',
            organisation: b.owner.organisation ?? '',
            sharingAgreementRef: b.owner.sharing_agreement_ref ?? '',
          };
  }
  if (b.identity !== undefined) {
    out.identity = {
      ...(b.identity.endpoint_reference !== undefined
        ? { endpointReference: b.identity.endpoint_reference }
        : {}),
      ...(b.identity.serial_number !== undefined ? { serialNumber: b.identity.serial_number } : {}),
      ...(b.identity.manufacturer !== undefined ? { manufacturer: b.identity.manufacturer } : {}),
      ...(b.identity.model !== undefined ? { model: b.identity.model } : {}),
    };
  }
  if (b.xaddr !== undefined) out.xaddr = b.xaddr;
  if (b.profile_token !== undefined) out.profileToken = b.profile_token;
  if (b.capabilities !== undefined) out.capabilities = { ...b.capabilities };
  if (b.analysis !== undefined) {
    const a = b.analysis;
    const analysis: Partial<AnalysisSettingsInfo> = {};
    if (a.fps !== undefined) analysis.fps = a.fps;
    if (a.face !== undefined) analysis.face = a.face;
    if (a.plate !== undefined) analysis.plate = a.plate;
    if (a.masks !== undefined) analysis.masks = a.masks;
    if (a.min_confidence !== undefined) analysis.minConfidence = a.min_confidence;
    if (a.inbound !== undefined) analysis.inbound = a.inbound;
    out.analysis = analysis;
  }
  if (b.temporary !== undefined) {
    out.temporary =
      b.temporary === null ? null : { startMs: b.temporary.start_ms, endMs: b.temporary.end_ms };
  }
  if (b.credentials !== undefined) out.credentials = b.credentials;
  return out;
}

/** A place given for a new or moved site or camera: a valid scope with at least the district. */
function placeInput(area: AreaScope, field = 'place'): AreaScope {
  const scope = parseScope({ ...area }, field);
  if (scopeDepth(scope) === 0) throw new ApiInputError(`${field}.district`, 'is required');
  return scope;
}

/** Register the registry routes. */
export function registryRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { registry } = deps;

  const visibleSite = (scope: AreaScope, siteId: string) => {
    const site = registry.sites.get(siteId);
    if (site === undefined || !placeVisible(scope, site.place)) throw notFound(`site ${siteId}`);
    return site;
  };
  const visibleCamera = (scope: AreaScope, cameraId: string) => {
    const camera = registry.cameras.get(cameraId);
    if (camera === undefined || !placeVisible(scope, camera.place)) throw notFound(`camera ${cameraId}`);
    return camera;
  };

  // ---- Sites ----
  const SiteListQuery = Type.Object(
    { ...AreaQueryFields, limit: Limit, cursor: Cursor },
    { additionalProperties: false },
  );
  app.get<{ Querystring: Static<typeof SiteListQuery> }>(
    '/sites',
    {
      schema: {
        tags: ['registry'],
        summary: 'Sites in your area.',
        querystring: SiteListQuery,
        response: { 200: Page(SiteJson), ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'site.read');
      const after = decodeListCursor('sites', request.query.cursor, 'string');
      const area = effectiveArea(ctx.principal.scope, areaOf(request.query));
      const sites = area === undefined ? [] : registry.sites.sitesIn(area);
      const page = pageByKey('sites', sites, (s) => s.siteId, after, pageSize(deps, request.query.limit));
      return { items: page.items.map(siteJson), next_cursor: page.nextCursor };
    },
  );

  app.post<{ Body: Static<typeof SiteCreateBody> }>(
    '/sites',
    {
      schema: {
        tags: ['registry'],
        summary: 'Create a site (an edge agent). Its MQTT password is in the answer, once.',
        body: SiteCreateBody,
        response: { 201: SiteWithSecret, ...ERRORS },
      },
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'site.manage', placeInput(request.body.place));
      const r = await registry.sites.create(actorOf(ctx.principal), {
        siteId: request.body.site_id,
        name: request.body.name,
        place: request.body.place,
      });
      return created(reply, { site: siteJson(r.site), mqtt_password: r.mqttPassword });
    },
  );

  app.get<{ Params: Static<typeof SiteParams> }>(
    '/sites/:site_id',
    {
      schema: {
        tags: ['registry'],
        summary: 'One site.',
        params: SiteParams,
        response: { 200: SiteJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'site.read');
      return siteJson(visibleSite(ctx.principal.scope, request.params.site_id));
    },
  );

  app.patch<{ Params: Static<typeof SiteParams>; Body: Static<typeof SitePatchBody> }>(
    '/sites/:site_id',
    {
      schema: {
        tags: ['registry'],
        summary: 'Change a site’s name, place or status.',
        params: SiteParams,
        body: SitePatchBody,
        response: { 200: SiteJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'site.manage');
      visibleSite(ctx.principal.scope, request.params.site_id);
      const b = request.body;
      if (b.place !== undefined) assertAuthorized(ctx.principal, 'site.manage', placeInput(b.place));
      const site = registry.sites.update(actorOf(ctx.principal), request.params.site_id, {
        ...(b.name !== undefined ? { name: b.name } : {}),
        ...(b.place !== undefined ? { place: b.place } : {}),
        ...(b.status !== undefined ? { status: b.status } : {}),
      });
      return siteJson(site);
    },
  );

  app.post<{ Params: Static<typeof SiteParams> }>(
    '/sites/:site_id/credentials',
    {
      schema: {
        tags: ['registry'],
        summary: 'Issue a new MQTT password for a site (the old one stops working); shown once.',
        params: SiteParams,
        response: { 200: SiteWithSecret, ...ERRORS },
      },
    },
    async (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'site.manage');
      visibleSite(ctx.principal.scope, request.params.site_id);
      const r = await registry.sites.rotateCredentials(actorOf(ctx.principal), request.params.site_id);
      return { site: siteJson(r.site), mqtt_password: r.mqttPassword };
    },
  );

  // ---- Cameras ----
  app.get<{ Querystring: Static<typeof CameraListQuery> }>(
    '/cameras',
    {
      schema: {
        tags: ['registry'],
        summary: 'Cameras in your area.',
        querystring: CameraListQuery,
        response: { 200: Page(CameraJson), ...ERRORS },
      },
    },
    (request) => {
      const q = request.query;
      const area = areaOf(q);
      const page = listCameras(deps, ctxOf(request), {
        ...(area !== undefined ? { area } : {}),
        ...(q.site_id !== undefined ? { siteId: q.site_id } : {}),
        ...(q.lifecycle !== undefined ? { lifecycles: q.lifecycle } : {}),
        limit: pageSize(deps, q.limit),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
      return { items: page.items.map(cameraJson), next_cursor: page.nextCursor };
    },
  );

  app.post<{ Body: CameraCreateBody }>(
    '/cameras',
    {
      schema: {
        tags: ['registry'],
        summary:
          'Register a camera (optionally one the site’s edge discovered: `from_device`). Its site config is pushed to the edge.',
        body: CameraCreateBody,
        response: { 201: CameraJson, ...ERRORS },
      },
    },
    (request, reply) => {
      const ctx = ctxOf(request);
      const b = request.body;
      assertAuthorized(ctx.principal, 'camera.manage', placeInput(b.place));
      visibleSite(ctx.principal.scope, b.site_id);
      const input: NewCamera = {
        ...(cameraFields(b) as Omit<CameraInput, 'cameraId' | 'siteId'>),
        cameraId: b.camera_id,
        siteId: b.site_id,
        code: b.code,
        name: b.name,
        place: { ...b.place },
        category: b.category,
        ...(b.lifecycle !== undefined ? { lifecycle: b.lifecycle } : {}),
      };
      if (b.from_device !== undefined) {
        const epr = b.from_device.endpoint_reference ?? '';
        const serial = b.from_device.serial_number ?? '';
        if (epr === '' && serial === '') {
          throw new ApiInputError('from_device', 'needs an endpoint_reference or a serial_number');
        }
        const device = registry.reports
          .discovered(b.site_id)
          ?.devices.find(
            (d) =>
              (epr !== '' && d.identity?.endpointReference === epr) ||
              (serial !== '' && d.identity?.serialNumber === serial),
          );
        if (device === undefined)
          throw notFound(`device ${epr || serial} in the discovery report of site ${b.site_id}`);
        input.identity = {
          endpointReference: device.identity?.endpointReference ?? '',
          serialNumber: device.identity?.serialNumber ?? '',
          manufacturer: device.identity?.manufacturer ?? '',
          model: device.identity?.model ?? '',
          ...input.identity,
        };
        if (input.xaddr === undefined || input.xaddr === '') input.xaddr = device.xaddrs[0] ?? '';
        if (input.profileToken === undefined || input.profileToken === '')
          input.profileToken = device.analysisProfileToken;
      }
      const camera = registry.cameras.create(actorOf(ctx.principal), input);
      return created(reply, cameraJson(camera));
    },
  );

  app.get<{ Params: Static<typeof CameraParams> }>(
    '/cameras/:camera_id',
    {
      schema: {
        tags: ['registry'],
        summary: 'One camera with its latest status.',
        params: CameraParams,
        response: { 200: CameraDetailJson, ...ERRORS },
      },
    },
    (request) => {
      const r = getCamera(deps, ctxOf(request), request.params.camera_id);
      return { ...cameraJson(r.camera), status: r.status === undefined ? null : statusJson(r.status) };
    },
  );

  app.patch<{ Params: Static<typeof CameraParams>; Body: CameraPatchBody }>(
    '/cameras/:camera_id',
    {
      schema: {
        tags: ['registry'],
        summary:
          'Change a camera (fields given replace stored ones; analysis field by field). Pushes the site config.',
        params: CameraParams,
        body: CameraPatchBody,
        response: { 200: CameraJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'camera.manage');
      visibleCamera(ctx.principal.scope, request.params.camera_id);
      const b = request.body;
      if (b.place !== undefined) assertAuthorized(ctx.principal, 'camera.manage', placeInput(b.place));
      if (b.site_id !== undefined) visibleSite(ctx.principal.scope, b.site_id);
      const patch: CameraPatch = {
        ...cameraFields(b),
        ...(b.site_id !== undefined ? { siteId: b.site_id } : {}),
      };
      return cameraJson(registry.cameras.update(actorOf(ctx.principal), request.params.camera_id, patch));
    },
  );

  app.post<{ Params: Static<typeof CameraParams>; Body: Static<typeof LifecycleBody> }>(
    '/cameras/:camera_id/lifecycle',
    {
      schema: {
        tags: ['registry'],
        summary:
          'Move a camera along discovered → registered → active → retired (active → registered suspends it).',
        params: CameraParams,
        body: LifecycleBody,
        response: { 200: CameraJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'camera.manage');
      visibleCamera(ctx.principal.scope, request.params.camera_id);
      const camera = registry.cameras.transition(
        actorOf(ctx.principal),
        request.params.camera_id,
        request.body.to,
        request.body.note,
      );
      return cameraJson(camera);
    },
  );

  app.get<{ Params: Static<typeof CameraParams> }>(
    '/cameras/:camera_id/maintenance',
    {
      schema: {
        tags: ['registry'],
        summary: 'A camera’s maintenance log, newest first.',
        params: CameraParams,
        response: { 200: Type.Object({ items: Type.Array(MaintenanceJson) }), ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'camera.read');
      visibleCamera(ctx.principal.scope, request.params.camera_id);
      return { items: registry.cameras.maintenance(request.params.camera_id).map(maintenanceJson) };
    },
  );

  app.post<{ Params: Static<typeof CameraParams>; Body: Static<typeof MaintenanceBody> }>(
    '/cameras/:camera_id/maintenance',
    {
      schema: {
        tags: ['registry'],
        summary: 'Add a maintenance log entry.',
        params: CameraParams,
        body: MaintenanceBody,
        response: { 201: MaintenanceJson, ...ERRORS },
      },
    },
    (request, reply) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'camera.manage');
      visibleCamera(ctx.principal.scope, request.params.camera_id);
      const entry = registry.cameras.addMaintenance(actorOf(ctx.principal), request.params.camera_id, {
        kind: request.body.kind,
        note: request.body.note,
        ...(request.body.time_ms !== undefined ? { timeMs: request.body.time_ms } : {}),
      });
      return created(reply, maintenanceJson(entry));
    },
  );

  app.get<{ Params: Static<typeof CameraParams>; Querystring: Static<typeof SnapshotQuery> }>(
    '/cameras/:camera_id/snapshot',
    {
      schema: {
        tags: ['registry'],
        summary:
          'A live snapshot of a camera, fetched now through its edge (refresh it to watch). Operators and integrators; needs a reason; audited.',
        params: CameraParams,
        querystring: SnapshotQuery,
        response: { 200: JPEG_200, ...ERRORS },
      },
    },
    async (request, reply) => {
      const shot = await getSnapshot(
        deps,
        ctxOf(request),
        { reason: reasonOf(request, request.query.reason), cameraId: request.params.camera_id },
        requestSignal(reply),
      );
      return sendJpeg(reply, shot);
    },
  );

  // ---- Discovered devices ----
  app.get<{ Params: Static<typeof DeviceParams> }>(
    '/discovered/:site_id/:device_key/snapshot',
    {
      schema: {
        tags: ['registry'],
        summary:
          'A live snapshot of a device the site’s edge discovered (registered or not), fetched now through the edge: what the camera sees. Installers of the site’s area; audited.',
        params: DeviceParams,
        response: { 200: JPEG_200, ...ERRORS },
      },
    },
    async (request, reply) => {
      const shot = await getDiscoveredSnapshot(
        deps,
        ctxOf(request),
        { siteId: request.params.site_id, deviceKey: request.params.device_key },
        requestSignal(reply),
      );
      return sendJpeg(reply, shot);
    },
  );

  const DiscoveredQuery = Type.Object(
    {
      site_id: Type.Optional(Id('Only this site.')),
      unregistered_only: Type.Optional(
        Type.Boolean({ description: 'Only devices not registered as a camera.' }),
      ),
      ...AreaQueryFields,
    },
    { additionalProperties: false },
  );
  app.get<{ Querystring: Static<typeof DiscoveredQuery> }>(
    '/discovered',
    {
      schema: {
        tags: ['registry'],
        summary:
          'What the edges in your area discovered (the installer’s raw material), with the camera each device is registered as.',
        querystring: DiscoveredQuery,
        response: { 200: Type.Object({ items: Type.Array(DiscoveredJson) }), ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'discovered.read');
      const area = effectiveArea(ctx.principal.scope, areaOf(request.query));
      const sites = area === undefined ? [] : registry.sites.sitesIn(area);
      const items = [];
      for (const site of sites) {
        if (request.query.site_id !== undefined && site.siteId !== request.query.site_id) continue;
        const report = registry.reports.discovered(site.siteId);
        if (report === undefined) continue;
        const devices = report.devices
          .map((d) => ({ d, cam: registry.cameraOfDevice(d) }))
          .filter(({ cam }) => request.query.unregistered_only !== true || cam === undefined)
          .map(({ d, cam }) => ({
            device_key: discoveredDeviceKey({
              endpointReference: d.identity?.endpointReference ?? '',
              serialNumber: d.identity?.serialNumber ?? '',
            }),
            identity: {
              endpoint_reference: d.identity?.endpointReference ?? '',
              serial_number: d.identity?.serialNumber ?? '',
              manufacturer: d.identity?.manufacturer ?? '',
              model: d.identity?.model ?? '',
              firmware_version: d.identity?.firmwareVersion ?? '',
              hardware_id: d.identity?.hardwareId ?? '',
            },
            xaddrs: [...d.xaddrs],
            access: ACCESS[d.access] ?? 'unspecified',
            analysis_profile_token: d.analysisProfileToken,
            profiles: d.profiles.map((p) => ({
              token: p.token,
              name: p.name,
              encoding: p.encoding,
              width: p.width,
              height: p.height,
              fps: p.fps,
            })),
            has_snapshot: d.hasSnapshot,
            first_seen_ms: d.firstSeenMs,
            last_seen_ms: d.lastSeenMs,
            registered_camera_id: cam ?? null,
          }));
        items.push({ site_id: site.siteId, updated_ms: report.updatedMs, devices });
      }
      return { items };
    },
  );

  // ---- Reports ----
  const CollisionQuery = Type.Object(
    {
      offline_after_ms: Type.Optional(
        Type.Integer({
          minimum: 1000,
          maximum: 30 * 86_400_000,
          description: '"Offline longer than N" (default from config).',
        }),
      ),
      ...AreaQueryFields,
    },
    { additionalProperties: false },
  );
  app.get<{ Querystring: Static<typeof CollisionQuery> }>(
    '/reports/collision',
    {
      schema: {
        tags: ['registry'],
        summary:
          'The registry compared with what edges report: unregistered, missing, offline and moved cameras.',
        querystring: CollisionQuery,
        response: { 200: CollisionJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'registry.report');
      const area = effectiveArea(ctx.principal.scope, areaOf(request.query));
      if (area === undefined)
        return { generated_ms: Date.now(), unregistered: [], missing: [], offline: [], moved: [] };
      const r = registry.collisionReport({
        scope: area,
        ...(request.query.offline_after_ms !== undefined
          ? { offlineAfterMs: request.query.offline_after_ms }
          : {}),
      });
      return {
        generated_ms: r.generatedMs,
        unregistered: r.unregistered.map((u) => ({
          site_id: u.siteId,
          identity: {
            endpoint_reference: u.identity.endpointReference,
            serial_number: u.identity.serialNumber,
            manufacturer: u.identity.manufacturer,
            model: u.identity.model,
          },
          xaddrs: u.xaddrs,
          access: ACCESS[u.access] ?? 'unspecified',
          last_seen_ms: u.lastSeenMs,
        })),
        missing: r.missing.map((m) => ({
          camera_id: m.cameraId,
          site_id: m.siteId,
          lifecycle: m.lifecycle,
          reason: m.reason,
        })),
        offline: r.offline.map((o) => ({
          camera_id: o.cameraId,
          site_id: o.siteId,
          state: o.state,
          since_ms: o.sinceMs,
          offline_for_ms: o.offlineForMs,
          last_error: o.lastError,
        })),
        moved: r.moved.map((m) => ({
          camera_id: m.cameraId,
          kind: m.kind,
          registered_site_id: m.registeredSiteId,
          seen_site_id: m.seenSiteId,
          from_xaddrs: m.fromXaddrs,
          to_xaddrs: m.toXaddrs,
          since_ms: m.sinceMs,
        })),
      };
    },
  );

  const QualityQuery = Type.Object(
    {
      level: Type.Optional(
        StringEnum(AREA_LEVELS, { description: 'Group areas at this level (default district).' }),
      ),
      window_ms: Type.Optional(
        Type.Integer({
          minimum: 60_000,
          maximum: 31 * 86_400_000,
          description: 'Window ending now (default 24 h).',
        }),
      ),
      ...AreaQueryFields,
    },
    { additionalProperties: false },
  );
  app.get<{ Querystring: Static<typeof QualityQuery> }>(
    '/reports/quality',
    {
      schema: {
        tags: ['registry'],
        summary:
          'Data quality per camera and per area: last seen, online share, ingest lag, share of events with evidence.',
        querystring: QualityQuery,
        response: { 200: QualityJson, ...ERRORS },
      },
    },
    async (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'registry.report');
      const area = effectiveArea(ctx.principal.scope, areaOf(request.query));
      const windowMs = request.query.window_ms ?? 86_400_000;
      const now = (deps.now ?? Date.now)();
      if (area === undefined) return { from_ms: now - windowMs, to_ms: now, cameras: [], areas: [] };
      const ingest = deps.ingestStats === undefined ? undefined : await deps.ingestStats(now - windowMs, now);
      const r = registry.qualityReport({
        scope: area,
        windowMs,
        ...(request.query.level !== undefined ? { level: request.query.level } : {}),
        ...(ingest !== undefined ? { ingest } : {}),
      });
      return {
        from_ms: r.fromMs,
        to_ms: r.toMs,
        cameras: r.cameras.map((c) => ({
          camera_id: c.cameraId,
          site_id: c.siteId,
          place: { ...c.place },
          last_seen_ms: c.lastSeenMs,
          online_now: c.onlineNow,
          online_share: c.onlineShare,
          events: c.events,
          ingest_lag_ms: c.ingestLagMs,
          ingest_lag_max_ms: c.ingestLagMaxMs,
          evidence_share: c.evidenceShare,
        })),
        areas: r.areas.map((a) => ({
          area: { ...a.area },
          cameras: a.cameras,
          cameras_online: a.camerasOnline,
          cameras_offline: a.camerasOffline,
          online_share: a.onlineShare,
          last_seen_ms: a.lastSeenMs,
          events: a.events,
          ingest_lag_ms: a.ingestLagMs,
          ingest_lag_max_ms: a.ingestLagMaxMs,
          evidence_share: a.evidenceShare,
        })),
      };
    },
  );
}
