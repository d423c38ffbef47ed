/** Search cursors: round trip, and refusal of anything forged or foreign (pure). */
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../../gateway/src/index/cursor.ts';
import { QueryValidationError, type ValidSearch } from '../../../gateway/src/index/validate.ts';

const q: ValidSearch = {
  fromMs: 1_794_000_000_000,
  toMs: 1_794_086_400_000,
  kinds: ['face', 'plate'],
  limit: 50,
  empty: false,
};
const pos = { timeNs: 1_794_000_000_123_456_789n, eventId: '01JD3K4M5N6P7Q8R9S0T1V2W3X' };

describe('cursor', () => {
  it('round-trips a position, whatever the page size', () => {
    const c = encodeCursor(pos, q);
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c, q)).toEqual(pos);
    expect(decodeCursor(c, { ...q, limit: 7 })).toEqual(pos);
  });

  it.each<[string, ValidSearch]>([
    ['other sites', { ...q, siteIds: ['a'] }],
    ['another plate', { ...q, kinds: ['plate'], plate: '京A12345' }],
    ['another range', { ...q, fromMs: q.fromMs + 1 }],
    ['other kinds', { ...q, kinds: ['plate'] }],
  ])('is refused by a search with %s', (_name, other) => {
    expect(() => decodeCursor(encodeCursor(pos, q), other)).toThrow(QueryValidationError);
  });

  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  it.each([
    ['empty', ''],
    ['not base64url', 'a+b/c='],
    ['not JSON', Buffer.from('{').toString('base64url')],
    ['an array', b64([1])],
    ['another version', b64({ v: 2, t: '1', i: 'x', f: 'y' })],
    ['a time that is not digits', b64({ v: 1, t: '1 OR 1=1', i: 'x', f: 'y' })],
    ['a bad id', b64({ v: 1, t: '1', i: "x' OR '1'='1", f: 'y' })],
    ['too long', 'A'.repeat(600)],
  ])('refuses %s', (_name, c) => {
    expect(() => decodeCursor(c, q)).toThrow(
      expect.objectContaining({ code: 'GATEWAY_ERR_QUERY_INVALID', field: 'cursor' }) as Error,
    );
  });

  it('refuses a position outside the search range', () => {
    const outside = encodeCursor({ ...pos, timeNs: BigInt(q.toMs) * 1_000_000n }, q);
    expect(() => decodeCursor(outside, q)).toThrow(/outside the time range/);
  });
});
