/**
 * Event access, shared by REST and gRPC: search, event detail, evidence, export, pass statistics
 * and live streams. Each data access (not statistics) checks the role or key, requires a reason,
 * narrows to the caller's area, and writes an audit record with the filters and the result count
 * after the data is fetched and before it is returned (no record, no data).
 */
import { createHash } from 'node:crypto';
import { Direction, EventKind } from '../../../../../proto/gen/sharpeyes/v1/event.ts';
import { accessEntry, type AccessAction } from '../../../audit/access.ts';
import type { AuditEntry } from '../../../audit/log.ts';
import { requireReason } from '../../../auth/reason.ts';
import { actorOf, assertAuthorized } from '../../../auth/roles.ts';
import { AREA_LEVELS, formatScope, type AreaLevel, type AreaScope } from '../../../auth/scope.ts';
import { GatewayError } from '../../../errors.ts';
import type { CallOptions, IndexedEvent, PassStatsRow } from '../../../index/types.ts';
import { QueryValidationError, validateEventId } from '../../../index/validate.ts';
import { decodeStreamCursor } from '../../../live/cursor.ts';
import {
  eventMatcher,
  filterFingerprint,
  filterToSearch,
  validateEventFilter,
  type EventFilterInput,
  type ValidEventFilter,
} from '../../../live/filter.ts';
import { runEventStream, type StreamSink, type StreamStart } from '../../../live/stream.ts';
import { streamLimitsFromConfig } from '../config.ts';
import type { GatewayDeps } from '../deps.ts';
import { limiterOf, type AccessContext } from './context.ts';
import { cameraVisible, effectiveArea, notFound, scopedCameraIds } from './scope.ts';

/** A search as the APIs pass it (already shape-checked; values re-validated here). */
export interface SearchInput extends EventFilterInput {
  reason: unknown;
  fromMs: number;
  toMs: number;
  /** A requested area (narrows the caller's own). */
  area?: AreaScope;
  limit?: number;
  cursor?: string;
  /** Fill in evidence bytes (gRPC `include_evidence`): also an evidence fetch, audited as one. */
  includeEvidence?: boolean;
  /** The call was cancelled or its deadline passed: give up before recording or returning data. */
  signal?: AbortSignal;
}

/** The index call options of a caller's cancellation. */
function callOptions(signal: AbortSignal | undefined): CallOptions {
  return signal === undefined ? {} : { signal };
}

/** Throw when the caller is gone, so nothing is audited as delivered that never was. */
function checkAlive(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true)
    throw new GatewayError('GATEWAY_ERR_UNAVAILABLE', 'the call was cancelled or its deadline passed');
}

/** Which evidence image. */
export type EvidencePartName = 'crop' | 'context';

const KIND_NAMES: Readonly<Record<number, string>> = {
  [EventKind.EVENT_KIND_FACE]: 'face',
  [EventKind.EVENT_KIND_PLATE]: 'plate',
};
const DIRECTION_NAMES: Readonly<Record<number, string>> = {
  [Direction.DIRECTION_UNSPECIFIED]: 'unspecified',
  [Direction.DIRECTION_IN]: 'in',
  [Direction.DIRECTION_OUT]: 'out',
  [Direction.DIRECTION_UNKNOWN]: 'unknown',
};

/** The filter as the audit trail records it (snake_case, as given after validation). */
function auditFilters(f: ValidEventFilter, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ...extra,
    kinds: f.kinds.map((k) => KIND_NAMES[k] ?? String(k)),
    ...(f.cameraIds !== undefined ? { camera_ids: f.cameraIds } : {}),
    ...(f.siteIds !== undefined ? { site_ids: f.siteIds } : {}),
    ...(f.plate !== undefined ? { plate: f.plate } : {}),
    ...(f.platePattern !== undefined ? { plate_pattern: f.platePattern } : {}),
    ...(f.minConfidence !== undefined ? { min_confidence: f.minConfidence } : {}),
    ...(f.direction !== undefined ? { direction: DIRECTION_NAMES[f.direction] ?? String(f.direction) } : {}),
  };
}

