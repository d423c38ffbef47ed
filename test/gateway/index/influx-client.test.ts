/** Line protocol from the adapter is exactly what the library's Point makes (pure). */
import { Point } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { lineProtocol, type PointFields } from '../../../gateway/src/index/influx-client.ts';

function viaPoint(
  m: string,
  tags: Record<string, string>,
  fields: PointFields,
  ts: bigint,
): string | undefined {
  const p = new Point(m);
  for (const [k, v] of Object.entries(tags)) p.tag(k, v);
  for (const [k, v] of Object.entries(fields.strings ?? {})) p.stringField(k, v);
  for (const [k, v] of Object.entries(fields.ints ?? {})) p.intField(k, v);
  for (const [k, v] of Object.entries(fields.floats ?? {})) p.floatField(k, v);
  return p.timestamp(ts.toString()).toLineProtocol();
}

describe('lineProtocol', () => {
  const odd = ['plain', 'a b', 'a,b', 'a=b', 'a"b', 'a\\b', 'a\nb', 'a\tb\r', '京A12345', "' OR '1'='1", ''];
  it.each<[string, Record<string, string>, PointFields]>([
    [
      'events',
      { site: 's1', camera: 'c1', kind: 'plate' },
      { strings: { event_id: 'e', detail: 'QUJD+/==' }, ints: { dir_in: 1 }, floats: { confidence: 0.875 } },
    ],
    ['m x', { 'k ey': 'v,al=ue' }, { strings: { 'f,x': 'a"b\\c' } }],
    ['m,y\n', { b: '2', a: '1' }, { ints: { z: -3 }, floats: { y: 1e-7, x: 3 } }],
    ...odd.map((s): [string, Record<string, string>, PointFields] => ['m', { t: 'v' }, { strings: { s } }]),
  ])('%j %j %j', (m, tags, fields) => {
    expect(lineProtocol(m, tags, fields, 1_794_000_000_123_456_789n)).toBe(
      viaPoint(m, tags, fields, 1_794_000_000_123_456_789n),
    );
  });

  it.each<[string, Record<string, string>, PointFields]>([
    ['an empty tag value', { t: '' }, { ints: { v: 1 } }],
    ['a tag value ending in a backslash', { t: 'x\\' }, { ints: { v: 1 } }],
    ['no fields', { t: 'x' }, {}],
    ['a fractional integer', { t: 'x' }, { ints: { v: 1.5 } }],
    ['NaN', { t: 'x' }, { floats: { v: Number.NaN } }],
  ])('refuses %s', (_name, tags, fields) => {
    expect(() => lineProtocol('m', tags, fields, 1n)).toThrow(
      expect.objectContaining({ code: 'GATEWAY_ERR_INDEX_WRITE' }) as Error,
    );
  });
});
