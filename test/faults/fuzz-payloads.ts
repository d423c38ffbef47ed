/**
 * Malformed, mutated and oversized payloads for the events topic, from a seeded generator: the
 * same seed gives the same kinds in the same order and the same mutations (lengths, positions,
 * bits, values), applied to template events whose ids and times come from the run. Each payload
 * is one MQTT message; all but the `flip_anywhere` ones must be refused by ingest's validation.
 */
import { EventKind, type Event } from '../../proto/gen/sharpeyes/v1/event.ts';
import { encodePayload } from '../../proto/topics.ts';
import { sha256Hex, type SyntheticEvents } from './harness.ts';

/** Limits the fuzzed gateway runs with (its `ingest` config), so "too large" is cheap to reach. */
export const FUZZ_LIMITS = {
  max_payload_bytes: 256 * 1024,
  max_evidence_bytes: 64 * 1024,
  max_events_per_message: 1000,
} as const;

/** Kinds of payload, and how many of each in 10 000. */
export const FUZZ_MIX = {
  /** Random bytes, 0–2 KiB (0 bytes: an empty message). */
  random_bytes: 1500,
  /** A valid one-event payload cut short anywhere. */
  truncated: 1500,
  /** Bits flipped inside the evidence JPEG: its sha256 no longer matches (or it is no JPEG). */
  flip_evidence: 1000,
  /** Bits flipped anywhere in a valid payload: usually refused, possibly still valid. */
  flip_anywhere: 1500,
  /** Repeated or long fields far past the bounds (model ids, char confidences, keypoints, text). */
  huge_fields: 800,
  /** Whole payload over max_payload_bytes. */
  oversized_payload: 100,
  /** An evidence crop over max_evidence_bytes (with its correct sha256). */
  oversized_evidence: 100,
  /** More events in one message than max_events_per_message. */
  too_many_events: 50,
  /** An event of another site (or a mangled site id) on this site's topic. */
  wrong_site: 1000,
  /** Event or camera ids that are not 1–64 of [A-Za-z0-9._-]. */
  invalid_id: 1000,
  /** Evidence whose sha256 does not match its bytes, is not hex, or names no bytes. */
  hash_mismatch: 1000,
  /** Unknown kind, impossible times, confidence out of range, no plate detail. */
  bad_values: 450,
} as const;

export type FuzzKind = keyof typeof FUZZ_MIX;

/** One fuzz payload. */
export interface FuzzPayload {
  kind: FuzzKind;
  payload: Buffer;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function encode(events: Event[]): Buffer {
  return encodePayload('events', { events });
}

/**
 * `FUZZ_MIX` payloads in a seeded random order. Mutations start from `templates.make(i)`
 * (valid events of their own run, never sent as such).
 */
export function* fuzzPayloads(templates: SyntheticEvents, seed: number): Generator<FuzzPayload> {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const kinds: FuzzKind[] = [];
  for (const [k, n] of Object.entries(FUZZ_MIX) as [FuzzKind, number][])
    for (let i = 0; i < n; i++) kinds.push(k);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [kinds[i], kinds[j]] = [kinds[j] as FuzzKind, kinds[i] as FuzzKind];
  }

