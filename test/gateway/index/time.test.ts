/** Nanosecond point times and ULID decoding (pure). */
import { describe, expect, it } from 'vitest';
import { createUlidFactory } from '../../../edge-agent/src/track/ulid.ts';
import {
  isUlid,
  nsToRfc3339,
  rfc3339ToNs,
  ulidLowBits,
  ulidTimeMs,
} from '../../../gateway/src/index/time.ts';

describe('RFC 3339 ↔ ns', () => {
  it.each([
    [0n, '1970-01-01T00:00:00.000000000Z'],
    [1n, '1970-01-01T00:00:00.000000001Z'],
    [1_794_000_000_123_456_789n, '2026-11-06T21:20:00.123456789Z'],
    [9_223_372_036_854_775_807n, '2262-04-11T23:47:16.854775807Z'],
  ])('%s ↔ %s', (ns, text) => {
    expect(nsToRfc3339(ns)).toBe(text);
    expect(rfc3339ToNs(text)).toBe(ns);
  });

  it.each([
    ['2026-11-06T21:20:00Z', 1_794_000_000_000_000_000n],
    ['2026-11-06T21:20:00.5Z', 1_794_000_000_500_000_000n],
    ['2026-11-07T05:20:00+08:00', 1_794_000_000_000_000_000n],
    ['2026-11-06T16:20:00.000000007-05:00', 1_794_000_000_000_000_007n],
  ])('parses influxd output %s', (text, ns) => {
    expect(rfc3339ToNs(text)).toBe(ns);
  });

  it.each([
    '',
    'now()',
    '2026-11-06',
    '2026-11-06T21:20:00',
    '2026-11-06T21:20:00.1234567891Z',
    "2026-11-06T21:20:00Z' OR '1'='1",
    '2026-11-06T21:60:00Z',
    '2026-11-06T21:20:61Z',
    '2026-13-06T21:20:00Z',
    '2026-11-06T25:20:00Z',
  ])('refuses %j', (text) => {
    expect(() => rfc3339ToNs(text)).toThrow(RangeError);
  });

  it('round-trips many times across hours, days and zones (the hour cache never changes a result)', () => {
    let x = 12_345;
    for (let i = 0; i < 5000; i++) {
      x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
      const ns = BigInt(1_700_000_000_000 + x * 97) * 1_000_000n + BigInt(x % 1_000_000_000);
      expect(rfc3339ToNs(nsToRfc3339(ns))).toBe(ns);
      // The same instant written with an offset, as influxd does under tz().
      const local = new Date(Number(ns / 1_000_000n) + 8 * 3_600_000).toISOString().slice(0, 19);
      const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
      expect(rfc3339ToNs(`${local}.${frac}+08:00`)).toBe(ns);
    }
  });
});

describe('ULIDs', () => {
  it('decodes the time and the low bits the edge factory increments', () => {
    const make = createUlidFactory((b) => b.fill(0x7f));
    const a = make(1_794_000_000_123);
    const b = make(1_794_000_000_123);
    expect(isUlid(a)).toBe(true);
    expect(ulidTimeMs(a)).toBe(1_794_000_000_123);
    // Random part 0x7f7f…7f: its low 19 bits are 0x77f7f; the next id in the same ms is + 1.
    expect(ulidLowBits(a, 19)).toBe(0x77f7f);
    expect(ulidLowBits(b, 19)).toBe(0x77f80);
    expect(ulidTimeMs('not-a-ulid')).toBeUndefined();
    expect(ulidLowBits('01ARZ3NDEKTSV4RRFFQ69G5FAV'.toLowerCase(), 19)).toBeUndefined();
    expect(ulidTimeMs('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(1_469_922_850_259);
  });
});