/** The audit entry of one access through the event APIs. */
function accessRecord(
  ctx: AccessContext,
  action: AccessAction,
  reason: string,
  target: string,
  filters: Record<string, unknown>,
  resultCount: number,
  area?: AreaScope,
): AuditEntry {
  return accessEntry(actorOf(ctx.principal), {
    action,
    reason,
    target,
    filters,
    resultCount,
    ...(area !== undefined ? { effectiveArea: { ...area } } : {}),
    via: ctx.via,
    ...(ctx.sourceAddress !== undefined ? { sourceAddress: ctx.sourceAddress } : {}),
  });
}

/** Record one access (grouped with others of the moment) and wait until it is durable. */
async function audit(deps: GatewayDeps, ...args: Parameters<typeof accessRecord>): Promise<void> {
  await deps.audit.appendGrouped(accessRecord(...args));
}

/**
 * `event` with its evidence bytes (crop and context) read from the store; bytes no longer stored
 * stay empty. A copy: the event itself is shared (live bus) and never changed.
 */
export async function withEvidence(deps: GatewayDeps, event: IndexedEvent): Promise<IndexedEvent> {
  const ev = event.evidence;
  if (ev === undefined) return event;
  const crop = ev.sha256 === '' ? undefined : await deps.evidence.get(ev.sha256);
  const context = ev.contextSha256 === '' ? undefined : await deps.evidence.get(ev.contextSha256);
  return {
    ...event,
    evidence: {
      ...ev,
      jpeg: crop === undefined ? Buffer.alloc(0) : Buffer.from(crop),
      contextJpeg: context === undefined ? Buffer.alloc(0) : Buffer.from(context),
    },
  };
}

/** Search events (newest first, one page). */
export async function searchEvents(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: SearchInput,
): Promise<{ events: IndexedEvent[]; nextCursor?: string }> {
  assertAuthorized(ctx.principal, 'event.search');
  if (input.includeEvidence === true) assertAuthorized(ctx.principal, 'evidence.fetch');
  const reason = requireReason(input.reason, deps.reasonRules);
  const filter = validateEventFilter(input);
  const area = effectiveArea(ctx.principal.scope, input.area);
  const cameraIds = scopedCameraIds(deps, area, filter.cameraIds);
  const page = await deps.search.search(
    {
      ...filterToSearch(filter),
      ...(cameraIds !== undefined ? { cameraIds } : {}),
      fromMs: input.fromMs,
      toMs: input.toMs,
      ...(input.limit !== undefined ? { limit: input.limit } : {}),
      ...(input.cursor !== undefined && input.cursor !== '' ? { cursor: input.cursor } : {}),
    },
    callOptions(input.signal),
  );
  checkAlive(input.signal);
  await audit(
    deps,
    ctx,
    'event.search',
    reason,
    'events',
    auditFilters(filter, {
      from_ms: input.fromMs,
      to_ms: input.toMs,
      ...(input.area !== undefined ? { area: { ...input.area } } : {}),
      ...(input.cursor !== undefined && input.cursor !== '' ? { page: 'next' } : {}),
    }),
    page.events.length,
    area,
  );
  if (input.includeEvidence !== true) return page;
  const events = await Promise.all(page.events.map((e) => withEvidence(deps, e)));
  checkAlive(input.signal);
  await audit(
    deps,
    ctx,
    'evidence.fetch',
    reason,
    'events',
    // Ids while they fit a record comfortably; a count beyond that (records are bounded).
    events.length <= 500
      ? { event_ids: events.map((e) => e.eventId), part: 'crop+context' }
      : { events: events.length, part: 'crop+context' },
    events.filter((e) => (e.evidence?.jpeg.length ?? 0) > 0).length,
    area,
  );
  return { events, ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}) };
}

/** Look up an event visible to the caller, or NOT_FOUND (missing and out-of-area look the same). */
async function visibleEvent(
  deps: GatewayDeps,
  ctx: AccessContext,
  eventId: string,
  signal: AbortSignal | undefined,
): Promise<IndexedEvent | undefined> {
  const event = await deps.search.getEvent(eventId, callOptions(signal));
  if (event === undefined || !cameraVisible(deps, ctx.principal.scope, event.cameraId)) return undefined;
  return event;
}

