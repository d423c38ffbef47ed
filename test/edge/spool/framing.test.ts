/** The spool's record framing and ack-state encoding (pure, table-driven). */
import { describe, expect, it } from 'vitest';
import {
  ACK_MAGIC,
  FLAG_HAS_CONTEXT,
  MAX_PAYLOAD_BYTES,
  RECORD_HEADER_BYTES,
  crc32,
  decodeAckState,
  decodeRecordAt,
  encodeAckState,
  encodeRecord,
} from '../../../edge-agent/src/spool/framing.ts';

describe('crc32', () => {
  it.each([
    ['', 0],
    ['123456789', 0xcbf43926],
    ['The quick brown fox jumps over the lazy dog', 0x414fa339],
  ])('crc32(%j)', (text, expected) => {
    expect(crc32(Buffer.from(text))).toBe(expected);
  });
});

describe('record framing', () => {
  const payload = Buffer.from('an Event in protobuf');
  const rec = encodeRecord(42, FLAG_HAS_CONTEXT, payload);

  it('round-trips seq, flags and payload', () => {
    expect(rec.length).toBe(RECORD_HEADER_BYTES + payload.length);
    const r = decodeRecordAt(rec, 0);
    expect(r).toMatchObject({ kind: 'record', seq: 42, flags: FLAG_HAS_CONTEXT, next: rec.length });
    if (r.kind === 'record') expect(r.payload.equals(payload)).toBe(true);
  });

  it('reads consecutive records and reports the end at a boundary', () => {
    const two = Buffer.concat([rec, encodeRecord(43, 0, Buffer.alloc(0))]);
    const first = decodeRecordAt(two, 0);
    expect(first.kind).toBe('record');
    if (first.kind !== 'record') return;
    const second = decodeRecordAt(two, first.next);
    expect(second).toMatchObject({ kind: 'record', seq: 43, flags: 0 });
    if (second.kind === 'record') expect(decodeRecordAt(two, second.next)).toEqual({ kind: 'end' });
  });

  const flipped = (at: number): Buffer => {
    const b = Buffer.from(rec);
    b[at] = (b[at] ?? 0) ^ 0x01;
    return b;
  };
  const withLength = (length: number): Buffer => {
    const b = Buffer.from(rec);
    b.writeUInt32LE(length, 0);
    return b;
  };

  it.each([
    ['header cut short', rec.subarray(0, 10), 'torn'],
    ['payload cut short', rec.subarray(0, rec.length - 1), 'torn'],
    ['a payload bit flipped', flipped(RECORD_HEADER_BYTES + 3), 'corrupt'],
    ['a seq bit flipped', flipped(9), 'corrupt'],
    ['the crc itself damaged', flipped(5), 'corrupt'],
    ['an impossible length', withLength(MAX_PAYLOAD_BYTES + 1), 'corrupt'],
    ['a length past the end', withLength(payload.length + 100), 'torn'],
    ['unknown flags (valid crc)', encodeRecord(1, 0x80, payload), 'corrupt'],
    ['zeros (preallocated tail)', Buffer.alloc(64), 'corrupt'],
  ])('%s → %s', (_name, buf, kind) => {
    expect(decodeRecordAt(buf, 0).kind).toBe(kind);
  });
});

describe('ack state', () => {
  it('round-trips', () => {
    for (const v of [0, 1, 123_456_789, Number.MAX_SAFE_INTEGER]) {
      expect(decodeAckState(encodeAckState(v))).toBe(v);
    }
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['truncated', encodeAckState(7).subarray(0, 12)],
    ['wrong magic', Buffer.concat([Buffer.from('XXXXXXXX'), encodeAckState(7).subarray(ACK_MAGIC.length)])],
    [
      'damaged value',
      (() => {
        const b = encodeAckState(7);
        b[ACK_MAGIC.length] = 9;
        return b;
      })(),
    ],
  ])('%s is refused', (_name, buf) => {
    expect(decodeAckState(buf)).toBeUndefined();
  });
});
