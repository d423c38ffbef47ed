/**
 * Which recogniser reads are Chinese licence plates: normalise the text (separators, full-width,
 * case, the few OCR confusions the plate format makes unambiguous), match the plate formats
 * (GA 36-2018), and check the read against the crop's colour and shape. Shop signs, OSD clocks
 * and other text fail here.
 */
import type { PlateColourName } from './types.ts';

/** Province (and municipality/region) abbreviations that start a plate. */
export const PLATE_PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼';

const P = `[${PLATE_PROVINCES}]`;
/** Letters used on plates: A–Z without I and O. */
const L = '[A-HJ-NP-Z]';
const LD = '[A-HJ-NP-Z0-9]';

/** Plate families by format. */
export type PlateFormat =
  /** Province, letter, 5 letters/digits (blue small car, yellow large vehicle, black foreign). */
  | 'standard'
  /** Province, letter, 4 letters/digits, one of 挂学警港澳领 (trailer, coach, police, HK, Macau, consulate). */
  | 'suffix'
  /** New energy, small car: province, letter, D/F, a letter or digit, 4 digits (green). */
  | 'new-energy-small'
  /** New energy, large vehicle: province, letter, 5 digits, D/F (yellow-green). */
  | 'new-energy-large';

/** The formats as regular expressions over normalised text. */
export const PLATE_FORMATS: Readonly<Record<PlateFormat, RegExp>> = {
  standard: new RegExp(`^${P}${L}${LD}{5}$`),
  suffix: new RegExp(`^${P}${L}${LD}{4}[挂学警港澳领]$`),
  'new-energy-small': new RegExp(`^${P}${L}[DF]${LD}[0-9]{4}$`),
  'new-energy-large': new RegExp(`^${P}${L}[0-9]{5}[DF]$`),
};

/**
 * A standard serial has at most this many letters (issued serials have at most two; a third is
 * tolerance). Words on signs that happen to follow a province character are rejected by it.
 */
export const MAX_SERIAL_LETTERS = 3;

/** The format `text` (normalised) matches, or undefined. New-energy formats win over standard. */
export function plateFormatOf(text: string): PlateFormat | undefined {
  if (PLATE_FORMATS['new-energy-small'].test(text)) return 'new-energy-small';
  if (PLATE_FORMATS['new-energy-large'].test(text)) return 'new-energy-large';
  if (PLATE_FORMATS.suffix.test(text)) return 'suffix';
  if (PLATE_FORMATS.standard.test(text)) {
    const letters = Array.from(text.slice(2)).filter((c) => c >= 'A' && c <= 'Z').length;
    return letters <= MAX_SERIAL_LETTERS ? 'standard' : undefined;
  }
  return undefined;
}

/** Characters a read may contain between plate characters: the plate's dot, spaces, dashes. */
const SEPARATORS = new Set([
  ' ',
  '·',
  '•',
  '・',
  '‧',
  '∙',
  '.',
  '。',
  '-',
  '‐',
  '–',
  '—',
  '_',
  '、',
  ',',
  '，',
  ':',
  '：',
  "'",
  '"',
  '`',
  '|',
]);

/** One character of a read with its confidence. */
export interface ScoredChar {
  ch: string;
  confidence: number;
}

/** Full-width ASCII (U+FF01–FF5E) → ASCII, ideographic space → space; letters upper-cased. */
function narrow(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  let out = ch;
  if (cp >= 0xff01 && cp <= 0xff5e) out = String.fromCodePoint(cp - 0xfee0);
  else if (cp === 0x3000) out = ' ';
  return out.toUpperCase();
}

/** Whether a character is 7-bit ASCII. */
function isAscii(ch: string): boolean {
  return (ch.codePointAt(0) ?? 0) < 0x80;
}

/** Whether a character is a plate letter or digit. */
function isAlnum(ch: string): boolean {
  return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
}

/**
 * Normalise a read: full-width → ASCII, upper case, separators dropped, then fix the confusions
 * the plate format makes unambiguous:
 * - a plate starts with exactly one CJK character, the province: when a read starts with two
 *   (the recogniser split one condensed glyph into two), the one that is a province stays — the
 *   more confident one if both are;
 * - I and O never appear on plates, so after the letter in position 2 they are 1 and 0;
 * - an 8-character read with a 0 in position 3 followed by a letter/digit and 4 digits is a
 *   small new-energy plate whose D was read as 0.
 * Each character keeps its confidence.
 */