/** The stored bytes of evidence `sha256`, verified; NOT_FOUND when no longer stored. */
async function evidenceBytes(deps: GatewayDeps, sha256: string, what: string): Promise<Uint8Array> {
  const bytes = await deps.evidence.get(sha256);
  if (bytes === undefined) throw notFound(`${what} is no longer stored`);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    deps.logger.error({ sha256, actual }, 'stored evidence does not match its sha256');
    throw new GatewayError('GATEWAY_ERR_EVIDENCE_HASH', `${what}: stored bytes do not match`);
  }
  return bytes;
}

/** One event (highest revision), optionally with its evidence bytes. */
export async function getEvent(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: { reason: unknown; eventId: unknown; includeEvidence?: boolean; signal?: AbortSignal },
): Promise<{ event: IndexedEvent; crop?: Uint8Array; context?: Uint8Array }> {
  assertAuthorized(ctx.principal, 'event.get');
  if (input.includeEvidence === true) assertAuthorized(ctx.principal, 'evidence.fetch');
  const reason = requireReason(input.reason, deps.reasonRules);
  const eventId = validateEventId(input.eventId);
  const event = await visibleEvent(deps, ctx, eventId, input.signal);
  checkAlive(input.signal);
  await audit(
    deps,
    ctx,
    'event.get',
    reason,
    `event:${eventId}`,
    { event_id: eventId },
    event === undefined ? 0 : 1,
  );
  if (event === undefined) throw notFound(`event ${eventId}`);
  if (input.includeEvidence !== true) return { event };
  const out: { event: IndexedEvent; crop?: Uint8Array; context?: Uint8Array } = { event };
  const sha = event.evidence?.sha256 ?? '';
  const ctxSha = event.evidence?.contextSha256 ?? '';
  if (sha !== '') {
    out.crop = await evidenceBytes(deps, sha, `evidence of event ${eventId}`);
    await audit(
      deps,
      ctx,
      'evidence.fetch',
      reason,
      `evidence:${sha}`,
      { event_id: eventId, part: 'crop' },
      1,
    );
  }
  if (ctxSha !== '') {
    out.context = await evidenceBytes(deps, ctxSha, `context evidence of event ${eventId}`);
    await audit(
      deps,
      ctx,
      'evidence.fetch',
      reason,
      `evidence:${ctxSha}`,
      { event_id: eventId, part: 'context' },
      1,
    );
  }
  return out;
}

/** The evidence JPEG of an event: verified against its sha256 before it is returned. */
export async function getEvidence(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: { reason: unknown; eventId: unknown; part: EvidencePartName; signal?: AbortSignal },
): Promise<{ eventId: string; part: EvidencePartName; jpeg: Uint8Array; sha256: string }> {
  assertAuthorized(ctx.principal, 'evidence.fetch');
  const reason = requireReason(input.reason, deps.reasonRules);
  const eventId = validateEventId(input.eventId);
  const event = await visibleEvent(deps, ctx, eventId, input.signal);
  const sha =
    event === undefined
      ? ''
      : input.part === 'crop'
        ? (event.evidence?.sha256 ?? '')
        : (event.evidence?.contextSha256 ?? '');
  let jpeg: Uint8Array | undefined;
  let failure: GatewayError | undefined;
  if (event === undefined) failure = notFound(`event ${eventId}`);
  else if (sha === '') failure = notFound(`event ${eventId} has no ${input.part} evidence`);
  else {
    try {
      jpeg = await evidenceBytes(deps, sha, `${input.part} evidence of event ${eventId}`);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== 'GATEWAY_ERR_NOT_FOUND') throw err;
      failure = err;
    }
  }
  checkAlive(input.signal);
  await audit(
    deps,
    ctx,
    'evidence.fetch',
    reason,
    sha === '' ? `event:${eventId}` : `evidence:${sha}`,
    { event_id: eventId, part: input.part },
    jpeg === undefined ? 0 : 1,
  );
  if (jpeg === undefined) throw failure ?? notFound(`event ${eventId}`);
  return { eventId, part: input.part, jpeg, sha256: sha };
}

