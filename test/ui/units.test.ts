/**
 * Pure pieces of the web UI, in Node: the SHA-256 used for exports outside a secure context
 * (against node:crypto), the translation files (same keys — also checked by the type — same
 * placeholders, nothing empty), and the tolerant JSON readers of the API client.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { enumName, list, num, str } from '../../gateway/ui/src/api/read.ts';
import { en } from '../../gateway/ui/src/i18n/en.ts';
import { zhCN, type MessageKey } from '../../gateway/ui/src/i18n/zh-CN.ts';
import { sha256Sync } from '../../gateway/ui/src/lib/sha256.ts';

describe('sha256Sync', () => {
  it.each([0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 1000, 65_537])('%i bytes', (n) => {
    const data = randomBytes(n);
    expect(sha256Sync(new Uint8Array(data))).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('the FIPS 180-4 "abc" vector', () => {
    expect(sha256Sync(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('translations', () => {
  const keys = Object.keys(zhCN) as MessageKey[];
  const placeholders = (s: string): string[] => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort();

  it('en has exactly the keys of zh-CN', () => {
    expect(Object.keys(en).sort()).toEqual([...keys].sort());
  });

  it.each(keys)('%s: same placeholders, not empty', (key) => {
    expect(zhCN[key].trim()).not.toBe('');
    expect(en[key].trim()).not.toBe('');
    expect(placeholders(en[key])).toEqual(placeholders(zhCN[key]));
  });
});

describe('API JSON readers', () => {
  it('read snake_case, fall back to camelCase, default when absent', () => {
    expect(str({ event_id: 'a' }, 'event_id')).toBe('a');
    expect(str({ eventId: 'b' }, 'event_id')).toBe('b');
    expect(str({}, 'event_id')).toBe('');
    expect(num({ time_ms: '1700000000000' }, 'time_ms')).toBe(1_700_000_000_000);
    expect(num({ time_ms: 'x' }, 'time_ms', 7)).toBe(7);
    expect(list({ items: [1, 2] }, 'events')).toEqual([1, 2]);
    expect(list([3], 'events')).toEqual([3]);
    expect(enumName('PLATE_COLOUR_BLUE', 'PLATE_COLOUR_')).toBe('blue');
    expect(enumName('green', 'PLATE_COLOUR_')).toBe('green');
  });
});
