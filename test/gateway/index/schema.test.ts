/** The index schema: what an event becomes as points (pure). */
import { describe, expect, it } from 'vitest';
import { Direction, Event, EventKind, PlateColour } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { plateBucket } from '../../../gateway/src/index/plate.ts';
import {
  decodeDetail,
  encodeDetail,
  eventPoints,
  indexProblem,
  pointTimeNs,
  subMsNs,
} from '../../../gateway/src/index/schema.ts';
import { asIndexed, makeEvent, ulidFactory } from './helpers.ts';

/** measurement, tag section, field section, time of one line (our lines have no escaped spaces in tags). */
function splitLine(line: string): {
  measurement: string;
  tags: Record<string, string>;
  fields: string;
  time: string;
} {
  const firstSpace = line.indexOf(' ');
  const lastSpace = line.lastIndexOf(' ');
  const [measurement = '', ...tagParts] = line.slice(0, firstSpace).split(',');
  return {
    measurement,
    tags: Object.fromEntries(tagParts.map((p) => p.split('=') as [string, string])),
    fields: line.slice(firstSpace + 1, lastSpace),
    time: line.slice(lastSpace + 1),
  };
}

describe('point time', () => {
  it('is first_seen in ns plus a sub-millisecond part from the id; replays and revisions get the same time', () => {
    const e = makeEvent({ firstSeenMs: 1_794_000_000_123 });
    const t = pointTimeNs(e);
    expect(t / 1_000_000n).toBe(1_794_000_000_123n);
    const revised: Event = { ...e, revision: 3, trackId: 'other' };
    expect(pointTimeNs(revised)).toBe(t);
    expect(Number(t % 1_000_000n)).toBe(subMsNs(e.eventId));
  });

  it('differs for every id one edge factory makes in one millisecond', () => {
    const make = ulidFactory(9);
    const times = new Set<bigint>();
    for (let i = 0; i < 50_000; i++) {
      const eventId = make(1_794_000_000_000);
      times.add(pointTimeNs({ eventId, firstSeenMs: 1_794_000_000_000, timeMs: 1_794_000_000_400 }));
    }
    expect(times.size).toBe(50_000);
  });

  it('uses time_ms when first_seen_ms is unset', () => {
    const e = makeEvent({ firstSeenMs: 1_794_000_000_123 });
    expect(pointTimeNs({ ...e, firstSeenMs: 0 }) / 1_000_000n).toBe(BigInt(e.timeMs));
  });

  it('hashes ids that are not ULIDs into 0..999 999 ns', () => {
    for (const id of ['a', 'evt-1', 'x'.repeat(64)]) {
      expect(subMsNs(id)).toBeGreaterThanOrEqual(0);
      expect(subMsNs(id)).toBeLessThan(1_000_000);
    }
    expect(subMsNs('evt-1')).not.toBe(subMsNs('evt-2'));
  });
});

