/**
 * Request validation for the REST API with TypeBox's compiler (fastify's validator compiler for
 * the API's routes): bodies are checked as sent (no coercion, unknown fields refused); query
 * strings and path parameters are strings on the wire, so numbers, booleans and lists are parsed
 * strictly first (`limit=1.5` is an error, never 1; lists are repeated or comma-separated).
 * Defaults from the schema are applied. A failure is an ApiInputError naming the field in
 * snake_case (`place.district`, `kinds[1]`) → 400 `{error: {code, message, field}}`.
 */
import type { TSchema } from '@sinclair/typebox';
import type { ValueError } from '@sinclair/typebox/errors';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import { ApiInputError } from './core/errors.ts';

/** `/place/district` → `place.district`; `/kinds/1` → `kinds[1]`. */
export function fieldOfPath(path: string, part: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  let out = '';
  for (const p of parts) {
    const name = p.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(name)) out += `[${name}]`;
    else out += out === '' ? name : `.${name}`;
  }
  return out === '' ? part : out;
}

type JsonSchema = Record<string, unknown>;

function typeOf(schema: JsonSchema | undefined): string | undefined {
  const t = schema?.type;
  return typeof t === 'string' ? t : undefined;
}

function coerceScalar(value: unknown, schema: JsonSchema | undefined): unknown {
  if (typeof value !== 'string') return value;
  const t = typeOf(schema);
  if ((t === 'integer' || t === 'number') && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value.trim())) {
    return Number(value);
  }
  if (t === 'boolean') {
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
  }
  return value;
}

/** Parse the string values of a query or params object per `schema` (a TypeBox object). */
export function coerceStrings(data: unknown, schema: JsonSchema): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    const ps = props[key];
    if (typeOf(ps) === 'array') {
      const items = (ps?.items ?? {}) as JsonSchema;
      // Lists hold ids and names, which never contain commas: `a,b` is the same as `x=a&x=b`.
      const list = (Array.isArray(value) ? value : [value]).flatMap((v: unknown) =>
        typeof v === 'string' ? v.split(',') : [v],
      );
      out[key] = list.filter((v) => v !== '').map((v) => coerceScalar(v, items));
    } else {
      out[key] = Array.isArray(value) ? value.map((v) => coerceScalar(v, ps)) : coerceScalar(value, ps);
    }
  }
  return out;
}

/**
 * The most specific error: for a union (`T | null`, enums), the variant whose first error lies
 * deepest, so `position.latitude must be <= 90` rather than `position does not match`.
 */
function deepest(e: ValueError | undefined): ValueError | undefined {
  if (e === undefined || e.errors.length === 0) return e;
  let best = e;
  for (const it of e.errors) {
    const sub = deepest(it.First());
    if (sub !== undefined && sub.path.length > best.path.length) best = sub;
  }
  return best;
}

/** The validator compiler for the API's routes. */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const part = httpPart ?? 'body';
  const check = TypeCompiler.Compile(schema);
  const strings = part === 'querystring' || part === 'params';
  const headers = part === 'headers';
  return (data: unknown) => {
    // No body at all is an empty object (POST /…/ack): the schema still says what is required.
    let value: unknown = data ?? {};
    if (strings) value = coerceStrings(value, schema);
    value = Value.Default(schema, value);
    if (headers) return { value: data };
    if (check.Check(value)) return { value };
    const first = deepest(check.Errors(value).First());
    if (first === undefined) return { error: new ApiInputError(part, 'is invalid') };
    const field = fieldOfPath(first.path, part);
    const message =
      first.message === 'Unexpected property'
        ? 'is not a known field'
        : first.message === 'Expected required property'
          ? 'is required'
          : first.message.replace(/^Expected /, 'must be ');
    return { error: new ApiInputError(field, message) };
  };
};
