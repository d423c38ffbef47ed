/** Plate alerts (list, acknowledge) and case-bound alert entries (request, approve, revoke). */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assertAuthorized } from '../../../auth/roles.ts';
import { acknowledgeAlert, listAlerts } from '../core/alerts.ts';
import { decodeListCursor, pageByKey } from '../core/paging.ts';
import { notFound, placeVisible } from '../core/scope.ts';
import type { GatewayDeps } from '../deps.ts';
import { alertEntryJson, alertJson } from '../json.ts';
import {
  AlertEntryJson,
  AlertJson,
  Area,
  Cursor,
  ERRORS,
  Limit,
  Page,
  StringEnum,
  TimeMs,
} from '../schemas.ts';
import { created, ctxOf, pageSize } from './common.ts';

const AlertParams = Type.Object({ alert_id: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });
const EntryParams = Type.Object({ entry_id: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });

const AlertListQuery = Type.Object(
  {
    open: Type.Optional(Type.Boolean({ description: 'Only unacknowledged alerts.' })),
    limit: Limit,
    cursor: Cursor,
  },
  { additionalProperties: false },
);
const AckBody = Type.Object(
  { note: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);
const EntryListQuery = Type.Object(
  {
    status: Type.Optional(StringEnum(['pending', 'active', 'expired', 'revoked'] as const)),
    case_ref: Type.Optional(Type.String({ maxLength: 100 })),
    limit: Limit,
    cursor: Cursor,
  },
  { additionalProperties: false },
);
const EntryRequestBody = Type.Object(
  {
    plate: Type.String({
      minLength: 1,
      maxLength: 32,
      description: 'A plate, or a pattern (? one character, * any run) fixing at least 4 serial characters.',
    }),
    case_ref: Type.String({ minLength: 3, maxLength: 100 }),
    reason: Type.String({ minLength: 1, maxLength: 2000 }),
    expires_ms: TimeMs('Expiry (at most 30 days ahead by default).'),
    area: Type.Optional(Area),
  },
  { additionalProperties: false },
);
const RevokeBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);

/** Register the alert routes. */
export function alertRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Querystring: Static<typeof AlertListQuery> }>(
    '/alerts',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Alerts at cameras in your area, newest first.',
        querystring: AlertListQuery,
        response: { 200: Page(AlertJson), ...ERRORS },
      },
    },
    (request) => {
      const q = request.query;
      const page = listAlerts(deps, ctxOf(request), {
        ...(q.open !== undefined ? { open: q.open } : {}),
        limit: pageSize(deps, q.limit),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
      return { items: page.items.map(alertJson), next_cursor: page.nextCursor };
    },
  );

  app.post<{ Params: Static<typeof AlertParams>; Body: Static<typeof AckBody> | undefined }>(
    '/alerts/:alert_id/ack',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Acknowledge an alert (stops its escalation).',
        params: AlertParams,
        body: Type.Optional(AckBody),
        response: { 200: AlertJson, ...ERRORS },
      },
    },
    (request) =>
      alertJson(acknowledgeAlert(deps, ctxOf(request), request.params.alert_id, request.body?.note)),
  );

  app.get<{ Querystring: Static<typeof EntryListQuery> }>(
    '/alert-entries',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Case-bound alert entries whose area lies in yours, newest first.',
        querystring: EntryListQuery,
        response: { 200: Page(AlertEntryJson), ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'alert_entry.read');
      const q = request.query;
      const after = decodeListCursor('alert-entries', q.cursor, 'number');
      const entries = deps.alertEntries.list({
        scope: ctx.principal.scope,
        ...(q.status !== undefined ? { status: q.status } : {}),
        ...(q.case_ref !== undefined ? { caseRef: q.case_ref } : {}),
      });
      const page = pageByKey(
        'alert-entries',
        entries,
        (e) => e.entryId,
        after,
        pageSize(deps, q.limit),
        true,
      );
      return { items: page.items.map(alertEntryJson), next_cursor: page.nextCursor };
    },
  );

  app.post<{ Body: Static<typeof EntryRequestBody> }>(
    '/alert-entries',
    {
      schema: {
        tags: ['alerts'],
        summary:
          'Request an alert entry for one vehicle in a case. Inactive until another operator approves it.',
        body: EntryRequestBody,
        response: { 201: AlertEntryJson, ...ERRORS },
      },
    },
    (request, reply) => {
      const b = request.body;
      const entry = deps.alertEntries.request(ctxOf(request).principal, {
        plate: b.plate,
        caseRef: b.case_ref,
        reason: b.reason,
        expiresMs: b.expires_ms,
        ...(b.area !== undefined ? { area: { ...b.area } } : {}),
      });
      return created(reply, alertEntryJson(entry));
    },
  );

  const visibleEntry = (request: Parameters<typeof ctxOf>[0], entryId: number): void => {
    const e = deps.alertEntries.get(entryId);
    if (e === undefined || !placeVisible(ctxOf(request).principal.scope, e.area))
      throw notFound(`alert entry ${entryId}`);
  };

  app.post<{ Params: Static<typeof EntryParams> }>(
    '/alert-entries/:entry_id/approve',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Approve a pending entry (not your own).',
        params: EntryParams,
        response: { 200: AlertEntryJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'alert_entry.approve');
      visibleEntry(request, request.params.entry_id);
      return alertEntryJson(deps.alertEntries.approve(ctx.principal, request.params.entry_id));
    },
  );

  app.post<{ Params: Static<typeof EntryParams>; Body: Static<typeof RevokeBody> }>(
    '/alert-entries/:entry_id/revoke',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Revoke a pending or active entry (it stops matching at once).',
        params: EntryParams,
        body: RevokeBody,
        response: { 200: AlertEntryJson, ...ERRORS },
      },
    },
    (request) => {
      const ctx = ctxOf(request);
      assertAuthorized(ctx.principal, 'alert_entry.revoke');
      visibleEntry(request, request.params.entry_id);
      return alertEntryJson(
        deps.alertEntries.revoke(ctx.principal, request.params.entry_id, request.body.reason),
      );
    },
  );
}
