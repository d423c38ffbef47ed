/**
 * Plates and plate patterns of alert entries: normalisation, validation and matching. Pure.
 *
 * A pattern uses `?` (exactly one character) and `*` (any run, possibly empty). Guardrail (a
 * product decision, see ARCHITECTURE "Guardrails"): an alert entry concerns one case's vehicle,
 * never a place of origin or a group. So a pattern must pin down enough of the plate to be
 * specific to a case:
 * - at least {@link DEFAULT_MIN_SPECIFIC_CHARS} literal *serial* characters, i.e. letters and
 *   digits that are neither the province character nor the issuing-authority letter in the
 *   second position (after a province character or a `?`): those two say where a car is
 *   registered, nothing about which car it is. `粤*`, `粤A*`, `?A*`, `京A?12*`, `粤B?23?5` are
 *   refused; `粤B?2345`, `*D12345`, `京A1234?`, `?A12?45` are accepted;
 * - at most two `*`, and no more than two `?` in a row.
 * A plate without wildcards must be a complete plate (province character, letter, 5–6
 * letters/digits, optional suffix).
 */
import { GatewayError } from '../errors.ts';
import { chars } from '../registry/validate.ts';

/** Province characters that open a plate. */
export const PROVINCE_CHARS = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼';

/** Suffix characters (trailer, learner, police, Hong Kong, Macau). */
export const SUFFIX_CHARS = '挂学警港澳';

/** A complete normalised plate. */
export const PLATE_RE = new RegExp(
  `^[${PROVINCE_CHARS}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9${SUFFIX_CHARS}]$`,
  'u',
);

/** Fewest literal serial characters a pattern needs (see the module comment). */
export const DEFAULT_MIN_SPECIFIC_CHARS = 4;

const PATTERN_CHARS = new RegExp(`^[${PROVINCE_CHARS}${SUFFIX_CHARS}A-Z0-9?*]+$`, 'u');
const MAX_PATTERN_LENGTH = 12;

/** A plate or pattern as people type it → canonical form: NFKC (full-width → ASCII), upper case, no separators. */
export function normalisePlate(input: string): string {
  return input
    .normalize('NFKC')
    .toUpperCase()
    .replace(/[\s·.\-•_]/gu, '');
}

/** A validated entry key. */
export interface PlateKey {
  /** Canonical form. */
  value: string;
  /** `plate`: exact plate; `pattern`: has wildcards. */
  kind: 'plate' | 'pattern';
}

function refuse(message: string): never {
  throw new GatewayError('GATEWAY_ERR_ALERT_PATTERN', message);
}

/** Literal serial characters of a pattern (see the module comment). */
export function specificChars(pattern: string): number {
  const list = chars(pattern);
  let count = 0;
  list.forEach((c, i) => {
    if (c === '?' || c === '*' || PROVINCE_CHARS.includes(c)) return;
    // The issuing-authority letter: second, after a province character or a `?` standing for one.
    const prev = list[i - 1] ?? '';
    if (i === 1 && (PROVINCE_CHARS.includes(prev) || prev === '?') && /[A-Z]/.test(c)) return;
    count++;
  });
  return count;
}

/**
 * Validate a plate or pattern for an alert entry. Throws GATEWAY_ERR_ALERT_PATTERN with the
 * reason (including the place-of-origin guardrail).
 */
export function parsePlateKey(input: unknown, minSpecificChars = DEFAULT_MIN_SPECIFIC_CHARS): PlateKey {
  if (typeof input !== 'string') return refuse('plate must be a string');
  const value = normalisePlate(input);
  if (value.length === 0) return refuse('plate is empty');
  if (chars(value).length > MAX_PATTERN_LENGTH)
    return refuse(`plate is longer than ${MAX_PATTERN_LENGTH} characters`);
  if (!PATTERN_CHARS.test(value)) {
    return refuse(
      'plate may contain only a province character, letters, digits, a suffix (挂学警港澳), ? and *',
    );
  }
  if (!value.includes('?') && !value.includes('*')) {
    if (!PLATE_RE.test(value)) {
      return refuse(
        `${value} is not a complete plate (province character, letter, 5–6 letters or digits, optional suffix)`,
      );
    }
    return { value, kind: 'plate' };
  }
  if ((value.match(/\*/g) ?? []).length > 2) return refuse('a pattern may have at most two *');
  if (/\?{3,}/.test(value)) return refuse('a pattern may not have more than two ? in a row');
  if (/\*\?|\?\*|\*\*/.test(value)) return refuse('a pattern may not put ? or * next to *');
  const specific = specificChars(value);
  if (specific < minSpecificChars) {
    return refuse(
      `a pattern must fix at least ${minSpecificChars} letters or digits of the plate's serial ` +
        `(the province character and the letter after it do not count: alerts are for a case's vehicle, ` +
        `never for a place of origin); ${value} fixes ${specific}`,
    );
  }
  return { value, kind: 'pattern' };
}

/** A matcher for a validated key (anchored; `?` one character, `*` any run). */
export function compilePlateKey(key: PlateKey): (plate: string) => boolean {
  if (key.kind === 'plate') return (plate) => plate === key.value;
  const source = chars(key.value)
    .map((c) => (c === '?' ? '.' : c === '*' ? '.*' : c))
    .join('');
  const re = new RegExp(`^${source}$`, 'u');
  return (plate) => re.test(plate);
}