describe('eventPoints', () => {
  it('a plate becomes an events point (tags site, camera, kind) and a plate_lookup_16k point (tag bucket only)', () => {
    const e = makeEvent({
      siteId: 's1',
      cameraId: 'c1',
      plate: '京A12345',
      direction: Direction.DIRECTION_OUT,
    });
    const { kind, lines } = eventPoints(e);
    expect(kind).toBe('plate');
    expect(lines).toHaveLength(2);
    const [ev, lookup] = lines.map(splitLine);
    expect(ev?.measurement).toBe('events');
    expect(ev?.tags).toEqual({ site: 's1', camera: 'c1', kind: 'plate' });
    expect(lookup?.measurement).toBe('plate_lookup_16k');
    expect(lookup?.tags).toEqual({ bucket: plateBucket('京A12345') });
    for (const l of [ev, lookup]) {
      expect(l?.time).toBe(pointTimeNs(e).toString());
      expect(l?.fields).toContain(`event_id="${e.eventId}"`);
      expect(l?.fields).toContain('plate="京A12345"');
      expect(l?.fields).toContain('direction="out"');
      expect(l?.fields).toMatch(/(^|,)detail="[A-Za-z0-9+/=]+"/);
    }
    // Few fields per point: what influxd's write cost grows with.
    expect(ev?.fields.match(/(?:^|,)[a-z_]+=/g)).toHaveLength(8);
    expect(lookup?.fields.match(/(?:^|,)[a-z_]+=/g)).toHaveLength(7);
    // The events point names its lookup twin's bucket, as an integer.
    expect(ev?.fields).toContain(`lookup_bucket=${plateBucket('京A12345')}i`);
    expect(ev?.fields).toContain('dir_in=0i');
    expect(ev?.fields).toContain('dir_out=1i');
    expect(lookup?.fields).toContain('site="s1"');
    expect(lookup?.fields).toContain('camera="c1"');
  });

  it('a face becomes one events point without plate fields', () => {
    const e = makeEvent({ kind: 'face', direction: Direction.DIRECTION_IN });
    const { kind, lines } = eventPoints(e);
    expect(kind).toBe('face');
    expect(lines).toHaveLength(1);
    const l = splitLine(lines[0] ?? '');
    expect(l.tags.kind).toBe('face');
    expect(l.fields).not.toContain('plate=');
    expect(l.fields).not.toContain('lookup_bucket=');
    expect(l.fields).toContain('dir_in=1i');
  });

  it('the detail field holds no evidence bytes and none of what has its own field', () => {
    const e = makeEvent({ revision: 4 });
    e.evidence = {
      ...(e.evidence ?? { width: 0, height: 0, sha256: '', contextSha256: '' }),
      jpeg: Buffer.alloc(5000, 1),
      contextJpeg: Buffer.alloc(9000, 2),
    };
    const raw = Buffer.from(encodeDetail(e), 'base64');
    // Version 1, both hashes present as 32 raw bytes each, then the protobuf.
    expect([raw[0], raw[1]]).toEqual([1, 3]);
    expect(raw.subarray(2, 34).toString('hex')).toBe(e.evidence.sha256);
    expect(raw.subarray(34, 66).toString('hex')).toBe(e.evidence.contextSha256);
    const proto = Event.decode(raw.subarray(66));
    expect(proto.evidence?.sha256).toBe('');
    const { event: detail, whole } = decodeDetail(encodeDetail(e));
    expect(whole).toBe(false);
    expect(detail.evidence?.jpeg.length).toBe(0);
    expect(detail.evidence?.contextJpeg.length).toBe(0);
    expect(detail.evidence?.sha256).toBe(e.evidence.sha256);
    expect(detail.evidence?.contextSha256).toBe(e.evidence.contextSha256);
    expect(detail.revision).toBe(4);
    expect(detail.eventId).toBe('');
    expect(detail.siteId).toBe('');
    expect(detail.confidence).toBe(0);
    expect(detail.detail).toMatchObject({
      $case: 'plate',
      value: { text: '', colour: PlateColour.PLATE_COLOUR_BLUE },
    });
    expect(detail.box).toEqual(e.box);
    expect(encodeDetail(e).length).toBeLessThan(300);
  });

  it('the plate lookup detail holds the whole event (version 2), so one column is enough', () => {
    const e = makeEvent({ revision: 2, plate: '京a·12345', direction: Direction.DIRECTION_OUT });
    const lookup = splitLine(eventPoints(e).lines[1] ?? '');
    const field = /(?:^|,)detail="([^"]+)"/.exec(lookup.fields)?.[1] ?? '';
    expect(Buffer.from(field, 'base64')[0]).toBe(2);
    const { event, whole } = decodeDetail(field);
    expect(whole).toBe(true);
    expect(event).toEqual(asIndexed(e));
  });
});

