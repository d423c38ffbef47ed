/**
 * Plate text as the index stores and searches it: one normalisation for writes and queries, the
 * bounded bucket an exact plate lives in, and the translation of a wildcard pattern (`?` one
 * character, `*` any run) into an anchored RE2 regular expression whose literal characters are
 * escaped. Pure functions, table-tested.
 */

/**
 * How many plate buckets the `plate_lookup_16k` measurement has. A schema constant: changing it
 * moves every plate to another bucket, so it needs a new measurement name (see decisions.md), as
 * the change from 4 096 (`plate_lookup`) did.
 */
export const PLATE_BUCKETS = 16_384;

/** Buckets of the legacy `plate_lookup` measurement: still read while it holds events, never written. */
export const LEGACY_PLATE_BUCKETS = 4096;

/** Longest plate text or pattern, in Unicode code points (Chinese plates have 7 or 8). */
export const MAX_PLATE_CHARS = 16;

/** Characters people type (or OCR reads) between plate characters; dropped by normalisation. */
const SEPARATORS = /[\s·•・‧.\-_]/gu;

/** What a normalised plate consists of: Han characters, A–Z, 0–9. */
const PLATE_CHAR = /^[\p{Script=Han}A-Z0-9]$/u;

/** Why a plate text or pattern was refused; `undefined` when it is fine. */
export type PlateProblem = string | undefined;

/**
 * Normalise plate text: NFKC (full-width letters and digits become ASCII), upper case, and the
 * separators `· • ・ ‧ . - _` and white space removed. `京a·12345` → `京A12345`.
 */
export function normalisePlate(text: string): string {
  return text.normalize('NFKC').toUpperCase().replace(SEPARATORS, '');
}

/** Why normalised `plate` is not a plate the index accepts, or undefined. */
export function plateProblem(plate: string): PlateProblem {
  const chars = Array.from(plate);
  if (chars.length < 2) return 'must have at least 2 characters';
  if (chars.length > MAX_PLATE_CHARS) return `must have at most ${MAX_PLATE_CHARS} characters`;
  const bad = chars.find((c) => !PLATE_CHAR.test(c));
  if (bad !== undefined) return `character ${JSON.stringify(bad)} is not a Han character, A-Z or 0-9`;
  return undefined;
}

/** Why normalised `pattern` is not a usable wildcard pattern, or undefined. */
export function patternProblem(pattern: string): PlateProblem {
  const chars = Array.from(pattern);
  if (chars.length < 2) return 'must have at least 2 characters';
  if (chars.length > MAX_PLATE_CHARS) return `must have at most ${MAX_PLATE_CHARS} characters`;
  const bad = chars.find((c) => c !== '?' && c !== '*' && !PLATE_CHAR.test(c));
  if (bad !== undefined) {
    return `character ${JSON.stringify(bad)} is not a Han character, A-Z, 0-9, ? or *`;
  }
  if (!chars.some((c) => c !== '?' && c !== '*')) return 'must contain at least one plate character';
  return undefined;
}

/** 32-bit FNV-1a over the UTF-8 bytes of `text`. Stable across versions: part of the schema. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The bucket (0 … PLATE_BUCKETS − 1) of a normalised plate, as its tag value. */
export function plateBucket(plate: string): string {
  return String(fnv1a32(plate) % PLATE_BUCKETS);
}

/** The bucket of a normalised plate in the legacy `plate_lookup` measurement. */
export function legacyPlateBucket(plate: string): string {
  return String(fnv1a32(plate) % LEGACY_PLATE_BUCKETS);
}

/** RE2 (Go regexp) metacharacters; each is escaped with a backslash when it is literal. */
const REGEX_META = new Set(['\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$', '/']);

/**
 * Escape `text` so that, inside an RE2 (and a JavaScript) regular expression, it matches itself
 * literally. Only punctuation is escaped: in RE2 a backslash before a letter or digit is a class
 * or an error (`\A`, `\pN`), never a literal. `/` is escaped too, so the result can also sit
 * between InfluxQL's regex delimiters. Control characters (newline, NUL, …) become `\x{…}`.
 */
export function escapeRegexLiteral(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (REGEX_META.has(ch)) out += `\\${ch}`;
    else if (cp < 0x20 || cp === 0x7f) out += `\\x{${cp.toString(16)}}`;
    else out += ch;
  }
  return out;
}

/**
 * The anchored regular expression (RE2 syntax, also valid JavaScript without the `x{}` escapes)
 * for a wildcard pattern: `?` is exactly one character, `*` any run (runs of `*` collapse), every
 * other character literal and escaped. `京A1?3*` → `^京A1.3.*$`.
 */
export function wildcardToRegex(pattern: string): string {
  let out = '^';
  let lastStar = false;
  for (const ch of pattern) {
    if (ch === '*') {
      if (!lastStar) out += '.*';
      lastStar = true;
      continue;
    }
    lastStar = false;
    out += ch === '?' ? '.' : escapeRegexLiteral(ch);
  }
  return `${out}$`;
}