/** An export: every matching event (up to the configured maximum), audited as `event.export`. */
export async function exportEvents(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: SearchInput,
): Promise<{ events: IndexedEvent[]; truncated: boolean }> {
  assertAuthorized(ctx.principal, 'event.export');
  const reason = requireReason(input.reason, deps.reasonRules);
  const filter = validateEventFilter(input);
  const area = effectiveArea(ctx.principal.scope, input.area);
  const cameraIds = scopedCameraIds(deps, area, filter.cameraIds);
  const max = deps.config.rest.max_export_events;
  const events: IndexedEvent[] = [];
  let cursor: string | undefined;
  let truncated = false;
  for (;;) {
    const page = await deps.search.search(
      {
        ...filterToSearch(filter),
        ...(cameraIds !== undefined ? { cameraIds } : {}),
        fromMs: input.fromMs,
        toMs: input.toMs,
        limit: Math.min(1000, max - events.length + 1),
        ...(cursor !== undefined ? { cursor } : {}),
      },
      callOptions(input.signal),
    );
    events.push(...page.events);
    cursor = page.nextCursor;
    if (events.length > max) {
      events.length = max;
      truncated = true;
      break;
    }
    if (cursor === undefined) break;
  }
  await audit(
    deps,
    ctx,
    'event.export',
    reason,
    'events',
    auditFilters(filter, {
      from_ms: input.fromMs,
      to_ms: input.toMs,
      ...(input.area !== undefined ? { area: { ...input.area } } : {}),
      truncated,
    }),
    events.length,
    area,
  );
  return { events, truncated };
}

/** A pass-statistics query (no plate text, no reason). */
export interface PassStatsInput {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  kinds?: readonly EventKind[];
  cameraIds?: readonly string[];
  siteIds?: readonly string[];
  area?: AreaScope;
  timeZone?: string;
  /** Per camera (default) or per area at `level`. */
  groupBy?: 'camera' | 'area';
  level?: AreaLevel;
}

/** Passes of one area, kind and interval. */
export interface AreaPassRow {
  area: AreaScope;
  kind: EventKind;
  startMs: number;
  total: number;
  in: number;
  out: number;
  other: number;
  cameras: number;
}

