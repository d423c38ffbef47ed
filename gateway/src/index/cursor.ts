/**
 * Search cursors: an opaque token for "after this event" — the last event's point time (ns) and
 * id — bound to the search it came from (a hash of the validated filters), so a cursor replayed
 * with other filters or a forged one is refused instead of silently paging something else.
 * A position, not an offset: inserts before or after it do not shift the pages.
 */
import { createHash } from 'node:crypto';
import { isValidId } from '../../../proto/topics.ts';
import { msToNs } from './time.ts';
import { QueryValidationError, type ValidSearch } from './validate.ts';

/** Position in the newest-first order (time desc, event id desc). */
export interface CursorPosition {
  /** Point time of the last event returned, ns. */
  timeNs: bigint;
  /** Its event id. */
  eventId: string;
}

const MAX_CURSOR_CHARS = 512;
const VERSION = 1;

/** Hash of what identifies a search (every filter, not the page size or cursor). */
export function searchFingerprint(q: ValidSearch): string {
  const identity = {
    from: q.fromMs,
    to: q.toMs,
    sites: q.siteIds ?? null,
    cameras: q.cameraIds ?? null,
    kinds: q.kinds,
    direction: q.direction ?? null,
    plate: q.plate ?? null,
    pattern: q.platePattern ?? null,
    min_confidence: q.minConfidence ?? null,
  };
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
}

/** The cursor for "after `pos`" in search `q`. */
export function encodeCursor(pos: CursorPosition, q: ValidSearch): string {
  const body = JSON.stringify({
    v: VERSION,
    t: pos.timeNs.toString(),
    i: pos.eventId,
    f: searchFingerprint(q),
  });
  return Buffer.from(body, 'utf8').toString('base64url');
}

/** Decode and check a cursor against search `q`. Throws QueryValidationError (field `cursor`). */
export function decodeCursor(cursor: string, q: ValidSearch): CursorPosition {
  const bad = (why: string): QueryValidationError => new QueryValidationError('cursor', why);
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor))
    throw bad('is not a cursor of this API');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // Any decoding failure means the same thing to the caller.
    throw bad('is not a cursor of this API');
  }
  if (typeof parsed !== 'object' || parsed === null) throw bad('is not a cursor of this API');
  const { v, t, i, f } = parsed as Record<string, unknown>;
  if (v !== VERSION || typeof t !== 'string' || typeof i !== 'string' || typeof f !== 'string') {
    throw bad('is not a cursor of this API');
  }
  if (!/^\d{1,19}$/.test(t) || !isValidId(i)) throw bad('is not a cursor of this API');
  if (f !== searchFingerprint(q)) throw bad('belongs to a search with other filters');
  const timeNs = BigInt(t);
  if (timeNs < msToNs(q.fromMs) || timeNs >= msToNs(q.toMs)) throw bad('lies outside the time range');
  return { timeNs, eventId: i };
}
