/**
 * The spool's on-disk format (pure functions, table-tested).
 *
 * A segment file is an 8-byte magic followed by records, each:
 *
 * ```
 * u32 LE  payload length
 * u32 LE  crc32 of everything after this field (seq, flags, payload)
 * u64 LE  sequence number (increasing across the whole spool, never reused)
 * u8      flags (bit 0: the event still carries its context JPEG)
 * …       payload: the protobuf `Event`, evidence included
 * ```
 *
 * A record cut short by a power loss (length past the end of the file) reads as `torn`; one whose
 * crc does not match, whose length is absurd or whose flags are unknown reads as `corrupt`. The
 * spool truncates a segment at the first such record.
 */
import * as zlib from 'node:zlib';

/** First bytes of every segment file. */
export const SEGMENT_MAGIC = Buffer.from('SESPOOL1', 'latin1');

/** Bytes before a record's payload. */
export const RECORD_HEADER_BYTES = 17;

/** A payload longer than this is corruption, not an event (events are bounded far below). */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** Record flag: the event carries a context JPEG (droppable when the spool is full). */
export const FLAG_HAS_CONTEXT = 0x01;

const KNOWN_FLAGS = FLAG_HAS_CONTEXT;

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | undefined;

/** CRC-32 (IEEE, as zlib and gzip). Native on Node ≥ 20.15, a table otherwise. */
export function crc32(data: Uint8Array): number {
  if (nativeCrc32 !== undefined) return nativeCrc32(data) >>> 0;
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = (table[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** One record, framed for appending. */
export function encodeRecord(seq: number, flags: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  buf.writeUInt32LE(payload.length, 0);
  buf.writeBigUInt64LE(BigInt(seq), 8);
  buf.writeUInt8(flags, 16);
  buf.set(payload, RECORD_HEADER_BYTES);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

/** What is found at an offset of a segment. */
export type RecordRead =
  | {
      kind: 'record';
      seq: number;
      flags: number;
      /** A view into the buffer read from. */
      payload: Buffer;
      /** Offset of the next record. */
      next: number;
    }
  /** The end of the data, exactly at a record boundary. */
  | { kind: 'end' }
  /** A record cut short (a write interrupted by power loss or a crash). */
  | { kind: 'torn'; reason: string }
  /** Bytes that are not a record written by us. */
  | { kind: 'corrupt'; reason: string };

/** Read the record at `offset` of a segment's bytes. */
export function decodeRecordAt(buf: Buffer, offset: number): RecordRead {
  if (offset === buf.length) return { kind: 'end' };
  if (offset + RECORD_HEADER_BYTES > buf.length) {
    return { kind: 'torn', reason: `header cut short after ${buf.length - offset} bytes` };
  }
  const length = buf.readUInt32LE(offset);
  if (length > MAX_PAYLOAD_BYTES) return { kind: 'corrupt', reason: `length ${length} is impossible` };
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > buf.length) {
    return { kind: 'torn', reason: `payload cut short: ${buf.length - offset} of ${end - offset} bytes` };
  }
  const crc = buf.readUInt32LE(offset + 4);
  if (crc32(buf.subarray(offset + 8, end)) !== crc) return { kind: 'corrupt', reason: 'crc mismatch' };
  const flags = buf.readUInt8(offset + 16);
  if ((flags & ~KNOWN_FLAGS) !== 0)
    return { kind: 'corrupt', reason: `unknown flags 0x${flags.toString(16)}` };
  const seq = buf.readBigUInt64LE(offset + 8);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER))
    return { kind: 'corrupt', reason: 'sequence number out of range' };
  return {
    kind: 'record',
    seq: Number(seq),
    flags,
    payload: buf.subarray(offset + RECORD_HEADER_BYTES, end),
    next: end,
  };
}

/** The ack state file: magic, "every seq below this is done", crc32 of the two. */
export const ACK_MAGIC = Buffer.from('SEACK001', 'latin1');

/** Encode the ack state (seqs below `ackedBelow` are acknowledged or gone). */
export function encodeAckState(ackedBelow: number): Buffer {
  const buf = Buffer.alloc(ACK_MAGIC.length + 12);
  ACK_MAGIC.copy(buf, 0);
  buf.writeBigUInt64LE(BigInt(ackedBelow), ACK_MAGIC.length);
  buf.writeUInt32LE(crc32(buf.subarray(0, ACK_MAGIC.length + 8)), ACK_MAGIC.length + 8);
  return buf;
}

/** Decode the ack state; undefined when the bytes are not a valid ack state. */
export function decodeAckState(buf: Buffer): number | undefined {
  if (buf.length !== ACK_MAGIC.length + 12) return undefined;
  if (!buf.subarray(0, ACK_MAGIC.length).equals(ACK_MAGIC)) return undefined;
  if (crc32(buf.subarray(0, ACK_MAGIC.length + 8)) !== buf.readUInt32LE(ACK_MAGIC.length + 8))
    return undefined;
  const v = buf.readBigUInt64LE(ACK_MAGIC.length);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v);
}
