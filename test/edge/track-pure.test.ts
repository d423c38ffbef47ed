/**
 * Pure parts of the tracker, table-driven: Jaro-Winkler, ULIDs, the plate vote, direction
 * mapping, optimal assignment, box geometry.
 */
import { describe, expect, it } from 'vitest';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { assign } from '../../edge-agent/src/track/assign.ts';
import type { InboundDirection, TravelDirection } from '../../edge-agent/src/track/direction.ts';
import { travelDirection } from '../../edge-agent/src/track/direction.ts';
import { iou, visibleFraction } from '../../edge-agent/src/track/geometry.ts';
import { jaro, jaroWinkler } from '../../edge-agent/src/track/jaro-winkler.ts';
import { votePlate } from '../../edge-agent/src/track/plate-vote.ts';
import {
  ULID_MAX_TIME_MS,
  createUlidFactory,
  encodeUlidRandom,
  encodeUlidTime,
  isUlid,
  ulid,
  ulidTimeMs,
} from '../../edge-agent/src/track/ulid.ts';

describe('jaroWinkler', () => {
  it.each([
    ['MARTHA', 'MARHTA', 0.944, 0.961],
    ['DWAYNE', 'DUANE', 0.822, 0.84],
    ['DIXON', 'DICKSONX', 0.767, 0.813],
    ['京A12345', '京A12345', 1, 1],
    ['京A12345', '京A12346', 0.905, 0.943],
    ['京A12345', '京A1234', 0.952, 0.971],
    ['京A12345', '京A67890', 0.524, 0.619],
    ['京A12345', '沪B99999', 0, 0],
    ['', '', 1, 1],
    ['京A12345', '', 0, 0],
  ])('%s ~ %s: jaro %f, jaro-winkler %f', (a, b, j, jw) => {
    expect(jaro(a, b)).toBeCloseTo(j, 3);
    expect(jaroWinkler(a, b)).toBeCloseTo(jw, 3);
    // Symmetric.
    expect(jaroWinkler(b, a)).toBeCloseTo(jw, 3);
  });

  it('counts a province character as one code point', () => {
    // As UTF-16 units "京" and "沪" differ in one unit; as code points they differ in one of one.
    expect(jaroWinkler('京', '沪')).toBe(0);
  });
});

describe('ULID', () => {
  it.each([
    [0, '0000000000'],
    [1, '0000000001'],
    [32, '0000000010'],
    [1469918176385, '01ARYZ6S41'],
    [ULID_MAX_TIME_MS, '7ZZZZZZZZZ'],
  ])('time %i encodes as %s', (t, s) => {
    expect(encodeUlidTime(t)).toBe(s);
  });

  it.each([
    [new Uint8Array(10), '0000000000000000'],
    [new Uint8Array(10).fill(0xff), 'ZZZZZZZZZZZZZZZZ'],
    [Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), '0400000000000000'],
    [Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), '0000000000000001'],
    [Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 32]), '0000000000000010'],
  ])('random part %j encodes as %s', (bytes, s) => {
    expect(encodeUlidRandom(bytes)).toBe(s);
  });

  it.each([-1, 1.5, ULID_MAX_TIME_MS + 1, Number.NaN])('time %d is EDGE_ERR_EVENT_ID', (t) => {
    let err: unknown;
    try {
      encodeUlidTime(t);
    } catch (e) {
      err = e;
    }
    expect(isEdgeError(err, 'EDGE_ERR_EVENT_ID')).toBe(true);
  });

  it('a factory with fixed randomness gives exact ids, incrementing within one millisecond', () => {
    const make = createUlidFactory((b) => b.fill(0));
    expect(make(1469918176385)).toBe('01ARYZ6S410000000000000000');
    expect(make(1469918176385)).toBe('01ARYZ6S410000000000000001');
    expect(make(1469918176385)).toBe('01ARYZ6S410000000000000002');
    // A clock that stepped back keeps the last time and keeps increasing.
    expect(make(1469918176000)).toBe('01ARYZ6S410000000000000003');
    expect(make(1469918176386)).toBe('01ARYZ6S420000000000000000');
  });

  it('carries across bytes and into the next millisecond when the random part overflows', () => {
    const make = createUlidFactory((b) => b.fill(0xff));
    expect(make(1000)).toBe('00000000Z8ZZZZZZZZZZZZZZZZ');
    // 0xFF…FF + 1 overflows 80 bits: the id moves to the next millisecond, fresh randomness.
    expect(make(1000)).toBe('00000000Z9ZZZZZZZZZZZZZZZZ');
  });

  it('real ids are valid, unique and sort by time', () => {
    const ids: string[] = [];
    for (let i = 0; i < 2000; i++) ids.push(ulid(1_700_000_000_000 + Math.floor(i / 100)));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids.slice(0, 10)) {
      expect(isUlid(id)).toBe(true);
      expect(id).not.toMatch(/[/+#]/);
    }
    expect(ulidTimeMs(ids[0] ?? '')).toBe(1_700_000_000_000);
    expect(ulidTimeMs('not-a-ulid')).toBeUndefined();
    expect(isUlid('01ARYZ6S41TSV4RRFFQ69G5FAV')).toBe(true);
    expect(isUlid('01ARYZ6S41TSV4RRFFQ69G5FAI')).toBe(false);
    expect(isUlid('81ARYZ6S41TSV4RRFFQ69G5FAV')).toBe(false);
  });
});