describe('decodeDetail', () => {
  it('round-trips events with and without evidence hashes', () => {
    for (const e of [makeEvent(), makeEvent({ evidence: false }), makeEvent({ kind: 'face' })]) {
      const back = decodeDetail(encodeDetail(e)).event;
      expect(back.evidence).toEqual(
        e.evidence === undefined
          ? undefined
          : { ...e.evidence, jpeg: Buffer.alloc(0), contextJpeg: Buffer.alloc(0) },
      );
      expect(back.detail?.$case).toBe(e.detail?.$case);
    }
    const partial = makeEvent();
    if (partial.evidence) partial.evidence.contextSha256 = '';
    expect(decodeDetail(encodeDetail(partial)).event.evidence?.contextSha256).toBe('');
    expect(decodeDetail(encodeDetail(partial)).event.evidence?.sha256).toBe(partial.evidence?.sha256);
  });

  it.each(['', 'AA==', Buffer.from([3, 0]).toString('base64'), Buffer.from([1, 1, 5]).toString('base64')])(
    'refuses %j',
    (d) => {
      expect(() => decodeDetail(d)).toThrow(RangeError);
    },
  );
});

/** Enum values this build does not know (as a newer edge could send). */
const UNKNOWN_KIND = 7 as unknown as EventKind;
const UNKNOWN_DIRECTION = 9 as unknown as Direction;

const plateDetail = (text: string): Event['detail'] => ({
  $case: 'plate',
  value: {
    text,
    colour: PlateColour.PLATE_COLOUR_BLUE,
    charConfidences: [],
    agreeingReads: 0,
    totalReads: 0,
  },
});

describe('indexProblem', () => {
  const ok = makeEvent();
  it.each<[string, Partial<Event>, string | undefined]>([
    ['a valid plate event', {}, undefined],
    [
      'a valid face event',
      { kind: EventKind.EVENT_KIND_FACE, detail: { $case: 'face', value: { keypoints: [] } } },
      undefined,
    ],
    ['a face without detail', { kind: EventKind.EVENT_KIND_FACE, detail: undefined }, undefined],
    ['no event id', { eventId: '' }, 'event_id is not 1-64 characters of [A-Za-z0-9._-]'],
    ['a slash in the site', { siteId: 'a/b' }, 'site_id is not 1-64 characters of [A-Za-z0-9._-]'],
    ['a quote in the camera', { cameraId: 'c"1' }, 'camera_id is not 1-64 characters of [A-Za-z0-9._-]'],
    ['no kind', { kind: EventKind.EVENT_KIND_UNSPECIFIED }, 'kind must be FACE or PLATE'],
    ['an unknown kind', { kind: UNKNOWN_KIND }, 'kind must be FACE or PLATE'],
    ['a negative time', { firstSeenMs: -1 }, 'first_seen_ms -1 is outside 0..9223372036854'],
    ['a time past 2262', { timeMs: 9.3e12 }, 'time_ms 9300000000000 is outside 0..9223372036854'],
    ['no time at all', { firstSeenMs: 0, timeMs: 0 }, 'first_seen_ms and time_ms are both unset'],
    ['only time_ms', { firstSeenMs: 0 }, undefined],
    ['NaN confidence', { confidence: Number.NaN }, 'confidence must be within 0..1'],
    ['confidence 2', { confidence: 2 }, 'confidence must be within 0..1'],
    ['an unknown direction (a newer edge)', { direction: UNKNOWN_DIRECTION }, undefined],
    [
      'a bad evidence hash',
      { evidence: { ...ok.evidence, sha256: 'ABC' } as Event['evidence'] },
      'evidence.sha256 is not 64 lower-case hex digits',
    ],
    ['a plate without text', { detail: plateDetail('') }, undefined],
    ['a plate that is not a plate', { detail: plateDetail('京A1"23 \\') }, undefined],
    ['a plate with a newline', { detail: plateDetail('京A1\n23') }, 'plate text contains control characters'],
    [
      'a plate of 65 characters',
      { detail: plateDetail('京'.repeat(65)) },
      'plate text is longer than 64 characters',
    ],
    [
      'a plate event with face detail',
      { detail: { $case: 'face', value: { keypoints: [] } } },
      'a plate event needs plate detail',
    ],
    [
      'a face event with plate detail',
      { kind: EventKind.EVENT_KIND_FACE },
      'a face event cannot carry plate detail',
    ],
  ])('%s', (_name, patch, problem) => {
    expect(indexProblem({ ...ok, ...patch })).toBe(problem);
  });
});
