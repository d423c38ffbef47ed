/**
 * Passwords, login rate limiting, users, sessions and API keys — the stores against a real
 * SQLite file, the clock moved by hand.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyStore } from '../../../gateway/src/auth/api-keys.ts';
import { LoginService } from '../../../gateway/src/auth/login.ts';
import { LoginRateLimiter } from '../../../gateway/src/auth/rate-limit.ts';
import {
  digestsEqual,
  dummyVerify,
  hashPassword,
  needsRehash,
  randomToken,
  tokenHash,
  verifyPassword,
} from '../../../gateway/src/auth/secrets.ts';
import { SessionStore } from '../../../gateway/src/auth/sessions.ts';
import { UserStore, checkPassword } from '../../../gateway/src/auth/users.ts';
import { verifyAuditChain } from '../../../gateway/src/audit/verify.ts';
import { isGatewayError, type GatewayErrorCode } from '../../../gateway/src/errors.ts';
import { FAST_SCRYPT, TestClock, openTestDb, type TestDb } from '../registry/helpers.ts';

async function rejectsWith(p: Promise<unknown>, code: GatewayErrorCode): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(isGatewayError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  return caught as Error;
}

function throwsWith(fn: () => unknown, code: GatewayErrorCode): Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isGatewayError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  return caught as Error;
}

describe('password hashes and tokens', () => {
  it('hash with a per-hash salt and verify in constant time', async () => {
    const a = await hashPassword('correct horse battery', FAST_SCRYPT);
    const b = await hashPassword('correct horse battery', FAST_SCRYPT);
    expect(a).toMatch(/^scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword(a, 'correct horse battery')).toBe(true);
    expect(await verifyPassword(a, 'correct horse batterY')).toBe(false);
    expect(await verifyPassword('garbage', 'x')).toBe(false);
    expect(await verifyPassword(a.replace('ln=10', 'ln=40'), 'correct horse battery')).toBe(false);
    expect(needsRehash(a, FAST_SCRYPT)).toBe(false);
    expect(needsRehash(a)).toBe(true);
    expect(await dummyVerify('anything', FAST_SCRYPT)).toBe(false);
  });

  it('normalises passwords (NFC) so the same text typed differently matches', async () => {
    const h = await hashPassword('caf\u00e9-password', FAST_SCRYPT);
    expect(await verifyPassword(h, 'cafe\u0301-password')).toBe(true);
  });

  it('tokens are random, hashed as hex sha256, compared in constant time', () => {
    const t1 = randomToken();
    expect(t1).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken()).not.toBe(t1);
    expect(tokenHash(t1)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestsEqual(tokenHash(t1), tokenHash(t1))).toBe(true);
    expect(digestsEqual(tokenHash(t1), tokenHash('x'))).toBe(false);
    expect(digestsEqual('', '')).toBe(false);
  });

  const weak: [string, unknown, RegExp][] = [
    ['short', 'short', /at least 12/],
    ['repetitive', 'aaaaaaaaaaaaab', /4 different/],
    ['not a string', 12, /must be a string/],
    ['too long', 'ab1!'.repeat(100), /at most 256/],
  ];
  it.each(weak)('refuses a %s password', (_n, pw, message) => {
    expect(() => checkPassword(pw)).toThrow(message);
  });
});

describe('login rate limiter', () => {
  it('locks a user name after 5 failures in the window, for the lockout time', () => {
    const clock = new TestClock();
    const rl = new LoginRateLimiter(
      { maxFailuresPerUser: 5, windowMs: 60_000, lockoutMs: 300_000 },
      clock.now,
    );
    for (let i = 0; i < 4; i++) expect(rl.recordFailure('Alice', `10.0.0.${i}`).allowed).toBe(true);
    expect(rl.recordFailure('alice', '10.0.0.9')).toEqual({
      allowed: false,
      by: 'user',
      retryAfterMs: 300_000,
    });
    expect(rl.check('ALICE', '10.1.1.1').allowed).toBe(false);
    expect(rl.check('bob', '10.0.0.1').allowed).toBe(true);
    clock.advance(299_999);
    expect(rl.check('alice', '10.1.1.1')).toEqual({ allowed: false, by: 'user', retryAfterMs: 1 });
    clock.advance(1);
    expect(rl.check('alice', '10.1.1.1').allowed).toBe(true);
  });

  it('counts failures over a sliding window', () => {
    const clock = new TestClock();
    const rl = new LoginRateLimiter({ maxFailuresPerUser: 3, windowMs: 60_000 }, clock.now);
    rl.recordFailure('u', 'a');
    rl.recordFailure('u', 'a');
    clock.advance(60_001);
    expect(rl.recordFailure('u', 'a').allowed).toBe(true);
    expect(rl.recordFailure('u', 'a').allowed).toBe(true);
    expect(rl.recordFailure('u', 'a').allowed).toBe(false);
  });

  it('locks an address guessing many user names; a success clears only the user name', () => {
    const clock = new TestClock();
    const rl = new LoginRateLimiter({ maxFailuresPerUser: 3, maxFailuresPerAddress: 10 }, clock.now);
    for (let i = 0; i < 9; i++) rl.recordFailure(`user${i}`, '::ffff:192.0.2.7');
    expect(rl.recordFailure('user9', '192.0.2.7')).toMatchObject({ allowed: false, by: 'address' });
    expect(rl.check('someone-else', '192.0.2.7').allowed).toBe(false);
    expect(rl.check('someone-else', '192.0.2.8').allowed).toBe(true);
    rl.recordFailure('carol', '198.51.100.1');
    rl.recordFailure('carol', '198.51.100.1');
    rl.recordSuccess('Carol');
    expect(rl.recordFailure('carol', '198.51.100.1').allowed).toBe(true);
  });

  it('reports a refused attempt once per lockout', () => {
    const clock = new TestClock();
    const rl = new LoginRateLimiter({ maxFailuresPerUser: 1, lockoutMs: 1000 }, clock.now);
    rl.recordFailure('u', 'a');
    expect(rl.noteRefused('u', 'a')).toBe(true);
    expect(rl.noteRefused('u', 'a')).toBe(false);
    clock.advance(1000);
    rl.recordFailure('u', 'a');
    expect(rl.noteRefused('u', 'a')).toBe(true);
  });

  it('keeps memory bounded', () => {
    const rl = new LoginRateLimiter({ maxTracked: 100 });
    for (let i = 0; i < 1000; i++) rl.recordFailure(`u${i}`, `a${i}`);
    expect(rl.tracked).toBeLessThanOrEqual(100);
  });
});

describe('users, sessions, login (SQLite)', () => {
  let t: TestDb;
  let users: UserStore;
  let sessions: SessionStore;
  let limiter: LoginRateLimiter;
  let login: LoginService;

  beforeEach(async () => {
    t = openTestDb('auth');
    users = new UserStore(t.db, t.audit, { now: t.clock.now, scrypt: FAST_SCRYPT });
    sessions = new SessionStore(
      t.db,
      { ttlMs: 3_600_000, idleMs: 600_000, touchIntervalMs: 60_000 },
      t.clock.now,
    );
    limiter = new LoginRateLimiter({ maxFailuresPerUser: 3, lockoutMs: 60_000 }, t.clock.now);
    login = new LoginService(users, sessions, limiter, t.audit);
    expect(await login.bootstrapAdmin('root', 'first admin password')).toBe(true);
    expect(await login.bootstrapAdmin('root2', 'first admin password')).toBe(false);
  });
  afterEach(() => {
    t.close();
  });

  it('creates users with validated fields and refuses duplicates and integrators', async () => {
    const u = await users.create('user:root', {
      username: 'op.zhang',
      displayName: '张三',
      role: 'operator',
      scope: { district: 'A' },
      password: 'a long enough pw',
    });
    expect(u).toMatchObject({
      username: 'op.zhang',
      displayName: '张三',
      role: 'operator',
      scope: { district: 'A' },
      disabled: false,
    });
    expect(users.get('OP.ZHANG')?.username).toBe('op.zhang');
    await rejectsWith(
      users.create('user:root', { username: 'op.zhang', role: 'operator', password: 'a long enough pw' }),
      'GATEWAY_ERR_CONFLICT',
    );
    await rejectsWith(
      users.create('user:root', { username: 'Bad Name', role: 'operator', password: 'a long enough pw' }),
      'GATEWAY_ERR_INVALID_INPUT',
    );
    await rejectsWith(
      users.create('user:root', { username: 'int1', role: 'integrator', password: 'a long enough pw' }),
      'GATEWAY_ERR_INVALID_INPUT',
    );
    await rejectsWith(
      users.create('user:root', { username: 'x1', role: 'operator', password: 'short' }),
      'GATEWAY_ERR_INVALID_INPUT',
    );
    await rejectsWith(
      users.create('user:root', {
        username: 'x2',
        role: 'operator',
        password: 'a long enough pw',
        scope: { street: 'S' },
      }),
      'GATEWAY_ERR_INVALID_INPUT',
    );
    expect(users.list().map((x) => x.username)).toEqual(['op.zhang', 'root']);
    expect(t.audit.list({ action: 'user.create' }).map((r) => r.target)).toEqual([
      'user:op.zhang',
      'user:root',
    ]);
  });

  it('logs in with the right password only; every attempt is audited without the password', async () => {
    const ok = await login.login('Root', 'first admin password', '192.0.2.1');
    expect(ok.principal).toMatchObject({ kind: 'user', id: 'root', role: 'admin', scope: {} });
    expect(ok.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.authenticate(ok.token)?.id).toBe('root');
    await rejectsWith(login.login('root', 'wrong password!!', '192.0.2.1'), 'GATEWAY_ERR_AUTH_FAILED');
    const unknown = await rejectsWith(
      login.login('nobody', 'whatever password', '192.0.2.1'),
      'GATEWAY_ERR_AUTH_FAILED',
    );
    expect(unknown.message).toBe('invalid user name or password');
    const records = t.audit.list({}).filter((r) => r.action.startsWith('auth.'));
    expect(records.map((r) => [r.action, r.details.result ?? 'ok'])).toEqual([
      ['auth.login_failed', 'unknown_user'],
      ['auth.login_failed', 'bad_password'],
      ['auth.login_ok', 'ok'],
    ]);
    expect(JSON.stringify(t.audit.list({}))).not.toContain('wrong password');
    expect(records[0]?.details.source_address).toBe('192.0.2.1');
  });

  it('locks a user name out after repeated failures and audits the lockout once', async () => {
    for (let i = 0; i < 3; i++)
      await rejectsWith(login.login('root', `wrong ${i} password`, '192.0.2.9'), 'GATEWAY_ERR_AUTH_FAILED');
    const locked = await rejectsWith(
      login.login('root', 'first admin password', '192.0.2.9'),
      'GATEWAY_ERR_AUTH_RATE_LIMITED',
    );
    expect(locked.message).toMatch(/retry in 60 s/);
    await rejectsWith(
      login.login('root', 'first admin password', '192.0.2.10'),
      'GATEWAY_ERR_AUTH_RATE_LIMITED',
    );
    const lockouts = t.audit
      .list({ action: 'auth.login_failed' })
      .filter((r) => r.details.result === 'locked_out');
    expect(lockouts).toHaveLength(1);
    t.clock.advance(60_000);
    expect((await login.login('root', 'first admin password', '192.0.2.9')).principal.id).toBe('root');
  });

  it('refuses disabled users and ends their sessions; role and scope changes apply at once', async () => {
    await users.create('user:root', {
      username: 'inst',
      role: 'installer',
      scope: { district: 'A' },
      password: 'installer password',
    });
    const s = await login.login('inst', 'installer password', '192.0.2.2');
    users.update('user:root', 'inst', { scope: { district: 'B' }, role: 'operator' });
    expect(sessions.authenticate(s.token)).toMatchObject({ role: 'operator', scope: { district: 'B' } });
    users.update('user:root', 'inst', { disabled: true });
    expect(sessions.authenticate(s.token)).toBeUndefined();
    await rejectsWith(login.login('inst', 'installer password', '192.0.2.2'), 'GATEWAY_ERR_AUTH_FAILED');
    const upd = t.audit.list({ action: 'user.update' });
    expect(upd[1]?.details).toEqual({
      changes: {
        role: { from: 'installer', to: 'operator' },
        scope: { from: { district: 'A' }, to: { district: 'B' } },
      },
    });
    throwsWith(() => users.update('user:root', 'ghost', { disabled: true }), 'GATEWAY_ERR_NOT_FOUND');
  });

  it('sessions expire absolutely and when idle, and can be revoked', async () => {
    const a = await login.login('root', 'first admin password', '192.0.2.1');
    t.clock.advance(599_000);
    expect(sessions.authenticate(a.token)).toBeDefined();
    t.clock.advance(599_000);
    expect(sessions.authenticate(a.token)).toBeDefined();
    t.clock.advance(600_000);
    expect(sessions.authenticate(a.token)).toBeUndefined();

    const b = await login.login('root', 'first admin password', '192.0.2.1');
    for (let i = 0; i < 7; i++) {
      t.clock.advance(540_000);
      sessions.authenticate(b.token);
    }
    expect(sessions.authenticate(b.token)).toBeUndefined();

    const c = await login.login('root', 'first admin password', '192.0.2.1');
    expect(sessions.list('root')).toHaveLength(1);
    login.logout(c.token);
    login.logout(c.token);
    expect(sessions.authenticate(c.token)).toBeUndefined();
    expect(t.audit.list({ action: 'auth.logout' })).toHaveLength(1);
    expect(sessions.authenticate('not-a-token')).toBeUndefined();
    expect(sessions.authenticate('')).toBeUndefined();
    t.clock.advance(8 * 86_400_000);
    expect(sessions.prune()).toBe(3);
  });

  it('a password change revokes sessions; an old-cost hash is upgraded at login', async () => {
    const s = await login.login('root', 'first admin password', '192.0.2.1');
    await users.setPassword('user:root', 'root', 'second admin password');
    expect(sessions.authenticate(s.token)).toBeUndefined();
    await rejectsWith(login.login('root', 'first admin password', '192.0.2.1'), 'GATEWAY_ERR_AUTH_FAILED');

    const stronger = new UserStore(t.db, t.audit, { now: t.clock.now, scrypt: { ln: 11, r: 8, p: 1 } });
    const login2 = new LoginService(stronger, sessions, new LoginRateLimiter({}, t.clock.now), t.audit);
    const before = stronger.passwordHash('root') ?? '';
    expect(before).toContain('ln=10');
    await login2.login('root', 'second admin password', '192.0.2.1');
    for (let i = 0; i < 100 && (stronger.passwordHash('root') ?? '') === before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stronger.passwordHash('root')).toContain('ln=11');
    expect((await login2.login('root', 'second admin password', '192.0.2.1')).principal.id).toBe('root');
    expect(verifyAuditChain(t.db).ok).toBe(true);
  });
});

describe('API keys (SQLite)', () => {
  let t: TestDb;
  let keys: ApiKeyStore;
  beforeEach(() => {
    t = openTestDb('apikeys');
    keys = new ApiKeyStore(t.db, t.audit, t.clock.now);
  });
  afterEach(() => {
    t.close();
  });

  it('shows the key once, stores only its hash, authenticates it with its scope and services', () => {
    const { key, record } = keys.create('user:root', {
      name: 'traffic bureau',
      scope: { district: 'A' },
      services: ['events', 'cameras', 'events'],
    });
    expect(key).toMatch(/^se_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    expect(record).toMatchObject({
      name: 'traffic bureau',
      scope: { district: 'A' },
      services: ['cameras', 'events'],
      revokedMs: null,
    });
    const stored = t.db.all<Record<string, unknown>>('SELECT * FROM api_keys');
    expect(JSON.stringify(stored)).not.toContain(key.split('.')[1]);
    expect(keys.authenticate(key)).toEqual({
      kind: 'api_key',
      id: record.keyId,
      name: 'traffic bureau',
      role: 'integrator',
      scope: { district: 'A' },
      services: ['cameras', 'events'],
    });
    expect(keys.authenticate(`Bearer ${key}`)?.id).toBe(record.keyId);
    expect(keys.authenticate(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(keys.authenticate('se_0000000000000000.' + 'A'.repeat(43))).toBeUndefined();
    expect(keys.authenticate('nonsense')).toBeUndefined();
    expect(keys.get(record.keyId)?.lastUsedMs).toBe(t.clock.t);
    expect(t.audit.list({ action: 'api_key.create' })[0]?.details).toEqual({
      name: 'traffic bureau',
      scope: { district: 'A' },
      services: ['cameras', 'events'],
      expires_ms: null,
    });
  });

  it('revocation and expiry end a key; revocation is audited once', () => {
    const a = keys.create('user:root', { name: 'a', services: ['events'] });
    const b = keys.create('user:root', { name: 'b', services: ['events'], expiresMs: t.clock.t + 1000 });
    keys.revoke('user:root', a.record.keyId, 'contract ended');
    keys.revoke('user:root', a.record.keyId);
    expect(keys.authenticate(a.key)).toBeUndefined();
    expect(t.audit.list({ action: 'api_key.revoke' })).toHaveLength(1);
    expect(keys.authenticate(b.key)).toBeDefined();
    t.clock.advance(1000);
    expect(keys.authenticate(b.key)).toBeUndefined();
    expect(
      keys
        .list()
        .map((k) => k.name)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  const bad: [string, Parameters<ApiKeyStore['create']>[1], RegExp][] = [
    ['no services', { name: 'x', services: [] }, /services must list/],
    ['unknown service', { name: 'x', services: ['events', 'admin' as never] }, /unknown service/],
    ['empty name', { name: ' ', services: ['events'] }, /name must not be empty/],
    ['bad scope', { name: 'x', services: ['events'], scope: { street: 'S' } }, /scope\.street/],
    ['expiry in the past', { name: 'x', services: ['events'], expiresMs: Date.UTC(2020, 0, 1) }, /future/],
  ];
  it.each(bad)('refuses %s', (_n, input, message) => {
    const err = throwsWith(() => keys.create('user:root', input), 'GATEWAY_ERR_INVALID_INPUT');
    expect(err.message).toMatch(message);
  });
});
