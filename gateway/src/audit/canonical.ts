/**
 * Canonical JSON and the audit record hash: pure functions shared by appending and verifying.
 *
 * canonical(value): JSON with object keys sorted by UTF-16 code unit, no whitespace, `undefined`
 * object members dropped. Refused (TypeError): non-finite numbers, bigint, functions, symbols,
 * `undefined` inside arrays, and cycles — anything whose JSON form would not round-trip.
 *
 * hash = sha256_hex(canonical({seq, time_ms, actor, action, target, details}) + prev_hash).
 * The first record's prev_hash is {@link GENESIS_HASH}.
 */
import { createHash } from 'node:crypto';

/** prev_hash of the first record: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** The part of an audit record that its hash covers. */
export interface HashedFields {
  seq: number;
  time_ms: number;
  actor: string;
  action: string;
  target: string;
  details: unknown;
}

function write(value: unknown, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (seen.has(value)) throw new TypeError('canonical JSON: cycle');
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          return `[${value
            .map((v: unknown) => {
              if (v === undefined) throw new TypeError('canonical JSON: undefined in an array');
              return write(v, seen);
            })
            .join(',')}]`;
        }
        if (value instanceof Date) return JSON.stringify(value.toISOString());
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new TypeError(`canonical JSON: not a plain object (${value.constructor.name})`);
        }
        const entries = Object.entries(value)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v, seen)}`).join(',')}}`;
      } finally {
        seen.delete(value);
      }
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof value}`);
  }
}

/** The canonical JSON text of `value` (see the module comment). */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

/** Lower-case hex sha256 of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The hash of a record: sha256(canonical(fields) + prev_hash). */
export function recordHash(fields: HashedFields, prevHash: string): string {
  const canonical = canonicalJson({
    seq: fields.seq,
    time_ms: fields.time_ms,
    actor: fields.actor,
    action: fields.action,
    target: fields.target,
    details: fields.details,
  });
  return sha256Hex(canonical + prevHash);
}
