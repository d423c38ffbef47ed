/**
 * Tolerant readers of API JSON: each looks a field up by its snake_case name (the wire rule) and
 * falls back to the camelCase spelling (protobuf JSON), and gives a typed default when absent.
 */

/** A JSON object. */
export type Json = Record<string, unknown>;

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** The raw value of `name` in `o` (snake_case, else camelCase). */
export function field(o: unknown, name: string): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Json;
  const v = r[name];
  return v !== undefined ? v : r[camel(name)];
}

/** A string field ('' when absent). */
export function str(o: unknown, name: string, fallback = ''): string {
  const v = field(o, name);
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : fallback;
}

/** A number field (numbers sent as strings, as protobuf int64 JSON does, are accepted). */
export function num(o: unknown, name: string, fallback = 0): number {
  const v = field(o, name);
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return fallback;
}

/** A number field or null. */
export function numOrNull(o: unknown, name: string): number | null {
  const v = field(o, name);
  if (v === null || v === undefined) return null;
  const n = num(o, name, Number.NaN);
  return Number.isNaN(n) ? null : n;
}

/** A string field or null. */
export function strOrNull(o: unknown, name: string): string | null {
  const v = field(o, name);
  return typeof v === 'string' ? v : null;
}

/** A boolean field. */
export function bool(o: unknown, name: string, fallback = false): boolean {
  const v = field(o, name);
  return typeof v === 'boolean' ? v : fallback;
}

/** A boolean field or null. */
export function boolOrNull(o: unknown, name: string): boolean | null {
  const v = field(o, name);
  return typeof v === 'boolean' ? v : null;
}

/** An array field ([] when absent). */
export function arr(o: unknown, name: string): unknown[] {
  const v = field(o, name);
  return Array.isArray(v) ? v : [];
}

/** An object field (undefined when absent). */
export function obj(o: unknown, name: string): Json | undefined {
  const v = field(o, name);
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** An array of strings. */
export function strs(o: unknown, name: string): string[] {
  return arr(o, name).filter((x): x is string => typeof x === 'string');
}

/** The list in a body that is either a bare array or `{ [key]: [...] }` (or `items`). */
export function list(body: unknown, key: string): unknown[] {
  if (Array.isArray(body)) return body;
  const v = field(body, key);
  if (Array.isArray(v)) return v;
  const items = field(body, 'items');
  return Array.isArray(items) ? items : [];
}

/** Lower-case enum name without its protobuf prefix: `PLATE_COLOUR_BLUE` → `blue`. */
export function enumName(v: unknown, prefix: string): string {
  if (typeof v !== 'string') return '';
  const up = v.toUpperCase();
  return (up.startsWith(prefix) ? up.slice(prefix.length) : up).toLowerCase();
}