export function normalisePlateRead(chars: readonly ScoredChar[]): ScoredChar[] {
  const out: ScoredChar[] = [];
  for (const { ch, confidence } of chars) {
    for (const c of Array.from(narrow(ch))) {
      if (SEPARATORS.has(c)) continue;
      out.push({ ch: c, confidence });
    }
  }
  const [first, second] = out;
  if (first !== undefined && second !== undefined && !isAscii(first.ch) && !isAscii(second.ch)) {
    const p0 = PLATE_PROVINCES.includes(first.ch);
    const p1 = PLATE_PROVINCES.includes(second.ch);
    if (p0 && (!p1 || first.confidence >= second.confidence)) out.splice(1, 1);
    else if (p1) out.splice(0, 1);
  }
  for (let i = 2; i < out.length; i++) {
    const c = out[i] as ScoredChar;
    if (c.ch === 'O') c.ch = '0';
    else if (c.ch === 'I') c.ch = '1';
  }
  const third = out[2];
  if (out.length === 8 && third?.ch === '0') {
    const tail = out.slice(3).map((c) => c.ch);
    if (tail.every(isAlnum) && tail.slice(1).every((c) => c >= '0' && c <= '9')) third.ch = 'D';
  }
  return out;
}

/** Plate aspect (width/height of the text quad) accepted, wide enough for ±15° of perspective. */
export const PLATE_ASPECT_RANGE: Readonly<{ min: number; max: number }> = { min: 2.2, max: 6.5 };

/** Whether a text quad's width/height ratio can be a plate's character line. */
export function isPlateAspect(aspect: number): boolean {
  return aspect >= PLATE_ASPECT_RANGE.min && aspect <= PLATE_ASPECT_RANGE.max;
}

/**
 * Whether a plate of `format` (text `text`) can have background `colour`. Unknown colour never
 * conflicts (night, IR, washed-out crops). Green is only new energy and new energy is green (or
 * yellow-green for large vehicles); 警 is white, 港/澳 black, 挂/学 yellow.
 */
export function colourMatchesFormat(format: PlateFormat, text: string, colour: PlateColourName): boolean {
  if (colour === 'unknown') return true;
  switch (format) {
    case 'new-energy-small':
      return colour === 'green' || colour === 'white';
    case 'new-energy-large':
      return colour === 'green' || colour === 'yellow';
    case 'suffix': {
      const suffix = Array.from(text).pop() ?? '';
      if (suffix === '警') return colour === 'white';
      if (suffix === '港' || suffix === '澳' || suffix === '领') return colour === 'black';
      return colour === 'yellow';
    }
    case 'standard':
      return colour !== 'green';
  }
}

/** Why a read is not a plate. */
export type PlateRejection = 'format' | 'aspect' | 'colour' | 'confidence';

/** The verdict on one read. */
export type PlateVerdict =
  | { ok: true; text: string; charConfidences: number[]; confidence: number; format: PlateFormat }
  | { ok: false; reason: PlateRejection; text: string };

/** Everything the filter looks at for one text box. */
export interface PlateCandidate {
  chars: readonly ScoredChar[];
  /** Width/height of the text quad. */
  aspect: number;
  colour: PlateColourName;
}

/**
 * Decide whether a read is a plate: normalise, match a format, check aspect and colour, and
 * require the mean character confidence to reach `minConfidence`.
 */
export function judgePlate(candidate: PlateCandidate, minConfidence = 0): PlateVerdict {
  const chars = normalisePlateRead(candidate.chars);
  const text = chars.map((c) => c.ch).join('');
  const format = plateFormatOf(text);
  if (format === undefined) return { ok: false, reason: 'format', text };
  if (!isPlateAspect(candidate.aspect)) return { ok: false, reason: 'aspect', text };
  if (!colourMatchesFormat(format, text, candidate.colour)) return { ok: false, reason: 'colour', text };
  const charConfidences = chars.map((c) => c.confidence);
  const confidence = charConfidences.reduce((a, b) => a + b, 0) / charConfidences.length;
  if (confidence < minConfidence) return { ok: false, reason: 'confidence', text };
  return { ok: true, text, charConfidences, confidence, format };
}
