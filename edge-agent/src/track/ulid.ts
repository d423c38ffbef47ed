/**
 * ULIDs for event ids: 48-bit millisecond time + 80 random bits, Crockford base32, 26 characters.
 * Lexicographic order is time order, ids are unique without coordination between agents, and the
 * alphabet has no `/ + #` (safe in MQTT topics). https://github.com/ulid/spec
 */
import { randomFillSync } from 'node:crypto';
import { EdgeError } from '../errors.ts';

/** Crockford's base32 alphabet (no I, L, O, U). */
export const ULID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Largest time a ULID can hold: 2^48 − 1 ms (year 10889). */
export const ULID_MAX_TIME_MS = 2 ** 48 - 1;

/** Fills its argument with random bytes. */
export type RandomFill = (bytes: Uint8Array) => void;

/** Encode `timeMs` as the 10-character time part. Throws EDGE_ERR_EVENT_ID outside 0..2^48−1. */
export function encodeUlidTime(timeMs: number): string {
  if (!Number.isInteger(timeMs) || timeMs < 0 || timeMs > ULID_MAX_TIME_MS) {
    throw new EdgeError('EDGE_ERR_EVENT_ID', `time ${timeMs} is not an integer in 0..2^48-1`);
  }
  let t = timeMs;
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = (ULID_ALPHABET[t % 32] ?? '0') + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** Encode 10 bytes (80 bits) as the 16-character random part. */
export function encodeUlidRandom(bytes: Uint8Array): string {
  if (bytes.length !== 10)
    throw new EdgeError('EDGE_ERR_EVENT_ID', `random part needs 10 bytes, got ${bytes.length}`);
  let out = '';
  // 80 bits = 16 groups of 5, taken from the most significant end.
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ULID_ALPHABET[(acc >> bits) & 31] ?? '0';
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Time (ms) encoded in a ULID, or undefined if `id` is not a ULID. */
export function ulidTimeMs(id: string): number | undefined {
  if (!isUlid(id)) return undefined;
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + ULID_ALPHABET.indexOf(ch);
  return t;
}

/** Whether `id` is a canonical ULID (26 Crockford base32 characters, time within range). */
export function isUlid(id: string): boolean {
  return /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/.test(id);
}

/** Makes ULIDs. */
export type UlidFactory = (timeMs?: number) => string;

/**
 * A monotonic ULID factory: ids made within the same millisecond (or with a clock that stepped
 * back) increment the previous random part, so ids from one factory are strictly increasing.
 * `random` defaults to crypto's CSPRNG.
 */
export function createUlidFactory(random: RandomFill = randomFillSync): UlidFactory {
  let lastTime = -1;
  const last = new Uint8Array(10);
  return (timeMs = Date.now()) => {
    let time = Math.floor(timeMs);
    if (time <= lastTime) {
      time = lastTime;
      // Increment the 80-bit random part; overflow (2^80 ids in one ms) moves to the next ms.
      let i = 9;
      for (; i >= 0; i--) {
        const v = ((last[i] ?? 0) + 1) & 0xff;
        last[i] = v;
        if (v !== 0) break;
      }
      if (i < 0) {
        time++;
        random(last);
      }
    } else {
      random(last);
    }
    const id = encodeUlidTime(time) + encodeUlidRandom(last);
    lastTime = time;
    return id;
  };
}

/** The process-wide factory (monotonic across every tracker of this agent). */
export const ulid: UlidFactory = createUlidFactory();
