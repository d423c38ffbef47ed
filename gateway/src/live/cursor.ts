/**
 * Stream cursors: an opaque token naming a position in a live event stream, given with every
 * streamed event and checkpoint, and accepted back to resume.
 *
 * A position is (epoch, seq, phase, high-water mark):
 * - `epoch`/`seq`: the bus of the gateway process that served the stream, and the bus position
 *   up to which everything was delivered or deliberately skipped (`phase: live`), or, while the
 *   stream is still replaying from the index (`phase: replay`), the bus position it noted when
 *   it started (everything after it is read from the ring once the replay is done);
 * - the high-water mark: the largest index position (point time ns, event id) delivered, used
 *   when the bus can no longer resume exactly (another process, or older than its ring).
 * It also names the stream's session (token), whose deduplication memory a resume picks up. The
 * cursor is bound to the stream's filter by a hash, so a cursor resumed with another filter is
 * refused rather than silently skipping or repeating events.
 */
import { createHash } from 'node:crypto';
import { isValidId } from '../../../proto/topics.ts';
import { QueryValidationError } from '../index/validate.ts';

/** A position in a stream. */
export interface StreamPosition {
  epoch: string;
  seq: number;
  phase: 'live' | 'replay';
  /** Largest index position delivered: point time ns (0n: none yet) and event id. */
  hwNs: bigint;
  hwId: string;
  /** The stream's session token: names its resume memory (see bus.ts ResumeMemoryStore). */
  token: string;
  /**
   * Highest bus seq of an event the stream's replay sent that was also still to come from the
   * ring (0: none). Resuming without the memory, ring events up to it at or below the high-water
   * mark are skipped rather than risk sending them twice.
   */
  memorySeq: number;
}

const VERSION = 2;
const MAX_CURSOR_CHARS = 512;
/** Bytes of the epoch and of the session token (random, base64url in memory). */
const EPOCH_BYTES = 6;
const TOKEN_BYTES = 9;
const FINGERPRINT_BYTES = 8;
const MAX_SEQ = 2 ** 48 - 1;

function fingerprint(filterKey: string): Buffer {
  return createHash('sha256').update(filterKey).digest().subarray(0, FINGERPRINT_BYTES);
}

/** The cursor of `pos` in a stream whose filter has key `filterKey` (see filterFingerprint). */
export function encodeStreamCursor(pos: StreamPosition, filterKey: string): string {
  return streamCursorEncoder(filterKey)(pos);
}

/**
 * An encoder of cursors for one stream (the filter's hash computed once, not per message). The
 * cursor is binary, base64url (~96 characters): version, epoch, seq, phase, high-water time and
 * id, session token, memory seq, filter hash. Compact, because every streamed message has one.
 */
export function streamCursorEncoder(filterKey: string): (pos: StreamPosition) => string {
  const f = fingerprint(filterKey);
  return (pos) => {
    const epoch = Buffer.from(pos.epoch, 'base64url');
    const token = Buffer.from(pos.token, 'base64url');
    const id = Buffer.from(pos.hwId, 'latin1');
    const b = Buffer.allocUnsafe(
      1 + EPOCH_BYTES + 6 + 1 + 8 + 1 + id.length + TOKEN_BYTES + 6 + FINGERPRINT_BYTES,
    );
    let at = b.writeUInt8(VERSION, 0);
    at += epoch.copy(b, at, 0, EPOCH_BYTES);
    at = b.writeUIntBE(Math.min(pos.seq, MAX_SEQ), at, 6);
    at = b.writeUInt8(pos.phase === 'live' ? 0 : 1, at);
    at = b.writeBigUInt64BE(pos.hwNs, at);
    at = b.writeUInt8(id.length, at);
    at += id.copy(b, at);
    at += token.copy(b, at, 0, TOKEN_BYTES);
    at = b.writeUIntBE(Math.min(pos.memorySeq, MAX_SEQ), at, 6);
    f.copy(b, at);
    return b.toString('base64url');
  };
}

/** Decode a cursor, checking it belongs to a stream with filter key `filterKey`. */
export function decodeStreamCursor(
  cursor: string,
  filterKey: string,
  field = 'resume_cursor',
): StreamPosition {
  const bad = (why = 'is not a stream cursor of this API'): QueryValidationError =>
    new QueryValidationError(field, why);
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const b = Buffer.from(cursor, 'base64url');
  const fixed = 1 + EPOCH_BYTES + 6 + 1 + 8 + 1 + TOKEN_BYTES + 6 + FINGERPRINT_BYTES;
  if (b.length < fixed || b[0] !== VERSION) throw bad();
  let at = 1;
  const epoch = b.subarray(at, (at += EPOCH_BYTES)).toString('base64url');
  const seq = b.readUIntBE(at, 6);
  at += 6;
  const phase = b[at++];
  const hwNs = b.readBigUInt64BE(at);
  at += 8;
  const idLength = b[at++] ?? 0;
  if (b.length !== fixed + idLength || (phase !== 0 && phase !== 1)) throw bad();
  const hwId = b.subarray(at, (at += idLength)).toString('latin1');
  if (hwId !== '' && !isValidId(hwId)) throw bad();
  const token = b.subarray(at, (at += TOKEN_BYTES)).toString('base64url');
  const memorySeq = b.readUIntBE(at, 6);
  at += 6;
  if (!b.subarray(at).equals(fingerprint(filterKey))) throw bad('belongs to a stream with another filter');
  return { epoch, seq, phase: phase === 0 ? 'live' : 'replay', hwNs, hwId, token, memorySeq };
}

/** Compare index positions (point time ns, then event id). */
export function comparePosition(aNs: bigint, aId: string, bNs: bigint, bId: string): number {
  if (aNs !== bNs) return aNs < bNs ? -1 : 1;
  return aId < bId ? -1 : aId > bId ? 1 : 0;
}
