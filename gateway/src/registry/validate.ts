/**
 * Small field validators for registry, user, key and alert inputs. Each throws GatewayError
 * GATEWAY_ERR_INVALID_INPUT with a message that starts with the field path (`camera.latitude
 * must be between -90 and 90`), which the API layers return as a 400 with that message.
 * (HTTP and gRPC schemas validate shapes first; these re-check the domain rules so the stores
 * are safe to call from anywhere.)
 */
import { GatewayError } from '../errors.ts';

/** Throw GATEWAY_ERR_INVALID_INPUT for `field`. */
export function invalid(field: string, message: string): never {
  throw new GatewayError('GATEWAY_ERR_INVALID_INPUT', `${field} ${message}`);
}

// Control characters in names would let them forge log lines or break UIs.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/u;

/** The characters (code points) of `s`, so lengths count 粤 as one. */
export function chars(s: string): string[] {
  return Array.from(s);
}

/** Options of {@link text}. */
export interface TextRules {
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** Shown when `pattern` does not match. */
  patternHint?: string;
}

/** A trimmed string of `min`..`max` characters (default 1..200) without control characters. */
export function text(value: unknown, field: string, rules: TextRules = {}): string {
  if (typeof value !== 'string') return invalid(field, 'must be a string');
  const v = value.normalize('NFC').trim();
  const min = rules.min ?? 1;
  const max = rules.max ?? 200;
  const length = chars(v).length;
  if (length < min)
    return invalid(field, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
  if (length > max) return invalid(field, `must be at most ${max} characters`);
  if (CONTROL.test(v)) return invalid(field, 'must not contain control characters');
  if (rules.pattern !== undefined && !rules.pattern.test(v)) {
    return invalid(field, rules.patternHint ?? `must match ${String(rules.pattern)}`);
  }
  return v;
}

/** Like {@link text}, but undefined/null/'' give `fallback`. */
export function optionalText(value: unknown, field: string, rules: TextRules = {}, fallback = ''): string {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === ''))
    return fallback;
  return text(value, field, rules);
}

/** A finite number in [min, max]. */
export function num(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return invalid(field, 'must be a finite number');
  if (value < min || value > max) return invalid(field, `must be between ${min} and ${max}`);
  return value;
}

/** An integer in [min, max]. */
export function int(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) return invalid(field, 'must be an integer');
  if (value < min || value > max) return invalid(field, `must be between ${min} and ${max}`);
  return value;
}

/** A boolean. */
export function bool(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') return invalid(field, 'must be true or false');
  return value;
}

/** One of `allowed`. */
export function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    return invalid(field, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** A time in ms since the epoch (2000-01-01 .. 2200-01-01). */
export function timeMs(value: unknown, field: string): number {
  return int(value, field, 946_684_800_000, 7_258_118_400_000);
}
