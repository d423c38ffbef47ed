/**
 * Login and logout: rate limit, password check, session, audit. Unknown user names, disabled
 * users and wrong passwords give the same error after the same work (a dummy scrypt), so the
 * answer and its timing do not reveal which user names exist. Every attempt is audited
 * (`auth.login_ok` / `auth.login_failed`), except that a flood of attempts refused during a
 * lockout is audited once per lockout.
 */
import type { Logger } from 'pino';
import { GatewayError } from '../errors.ts';
import type { AuditLog } from '../audit/log.ts';
import { LoginRateLimiter } from './rate-limit.ts';
import type { Principal } from './roles.ts';
import { dummyVerify, hashPassword, needsRehash, verifyPassword } from './secrets.ts';
import type { SessionStore } from './sessions.ts';
import { normaliseUsername, userPrincipal, type UserStore } from './users.ts';

/** A successful login. */
export interface LoginResult {
  /** Session token for the cookie; shown once. */
  token: string;
  expiresMs: number;
  principal: Principal;
}

/** Login, logout and first-admin bootstrap. */
export class LoginService {
  constructor(
    private readonly users: UserStore,
    private readonly sessions: SessionStore,
    private readonly limiter: LoginRateLimiter,
    private readonly audit: AuditLog,
    private readonly log?: Logger,
  ) {}

  /**
   * Log in. Throws GATEWAY_ERR_AUTH_RATE_LIMITED (with the wait in the message) during a
   * lockout, GATEWAY_ERR_AUTH_FAILED for any wrong user name or password.
   */
  async login(usernameInput: string, password: string, sourceAddress: string): Promise<LoginResult> {
    const username = normaliseUsername(usernameInput).slice(0, 128);
    const gate = this.limiter.check(username, sourceAddress);
    if (!gate.allowed) {
      if (this.limiter.noteRefused(username, sourceAddress)) {
        this.audit.append({
          actor: `user:${username}`,
          action: 'auth.login_failed',
          target: `user:${username}`,
          details: { source_address: sourceAddress, result: 'locked_out', locked_by: gate.by },
        });
      }
      throw new GatewayError(
        'GATEWAY_ERR_AUTH_RATE_LIMITED',
        `retry in ${Math.ceil(gate.retryAfterMs / 1000)} s`,
      );
    }
    const user = this.users.get(username);
    const hash = user === undefined ? undefined : this.users.passwordHash(username);
    const ok =
      user !== undefined && hash !== undefined && typeof password === 'string' && password.length <= 1024
        ? (await verifyPassword(hash, password)) && !user.disabled
        : await dummyVerify(typeof password === 'string' ? password.slice(0, 1024) : '', this.users.scrypt);
    if (!ok || user === undefined || hash === undefined) {
      const next = this.limiter.recordFailure(username, sourceAddress);
      this.audit.append({
        actor: `user:${username}`,
        action: 'auth.login_failed',
        target: `user:${username}`,
        details: {
          source_address: sourceAddress,
          result: user === undefined ? 'unknown_user' : user.disabled ? 'disabled' : 'bad_password',
          ...(next.allowed ? {} : { locked_out_for_ms: next.retryAfterMs }),
        },
      });
      throw new GatewayError('GATEWAY_ERR_AUTH_FAILED');
    }
    this.limiter.recordSuccess(username);
    const session = this.sessions.create(user.username, sourceAddress);
    this.audit.append({
      actor: `user:${user.username}`,
      action: 'auth.login_ok',
      target: `user:${user.username}`,
      details: { source_address: sourceAddress },
    });
    if (needsRehash(hash, this.users.scrypt)) {
      // Upgrade an old-cost hash while the password is at hand; a failure only means next time.
      hashPassword(password, this.users.scrypt).then(
        (fresh) => {
          this.users.rehash(user.username, hash, fresh);
        },
        (err: unknown) => this.log?.warn({ err, username: user.username }, 'password rehash failed'),
      );
    }
    return { token: session.token, expiresMs: session.expiresMs, principal: userPrincipal(user) };
  }

  /** End a session (audited when it was active). */
  logout(token: string): void {
    const username = this.sessions.usernameOf(token);
    if (username !== undefined && this.sessions.revoke(token)) {
      this.audit.append({ actor: `user:${username}`, action: 'auth.logout', target: `user:${username}` });
    }
  }

  /**
   * On first start (no users at all), create an admin with `password` (e.g. from a secret file
   * given at install). Returns false when users exist already.
   */
  async bootstrapAdmin(username: string, password: string): Promise<boolean> {
    if (this.users.count() > 0) return false;
    await this.users.create('system', { username, role: 'admin', password, displayName: 'Administrator' });
    return true;
  }
}