/** Pass statistics, per camera or per area. Counts only: no plate text, so no reason needed. */
export async function passStats(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: PassStatsInput,
): Promise<{ cameras: PassStatsRow[] } | { areas: AreaPassRow[] }> {
  assertAuthorized(ctx.principal, 'stats.read');
  const area = effectiveArea(ctx.principal.scope, input.area);
  const cameraIds = scopedCameraIds(deps, area, input.cameraIds);
  const rows = await deps.search.passStats({
    fromMs: input.fromMs,
    toMs: input.toMs,
    intervalMs: input.intervalMs,
    ...(input.kinds !== undefined ? { kinds: input.kinds } : {}),
    ...(input.siteIds !== undefined ? { siteIds: input.siteIds } : {}),
    ...(cameraIds !== undefined ? { cameraIds } : {}),
    ...(input.timeZone !== undefined ? { timeZone: input.timeZone } : {}),
  });
  if (input.groupBy !== 'area') return { cameras: rows };
  const level = input.level ?? 'district';
  const depth = AREA_LEVELS.indexOf(level) + 1;
  const groups = new Map<string, AreaPassRow & { ids: Set<string> }>();
  for (const r of rows) {
    const place = deps.registry.placeOf(r.cameraId);
    const a: AreaScope = {};
    for (const l of AREA_LEVELS.slice(0, depth)) {
      const v = place?.[l] ?? '';
      if (v === '') break;
      a[l] = v;
    }
    const key = `${formatScope(a)}\u0000${r.kind}\u0000${r.startMs}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        area: a,
        kind: r.kind,
        startMs: r.startMs,
        total: 0,
        in: 0,
        out: 0,
        other: 0,
        cameras: 0,
        ids: new Set(),
      };
      groups.set(key, g);
    }
    g.total += r.total;
    g.in += r.in;
    g.out += r.out;
    g.other += r.other;
    g.ids.add(r.cameraId);
  }
  const areas = [...groups.values()]
    .map(({ ids, ...g }) => ({ ...g, cameras: ids.size }))
    .sort((x, y) => {
      const a = formatScope(x.area);
      const b = formatScope(y.area);
      return a < b ? -1 : a > b ? 1 : x.startMs - y.startMs || x.kind - y.kind;
    });
  return { areas };
}

/** A live stream as the APIs ask for it. */
export interface StreamInput extends EventFilterInput {
  reason: unknown;
  area?: AreaScope;
  /** A cursor from a previous message (wins over fromMs). */
  cursor?: string;
  /** Replay from this time (epoch ms) before going live. */
  fromMs?: number;
  includeEvidence?: boolean;
  /** Name of the cursor field in errors (`resume_cursor` for gRPC, `cursor` for REST). */
  cursorField?: string;
  /** Most live events per message when the transport batches (gRPC `max_batch`). */
  maxBatch?: number;
}

/** A stream ready to run: validated, authorised, audited at start. */
export interface PreparedStream {
  /** Run until `signal` aborts; resolves with the events sent. Audits the end. */
  run(sink: StreamSink, signal: AbortSignal): Promise<number>;
}

/** Validate, authorise, audit and open a live event stream (counts against the caller's stream limit). */
export function prepareEventStream(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: StreamInput,
): PreparedStream {
  assertAuthorized(ctx.principal, 'event.stream');
  if (input.includeEvidence === true) assertAuthorized(ctx.principal, 'evidence.fetch');
  const reason = requireReason(input.reason, deps.reasonRules);
  const filter = validateEventFilter(input);
  const area = effectiveArea(ctx.principal.scope, input.area);
  const filterKey = filterFingerprint(filter, input.area);
  const start: StreamStart = {};
  if (input.cursor !== undefined && input.cursor !== '') {
    start.cursor = decodeStreamCursor(input.cursor, filterKey, input.cursorField ?? 'cursor');
  } else if (input.fromMs !== undefined && input.fromMs !== 0) {
    if (
      !Number.isSafeInteger(input.fromMs) ||
      input.fromMs < 0 ||
      input.fromMs > (deps.now ?? Date.now)() + 86_400_000
    ) {
      throw new QueryValidationError('from_ms', 'must be an epoch ms time, not in the future');
    }
    start.fromMs = input.fromMs;
  }
  const cameraIds = scopedCameraIds(deps, area, filter.cameraIds);
  const matches =
    area === undefined ? () => false : eventMatcher(filter, area, (id) => deps.registry.placeOf(id));
  const release = limiterOf(deps).openStream(ctx.principal);
  try {
    deps.audit.append(
      accessRecord(
        ctx,
        'event.stream',
        reason,
        'events',
        auditFilters(filter, {
          ...(input.area !== undefined ? { area: { ...input.area } } : {}),
          resume: start.cursor !== undefined ? 'cursor' : start.fromMs !== undefined ? 'time' : 'live',
          ...(start.fromMs !== undefined ? { from_ms: start.fromMs } : {}),
          include_evidence: input.includeEvidence === true,
          phase: 'start',
        }),
        0,
        area,
      ),
    );
  } catch (err) {
    release();
    throw err;
  }
  const log = deps.logger.child({ module: 'live', actor: actorOf(ctx.principal), via: ctx.via });
  return {
    async run(sink, signal) {
      const started = Date.now();
      let sent = 0;
      let end = 'closed';
      const batch = sink.sendBatch?.bind(sink);
      const counting: StreamSink = {
        send(m) {
          if (m.event !== undefined) sent += 1;
          return sink.send(m);
        },
        ...(batch !== undefined
          ? {
              sendBatch(events, cursor) {
                sent += events.length;
                return batch(events, cursor);
              },
            }
          : {}),
      };
      try {
        await runEventStream(
          {
            bus: deps.live,
            search: deps.search,
            searchFilter: { ...filterToSearch(filter), ...(cameraIds !== undefined ? { cameraIds } : {}) },
            matches,
            filterKey,
            start,
            ...(input.maxBatch !== undefined ? { maxBatch: input.maxBatch } : {}),
            limits: streamLimitsFromConfig(deps.config.live),
            log,
            ...(deps.now !== undefined ? { now: deps.now } : {}),
          },
          counting,
          signal,
        );
        return sent;
      } catch (err) {
        end = err instanceof GatewayError ? err.code : 'error';
        throw err;
      } finally {
        release();
        try {
          deps.audit.append({
            actor: actorOf(ctx.principal),
            action: 'event.stream',
            target: 'events',
            details: {
              reason,
              phase: 'end',
              end,
              result_count: sent,
              duration_ms: Date.now() - started,
              via: ctx.via,
            },
          });
        } catch (err) {
          log.error({ err }, 'the end of a stream could not be audited');
        }
      }
    },
  };
}
