/** Decoding and validation of events payloads (pure, table-driven). */
import { beforeAll, describe, expect, it } from 'vitest';
import { Event, EventKind, PlateColour } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { topic } from '../../../proto/topics.ts';
import {
  DEFAULT_LIMITS,
  stripEvidence,
  validateEventsPayload,
} from '../../../gateway/src/ingest/validate.ts';
import { eventsPayload, loadBaseJpeg, makeEvent, sha256Hex, taggedJpeg } from '../fixtures/events.ts';

const SITE = 'village-7';
const NOW = Date.UTC(2026, 0, 15, 12);
const T = topic.events(SITE);
let jpeg: Buffer;
beforeAll(async () => {
  jpeg = await loadBaseJpeg();
});

function good(over: Partial<Event> = {}): Event {
  return { ...makeEvent({ site: SITE, jpeg, timeMs: NOW - 60_000 }), ...over };
}

function one(e: Event, name = T) {
  return validateEventsPayload(name, eventsPayload([e]), DEFAULT_LIMITS, NOW);
}

describe('validateEventsPayload', () => {
  it('accepts a valid event, strips its evidence bytes and returns them once', () => {
    const e = good();
    const twin = { ...e, revision: 1 };
    const v = validateEventsPayload(T, eventsPayload([e, twin]), DEFAULT_LIMITS, NOW);
    if (!v.ok) throw new Error(v.detail);
    expect(v.rejected).toEqual([]);
    expect(v.events).toHaveLength(2);
    expect(v.events[0]?.evidence?.jpeg.length).toBe(0);
    expect(v.events[0]?.evidence?.sha256).toBe(e.evidence?.sha256);
    expect(v.evidence).toHaveLength(1);
    expect(sha256Hex(v.evidence[0]?.bytes ?? Buffer.alloc(0))).toBe(e.evidence?.sha256);
  });

  it.each([
    ['not an events topic', topic.agent(SITE), 'bad_topic'],
    ['a foreign topic', 'other/topic', 'bad_topic'],
  ])('rejects the message on %s', (_what, name, reason) => {
    const v = one(good(), name);
    expect(v.ok ? undefined : v.reason).toBe(reason);
  });

  it.each([
    ['garbage', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 'decode'],
    ['a truncated message', undefined, 'decode'],
    ['an empty batch', eventsPayload([]), 'empty'],
  ])('rejects %s whole', (_what, payload, reason) => {
    const bytes = payload ?? eventsPayload([good()]).subarray(0, 25);
    const v = validateEventsPayload(T, bytes, DEFAULT_LIMITS, NOW);
    expect(v.ok ? undefined : v.reason).toBe(reason);
  });

  it('rejects oversized payloads and batches', () => {
    const big = validateEventsPayload(T, Buffer.alloc(100), { ...DEFAULT_LIMITS, maxPayloadBytes: 99 }, NOW);
    expect(big.ok ? undefined : big.reason).toBe('too_large');
    const many = validateEventsPayload(
      T,
      eventsPayload([good(), good(), good()]),
      { ...DEFAULT_LIMITS, maxEventsPerMessage: 2 },
      NOW,
    );
    expect(many.ok ? undefined : many.reason).toBe('too_many_events');
  });

  const badEvidence = (): Event => {
    const e = good();
    if (e.evidence) e.evidence.sha256 = 'a'.repeat(64);
    return e;
  };
  const upperSha = (): Event => {
    const e = good();
    if (e.evidence) e.evidence.sha256 = e.evidence.sha256.toUpperCase();
    return e;
  };
  const notJpeg = (): Event => {
    const bytes = Buffer.from('not a jpeg at all');
    return good({
      evidence: {
        jpeg: bytes,
        sha256: sha256Hex(bytes),
        width: 1,
        height: 1,
        contextJpeg: Buffer.alloc(0),
        contextSha256: '',
      },
    });
  };
  const hashWithoutBytes = (): Event =>
    good({
      evidence: {
        jpeg: Buffer.alloc(0),
        sha256: 'b'.repeat(64),
        width: 1,
        height: 1,
        contextJpeg: Buffer.alloc(0),
        contextSha256: '',
      },
    });
  const hugeCrop = (): Event => {
    const padded = Buffer.concat([taggedJpeg(jpeg, 'big'), Buffer.alloc(DEFAULT_LIMITS.maxEvidenceBytes)]);
    return good({
      evidence: {
        jpeg: padded,
        sha256: sha256Hex(padded),
        width: 1,
        height: 1,
        contextJpeg: Buffer.alloc(0),
        contextSha256: '',
      },
    });
  };

  it.each([
    ['another site', () => good({ siteId: 'checkpoint-2' }), 'site_mismatch'],
    ['an empty event id', () => good({ eventId: '' }), 'bad_id'],
    ['an event id with a slash', () => good({ eventId: 'a/b' }), 'bad_id'],
    ['a camera id with #', () => good({ cameraId: 'cam#1' }), 'bad_id'],
    ['no kind', () => good({ kind: EventKind.EVENT_KIND_UNSPECIFIED }), 'bad_kind'],
    ['an unrecognised kind', () => good({ kind: EventKind.UNRECOGNIZED }), 'bad_kind'],
    [
      'a plate event with face detail',
      () => good({ detail: { $case: 'face', value: { keypoints: [] } } }),
      'bad_kind',
    ],
    ['a time before 2015', () => good({ timeMs: 1000, firstSeenMs: 1000, lastSeenMs: 2000 }), 'bad_time'],
    [
      'a time two days ahead',
      () => good({ timeMs: NOW + 2 * 86_400_000, firstSeenMs: NOW, lastSeenMs: NOW + 3 * 86_400_000 }),
      'bad_time',
    ],
    [
      'a time outside first/last seen',
      () => good({ timeMs: NOW - 60_000, firstSeenMs: NOW - 50_000, lastSeenMs: NOW - 40_000 }),
      'bad_time',
    ],
    ['a confidence above 1', () => good({ confidence: 1.5 }), 'bad_value'],
    ['a NaN confidence', () => good({ confidence: Number.NaN }), 'bad_value'],
    [
      'a plate with a space',
      () =>
        good({
          detail: {
            $case: 'plate',
            value: {
              text: '京A 123',
              colour: PlateColour.PLATE_COLOUR_BLUE,
              charConfidences: [],
              agreeingReads: 1,
              totalReads: 1,
            },
          },
        }),
      'bad_value',
    ],
    ['a crop that does not hash to its sha256', badEvidence, 'evidence_hash'],
    ['an upper-case sha256', upperSha, 'bad_evidence'],
    ['a crop that is not a JPEG', notJpeg, 'bad_evidence'],
    ['a sha256 without bytes', hashWithoutBytes, 'bad_evidence'],
    ['an oversized crop', hugeCrop, 'evidence_too_large'],
  ] as const)('rejects only the event with %s', (_what, make, reason) => {
    const ok = good();
    const v = validateEventsPayload(T, eventsPayload([ok, make()]), DEFAULT_LIMITS, NOW);
    if (!v.ok) throw new Error(`whole message rejected: ${v.reason}`);
    expect(v.rejected.map((r) => r.reason)).toEqual([reason]);
    expect(v.events.map((e) => e.eventId)).toEqual([ok.eventId]);
    expect(v.evidence.map((b) => b.sha256)).toEqual([ok.evidence?.sha256]);
  });

  it('accepts an event without evidence', () => {
    const v = one({ ...makeEvent({ site: SITE, timeMs: NOW }) });
    expect(v.ok && v.events.length).toBe(1);
  });

  it('strips nothing from an event without evidence', () => {
    const e = makeEvent({ site: SITE, timeMs: NOW });
    expect(stripEvidence(e)).toBe(e);
  });
});
