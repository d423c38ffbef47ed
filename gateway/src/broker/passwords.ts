/**
 * Password hashes for MQTT credentials, in two formats:
 * - `$scrypt$ln=14,r=8,p=1$<salt b64>$<hash b64>`: what the gateway makes for the embedded broker;
 * - Mosquitto 2.0's `$7$<iterations>$<salt b64>$<hash b64>` (PBKDF2-HMAC-SHA512, 12-byte salt,
 *   64-byte hash), so the same sites can be served by an external Mosquitto: its password file
 *   holds these lines verbatim (see mosquitto-files.ts).
 * Both are verified here in constant time.
 */
import {
  pbkdf2,
  randomBytes,
  scrypt,
  timingSafeEqual,
  type BinaryLike,
  type ScryptOptions,
} from 'node:crypto';

/** scrypt cost: N = 2^14, r = 8, p = 1 (16 MiB, tens of ms). */
const SCRYPT_LN = 14;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SCRYPT_KEY_BYTES = 32;
const SCRYPT_SALT_BYTES = 16;
/** Mosquitto's own default is 101 iterations; more costs each CONNECT a few ms and guessing far more. */
export const MOSQUITTO_DEFAULT_ITERATIONS = 10_000;
const MOSQUITTO_SALT_BYTES = 12;
const MOSQUITTO_HASH_BYTES = 64;
/** Bounds on a stored hash's cost parameters, so a crafted file cannot make verification hang. */
const MAX_SCRYPT_LN = 20;
const MAX_PBKDF2_ITERATIONS = 1_000_000;

const SCRYPT_RE =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
const MOSQUITTO_RE = /^\$7\$(\d{1,7})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function scryptAsync(
  password: BinaryLike,
  salt: Buffer,
  keylen: number,
  opts: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, opts, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

function pbkdf2Async(
  password: BinaryLike,
  salt: Buffer,
  iterations: number,
  keylen: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, keylen, 'sha512', (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** A new `$scrypt$…` hash of `password`. */
export async function hashScrypt(password: string | Uint8Array): Promise<string> {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await scryptAsync(password, salt, SCRYPT_KEY_BYTES, {
    N: 2 ** SCRYPT_LN,
    r: SCRYPT_R,
    p: SCRYPT_P,
  });
  return `$scrypt$ln=${SCRYPT_LN},r=${SCRYPT_R},p=${SCRYPT_P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A new Mosquitto `$7$…` hash of `password`. */
export async function hashMosquitto(
  password: string | Uint8Array,
  iterations = MOSQUITTO_DEFAULT_ITERATIONS,
): Promise<string> {
  const salt = randomBytes(MOSQUITTO_SALT_BYTES);
  const key = await pbkdf2Async(password, salt, iterations, MOSQUITTO_HASH_BYTES);
  return `$7$${iterations}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Both hashes of a new site password: for the sites file's `password_hash` and `mosquitto_password_hash`. */
export async function hashSitePassword(
  password: string | Uint8Array,
): Promise<{ passwordHash: string; mosquittoPasswordHash: string }> {
  const [passwordHash, mosquittoPasswordHash] = await Promise.all([
    hashScrypt(password),
    hashMosquitto(password),
  ]);
  return { passwordHash, mosquittoPasswordHash };
}

/** Whether `hash` is a well-formed hash of a format {@link verifyPassword} knows. */
export function isPasswordHash(hash: string): boolean {
  const s = SCRYPT_RE.exec(hash);
  if (s !== null) return Number(s[1]) >= 1 && Number(s[1]) <= MAX_SCRYPT_LN;
  const m = MOSQUITTO_RE.exec(hash);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= MAX_PBKDF2_ITERATIONS;
}

/** Whether `hash` is Mosquitto's `$7$` format. */
export function isMosquittoHash(hash: string): boolean {
  return MOSQUITTO_RE.test(hash) && isPasswordHash(hash);
}

/** Whether `password` matches `hash` (either format). A malformed hash never matches. */
export async function verifyPassword(password: Uint8Array | string, hash: string): Promise<boolean> {
  if (!isPasswordHash(hash)) return false;
  const s = SCRYPT_RE.exec(hash);
  if (s !== null) {
    const [, ln, r, p, salt, expected] = s;
    const want = Buffer.from(expected ?? '', 'base64');
    const N = 2 ** Number(ln);
    const key = await scryptAsync(password, Buffer.from(salt ?? '', 'base64'), want.length, {
      N,
      r: Number(r),
      p: Number(p),
      maxmem: 256 * N * Number(r) + 1024 * 1024,
    });
    return want.length > 0 && timingSafeEqual(key, want);
  }
  const m = MOSQUITTO_RE.exec(hash);
  if (m === null) return false;
  const [, iterations, salt, expected] = m;
  const want = Buffer.from(expected ?? '', 'base64');
  if (want.length === 0) return false;
  const key = await pbkdf2Async(password, Buffer.from(salt ?? '', 'base64'), Number(iterations), want.length);
  return timingSafeEqual(key, want);
}