  let n = 0;
  for (const kind of kinds) {
    n += 1;
    const base = templates.make(n);
    const ev = base.evidence;
    if (ev === undefined) throw new Error('template without evidence');
    const flip = (buf: Buffer, from: number, to: number, times: number): Buffer => {
      const out = Buffer.from(buf);
      for (let f = 0; f < times; f++) {
        const at = from + int(to - from);
        out[at] = (out[at] as number) ^ (1 << int(8));
      }
      return out;
    };
    let payload: Buffer;
    switch (kind) {
      case 'random_bytes': {
        const len = int(2049);
        payload = Buffer.from(Array.from({ length: len }, () => int(256)));
        break;
      }
      case 'truncated': {
        const whole = encode([base]);
        payload = whole.subarray(0, 1 + int(whole.length - 1));
        break;
      }
      case 'flip_evidence': {
        const whole = encode([base]);
        const at = whole.indexOf(ev.jpeg);
        payload = flip(whole, at, at + ev.jpeg.length, 1 + int(8));
        break;
      }
      case 'flip_anywhere': {
        const whole = encode([base]);
        payload = flip(whole, 0, whole.length, 1 + int(3));
        break;
      }
      case 'huge_fields': {
        const many = 65 + int(2000);
        const variant = int(5);
        const e: Event =
          variant === 0
            ? { ...base, modelIds: Array.from({ length: many }, (_, k) => `model-${k}`) }
            : variant === 1
              ? { ...base, trackId: 't'.repeat(129 + int(5000)) }
              : variant === 2
                ? {
                    ...base,
                    kind: EventKind.EVENT_KIND_FACE,
                    detail: {
                      $case: 'face',
                      value: { keypoints: Array.from({ length: many }, () => ({ x: 0.5, y: 0.5 })) },
                    },
                  }
                : variant === 3 && base.detail?.$case === 'plate'
                  ? {
                      ...base,
                      detail: {
                        $case: 'plate',
                        value: {
                          ...base.detail.value,
                          charConfidences: Array.from({ length: many }, () => 0.9),
                        },
                      },
                    }
                  : base.detail?.$case === 'plate'
                    ? {
                        ...base,
                        detail: {
                          $case: 'plate',
                          value: { ...base.detail.value, text: '京'.repeat(33 + int(3000)) },
                        },
                      }
                    : { ...base, modelIds: Array.from({ length: many }, () => 'm') };
        payload = encode([e]);
        break;
      }
      case 'oversized_payload':
        payload = encode([{ ...base, trackId: 'x'.repeat(FUZZ_LIMITS.max_payload_bytes + int(300_000)) }]);
        break;
      case 'oversized_evidence': {
        const big = Buffer.concat([
          ev.jpeg.subarray(0, 2),
          Buffer.alloc(FUZZ_LIMITS.max_evidence_bytes, 0x20),
          ev.jpeg.subarray(2),
        ]);
        payload = encode([{ ...base, evidence: { ...ev, jpeg: big, sha256: sha256Hex(big) } }]);
        break;
      }
      case 'too_many_events': {
        const one: Event = { ...base, evidence: undefined, modelIds: [] };
        payload = encode(
          Array.from({ length: FUZZ_LIMITS.max_events_per_message + 1 + int(100) }, () => one),
        );
        break;
      }
      case 'wrong_site':
        payload = encode([
          {
            ...base,
            siteId: pick(['checkpoint-2', 'VILLAGE-7', '', 'village-7 ', 'village-8', 'village-7/events']),
          },
        ]);
        break;
      case 'invalid_id': {
        const bad = pick([
          '',
          'a/b',
          'a+b',
          '#',
          'x'.repeat(65),
          '../../etc/passwd',
          'id with space',
          '\u0000',
          'é',
          '$SYS',
        ]);
        payload = encode([int(2) === 0 ? { ...base, eventId: bad } : { ...base, cameraId: bad }]);
        break;
      }
      case 'hash_mismatch': {
        const variant = int(3);
        const evidence =
          variant === 0
            ? { ...ev, sha256: sha256Hex(Buffer.from(`not-${n}`)) }
            : variant === 1
              ? { ...ev, sha256: ev.sha256.toUpperCase() }
              : { ...ev, jpeg: Buffer.alloc(0) };
        payload = encode([{ ...base, evidence }]);
        break;
      }
      case 'bad_values': {
        const variant = int(6);
        const e: Event =
          variant === 0
            ? { ...base, kind: pick([EventKind.EVENT_KIND_UNSPECIFIED, EventKind.UNRECOGNIZED]) }
            : variant === 1
              ? { ...base, timeMs: 0, firstSeenMs: 0, lastSeenMs: 0 }
              : variant === 2
                ? { ...base, firstSeenMs: base.timeMs + 10 }
                : variant === 3
                  ? { ...base, confidence: pick([1.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) }
                  : variant === 4
                    ? { ...base, frameWidth: 20_000 }
                    : { ...base, kind: EventKind.EVENT_KIND_PLATE, detail: undefined };
        payload = encode([e]);
        break;
      }
    }
    yield { kind, payload };
  }
}