describe('votePlate', () => {
  const r = (text: string, confidence = 0.8): { text: string; confidence: number } => ({ text, confidence });
  it.each([
    {
      name: 'three agreeing reads beat a near miss and a dropped character',
      reads: [r('京A12345'), r('京A12345'), r('京A12345'), r('京A12346'), r('京A1234')],
      text: '京A12345',
      agreeing: 5,
      total: 5,
    },
    {
      name: 'an overconfident misread does not beat three agreeing reads',
      reads: [
        r('京A12345', 0.8),
        r('京A12346', 0.99),
        r('京A12345', 0.7),
        r('京A1234', 0.9),
        r('京A12345', 0.75),
      ],
      text: '京A12345',
      agreeing: 5,
      total: 5,
    },
    {
      name: 'all distinct within the group: the highest-confidence read (Frigate)',
      reads: [r('京A12345', 0.7), r('京A12346', 0.9), r('京A1234', 0.8)],
      text: '京A12346',
      agreeing: 3,
      total: 3,
    },
    {
      name: 'the larger group wins over a more confident smaller one',
      reads: [
        r('沪B99999', 0.6),
        r('京A12345', 0.99),
        r('沪B99999', 0.6),
        r('沪B99998', 0.6),
        r('京A12345', 0.99),
      ],
      text: '沪B99999',
      agreeing: 3,
      total: 5,
    },
    {
      name: 'equal groups: the larger summed confidence wins',
      reads: [r('沪B99999', 0.6), r('京A12345', 0.9), r('沪B99999', 0.6), r('京A12345', 0.9)],
      text: '京A12345',
      agreeing: 2,
      total: 4,
    },
    {
      name: 'a single read',
      reads: [r('粤BD12345', 0.5)],
      text: '粤BD12345',
      agreeing: 1,
      total: 1,
    },
    {
      name: 'empty texts are not reads',
      reads: [r(''), r('皖A7K351', 0.6), r('')],
      text: '皖A7K351',
      agreeing: 1,
      total: 1,
    },
  ])('$name', ({ reads, text, agreeing, total }) => {
    const v = votePlate(reads);
    expect(v?.read.text).toBe(text);
    expect(v?.agreeing).toBe(agreeing);
    expect(v?.total).toBe(total);
  });

  it.each([[[]], [[r('')]]])('no valid read → undefined (%j)', (reads) => {
    expect(votePlate(reads)).toBeUndefined();
  });

  it('returns the chosen read object itself (its per-character confidences go into the event)', () => {
    const best = { text: '京A12345', confidence: 0.95, tag: 'best' };
    const v = votePlate([
      { text: '京A12345', confidence: 0.5, tag: 'a' },
      best,
      { text: '京A12345', confidence: 0.6, tag: 'b' },
    ]);
    expect(v?.read).toBe(best);
  });
});

