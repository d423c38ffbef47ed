/** Users, sessions, API keys, roles, area scope and reasons. */
export { ApiKeyStore, keyPrincipal } from './api-keys.ts';
export type { ApiKey, CreatedApiKey, NewApiKey } from './api-keys.ts';
export { AuthConfigSchema, authRulesFromConfig } from './config.ts';
export type { AuthConfig } from './config.ts';
export { LoginService } from './login.ts';
export type { LoginResult } from './login.ts';
export { DEFAULT_RATE_LIMIT_RULES, LoginRateLimiter } from './rate-limit.ts';
export type { RateLimitDecision, RateLimitRules } from './rate-limit.ts';
export { DEFAULT_REASON_RULES, requireReason } from './reason.ts';
export type { ReasonRules } from './reason.ts';
export {
  ACTIONS,
  ACTION_RULES,
  API_SERVICES,
  ROLES,
  USER_ROLES,
  actorOf,
  assertAuthorized,
  authorize,
} from './roles.ts';
export type { Action, ActionRule, ApiService, Decision, Principal, Role } from './roles.ts';
export {
  AREA_LEVELS,
  GLOBAL_SCOPE,
  cameraIdsInScope,
  formatScope,
  inScope,
  narrowScope,
  parseScope,
  placeToScope,
  scopeDepth,
  scopeToPlace,
} from './scope.ts';
export type { AreaLevel, AreaScope, PlacedCamera } from './scope.ts';
export {
  PASSWORD_SCRYPT,
  hashPassword,
  needsRehash,
  randomToken,
  tokenHash,
  verifyPassword,
} from './secrets.ts';
export type { ScryptParams } from './secrets.ts';
export { DEFAULT_SESSION_RULES, SessionStore } from './sessions.ts';
export type { NewSession, SessionInfo, SessionRules } from './sessions.ts';
export { DEFAULT_PASSWORD_RULES, USERNAME_RE, UserStore, checkPassword, userPrincipal } from './users.ts';
export type { NewUser, PasswordRules, User, UserPatch } from './users.ts';
