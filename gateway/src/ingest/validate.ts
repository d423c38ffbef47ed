/**
 * Decoding and validation of an events payload (pure, table-tested). A payload that cannot be
 * decoded, or whose topic is wrong, is rejected whole; otherwise each event is checked on its
 * own and only the bad ones are rejected, so one bad event does not cost a backlog batch its
 * good ones. The evidence bytes are hashed here and must match the sha256 the event carries.
 */
import { createHash } from 'node:crypto';
import { EventKind, type Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { decodePayload, isValidId, parseTopic } from '../../../proto/topics.ts';
import type { IndexedEvent } from '../index/types.ts';

/** Why a whole message was rejected. */
export type MessageRejectReason = 'bad_topic' | 'too_large' | 'decode' | 'empty' | 'too_many_events';

/** Why one event was rejected. */
export type EventRejectReason =
  | 'site_mismatch'
  | 'bad_id'
  | 'bad_kind'
  | 'bad_time'
  | 'bad_value'
  | 'bad_evidence'
  | 'evidence_hash'
  | 'evidence_too_large';

/** Limits of {@link validateEventsPayload}. */
export interface ValidationLimits {
  /** Largest payload accepted, bytes. */
  maxPayloadBytes: number;
  /** Most events in one message. */
  maxEventsPerMessage: number;
  /** Largest evidence crop, and context JPEG, bytes each. */
  maxEvidenceBytes: number;
  /** How far in the future an event time may be (edge clock skew), ms. */
  maxFutureSkewMs: number;
  /** Earliest event time accepted, epoch ms. */
  minTimeMs: number;
}

/** Default limits: generous over the edge's own bounds (64 KiB crop, 24 KiB context). */
export const DEFAULT_LIMITS: ValidationLimits = {
  maxPayloadBytes: 32 * 1024 * 1024,
  maxEventsPerMessage: 10_000,
  maxEvidenceBytes: 512 * 1024,
  maxFutureSkewMs: 24 * 3600_000,
  // 2015-01-01T00:00:00Z: anything earlier is a camera or NVR clock that was never set.
  minTimeMs: 1_420_070_400_000,
};

/** A JPEG to store, by its (verified) sha256. */
export interface EvidenceBlob {
  readonly sha256: string;
  readonly bytes: Uint8Array;
}

/** The outcome for one message. */
export type ValidatedPayload =
  | {
      readonly ok: true;
      readonly site: string;
      /** Valid events with their evidence bytes removed (hashes kept). */
      readonly events: IndexedEvent[];
      /** Evidence of the valid events, deduplicated by sha256. */
      readonly evidence: EvidenceBlob[];
      /** Events rejected, with why. */
      readonly rejected: { reason: EventRejectReason; eventId: string; detail: string }[];
      /** Bytes held (evidence) until stored. */
      readonly bytes: number;
    }
  | { readonly ok: false; readonly reason: MessageRejectReason; readonly detail: string };

const SHA256_RE = /^[0-9a-f]{64}$/;
const MAX_TEXT = 128;
const MAX_PLATE_CHARS = 32;
const MAX_LIST = 64;
const MAX_FRAME_SIDE = 16_384;
const EMPTY = Buffer.alloc(0);

class Invalid extends Error {
  constructor(
    readonly reason: EventRejectReason,
    detail: string,
  ) {
    super(detail);
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function checkBlob(bytes: Uint8Array, sha: string, what: string, limits: ValidationLimits): boolean {
  if (bytes.length === 0) {
    if (sha !== '') throw new Invalid('bad_evidence', `${what} sha256 given without bytes`);
    return false;
  }
  if (bytes.length > limits.maxEvidenceBytes) {
    throw new Invalid(
      'evidence_too_large',
      `${what} is ${bytes.length} bytes, over ${limits.maxEvidenceBytes}`,
    );
  }
  if (!SHA256_RE.test(sha))
    throw new Invalid('bad_evidence', `${what} sha256 is not 64 lower-case hex digits`);
  if (!isJpeg(bytes)) throw new Invalid('bad_evidence', `${what} is not a JPEG`);
  if (sha256Hex(bytes) !== sha) throw new Invalid('evidence_hash', `${what} bytes do not match their sha256`);
  return true;
}

function checkTime(name: string, ms: number, limits: ValidationLimits, nowMs: number): void {
  if (!Number.isSafeInteger(ms) || ms < limits.minTimeMs || ms > nowMs + limits.maxFutureSkewMs) {
    throw new Invalid(
      'bad_time',
      `${name} ${ms} is outside [${limits.minTimeMs}, now + ${limits.maxFutureSkewMs} ms]`,
    );
  }
}

/** Length in Unicode code points (a plate's province character is one). */
function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate and its low surrogate are one code point.
    if (c < 0xd800 || c > 0xdbff) n += 1;
  }
  return n;
}

function finiteUnit(v: number): boolean {
  return Number.isFinite(v) && v >= 0 && v <= 1;
}

/** Check one event; returns the evidence it carries (throws Invalid). */
function checkEvent(e: Event, site: string, limits: ValidationLimits, nowMs: number): EvidenceBlob[] {
  if (!isValidId(e.eventId)) throw new Invalid('bad_id', 'event_id is not 1–64 of [A-Za-z0-9._-]');
  if (e.siteId !== site)
    throw new Invalid('site_mismatch', `site_id ${JSON.stringify(e.siteId)} is not the topic's site`);
  if (!isValidId(e.cameraId)) throw new Invalid('bad_id', 'camera_id is not 1–64 of [A-Za-z0-9._-]');
  if (e.kind !== EventKind.EVENT_KIND_FACE && e.kind !== EventKind.EVENT_KIND_PLATE) {
    throw new Invalid('bad_kind', `kind ${e.kind} is neither face nor plate`);
  }
  const detail = e.detail;
  if (e.kind === EventKind.EVENT_KIND_PLATE) {
    if (detail?.$case !== 'plate') throw new Invalid('bad_kind', 'a plate event without plate detail');
    const text = detail.value.text;
    const chars = codePoints(text);
    if (chars === 0 || chars > MAX_PLATE_CHARS || /[\p{Cc}\s]/u.test(text)) {
      throw new Invalid(
        'bad_value',
        `plate text must be 1–${MAX_PLATE_CHARS} characters without spaces or controls`,
      );
    }
    if (
      detail.value.charConfidences.length > MAX_PLATE_CHARS ||
      !detail.value.charConfidences.every(finiteUnit)
    ) {
      throw new Invalid('bad_value', 'plate char_confidences out of range');
    }
  } else {
    if (detail?.$case !== 'face') throw new Invalid('bad_kind', 'a face event without face detail');
    if (detail.value.keypoints.length > MAX_LIST) throw new Invalid('bad_value', 'too many face keypoints');
  }
  checkTime('time_ms', e.timeMs, limits, nowMs);
  if (e.firstSeenMs !== 0 || e.lastSeenMs !== 0) {
    checkTime('first_seen_ms', e.firstSeenMs, limits, nowMs);
    checkTime('last_seen_ms', e.lastSeenMs, limits, nowMs);
    if (!(e.firstSeenMs <= e.timeMs && e.timeMs <= e.lastSeenMs)) {
      throw new Invalid('bad_time', 'time_ms is not within [first_seen_ms, last_seen_ms]');
    }
  }
  if (!finiteUnit(e.confidence)) throw new Invalid('bad_value', 'confidence is not within 0..1');
  if (
    e.frameWidth < 0 ||
    e.frameHeight < 0 ||
    e.frameWidth > MAX_FRAME_SIDE ||
    e.frameHeight > MAX_FRAME_SIDE
  ) {
    throw new Invalid('bad_value', 'frame size out of range');
  }
  if (
    e.trackId.length > MAX_TEXT ||
    e.modelIds.length > MAX_LIST ||
    e.modelIds.some((m) => m.length > MAX_TEXT)
  ) {
    throw new Invalid('bad_value', 'track_id or model_ids too long');
  }
  const ev = e.evidence;
  if (ev === undefined) return [];
  const blobs: EvidenceBlob[] = [];
  if (checkBlob(ev.jpeg, ev.sha256, 'evidence jpeg', limits))
    blobs.push({ sha256: ev.sha256, bytes: ev.jpeg });
  if (checkBlob(ev.contextJpeg, ev.contextSha256, 'context jpeg', limits)) {
    blobs.push({ sha256: ev.contextSha256, bytes: ev.contextJpeg });
  }
  return blobs;
}

/** The event as the index stores it: evidence bytes removed, hashes kept. */
export function stripEvidence(e: Event): IndexedEvent {
  if (e.evidence === undefined) return e;
  return { ...e, evidence: { ...e.evidence, jpeg: EMPTY, contextJpeg: EMPTY } };
}

/** Decode and validate one message of the events topic `topicName`. */
export function validateEventsPayload(
  topicName: string,
  payload: Uint8Array,
  limits: ValidationLimits = DEFAULT_LIMITS,
  nowMs: number = Date.now(),
): ValidatedPayload {
  const parsed = parseTopic(topicName);
  if (parsed?.kind !== 'events') return { ok: false, reason: 'bad_topic', detail: 'not an events topic' };
  if (payload.length > limits.maxPayloadBytes) {
    return {
      ok: false,
      reason: 'too_large',
      detail: `${payload.length} bytes, over ${limits.maxPayloadBytes}`,
    };
  }
  let events: Event[];
  try {
    events = decodePayload('events', payload).events;
  } catch (err) {
    return { ok: false, reason: 'decode', detail: (err as Error).message };
  }
  if (events.length === 0) return { ok: false, reason: 'empty', detail: 'no events' };
  if (events.length > limits.maxEventsPerMessage) {
    return {
      ok: false,
      reason: 'too_many_events',
      detail: `${events.length} events, over ${limits.maxEventsPerMessage}`,
    };
  }
  const valid: IndexedEvent[] = [];
  const evidence = new Map<string, EvidenceBlob>();
  const rejected: { reason: EventRejectReason; eventId: string; detail: string }[] = [];
  let bytes = 0;
  for (const e of events) {
    try {
      const blobs = checkEvent(e, parsed.site, limits, nowMs);
      for (const b of blobs) {
        if (!evidence.has(b.sha256)) {
          evidence.set(b.sha256, b);
          bytes += b.bytes.length;
        }
      }
      valid.push(stripEvidence(e));
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      rejected.push({ reason: err.reason, eventId: e.eventId.slice(0, MAX_TEXT), detail: err.message });
    }
  }
  return { ok: true, site: parsed.site, events: valid, evidence: [...evidence.values()], rejected, bytes };
}
