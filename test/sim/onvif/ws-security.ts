/**
 * WS-Security UsernameToken (OASIS Username Token Profile 1.0) as ONVIF uses it:
 * PasswordDigest = base64(sha1(nonce + created + password)), with replay and clock-skew checks.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { NS, attr, child, esc, type XmlElement } from './xml.ts';

const PASSWORD_DIGEST = '#PasswordDigest';

/** A UsernameToken as found in a request header. */
export interface UsernameToken {
  username: string;
  /** Base64 digest (PasswordDigest) or the clear password (PasswordText). */
  password: string;
  /** Password `Type` attribute; WSS says a missing Type means PasswordText. */
  passwordType: string;
  /** Base64 nonce as sent. */
  nonce: string;
  /** `wsu:Created` as sent (ISO 8601). */
  created: string;
}

/** Why a token was refused (never sent to the client: every refusal is the same ter:NotAuthorized). */
export type AuthRefusal =
  | 'missing'
  | 'malformed'
  | 'unknown_user'
  | 'password_text'
  | 'bad_digest'
  | 'stale_created'
  | 'replayed_nonce';

/** Outcome of {@link verifyUsernameToken}. */
export type AuthResult = { ok: true } | { ok: false; why: AuthRefusal };

/**
 * The UsernameToken in a SOAP envelope: `undefined` when the envelope has no Security header,
 * `'malformed'` when there is one but it lacks a field.
 */
export function extractUsernameToken(envelopeRoot: XmlElement): UsernameToken | 'malformed' | undefined {
  const header = child(envelopeRoot, 'Header', NS.soap);
  const security = child(header, 'Security', NS.wsse);
  if (security === undefined) return undefined;
  const token = child(security, 'UsernameToken', NS.wsse);
  const username = child(token, 'Username', NS.wsse);
  const password = child(token, 'Password', NS.wsse);
  const nonce = child(token, 'Nonce', NS.wsse);
  const created = child(token, 'Created', NS.wsu) ?? child(token, 'Created');
  if (username === undefined || password === undefined || nonce === undefined || created === undefined) {
    return 'malformed';
  }
  return {
    username: username.text,
    password: password.text,
    passwordType: attr(password, 'Type') ?? '',
    nonce: nonce.text,
    created: created.text,
  };
}

/** base64(sha1(nonce + created + password)) — the ONVIF PasswordDigest. */
export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
    .digest('base64');
}

/**
 * Remembers nonces for the skew window so a captured request cannot be replayed. Bounded: when
 * full, the oldest entries go first (a replay older than that is then caught by the Created check
 * only if it is also stale — acceptable for a simulator).
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** Record `nonce`; returns true if it was already seen within the window. */
  checkAndRecord(nonce: string, nowMs: number): boolean {
    this.evict(nowMs);
    if (this.seen.has(nonce)) return true;
    this.seen.set(nonce, nowMs);
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (oldest.done === true) break;
      this.seen.delete(oldest.value);
    }
    return false;
  }

  private evict(nowMs: number): void {
    // Map iteration is insertion order, which is time order here.
    for (const [nonce, at] of this.seen) {
      if (nowMs - at <= this.windowMs) break;
      this.seen.delete(nonce);
    }
  }
}

/** What {@link verifyUsernameToken} checks against. */
export interface TokenCheck {
  username: string;
  password: string;
  /** Camera clock now, ms since epoch. */
  nowMs: number;
  maxClockSkewMs: number;
  /** Undefined disables the replay check. */
  nonceCache: NonceCache | undefined;
}

/** Check a token: user, digest type, Created within the skew window, digest, then nonce freshness. */
export function verifyUsernameToken(
  token: UsernameToken | 'malformed' | undefined,
  check: TokenCheck,
): AuthResult {
  if (token === undefined) return { ok: false, why: 'missing' };
  if (token === 'malformed') return { ok: false, why: 'malformed' };
  if (token.username !== check.username) return { ok: false, why: 'unknown_user' };
  if (!token.passwordType.endsWith(PASSWORD_DIGEST)) return { ok: false, why: 'password_text' };
  const createdMs = Date.parse(token.created);
  if (Number.isNaN(createdMs)) return { ok: false, why: 'malformed' };
  if (Math.abs(check.nowMs - createdMs) > check.maxClockSkewMs) return { ok: false, why: 'stale_created' };
  const nonce = Buffer.from(token.nonce, 'base64');
  if (nonce.length === 0) return { ok: false, why: 'malformed' };
  const expected = Buffer.from(passwordDigest(nonce, token.created, check.password));
  const got = Buffer.from(token.password);
  if (expected.length !== got.length || !timingSafeEqual(expected, got))
    return { ok: false, why: 'bad_digest' };
  if (check.nonceCache?.checkAndRecord(token.nonce, check.nowMs) === true) {
    return { ok: false, why: 'replayed_nonce' };
  }
  return { ok: true };
}

/** Options of {@link buildSecurityHeader}; fixed values make replay tests possible. */
export interface SecurityHeaderOptions {
  nonce?: Buffer;
  /** ISO 8601; default now. */
  created?: string;
}

/** A `<Security>` header block as clients send it (for raw-request tests). */
export function buildSecurityHeader(
  username: string,
  password: string,
  opts: SecurityHeaderOptions = {},
): string {
  const nonce = opts.nonce ?? randomBytes(16);
  const created = opts.created ?? new Date().toISOString();
  return (
    `<Security s:mustUnderstand="1" xmlns="${NS.wsse}"><UsernameToken>` +
    `<Username>${esc(username)}</Username>` +
    `<Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0${PASSWORD_DIGEST}">` +
    `${passwordDigest(nonce, created, password)}</Password>` +
    `<Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">` +
    `${nonce.toString('base64')}</Nonce>` +
    `<Created xmlns="${NS.wsu}">${created}</Created>` +
    `</UsernameToken></Security>`
  );
}
