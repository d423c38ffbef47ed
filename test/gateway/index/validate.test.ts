/** Validation of search and statistics inputs (pure, table-driven): every refusal names its field. */
import { describe, expect, it } from 'vitest';
import { Direction, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import type { EventSearchQuery } from '../../../gateway/src/index/types.ts';
import { QueryValidationError, validateSearch, validateStats } from '../../../gateway/src/index/validate.ts';

const DAY = 86_400_000;
const limits = { maxRangeMs: 31 * DAY, wildcardMaxRangeMs: 7 * DAY, defaultPageSize: 100, maxPageSize: 1000 };
const range = { fromMs: 1_794_000_000_000, toMs: 1_794_000_000_000 + DAY };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(QueryValidationError);
    expect((err as QueryValidationError).code).toBe('GATEWAY_ERR_QUERY_INVALID');
    expect((err as Error).message).toContain((err as QueryValidationError).field);
    return (err as QueryValidationError).field;
  }
}

describe('validateSearch', () => {
  it('normalises a valid search', () => {
    expect(
      validateSearch(
        {
          ...range,
          siteIds: ['b', 'a', 'a'],
          cameraIds: ['c1'],
          kinds: [EventKind.EVENT_KIND_PLATE, EventKind.EVENT_KIND_FACE],
          direction: Direction.DIRECTION_OUT,
          plate: ' 京a·12345 ',
          minConfidence: 0.5,
          limit: 20,
        },
        limits,
      ),
    ).toEqual({
      ...range,
      siteIds: ['a', 'b'],
      cameraIds: ['c1'],
      kinds: ['plate'],
      direction: 'out',
      plate: '京A12345',
      minConfidence: 0.5,
      limit: 20,
      empty: false,
    });
    expect(validateSearch({ ...range }, limits)).toEqual({
      ...range,
      kinds: ['face', 'plate'],
      limit: 100,
      empty: false,
    });
  });

  it.each<[string, Partial<EventSearchQuery> | Record<string, unknown>, boolean]>([
    ['no sites', { siteIds: [] }, true],
    ['no cameras', { cameraIds: [] }, true],
    ['no kinds', { kinds: [] }, true],
    ['a plate among faces only', { plate: '京A12345', kinds: [EventKind.EVENT_KIND_FACE] }, true],
    ['limit 0 means the default', { limit: 0 }, false],
    ['empty plate means none', { plate: '' }, false],
  ])('%s → empty=%s', (_name, patch, empty) => {
    expect(validateSearch({ ...range, ...patch }, limits).empty).toBe(empty);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no from', { fromMs: undefined }, 'from_ms'],
    ['from as text', { fromMs: '1794000000000' }, 'from_ms'],
    ['fractional from', { fromMs: 1.5 }, 'from_ms'],
    ['negative from', { fromMs: -1 }, 'from_ms'],
    ['NaN to', { toMs: Number.NaN }, 'to_ms'],
    ['to before from', { toMs: range.fromMs }, 'to_ms'],
    ['range too long', { toMs: range.fromMs + 32 * DAY }, 'to_ms'],
    ['sites not a list', { siteIds: 'a' }, 'site_ids'],
    ['a bad site', { siteIds: ['ok', "x' OR '1'='1"] }, 'site_ids[1]'],
    ['a non-string site', { siteIds: [1] }, 'site_ids[0]'],
    ['too many sites', { siteIds: Array.from({ length: 1001 }, (_, i) => `s${i}`) }, 'site_ids'],
    ['a bad camera', { cameraIds: ['a/b'] }, 'camera_ids[0]'],
    ['too many cameras', { cameraIds: Array.from({ length: 5001 }, (_, i) => `c${i}`) }, 'camera_ids'],
    ['an unknown kind', { kinds: [EventKind.EVENT_KIND_UNSPECIFIED] }, 'kinds[0]'],
    ['a kind as text', { kinds: ['plate'] }, 'kinds[0]'],
    ['an unknown direction', { direction: 7 }, 'direction'],
    ['a direction as text', { direction: 'in' }, 'direction'],
    ['a plate with a quote', { plate: "京A'1" }, 'plate'],
    ['a plate with a wildcard', { plate: '京A*' }, 'plate'],
    ['a plate not a string', { plate: 5 }, 'plate'],
    ['a very long plate', { plate: '京'.repeat(65) }, 'plate'],
    ['a pattern with regex syntax', { platePattern: '京A(1)' }, 'plate_pattern'],
    ['a pattern of wildcards only', { platePattern: '*?*' }, 'plate_pattern'],
    ['plate and pattern', { plate: '京A12345', platePattern: '京A*' }, 'plate_pattern'],
    ['a pattern over 8 days', { platePattern: '京A*', toMs: range.fromMs + 8 * DAY }, 'plate_pattern'],
    ['confidence above 1', { minConfidence: 1.5 }, 'min_confidence'],
    ['confidence as text', { minConfidence: '0.5' }, 'min_confidence'],
    ['limit too large', { limit: 1001 }, 'limit'],
    ['fractional limit', { limit: 2.5 }, 'limit'],
    ['limit as text', { limit: '10; DROP DATABASE x' }, 'limit'],
    ['cursor not a string', { cursor: 12 }, 'cursor'],
  ])('%s → %s', (_name, patch, field) => {
    expect(fieldOf(() => validateSearch({ ...range, ...patch }, limits))).toBe(field);
  });

  it('refuses a query that is not an object', () => {
    expect(fieldOf(() => validateSearch(null as unknown as EventSearchQuery, limits))).toBe('query');
    expect(fieldOf(() => validateSearch([] as unknown as EventSearchQuery, limits))).toBe('query');
  });
});

describe('validateStats', () => {
  it('accepts minutes to days, a time zone, and normalises filters', () => {
    expect(
      validateStats({ ...range, intervalMs: 3_600_000, timeZone: 'Asia/Shanghai', siteIds: ['x'] }, limits),
    ).toEqual({
      ...range,
      intervalMinutes: 60,
      siteIds: ['x'],
      kinds: ['face', 'plate'],
      timeZone: 'Asia/Shanghai',
      empty: false,
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no interval', { intervalMs: undefined }, 'interval_ms'],
    ['seconds', { intervalMs: 30_000 }, 'interval_ms'],
    ['not whole minutes', { intervalMs: 90_000 }, 'interval_ms'],
    ['too many intervals', { intervalMs: 60_000, toMs: range.fromMs + 8 * DAY }, 'interval_ms'],
    ['an unknown zone', { intervalMs: 60_000, timeZone: 'Mars/Olympus' }, 'time_zone'],
    ['an injected zone', { intervalMs: 60_000, timeZone: "UTC') ; DROP DATABASE x" }, 'time_zone'],
    ['a bad camera', { intervalMs: 60_000, cameraIds: ['"'] }, 'camera_ids[0]'],
  ])('%s → %s', (_name, patch, field) => {
    expect(fieldOf(() => validateStats({ ...range, intervalMs: 3_600_000, ...patch }, limits))).toBe(field);
  });
});
