/** Plate normalisation, buckets and wildcard → regex translation (pure, table-driven). */
import { describe, expect, it } from 'vitest';
import {
  escapeRegexLiteral,
  legacyPlateBucket,
  fnv1a32,
  normalisePlate,
  patternProblem,
  PLATE_BUCKETS,
  plateBucket,
  plateProblem,
  wildcardToRegex,
} from '../../../gateway/src/index/plate.ts';

describe('normalisePlate', () => {
  it.each([
    ['京A12345', '京A12345'],
    ['京a12345', '京A12345'],
    ['京A·12345', '京A12345'],
    ['京A 123 45', '京A12345'],
    ['京A-123.45', '京A12345'],
    ['京Ａ１２３４５', '京A12345'],
    ['粤b•d1234_5', '粤BD12345'],
    [' 沪C\t0000挂 ', '沪C0000挂'],
    ['京A1?3*', '京A1?3*'],
  ])('%j → %j', (input, out) => {
    expect(normalisePlate(input)).toBe(out);
  });
});

describe('plateProblem / patternProblem', () => {
  it.each([
    ['京A12345', undefined],
    ['粤BD12345', undefined],
    ['沪C0000挂', undefined],
    ['AB', undefined],
    ['京', 'must have at least 2 characters'],
    ['京A123456789012345', 'must have at most 16 characters'],
    ["京A1'", 'character "\'" is not a Han character, A-Z or 0-9'],
    ['京A1?', 'character "?" is not a Han character, A-Z or 0-9'],
    ['京a1', 'character "a" is not a Han character, A-Z or 0-9'],
    ['京A\n1', 'character "\\n" is not a Han character, A-Z or 0-9'],
    ['京🚗', 'character "🚗" is not a Han character, A-Z or 0-9'],
  ])('plate %j → %j', (plate, problem) => {
    expect(plateProblem(plate)).toBe(problem);
  });

  it.each([
    ['京A1?3*', undefined],
    ['*45', undefined],
    ['??', 'must contain at least one plate character'],
    ['**', 'must contain at least one plate character'],
    ['*', 'must have at least 2 characters'],
    ['京A.*', 'character "." is not a Han character, A-Z, 0-9, ? or *'],
    ['京A[1]', 'character "[" is not a Han character, A-Z, 0-9, ? or *'],
    ['京A/', 'character "/" is not a Han character, A-Z, 0-9, ? or *'],
    ['京A\\', 'character "\\\\" is not a Han character, A-Z, 0-9, ? or *'],
  ])('pattern %j → %j', (pattern, problem) => {
    expect(patternProblem(pattern)).toBe(problem);
  });
});

describe('plate buckets', () => {
  it('FNV-1a matches its reference values (the bucket of a stored plate never changes)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(plateBucket('京A12345')).toBe(String(fnv1a32('京A12345') % 16_384));
    expect(legacyPlateBucket('京A12345')).toBe(String(fnv1a32('京A12345') % 4096));
  });

  it('spreads plates evenly over the buckets', () => {
    const counts = new Array<number>(PLATE_BUCKETS).fill(0);
    const n = 2_000_000;
    for (let i = 0; i < n; i++) {
      const b = Number(plateBucket(`京${String.fromCharCode(65 + (i % 24))}${String(i).padStart(5, '0')}`));
      counts[b] = (counts[b] ?? 0) + 1;
    }
    const mean = n / PLATE_BUCKETS;
    expect(Math.max(...counts)).toBeLessThan(mean * 1.5);
    expect(Math.min(...counts)).toBeGreaterThan(mean * 0.5);
  });
});

describe('escapeRegexLiteral', () => {
  it.each([
    ['abc', 'abc'],
    ['京A', '京A'],
    ['.', '\\.'],
    ['a+b*c?', 'a\\+b\\*c\\?'],
    ['(x|y)', '\\(x\\|y\\)'],
    ['[a]{2}', '\\[a\\]\\{2\\}'],
    ['^$', '\\^\\$'],
    ['\\', '\\\\'],
    ['/', '\\/'],
    ['a\nb', 'a\\x{a}b'],
    ['\u0000', '\\x{0}'],
  ])('%j → %j', (text, out) => {
    expect(escapeRegexLiteral(text)).toBe(out);
  });

  it('escaped text matches exactly itself', () => {
    const samples = [
      '.*',
      '^.*$',
      'a|b',
      '(?:x)',
      '[^a]',
      'a{1,3}',
      '\\d',
      "' OR '1'='1",
      '/x/',
      '$p0',
      '京A1?3*',
    ];
    for (const s of samples) {
      const re = new RegExp(`^${escapeRegexLiteral(s)}$`, 'u');
      expect(re.test(s)).toBe(true);
      expect(re.test(`${s}x`)).toBe(false);
      expect(re.test('anything else')).toBe(false);
    }
  });
});

describe('wildcardToRegex', () => {
  it.each([
    ['京A1?3*', '^京A1.3.*$'],
    ['*45', '^.*45$'],
    ['京A**5', '^京A.*5$'],
    ['京A12345', '^京A12345$'],
    ['??1', '^..1$'],
  ])('%j → %j', (pattern, re) => {
    expect(wildcardToRegex(pattern)).toBe(re);
  });

  it.each([
    ['京A1?3*', ['京A1234', '京A1X3', '京A1B3C5'], ['京A13', '京A1234X'.slice(0, 3), '沪A1234', 'x京A1234']],
    ['*45', ['京A12345', '45', '京45'], ['京A12354', '京A123456']],
    ['京?1', ['京A1', '京京1'], ['京1', '京AB1']],
  ])('%j matches what it should (one character per ?, in code points)', (pattern, yes, no) => {
    const re = new RegExp(wildcardToRegex(pattern), 'u');
    for (const s of yes) expect(re.test(s), s).toBe(true);
    for (const s of no) expect(re.test(s), s).toBe(false);
  });
});
