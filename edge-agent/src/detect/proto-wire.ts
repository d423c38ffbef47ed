/**
 * Just enough of the protobuf wire format to edit an ONNX model in memory: a message is a list
 * of fields in file order, each kept as its raw bytes, so decoding and re-encoding an untouched
 * message gives back the same bytes. Used by face-graph.ts; no schema, no dependency.
 *
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited (sub-message, string, bytes, packed), 5
 * fixed32. Groups (3, 4) are obsolete and rejected.
 */
import { EdgeError } from '../errors.ts';

/** One field as it appeared on the wire. */
export interface WireField {
  no: number;
  wireType: 0 | 1 | 2 | 5;
  /** varint: the value; otherwise unused (0n). */
  varint: bigint;
  /** length-delimited, fixed32, fixed64: the payload; otherwise empty. */
  bytes: Uint8Array;
}

function fail(message: string): never {
  throw new EdgeError('EDGE_ERR_MODEL_LOAD', `model protobuf: ${message}`);
}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let value = 0n;
  for (let shift = 0n, p = pos; p < buf.length && shift < 70n; shift += 7n, p++) {
    const b = buf[p] as number;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value, p + 1];
  }
  return fail(`truncated or overlong varint at byte ${pos}`);
}

/** The fields of one message, in order. Throws EDGE_ERR_MODEL_LOAD on malformed bytes. */
export function decodeMessage(buf: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    const no = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (no < 1) fail(`field number ${no} at byte ${pos}`);
    pos = afterKey;
    if (wireType === 0) {
      const [v, next] = readVarint(buf, pos);
      fields.push({ no, wireType, varint: v, bytes: new Uint8Array(0) });
      pos = next;
    } else if (wireType === 1 || wireType === 5) {
      const n = wireType === 1 ? 8 : 4;
      if (pos + n > buf.length) fail(`truncated fixed field ${no}`);
      fields.push({ no, wireType, varint: 0n, bytes: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wireType === 2) {
      const [len, start] = readVarint(buf, pos);
      const end = start + Number(len);
      if (len > BigInt(buf.length) || end > buf.length) fail(`field ${no} runs past the end`);
      fields.push({ no, wireType, varint: 0n, bytes: buf.subarray(start, end) });
      pos = end;
    } else {
      fail(`unsupported wire type ${wireType} (field ${no})`);
    }
  }
  return fields;
}

function varintBytes(v: bigint): number[] {
  // Negative int64 values are written as their 64-bit two's complement (10 bytes).
  let x = v < 0n ? v + (1n << 64n) : v;
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return out;
}

/** Encode fields back into a message. */
export function encodeMessage(fields: readonly WireField[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (p: Uint8Array): void => {
    parts.push(p);
    size += p.length;
  };
  for (const f of fields) {
    push(Uint8Array.from(varintBytes(BigInt((f.no << 3) | f.wireType))));
    if (f.wireType === 0) push(Uint8Array.from(varintBytes(f.varint)));
    else {
      if (f.wireType === 2) push(Uint8Array.from(varintBytes(BigInt(f.bytes.length))));
      push(f.bytes);
    }
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/** A length-delimited field holding a sub-message or a string. */
export function bytesField(no: number, bytes: Uint8Array): WireField {
  return { no, wireType: 2, varint: 0n, bytes };
}

/** A string field. */
export function stringField(no: number, s: string): WireField {
  return bytesField(no, utf8Encoder.encode(s));
}

/** A varint field (int32, int64, enum; negative int64 as two's complement). */
export function varintField(no: number, v: bigint | number): WireField {
  return { no, wireType: 0, varint: BigInt(v), bytes: new Uint8Array(0) };
}

/** The fields numbered `no`. */
export function fieldsNumbered(fields: readonly WireField[], no: number): WireField[] {
  return fields.filter((f) => f.no === no);
}

/** Every string in the (repeated) string field `no`. */
export function strings(fields: readonly WireField[], no: number): string[] {
  return fieldsNumbered(fields, no).map((f) => utf8.decode(f.bytes));
}

/** The last value of string field `no` ('' when absent, as proto3 reads it). */
export function stringOf(fields: readonly WireField[], no: number): string {
  return strings(fields, no).at(-1) ?? '';
}

/** A varint read as a signed 64-bit integer. */
export function signed64(v: bigint): bigint {
  return v >= 1n << 63n ? v - (1n << 64n) : v;
}

/** Every value of the repeated int64 field `no`, packed or not. */
export function int64s(fields: readonly WireField[], no: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fieldsNumbered(fields, no)) {
    if (f.wireType === 0) out.push(signed64(f.varint));
    else if (f.wireType === 2) {
      for (let pos = 0; pos < f.bytes.length;) {
        const [v, next] = readVarint(f.bytes, pos);
        out.push(signed64(v));
        pos = next;
      }
    } else fail(`field ${no} is not an int64 list`);
  }
  return out;
}

/** A packed repeated int64 field. */
export function packedInt64Field(no: number, values: readonly bigint[]): WireField {
  return bytesField(no, Uint8Array.from(values.flatMap((v) => varintBytes(v))));
}
