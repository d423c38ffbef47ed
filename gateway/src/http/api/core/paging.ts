/**
 * Keyset cursors for lists (sites, cameras, users, keys, alerts, audit): an opaque token holding
 * the last key of the previous page, so inserts between pages neither repeat nor skip anything.
 * Event searches use the index's own cursors.
 */
import { QueryValidationError } from '../../../index/validate.ts';

/** The token for "after `key`" in list `list` (a name, so a cursor of one list is refused by another). */
export function encodeListCursor(list: string, key: string | number): string {
  return Buffer.from(JSON.stringify({ l: list, k: key }), 'utf8').toString('base64url');
}

/** Decode a list cursor (undefined when none given). Throws QueryValidationError (field `cursor`). */
export function decodeListCursor<K extends 'string' | 'number'>(
  list: string,
  cursor: string | undefined,
  keyType: K,
  field = 'cursor',
): (K extends 'string' ? string : number) | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const bad = (): QueryValidationError => new QueryValidationError(field, 'is not a cursor of this list');
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // Any decoding failure means the same thing to the caller.
    throw bad();
  }
  if (typeof parsed !== 'object' || parsed === null) throw bad();
  const { l, k } = parsed as Record<string, unknown>;
  if (l !== list || typeof k !== keyType) throw bad();
  if (typeof k === 'number' && !Number.isSafeInteger(k)) throw bad();
  return k as K extends 'string' ? string : number;
}

/** A page of `items` (sorted by `keyOf`, ascending or descending) after the cursor key. */
export function pageByKey<T, K extends string | number>(
  list: string,
  items: readonly T[],
  keyOf: (t: T) => K,
  after: K | undefined,
  limit: number,
  descending = false,
): { items: T[]; nextCursor: string | null } {
  const out: T[] = [];
  let more = false;
  for (const item of items) {
    const k = keyOf(item);
    if (after !== undefined && (descending ? k >= after : k <= after)) continue;
    if (out.length >= limit) {
      more = true;
      break;
    }
    out.push(item);
  }
  const last = out[out.length - 1];
  return {
    items: out,
    nextCursor: more && last !== undefined ? encodeListCursor(list, keyOf(last)) : null,
  };
}
