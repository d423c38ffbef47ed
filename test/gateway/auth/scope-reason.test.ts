/** Area scope and reasons: pure, table-driven. */
import { describe, expect, it } from 'vitest';
import { requireReason } from '../../../gateway/src/auth/reason.ts';
import {
  cameraIdsInScope,
  formatScope,
  inScope,
  narrowScope,
  parseScope,
  placeToScope,
  scopeToPlace,
  type AreaScope,
} from '../../../gateway/src/auth/scope.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';

const place = (district: string, street = '', community = '', grid = '') => ({
  district,
  street,
  community,
  grid,
});

describe('parseScope', () => {
  const ok: [string, unknown, AreaScope][] = [
    ['undefined is global', undefined, {}],
    ['empty object is global', {}, {}],
    ['district', { district: 'A' }, { district: 'A' }],
    ['trimmed', { district: ' A ', street: ' S1' }, { district: 'A', street: 'S1' }],
    ['trailing empty levels dropped', { district: 'A', street: '', community: '  ' }, { district: 'A' }],
    [
      'full path',
      { district: 'A', street: 'S', community: 'C', grid: 'G7' },
      { district: 'A', street: 'S', community: 'C', grid: 'G7' },
    ],
    ['Chinese names', { district: '城关区', street: '东街道' }, { district: '城关区', street: '东街道' }],
  ];
  it.each(ok)('accepts %s', (_n, input, want) => {
    expect(parseScope(input)).toEqual(want);
  });

  const bad: [string, unknown, RegExp][] = [
    ['a level below an unset one', { street: 'S1' }, /scope\.street is set but scope\.district is not/],
    ['a gap in the middle', { district: 'A', community: 'C' }, /scope\.community is set but scope\.street/],
    ['unknown key', { district: 'A', city: 'X' }, /scope\.city is not a level/],
    ['non-string level', { district: 7 }, /scope\.district must be a string/],
    ['array', ['A'], /scope must be an object/],
    ['string', 'A', /scope must be an object/],
    ['overlong name', { district: 'x'.repeat(65) }, /longer than 64/],
  ];
  it.each(bad)('refuses %s', (_n, input, message) => {
    let caught: unknown;
    try {
      parseScope(input);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_INVALID_INPUT')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });
});

describe('inScope', () => {
  const cases: [AreaScope, ReturnType<typeof place> | undefined, boolean][] = [
    [{}, place('A', 'S1'), true],
    [{}, undefined, true],
    [{ district: 'A' }, place('A'), true],
    [{ district: 'A' }, place('A', 'S1', 'C1', 'G1'), true],
    [{ district: 'A' }, place('B', 'S1'), false],
    [{ district: 'A' }, undefined, false],
    [{ district: 'A', street: 'S1' }, place('A', 'S1', 'C9'), true],
    [{ district: 'A', street: 'S1' }, place('A', 'S2'), false],
    [{ district: 'A', street: 'S1' }, place('A'), false],
    [{ district: 'A', street: 'S1' }, place('B', 'S1'), false],
    [{ district: 'A', street: 'S1', community: 'C', grid: 'G' }, place('A', 'S1', 'C', 'G'), true],
    [{ district: 'A', street: 'S1', community: 'C', grid: 'G' }, place('A', 'S1', 'C', 'H'), false],
    [{ district: 'a' }, place('A'), false],
  ];
  it.each(cases)('%j contains %j: %s', (scope, p, want) => {
    expect(inScope(scope, p)).toBe(want);
  });

  it('treats a scope as the subtree it names', () => {
    expect(inScope({ district: 'A' }, { district: 'A', street: 'S1' })).toBe(true);
    expect(inScope({ district: 'A', street: 'S1' }, { district: 'A' })).toBe(false);
  });
});

describe('narrowScope', () => {
  const cases: [AreaScope, AreaScope | undefined, AreaScope | undefined][] = [
    [{ district: 'A' }, undefined, { district: 'A' }],
    [{ district: 'A' }, {}, { district: 'A' }],
    [{ district: 'A' }, { district: 'A', street: 'S1' }, { district: 'A', street: 'S1' }],
    [{ district: 'A', street: 'S1' }, { district: 'A' }, { district: 'A', street: 'S1' }],
    [{ district: 'A' }, { district: 'B' }, undefined],
    [{ district: 'A', street: 'S1' }, { district: 'A', street: 'S2' }, undefined],
    [{}, { district: 'B', street: 'S' }, { district: 'B', street: 'S' }],
  ];
  it.each(cases)('%j narrowed by %j is %j', (scope, area, want) => {
    expect(narrowScope(scope, area)).toEqual(want);
  });
});

describe('helpers', () => {
  it('cameraIdsInScope filters by place', () => {
    const cams = [
      { cameraId: 'c1', place: place('A', 'S1') },
      { cameraId: 'c2', place: place('A', 'S2') },
      { cameraId: 'c3', place: place('B', 'S1') },
      { cameraId: 'c4', place: place('A', 'S1', 'C1') },
    ];
    expect(cameraIdsInScope(cams, { district: 'A' })).toEqual(['c1', 'c2', 'c4']);
    expect(cameraIdsInScope(cams, { district: 'A', street: 'S1' })).toEqual(['c1', 'c4']);
    expect(cameraIdsInScope(cams, { district: 'C' })).toEqual([]);
    expect(cameraIdsInScope(cams, {})).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('converts between Place and scope', () => {
    expect(placeToScope(place('A', 'S1'))).toEqual({ district: 'A', street: 'S1' });
    expect(placeToScope(place('A', '', 'C'))).toEqual({ district: 'A' });
    expect(scopeToPlace({ district: 'A' })).toEqual(place('A'));
    expect(formatScope({})).toBe('(all)');
    expect(formatScope({ district: 'A', street: 'S1' })).toBe('A / S1');
  });
});

describe('requireReason', () => {
  const ok: [unknown, string][] = [
    ['2024-XS-0815', '2024-XS-0815'],
    ['  case  2024-17\t hit and run  ', 'case 2024-17 hit and run'],
    ['粤公刑立字2024第123号', '粤公刑立字2024第123号'],
    ['abc12345', 'abc12345'],
  ];
  it.each(ok)('accepts %j', (input, want) => {
    expect(requireReason(input)).toBe(want);
  });

  const bad: [string, unknown, RegExp][] = [
    ['missing', undefined, /reason is missing/],
    ['null', null, /reason is missing/],
    ['a number', 12345678, /reason must be a string/],
    ['empty', '', /reason is empty/],
    ['only spaces', '     \n  ', /reason is empty/],
    ['too short', 'case 1', /at least 8 characters \(got 6\)/],
    ['too long', 'x1'.repeat(300), /at most 500 characters/],
    ['meaningless', '........', /at least 3 different letters or digits/],
    ['one letter repeated', 'aaaaaaaaaa', /at least 3 different/],
    ['control characters', 'case 2024\u0000-17', /control characters/],
    ['line separator', 'case 2024\u2028forged', /control characters/],
  ];
  it.each(bad)('refuses %s with a field-level message', (_n, input, message) => {
    let caught: unknown;
    try {
      requireReason(input);
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_REASON_REQUIRED')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });

  it('takes other limits and another field name', () => {
    expect(requireReason('abcd', { minLength: 4 })).toBe('abcd');
    expect(() => requireReason('abc', { minLength: 4 }, 'body.reason')).toThrow(
      /body\.reason must be at least 4/,
    );
  });
});
