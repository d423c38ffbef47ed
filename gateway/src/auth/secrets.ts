/**
 * Secrets at rest: scrypt password hashes (node:crypto, per-hash random salt, timing-safe
 * compare) and random tokens stored as sha256.
 *
 * Password hash format (PHC-like, self-describing so the cost can be raised later):
 * `scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<key base64>`.
 *
 * Tokens (session tokens, API key secrets) are 32 random bytes; their entropy makes a slow hash
 * unnecessary, so sessions and keys store sha256(token), looked up by hash. (Site MQTT
 * passwords are hashed by broker/passwords.ts, in the formats the brokers verify.)
 */
import {
  createHash,
  randomBytes,
  scrypt as scryptCb,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';
import { GatewayError } from '../errors.ts';

/** scrypt cost. Memory used is 128 · N · r bytes. */
export interface ScryptParams {
  /** log2 of N (CPU/memory cost). */
  ln: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/** For people's passwords: N = 2^15, r = 8 (32 MiB, ~0.1 s on this 2-core machine). */
export const PASSWORD_SCRYPT: ScryptParams = Object.freeze({ ln: 15, r: 8, p: 1 });

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const FORMAT =
  /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function scrypt(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** params.ln,
    r: params.r,
    p: params.p,
    maxmem: 256 * 2 ** params.ln * params.r + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

function checkParams(params: ScryptParams): void {
  if (!(
    params.ln >= 10 &&
    params.ln <= 20 &&
    params.r >= 1 &&
    params.r <= 32 &&
    params.p >= 1 &&
    params.p <= 16
  )) {
    throw new GatewayError('GATEWAY_ERR_CONFIG', `scrypt parameters out of range: ${JSON.stringify(params)}`);
  }
}

/** Hash `password` with a fresh random salt. Runs on libuv's thread pool, not the event loop. */
export async function hashPassword(
  password: string,
  params: ScryptParams = PASSWORD_SCRYPT,
): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, params);
  return `scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | undefined {
  const m = FORMAT.exec(stored);
  if (m === null) return undefined;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  try {
    checkParams(params);
  } catch {
    return undefined;
  }
  return { params, salt: Buffer.from(m[4] ?? '', 'base64'), key: Buffer.from(m[5] ?? '', 'base64') };
}

/** Whether `password` matches `stored` (a {@link hashPassword} result). False for a malformed hash. */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (parsed === undefined || parsed.key.length !== KEY_BYTES) return false;
  const key = await scrypt(password, parsed.salt, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/** Whether `stored` was made with other parameters than `params` (rehash at next login). */
export function needsRehash(stored: string, params: ScryptParams = PASSWORD_SCRYPT): boolean {
  const parsed = parseHash(stored);
  return (
    parsed === undefined ||
    parsed.params.ln !== params.ln ||
    parsed.params.r !== params.r ||
    parsed.params.p !== params.p
  );
}

const dummyHashes = new Map<string, Promise<string>>();

/**
 * Spend the same time as verifying a password with `params`, for unknown user names, so a
 * login's duration does not reveal whether the user exists. Always false.
 */
export async function dummyVerify(password: string, params: ScryptParams = PASSWORD_SCRYPT): Promise<false> {
  const key = `${params.ln},${params.r},${params.p}`;
  let hash = dummyHashes.get(key);
  if (hash === undefined) {
    hash = hashPassword(randomBytes(16).toString('hex'), params);
    dummyHashes.set(key, hash);
  }
  await verifyPassword(await hash, password);
  return false;
}

/** A random token: 32 bytes, base64url (43 characters). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Lower-case hex sha256 of a token (how tokens are stored and looked up). */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time equality of two hex digests of the same length. */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
