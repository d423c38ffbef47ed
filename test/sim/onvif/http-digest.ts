/**
 * HTTP Digest access authentication, server side (RFC 7616 / RFC 2617), restricted to what
 * ONVIF snapshot clients use: algorithm MD5, qop=auth. Nonces are issued by the server, expire,
 * and each nonce-count may be used once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Why a request was refused. */
export type DigestRefusal =
  | 'missing'
  | 'not_digest'
  | 'malformed'
  | 'unknown_user'
  | 'realm_mismatch'
  | 'unknown_nonce'
  | 'stale_nonce'
  | 'bad_algorithm'
  | 'bad_qop'
  | 'uri_mismatch'
  | 'nc_replay'
  | 'bad_response';

/** Outcome of {@link DigestAuthenticator.verify}. */
export type DigestResult = { ok: true } | { ok: false; why: DigestRefusal };

interface IssuedNonce {
  issuedMs: number;
  /** Highest nonce-count accepted so far. */
  lastNc: number;
}

/** Issues challenges and verifies `Authorization: Digest …` headers. */
export class DigestAuthenticator {
  private readonly nonces = new Map<string, IssuedNonce>();

  constructor(
    readonly realm: string,
    private readonly nonceTtlMs = 300_000,
    private readonly maxNonces = 10_000,
  ) {
    // Some clients split the challenge on ',' and '=' without honouring quotes.
    if (/[",=]/.test(realm)) throw new Error('digest realm must not contain quotes, commas or "="');
  }

  /**
   * A fresh `WWW-Authenticate` value. The realm comes first and the nonce is hex (no '='),
   * because node-onvif parses the header by splitting on ',' and '='.
   */
  challenge(nowMs: number, stale = false): string {
    const nonce = randomBytes(16).toString('hex');
    this.nonces.set(nonce, { issuedMs: nowMs, lastNc: 0 });
    while (this.nonces.size > this.maxNonces) {
      const oldest = this.nonces.keys().next();
      if (oldest.done === true) break;
      this.nonces.delete(oldest.value);
    }
    return `Digest realm="${this.realm}", qop="auth", nonce="${nonce}", algorithm=MD5${stale ? ', stale=true' : ''}`;
  }

  /** Verify an Authorization header for `method uri` against one user's credentials. */
  verify(
    header: string | undefined,
    req: { method: string; uri: string },
    creds: { username: string; password: string },
    nowMs: number,
  ): DigestResult {
    if (header === undefined) return { ok: false, why: 'missing' };
    if (!/^Digest\s/i.test(header)) return { ok: false, why: 'not_digest' };
    const p = parseDigestParams(header.replace(/^Digest\s+/i, ''));
    const { username, realm, nonce, uri, response, qop, nc, cnonce } = p;
    if (
      username === undefined ||
      realm === undefined ||
      nonce === undefined ||
      uri === undefined ||
      response === undefined
    ) {
      return { ok: false, why: 'malformed' };
    }
    if (username !== creds.username) return { ok: false, why: 'unknown_user' };
    if (realm !== this.realm) return { ok: false, why: 'realm_mismatch' };
    if ((p.algorithm ?? 'MD5').toUpperCase() !== 'MD5') return { ok: false, why: 'bad_algorithm' };
    if (qop !== 'auth' || nc === undefined || cnonce === undefined) return { ok: false, why: 'bad_qop' };
    if (!/^[0-9a-f]{8}$/i.test(nc)) return { ok: false, why: 'malformed' };
    if (uri !== req.uri) return { ok: false, why: 'uri_mismatch' };
    const issued = this.nonces.get(nonce);
    if (issued === undefined) return { ok: false, why: 'unknown_nonce' };
    if (nowMs - issued.issuedMs > this.nonceTtlMs) {
      this.nonces.delete(nonce);
      return { ok: false, why: 'stale_nonce' };
    }
    const ha1 = md5(`${username}:${this.realm}:${creds.password}`);
    const ha2 = md5(`${req.method}:${uri}`);
    const expected = Buffer.from(md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`));
    const got = Buffer.from(response.toLowerCase());
    if (expected.length !== got.length || !timingSafeEqual(expected, got))
      return { ok: false, why: 'bad_response' };
    const count = Number.parseInt(nc, 16);
    if (count <= issued.lastNc) return { ok: false, why: 'nc_replay' };
    issued.lastNc = count;
    return { ok: true };
  }
}

/** Parse `k=v, k="v, with comma"` auth-params (quotes honoured, `\"` unescaped, keys lower-cased). */
export function parseDigestParams(s: string): Partial<Record<string, string>> {
  const out: Partial<Record<string, string>> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null && m[0] !== '') {
    const key = (m[1] ?? '').toLowerCase();
    out[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return out;
}

/** Client side, for tests: the Authorization value answering `challenge`. */
export function digestAuthorization(
  challenge: string,
  req: { method: string; uri: string },
  creds: { username: string; password: string },
  nc = 1,
  cnonce = randomBytes(8).toString('hex'),
): string {
  const c = parseDigestParams(challenge.replace(/^Digest\s+/i, ''));
  const realm = c.realm ?? '';
  const nonce = c.nonce ?? '';
  const ncHex = nc.toString(16).padStart(8, '0');
  const ha1 = md5(`${creds.username}:${realm}:${creds.password}`);
  const ha2 = md5(`${req.method}:${req.uri}`);
  const response = md5(`${ha1}:${nonce}:${ncHex}:${cnonce}:auth:${ha2}`);
  return (
    `Digest username="${creds.username}", realm="${realm}", nonce="${nonce}", uri="${req.uri}", ` +
    `algorithm=MD5, qop=auth, nc=${ncHex}, cnonce="${cnonce}", response="${response}"`
  );
}

function md5(s: string): string {
  return createHash('md5').update(s, 'utf8').digest('hex');
}
