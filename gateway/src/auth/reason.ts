/**
 * The stated reason every event search, export, stream and evidence fetch carries: a case
 * reference (`2024-XS-0815`) or a short description. It is written to the audit log with the
 * request. A missing, empty or meaningless reason is refused with a field-level message.
 */
import { GatewayError } from '../errors.ts';
import { chars } from '../registry/validate.ts';

/** Limits of a reason. */
export interface ReasonRules {
  /** Fewest characters after trimming (default 8: enough for a case reference). */
  minLength: number;
  /** Most characters (default 500). */
  maxLength: number;
  /** Fewest distinct letters or digits (default 3: refuses `........` and `aaaaaaaa`). */
  minDistinct: number;
}

/** Defaults of {@link ReasonRules}. */
export const DEFAULT_REASON_RULES: ReasonRules = Object.freeze({
  minLength: 8,
  maxLength: 500,
  minDistinct: 3,
});

// Control characters other than ordinary whitespace would let a reason forge log lines.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u2028\u2029]/u;

/**
 * The reason in `input`, trimmed and with runs of whitespace collapsed to one space. Throws
 * GatewayError GATEWAY_ERR_REASON_REQUIRED with a message starting with `field`.
 */
export function requireReason(input: unknown, rules: Partial<ReasonRules> = {}, field = 'reason'): string {
  const r = { ...DEFAULT_REASON_RULES, ...rules };
  const fail = (why: string): never => {
    throw new GatewayError('GATEWAY_ERR_REASON_REQUIRED', `${field} ${why}`);
  };
  if (input === undefined || input === null)
    return fail('is missing: state a case reference or why the data is needed');
  if (typeof input !== 'string') return fail('must be a string');
  if (CONTROL.test(input)) return fail('must not contain control characters');
  const text = input.normalize('NFC').trim().replace(/\s+/gu, ' ');
  if (text.length === 0) return fail('is empty: state a case reference or why the data is needed');
  const length = chars(text).length;
  if (length < r.minLength) return fail(`must be at least ${r.minLength} characters (got ${length})`);
  if (length > r.maxLength) return fail(`must be at most ${r.maxLength} characters (got ${length})`);
  const distinct = new Set(chars(text.toLowerCase()).filter((c) => /[\p{L}\p{N}]/u.test(c)));
  if (distinct.size < r.minDistinct)
    return fail(`must contain at least ${r.minDistinct} different letters or digits`);
  return text;
}