describe('travelDirection', () => {
  const frame = { width: 1280, height: 720 };
  const at = (
    cx: number,
    cy: number,
    size = 100,
  ): { x: number; y: number; width: number; height: number } => ({
    x: cx - size / 2,
    y: cy - size / 4,
    width: size,
    height: size / 2,
  });
  const moves = {
    right: [at(200, 400), at(900, 400)],
    left: [at(900, 400), at(200, 400)],
    down: [at(640, 200), at(640, 600)],
    up: [at(640, 600), at(640, 200)],
    grow: [at(640, 400, 80), at(640, 400, 160)],
    shrink: [at(640, 400, 160), at(640, 400, 80)],
    'down, slightly shrinking': [at(640, 200, 100), at(640, 500, 95)],
    jitter: [at(640, 400), at(660, 410, 104)],
  } as const;
  type Move = keyof typeof moves;
  const table: [InboundDirection, Move, TravelDirection][] = [
    ['left_to_right', 'right', 'in'],
    ['left_to_right', 'left', 'out'],
    ['left_to_right', 'down', 'unknown'],
    ['left_to_right', 'jitter', 'unknown'],
    ['right_to_left', 'left', 'in'],
    ['right_to_left', 'right', 'out'],
    ['right_to_left', 'grow', 'unknown'],
    ['towards', 'down', 'in'],
    ['towards', 'grow', 'in'],
    ['towards', 'up', 'out'],
    ['towards', 'shrink', 'out'],
    ['towards', 'down, slightly shrinking', 'in'],
    ['towards', 'right', 'unknown'],
    ['towards', 'jitter', 'unknown'],
    ['away', 'up', 'in'],
    ['away', 'shrink', 'in'],
    ['away', 'down', 'out'],
    ['away', 'grow', 'out'],
    ['unspecified', 'right', 'unknown'],
    ['unspecified', 'down', 'unknown'],
  ];
  it.each(table)('inbound %s, moving %s → %s', (inbound, move, expected) => {
    const [first, last] = moves[move];
    expect(travelDirection(first, last, frame, inbound)).toBe(expected);
  });
});

describe('assign', () => {
  const X = Number.NEGATIVE_INFINITY;
  it.each([
    { name: 'empty', scores: [], pairs: [] },
    { name: 'one pair', scores: [[1]], pairs: [[0, 0]] },
    {
      name: 'diagonal',
      scores: [
        [1, 0.1],
        [0.1, 1],
      ],
      pairs: [
        [0, 0],
        [1, 1],
      ],
    },
    // Greedy would take (1,0)=1.32 first and leave (0,1)=0.39: total 1.71 < 1.78.
    {
      name: 'where greedy fails',
      scores: [
        [0.89, 0.39],
        [1.32, 0.89],
      ],
      pairs: [
        [0, 0],
        [1, 1],
      ],
    },
    {
      name: 'forbidden pairs are never made',
      scores: [
        [X, 1],
        [X, 0.5],
      ],
      pairs: [[0, 1]],
    },
    { name: 'all forbidden', scores: [[X, X]], pairs: [] },
    { name: 'more rows than columns', scores: [[0.2], [0.9], [0.5]], pairs: [[1, 0]] },
    { name: 'more columns than rows', scores: [[0.2, 0.9, 0.5]], pairs: [[0, 1]] },
    // One strong pair beats two weak ones: a maximum-weight, not maximum-cardinality, matching.
    {
      name: 'weight over cardinality',
      scores: [
        [1.9, 0.1],
        [0.1, X],
      ],
      pairs: [[0, 0]],
    },
  ])('$name', ({ scores, pairs }) => {
    expect(assign(scores)).toEqual(pairs);
  });
});

describe('geometry', () => {
  const b = (
    x: number,
    y: number,
    width: number,
    height: number,
  ): { x: number; y: number; width: number; height: number } => ({
    x,
    y,
    width,
    height,
  });
  it.each([
    [b(0, 0, 10, 10), b(0, 0, 10, 10), 1],
    [b(0, 0, 10, 10), b(5, 0, 10, 10), 50 / 150],
    [b(0, 0, 10, 10), b(20, 20, 10, 10), 0],
    [b(0, 0, 10, 10), b(10, 0, 10, 10), 0],
  ])('iou(%j, %j) = %f', (a, c, v) => {
    expect(iou(a, c)).toBeCloseTo(v, 6);
  });
  it.each([
    [b(0, 0, 10, 10), 1],
    [b(-5, 0, 10, 10), 0.5],
    [b(95, 95, 10, 10), 0.25],
    [b(200, 0, 10, 10), 0],
  ])('visibleFraction(%j) in 100×100 = %f', (box, v) => {
    expect(visibleFraction(box, 100, 100)).toBeCloseTo(v, 6);
  });
});
