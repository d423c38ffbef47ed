/**
 * Events: search, detail, evidence bytes, export, pass statistics, and the live streams (SSE).
 * Every event search, detail, export, evidence fetch and event stream needs a reason (`reason`
 * query parameter or `x-reason` header) and is audited; an event outside the caller's area is a
 * 404 exactly like a missing one (its existence is not revealed).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Direction, EventKind } from '../../../../../proto/gen/sharpeyes/v1/event.ts';
import { AREA_LEVELS } from '../../../auth/scope.ts';
import { prepareAlertStream } from '../core/alerts.ts';
import { toApiError } from '../core/errors.ts';
import {
  exportEvents,
  getEvent,
  getEvidence,
  passStats,
  prepareEventStream,
  searchEvents,
  type SearchInput,
} from '../core/events.ts';
import type { GatewayDeps } from '../deps.ts';
import { alertJson, eventJson, kindName } from '../json.ts';
import {
  AreaQueryFields,
  Cursor,
  DIRECTION_VALUES,
  ERRORS,
  EventFilterQueryFields,
  EventJson,
  Id,
  KIND_VALUES,
  Limit,
  Nullable,
  Reason,
  StringEnum,
  TimeMs,
  AlertJson,
} from '../schemas.ts';
import { areaOf, ctxOf, reasonOf } from './common.ts';

const KIND: Readonly<Record<(typeof KIND_VALUES)[number], EventKind>> = {
  face: EventKind.EVENT_KIND_FACE,
  plate: EventKind.EVENT_KIND_PLATE,
};
const DIRECTION: Readonly<Record<(typeof DIRECTION_VALUES)[number], Direction>> = {
  unspecified: Direction.DIRECTION_UNSPECIFIED,
  in: Direction.DIRECTION_IN,
  out: Direction.DIRECTION_OUT,
  unknown: Direction.DIRECTION_UNKNOWN,
};

const SearchQuery = Type.Object(
  {
    reason: Type.Optional(Reason),
    from_ms: TimeMs('Start of the first-seen time range, inclusive.'),
    to_ms: TimeMs('End of the range, exclusive (the range is bounded by the server).'),
    ...EventFilterQueryFields,
    limit: Limit,
    cursor: Cursor,
  },
  { additionalProperties: false },
);
type SearchQuery = Static<typeof SearchQuery>;

const EventParams = Type.Object({ event_id: Id('Event id.') }, { additionalProperties: false });
const ReasonQuery = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });
const EvidenceQuery = Type.Object(
  {
    reason: Type.Optional(Reason),
    part: Type.Optional(
      StringEnum(['crop', 'context'] as const, {
        default: 'crop',
        description: 'crop (default) or context.',
      }),
    ),
  },
  { additionalProperties: false },
);

const StatsQuery = Type.Object(
  {
    from_ms: TimeMs('Start, inclusive.'),
    to_ms: TimeMs('End, exclusive.'),
    interval_ms: Type.Integer({
      minimum: 60_000,
      maximum: 31 * 86_400_000,
      description: 'Interval length, whole minutes (3600000 = hourly).',
    }),
    kind: EventFilterQueryFields.kind,
    camera_id: EventFilterQueryFields.camera_id,
    site_id: EventFilterQueryFields.site_id,
    ...AreaQueryFields,
    time_zone: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'IANA zone the intervals align to, e.g. Asia/Shanghai (default UTC).',
      }),
    ),
    group_by: Type.Optional(StringEnum(['camera', 'area'] as const, { default: 'camera' })),
    level: Type.Optional(
      StringEnum(AREA_LEVELS, { description: 'Area level when group_by=area (default district).' }),
    ),
  },
  { additionalProperties: false },
);

const Counts = {
  kind: Type.String(),
  start_ms: Type.Integer(),
  total: Type.Integer(),
  in: Type.Integer(),
  out: Type.Integer(),
  other: Type.Integer({ description: 'Unknown or unspecified direction.' }),
};
const StatsJson = Type.Object({
  cameras: Type.Optional(
    Type.Array(Type.Object({ site_id: Type.String(), camera_id: Type.String(), ...Counts })),
  ),
  areas: Type.Optional(
    Type.Array(
      Type.Object({
        area: Type.Record(Type.String(), Type.String()),
        cameras: Type.Integer({ description: 'Cameras that had passes in the interval.' }),
        ...Counts,
      }),
    ),
  ),
});

const LiveQuery = Type.Object(
  {
    reason: Type.Optional(Reason),
    ...EventFilterQueryFields,
    from_ms: Type.Optional(TimeMs('Replay events first seen from this time before going live.')),
    cursor: Type.Optional(
      Type.String({
        maxLength: 1024,
        description: 'Resume after this cursor (an SSE id); also the Last-Event-ID header.',
      }),
    ),
  },
  { additionalProperties: false },
);

function searchInput(q: SearchQuery, reason: string | undefined): SearchInput {
  const area = areaOf(q);
  return {
    reason,
    fromMs: q.from_ms,
    toMs: q.to_ms,
    ...(q.kind !== undefined ? { kinds: q.kind.map((k) => KIND[k]) } : {}),
    ...(q.camera_id !== undefined ? { cameraIds: q.camera_id } : {}),
    ...(q.site_id !== undefined ? { siteIds: q.site_id } : {}),
    ...(q.plate !== undefined ? { plate: q.plate } : {}),
    ...(q.plate_pattern !== undefined ? { platePattern: q.plate_pattern } : {}),
    ...(q.min_confidence !== undefined ? { minConfidence: q.min_confidence } : {}),
    ...(q.direction !== undefined ? { direction: DIRECTION[q.direction] } : {}),
    ...(area !== undefined ? { area } : {}),
    ...(q.limit !== undefined ? { limit: q.limit } : {}),
    ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
  };
}

/**
 * Aborts when the client goes away before its answer is sent: the index then drops the queries
 * the request still has waiting, and nothing is audited as delivered.
 */
function untilClientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

/** Open a server-sent events response; returns `send` (honours backpressure) and `close`. */
function openSse(
  request: FastifyRequest,
  reply: FastifyReply,
  keepaliveMs: number,
): {
  send: (event: string, data: unknown, id?: string) => Promise<void> | undefined;
  close: () => void;
  signal: AbortSignal;
} {
  const ac = new AbortController();
  const raw = reply.raw;
  reply.hijack();
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write(': sharpeyes live stream\n\n');
  const abort = (): void => {
    ac.abort();
  };
  request.raw.on('close', abort);
  raw.on('close', abort);
  // A comment now and then keeps proxies from closing a quiet stream.
  const keepalive = setInterval(() => {
    if (!raw.writableEnded && raw.writableLength === 0) raw.write(': keepalive\n\n');
  }, keepaliveMs);
  ac.signal.addEventListener('abort', () => {
    clearInterval(keepalive);
  });
  return {
    signal: ac.signal,
    send(event, data, id) {
      if (ac.signal.aborted) return undefined;
      const text = `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      if (raw.write(text)) return undefined;
      return new Promise<void>((resolve) => {
        const done = (): void => {
          raw.off('drain', done);
          ac.signal.removeEventListener('abort', done);
          resolve();
        };
        raw.on('drain', done);
        ac.signal.addEventListener('abort', done, { once: true });
      });
    },
    close() {
      clearInterval(keepalive);
      request.raw.off('close', abort);
      if (!raw.writableEnded) raw.end();
    },
  };
}

/** Register the event routes. */
export function eventRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Querystring: SearchQuery }>(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Search events in your area, newest first (by first-seen time). Needs a reason; audited.',
        querystring: SearchQuery,
        response: {
          200: Type.Object({ items: Type.Array(EventJson), next_cursor: Nullable(Type.String()) }),
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const page = await searchEvents(deps, ctxOf(request), {
        ...searchInput(request.query, reasonOf(request, request.query.reason)),
        signal: untilClientGone(reply),
      });
      return { items: page.events.map(eventJson), next_cursor: page.nextCursor ?? null };
    },
  );

  app.get<{ Querystring: SearchQuery }>(
    '/events/export',
    {
      schema: {
        tags: ['events'],
        summary:
          'Export every matching event (up to the configured maximum) with evidence hashes. Operators only; needs a reason; audited.',
        querystring: SearchQuery,
        response: {
          200: Type.Object({
            exported_ms: Type.Integer(),
            truncated: Type.Boolean(),
            count: Type.Integer(),
            events: Type.Array(EventJson),
          }),
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const r = await exportEvents(deps, ctxOf(request), {
        ...searchInput(request.query, reasonOf(request, request.query.reason)),
        signal: untilClientGone(reply),
      });
      void reply.header('content-disposition', `attachment; filename="sharpeyes-export-${Date.now()}.json"`);
      return {
        exported_ms: Date.now(),
        truncated: r.truncated,
        count: r.events.length,
        events: r.events.map(eventJson),
      };
    },
  );

  app.get<{ Params: Static<typeof EventParams>; Querystring: Static<typeof ReasonQuery> }>(
    '/events/:event_id',
    {
      schema: {
        tags: ['events'],
        summary:
          'One event (its highest revision). 404 when missing or outside your area. Needs a reason; audited.',
        params: EventParams,
        querystring: ReasonQuery,
        response: { 200: EventJson, ...ERRORS },
      },
    },
    async (request, reply) => {
      const r = await getEvent(deps, ctxOf(request), {
        reason: reasonOf(request, request.query.reason),
        eventId: request.params.event_id,
        signal: untilClientGone(reply),
      });
      return eventJson(r.event);
    },
  );

  app.get<{ Params: Static<typeof EventParams>; Querystring: Static<typeof EvidenceQuery> }>(
    '/events/:event_id/evidence',
    {
      schema: {
        tags: ['events'],
        summary:
          'The evidence JPEG of an event (verified against its sha256, given in x-evidence-sha256). Needs a reason; audited.',
        params: EventParams,
        querystring: EvidenceQuery,
        response: {
          200: {
            description: 'The JPEG bytes.',
            content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } },
          },
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const r = await getEvidence(deps, ctxOf(request), {
        reason: reasonOf(request, request.query.reason),
        eventId: request.params.event_id,
        part: request.query.part ?? 'crop',
        signal: untilClientGone(reply),
      });
      return reply
        .header('content-type', 'image/jpeg')
        .header('x-evidence-sha256', r.sha256)
        .header('repr-digest', `sha-256=:${Buffer.from(r.sha256, 'hex').toString('base64')}:`)
        .header('cache-control', 'no-store')
        .send(Buffer.from(r.jpeg));
    },
  );

  app.get<{ Querystring: Static<typeof StatsQuery> }>(
    '/stats/passes',
    {
      schema: {
        tags: ['events'],
        summary:
          'Pass counts per camera or per area per interval, by kind and direction. No plate text; no reason needed.',
        querystring: StatsQuery,
        response: { 200: StatsJson, ...ERRORS },
      },
    },
    async (request) => {
      const q = request.query;
      const area = areaOf(q);
      const r = await passStats(deps, ctxOf(request), {
        fromMs: q.from_ms,
        toMs: q.to_ms,
        intervalMs: q.interval_ms,
        ...(q.kind !== undefined ? { kinds: q.kind.map((k) => KIND[k]) } : {}),
        ...(q.camera_id !== undefined ? { cameraIds: q.camera_id } : {}),
        ...(q.site_id !== undefined ? { siteIds: q.site_id } : {}),
        ...(area !== undefined ? { area } : {}),
        ...(q.time_zone !== undefined ? { timeZone: q.time_zone } : {}),
        ...(q.group_by !== undefined ? { groupBy: q.group_by } : {}),
        ...(q.level !== undefined ? { level: q.level } : {}),
      });
      const counts = (x: {
        kind: EventKind;
        startMs: number;
        total: number;
        in: number;
        out: number;
        other: number;
      }) => ({
        kind: kindName(x.kind),
        start_ms: x.startMs,
        total: x.total,
        in: x.in,
        out: x.out,
        other: x.other,
      });
      if ('cameras' in r)
        return {
          cameras: r.cameras.map((c) => ({ site_id: c.siteId, camera_id: c.cameraId, ...counts(c) })),
        };
      return { areas: r.areas.map((a) => ({ area: { ...a.area }, cameras: a.cameras, ...counts(a) })) };
    },
  );

  app.get<{ Querystring: Static<typeof LiveQuery> }>(
    '/live/events',
    {
      schema: {
        tags: ['live'],
        summary:
          'Live events as server-sent events (`event: event`, `event: checkpoint`; each `id` is a resume cursor). Resumable from Last-Event-ID or from_ms. Needs a reason; audited.',
        querystring: LiveQuery,
        response: {
          200: {
            description: 'text/event-stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const area = areaOf(q);
      const lastId = request.headers['last-event-id'];
      const cursor = q.cursor ?? (Array.isArray(lastId) ? lastId[0] : lastId);
      const stream = prepareEventStream(deps, ctxOf(request), {
        reason: reasonOf(request, q.reason),
        ...(q.kind !== undefined ? { kinds: q.kind.map((k) => KIND[k]) } : {}),
        ...(q.camera_id !== undefined ? { cameraIds: q.camera_id } : {}),
        ...(q.site_id !== undefined ? { siteIds: q.site_id } : {}),
        ...(q.plate !== undefined ? { plate: q.plate } : {}),
        ...(q.plate_pattern !== undefined ? { platePattern: q.plate_pattern } : {}),
        ...(q.min_confidence !== undefined ? { minConfidence: q.min_confidence } : {}),
        ...(q.direction !== undefined ? { direction: DIRECTION[q.direction] } : {}),
        ...(area !== undefined ? { area } : {}),
        ...(cursor !== undefined && cursor !== '' ? { cursor } : {}),
        ...(q.from_ms !== undefined ? { fromMs: q.from_ms } : {}),
        cursorField: 'cursor',
      });
      const sse = openSse(request, reply, deps.config.live.heartbeat_ms);
      try {
        await stream.run(
          {
            send: (m) =>
              sse.send(
                m.event === undefined ? 'checkpoint' : 'event',
                m.event === undefined ? { replay: m.replay } : { ...eventJson(m.event), replay: m.replay },
                m.cursor,
              ),
          },
          sse.signal,
        );
      } catch (err) {
        const { body, internal } = toApiError(err);
        if (internal) request.log.error({ err }, 'live event stream failed');
        await sse.send('error', body);
      } finally {
        sse.close();
      }
    },
  );

  const LiveAlertsQuery = Type.Object(
    {
      include_open: Type.Optional(
        Type.Boolean({ description: 'First send every open alert in your area (change "open").' }),
      ),
    },
    { additionalProperties: false },
  );
  app.get<{ Querystring: Static<typeof LiveAlertsQuery> }>(
    '/live/alerts',
    {
      schema: {
        tags: ['live'],
        summary: 'Plate alerts in your area as server-sent events (`event: alert`, data {change, alert}).',
        querystring: LiveAlertsQuery,
        response: {
          200: {
            description: 'text/event-stream of {change, alert}',
            content: {
              'text/event-stream': { schema: Type.Object({ change: Type.String(), alert: AlertJson }) },
            },
          },
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const stream = prepareAlertStream(deps, ctxOf(request), {
        includeOpen: request.query.include_open === true,
      });
      const sse = openSse(request, reply, deps.config.live.heartbeat_ms);
      try {
        await stream.run(
          (item) => sse.send('alert', { change: item.change, alert: alertJson(item.alert) }),
          sse.signal,
        );
      } catch (err) {
        const { body, internal } = toApiError(err);
        if (internal) request.log.error({ err }, 'live alert stream failed');
        await sse.send('error', body);
      } finally {
        sse.close();
      }
    },
  );
}
