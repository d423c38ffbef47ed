/** Plate alert keys (pure): normalisation, the place-of-origin guardrail, matching, entry matching. */
import { describe, expect, it } from 'vitest';
import { matchEntries, type AlertEntry, type CompiledEntry } from '../../../gateway/src/alerts/entries.ts';
import {
  compilePlateKey,
  normalisePlate,
  parsePlateKey,
  specificChars,
} from '../../../gateway/src/alerts/pattern.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';

describe('normalisePlate', () => {
  const cases: [string, string][] = [
    ['粤B 12345', '粤B12345'],
    ['粤b·12345', '粤B12345'],
    ['京Ａ１２３４５', '京A12345'],
    ['沪A-d1234-5', '沪AD12345'],
    [' 苏e*45 ', '苏E*45'],
  ];
  it.each(cases)('%j → %j', (input, want) => {
    expect(normalisePlate(input)).toBe(want);
  });
});

describe('parsePlateKey', () => {
  const accepted: [string, string, 'plate' | 'pattern'][] = [
    ['粤B12345', '粤B12345', 'plate'],
    ['粤BD12345', '粤BD12345', 'plate'],
    ['粤B1234学', '粤B1234学', 'plate'],
    ['京A·F0236', '京AF0236', 'plate'],
    ['粤B?2345', '粤B?2345', 'pattern'],
    ['*D12345', '*D12345', 'pattern'],
    ['京A1234?', '京A1234?', 'pattern'],
    ['*1234*', '*1234*', 'pattern'],
    ['?A12?45', '?A12?45', 'pattern'],
    ['*A1234', '*A1234', 'pattern'],
  ];
  it.each(accepted)('accepts %j as %j (%s)', (input, value, kind) => {
    expect(parsePlateKey(input)).toEqual({ value, kind });
  });

  const refused: [string, unknown, RegExp][] = [
    ['province only (place of origin)', '粤*', /fixes 0/],
    ['province and city letter only', '粤A*', /never for a place of origin/],
    ['province, letter and wildcards', '粤A?????', /fixes 0|more than two \?/],
    ['province and three digits', '京A?12*', /fixes 2/],
    ['only the city letter', '*A*', /fixes 1/],
    ['any province, city letter A', '?A*', /fixes 0/],
    ['two fixed in the middle', '粤B?23?5', /fixes 3/],
    ['three specific characters', '*123*', /fixes 3/],
    ['a province with a short tail', '粤B12*', /fixes 2/],
    ['three stars', '*1*2*34*', /at most two \*/],
    ['three ? in a row', '粤B???345', /more than two \?/],
    ['? next to *', '粤B1234?*', /next to \*/],
    ['invalid characters', '粤B12#45', /may contain only/],
    ['a Latin plate', 'AB12345', /not a complete plate/],
    ['a plate too short', '粤B1234', /not a complete plate/],
    ['I and O are not plate letters', '粤I12345', /not a complete plate/],
    ['empty', ' ', /empty/],
    ['not a string', 42, /must be a string/],
    ['too long', '粤B123456789012', /longer than 12/],
  ];
  it.each(refused)('refuses %s (%j)', (_n, input, message) => {
    let caught: unknown;
    try {
      parsePlateKey(input);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_ALERT_PATTERN')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });

  it('counts specific characters without the province character and the letter after it', () => {
    expect(specificChars('粤B12345')).toBe(5);
    expect(specificChars('粤BD1234')).toBe(5);
    expect(specificChars('*D12345')).toBe(6);
    expect(specificChars('粤A*')).toBe(0);
    expect(specificChars('?A12?45')).toBe(4);
    expect(specificChars('*A1234')).toBe(5);
    expect(parsePlateKey('*123*', 3).kind).toBe('pattern');
  });
});

describe('compilePlateKey', () => {
  const cases: [string, string, boolean][] = [
    ['粤B12345', '粤B12345', true],
    ['粤B12345', '粤B123456', false],
    ['粤B?2345', '粤B12345', true],
    ['粤B?2345', '粤BX2345', true],
    ['粤B?2345', '粤B2345', false],
    ['粤B?2345', '粤B02346', false],
    ['粤B?2345', '粤A12345', false],
    ['*D12345', '粤BD12345', true],
    ['*D12345', 'D12345', true],
    ['*D12345', '粤BD123456', false],
    ['*1234*', '京A12345', true],
    ['*1234*', '京A1243X', false],
    ['京A1234?', '京A1234学', true],
  ];
  it.each(cases)('%s matches %s: %s', (pattern, plate, want) => {
    expect(compilePlateKey(parsePlateKey(pattern))(plate)).toBe(want);
  });
});

describe('matchEntries', () => {
  const T = Date.UTC(2025, 5, 1);
  const entry = (over: Partial<AlertEntry>): CompiledEntry => {
    const e: AlertEntry = {
      entryId: 1,
      plate: '粤B12345',
      kind: 'plate',
      caseRef: 'C-1',
      reason: 'case C-1 stolen car',
      area: {},
      requestedBy: 'op1',
      requestedMs: T - 2000,
      approvedBy: 'op2',
      approvedMs: T - 1000,
      expiresMs: T + 86_400_000,
      revokedBy: null,
      revokedMs: null,
      revokeReason: null,
      status: 'active',
      ...over,
    };
    return { entry: e, test: compilePlateKey({ value: e.plate, kind: e.kind }) };
  };
  const place = { district: 'A', street: 'S1', community: '', grid: '' };
  const SKEW = 300_000;
  const cases: [string, Partial<AlertEntry>, number, number, boolean][] = [
    ['active entry, event now', {}, T, T, true],
    ['unapproved', { approvedBy: null, approvedMs: null }, T, T, false],
    ['revoked', { revokedMs: T - 1 }, T, T, false],
    ['expired now', { expiresMs: T }, T, T, false],
    ['event after expiry', { expiresMs: T + 10 }, T + 10, T + 5, false],
    ['event long before approval (a replay of old events)', {}, T - 1000 - SKEW - 1, T, false],
    ['event slightly before approval (edge clock lag)', {}, T - 1000 - SKEW, T, true],
    ['area elsewhere', { area: { district: 'B' } }, T, T, false],
    ['area here', { area: { district: 'A', street: 'S1' } }, T, T, true],
    ['another plate', { plate: '粤B54321' }, T, T, false],
  ];
  it.each(cases)('%s', (_n, over, eventTime, now, want) => {
    const hits = matchEntries([entry(over)], '粤B12345', place, eventTime, now, SKEW);
    expect(hits.length === 1).toBe(want);
  });

  it('an unregistered camera (no place) only hits entries covering everything', () => {
    expect(matchEntries([entry({})], '粤B12345', undefined, T, T, SKEW)).toHaveLength(1);
    expect(
      matchEntries([entry({ area: { district: 'A' } })], '粤B12345', undefined, T, T, SKEW),
    ).toHaveLength(0);
  });
});
