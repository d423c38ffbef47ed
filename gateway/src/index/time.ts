/**
 * Point times in nanoseconds. Epoch nanoseconds (~1.8e18) are far above 2^53, so they are
 * BigInts here, travel to influxd as RFC 3339 strings with nine fractional digits (a bound
 * string parameter compares as a time), and come back as RFC 3339 strings (the `/query` default),
 * never as JSON numbers that would lose precision.
 */

/** Nanoseconds per millisecond. */
export const NS_PER_MS = 1_000_000n;

/** Latest millisecond whose nanosecond time fits InfluxDB's int64 (2262-04-11). */
export const MAX_TIME_MS = 9_223_372_036_854;

/** Crockford base32, the ULID alphabet (no I, L, O, U). */
const ULID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** Whether `id` is a canonical ULID (26 Crockford base32 characters). */
export function isUlid(id: string): boolean {
  return ULID_RE.test(id);
}

/** The millisecond time in a ULID's first 10 characters, or undefined when `id` is not a ULID. */
export function ulidTimeMs(id: string): number | undefined {
  if (!isUlid(id)) return undefined;
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + ULID_ALPHABET.indexOf(ch);
  return t;
}

/** The low `bits` bits of a ULID's random part (its last characters), or undefined. */
export function ulidLowBits(id: string, bits: number): number | undefined {
  if (!isUlid(id)) return undefined;
  let v = 0;
  // The last 4 characters are 20 bits; enough for any `bits` ≤ 20.
  for (const ch of id.slice(-4)) v = v * 32 + ULID_ALPHABET.indexOf(ch);
  return v % 2 ** bits;
}

/** `ns` as RFC 3339 UTC with nine fractional digits, e.g. `2026-01-02T03:04:05.000000001Z`. */
export function nsToRfc3339(ns: bigint): string {
  if (ns < 0n) throw new RangeError(`negative time ${ns}`);
  const seconds = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const iso = new Date(Number(seconds) * 1000).toISOString(); // …T03:04:05.000Z
  return `${iso.slice(0, 19)}.${frac}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parse influxd's RFC 3339 time (0–9 fractional digits; `Z`, or an offset when the query had a
 * `tz()` clause) to nanoseconds since the epoch.
 */
export function rfc3339ToNs(text: string): bigint {
  const m = RFC3339.exec(text);
  const whole = m?.[1];
  const minutes = Number(whole?.slice(14, 16));
  const seconds = Number(whole?.slice(17, 19));
  if (m === null || whole === undefined || minutes > 59 || seconds > 59)
    throw new RangeError(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  // A page's rows share a few hours: Date.parse once per hour and zone (most of this function's
  // cost when it parsed every row, ~2% of the gateway's search CPU).
  const key = `${whole.slice(0, 13)}${m[3] ?? ''}`;
  let hour = hourStartMs.get(key);
  if (hour === undefined) {
    hour = Date.parse(`${whole.slice(0, 13)}:00:00${m[3] ?? ''}`);
    if (!Number.isFinite(hour)) throw new RangeError(`not an RFC 3339 time: ${JSON.stringify(text)}`);
    if (hourStartMs.size >= HOURS_KEPT) hourStartMs.clear();
    hourStartMs.set(key, hour);
  }
  const frac = m[2] ?? '';
  return (
    BigInt(hour + minutes * 60_000 + seconds * 1000) * NS_PER_MS +
    BigInt(frac === '' ? 0 : Number(frac.padEnd(9, '0')))
  );
}

/** Epoch ms of `YYYY-MM-DDTHH` + zone, for {@link rfc3339ToNs}. */
const hourStartMs = new Map<string, number>();
const HOURS_KEPT = 4096;

/** Milliseconds → nanoseconds. */
export function msToNs(ms: number): bigint {
  return BigInt(ms) * NS_PER_MS;
}

/** Nanoseconds → whole milliseconds (floor). */
export function nsToMs(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}
