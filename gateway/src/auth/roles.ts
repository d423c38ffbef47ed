/**
 * Roles, actions and the one authorisation decision. Every REST route and gRPC method maps to an
 * {@link Action} and calls {@link authorize} with the place of the resource it touches (a
 * camera's place, a site's place, an alert's camera place); list and search endpoints call it
 * without a place and then filter by the principal's scope (see scope.ts).
 *
 * Roles:
 * - admin: users, roles, API keys, settings; reads the registry; no events, no audit trail.
 * - installer: sites and cameras in their area (register, change, lifecycle, maintenance,
 *   discovered devices, collision and quality reports, pass statistics); no event search.
 * - operator: events, evidence, snapshots, exports, live stream and alerts in their area;
 *   requests and approves case-bound plate alert entries (never their own: see alerts/).
 * - integrator: API keys only (no login); what the key's services and area allow.
 * - auditor: reads and verifies the audit trail; nothing else.
 */
import type { Place } from '../../../proto/gen/sharpeyes/v1/common.ts';
import { GatewayError } from '../errors.ts';
import { inScope, type AreaScope } from './scope.ts';

/** A role. */
export type Role = 'admin' | 'installer' | 'operator' | 'integrator' | 'auditor';

/** Every role. */
export const ROLES: readonly Role[] = ['admin', 'installer', 'operator', 'integrator', 'auditor'];

/** Roles a person logging in can have (integrators use API keys). */
export const USER_ROLES: readonly Role[] = ['admin', 'installer', 'operator', 'auditor'];

/** What an integrator's API key may call (gRPC services and their REST equivalents). */
export type ApiService = 'events' | 'evidence' | 'snapshots' | 'cameras' | 'alerts' | 'stats';

/** Every API service. */
export const API_SERVICES: readonly ApiService[] = [
  'events',
  'evidence',
  'snapshots',
  'cameras',
  'alerts',
  'stats',
];

/** Who is asking: a logged-in user or an API key. */
export interface Principal {
  kind: 'user' | 'api_key';
  /** User name, or API key id. */
  id: string;
  /** Display name (user) or key label. */
  name: string;
  role: Role;
  /** The area the principal sees. */
  scope: AreaScope;
  /** For API keys: the services the key may call. Unused for users. */
  services?: readonly ApiService[];
}

/** The audit actor string of a principal: `user:<name>` or `key:<id>`. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'user' ? `user:${principal.id}` : `key:${principal.id}`;
}

/** Something a principal may do. */
export type Action =
  // Administration.
  | 'user.manage'
  | 'api_key.manage'
  | 'settings.manage'
  // Registry.
  | 'site.read'
  | 'site.manage'
  | 'camera.read'
  | 'camera.manage'
  | 'discovered.read'
  | 'registry.report'
  | 'stats.read'
  // Events and evidence.
  | 'event.search'
  | 'event.get'
  | 'event.stream'
  | 'event.export'
  | 'evidence.fetch'
  | 'snapshot.fetch'
  // Alerts.
  | 'alert.read'
  | 'alert.acknowledge'
  | 'alert_entry.read'
  | 'alert_entry.request'
  | 'alert_entry.approve'
  | 'alert_entry.revoke'
  // Audit trail.
  | 'audit.read'
  | 'audit.verify';

/** How each action is governed. */
export interface ActionRule {
  /** Roles allowed. */
  roles: readonly Role[];
  /** Whether the resource's place must be inside the principal's scope. */
  areaScoped: boolean;
  /** For integrators: the key service the action belongs to (none = never for keys). */
  service?: ApiService;
}

const OP: readonly Role[] = ['operator', 'integrator'];

/** The rule table: one row per action. The test matrix walks it. */
export const ACTION_RULES: Readonly<Record<Action, ActionRule>> = Object.freeze({
  'user.manage': { roles: ['admin'], areaScoped: false },
  'api_key.manage': { roles: ['admin'], areaScoped: false },
  'settings.manage': { roles: ['admin'], areaScoped: false },
  'site.read': { roles: ['admin', 'installer', 'operator'], areaScoped: true },
  'site.manage': { roles: ['installer'], areaScoped: true },
  'camera.read': {
    roles: ['admin', 'installer', 'operator', 'integrator'],
    areaScoped: true,
    service: 'cameras',
  },
  'camera.manage': { roles: ['installer'], areaScoped: true },
  'discovered.read': { roles: ['installer'], areaScoped: true },
  'registry.report': { roles: ['admin', 'installer', 'operator'], areaScoped: true },
  'stats.read': { roles: ['installer', 'operator', 'integrator'], areaScoped: true, service: 'stats' },
  'event.search': { roles: OP, areaScoped: true, service: 'events' },
  'event.get': { roles: OP, areaScoped: true, service: 'events' },
  'event.stream': { roles: OP, areaScoped: true, service: 'events' },
  'event.export': { roles: ['operator'], areaScoped: true },
  'evidence.fetch': { roles: OP, areaScoped: true, service: 'evidence' },
  'snapshot.fetch': { roles: OP, areaScoped: true, service: 'snapshots' },
  'alert.read': { roles: OP, areaScoped: true, service: 'alerts' },
  'alert.acknowledge': { roles: OP, areaScoped: true, service: 'alerts' },
  'alert_entry.read': { roles: ['operator'], areaScoped: true },
  'alert_entry.request': { roles: ['operator'], areaScoped: true },
  'alert_entry.approve': { roles: ['operator'], areaScoped: true },
  'alert_entry.revoke': { roles: ['operator'], areaScoped: true },
  'audit.read': { roles: ['auditor'], areaScoped: false },
  'audit.verify': { roles: ['auditor'], areaScoped: false },
});

/** Every action. */
export const ACTIONS = Object.keys(ACTION_RULES) as Action[];

/** The outcome of {@link authorize}. */
export type Decision = { allowed: true } | { allowed: false; why: 'role' | 'service' | 'area' };

/**
 * May `principal` do `action` on a resource at `resourceArea`? Without a resource area (lists,
 * searches, creating in a yet-unknown place) only role and service are checked, and the caller
 * must filter results by `principal.scope`. An area-scoped action on a resource outside the
 * principal's scope is refused.
 */
export function authorize(principal: Principal, action: Action, resourceArea?: Place | AreaScope): Decision {
  const rule = ACTION_RULES[action];
  if (!rule.roles.includes(principal.role)) return { allowed: false, why: 'role' };
  if (principal.kind === 'api_key' || principal.role === 'integrator') {
    // Keys are integrators and integrators are keys; the key's services bound every call.
    if (principal.kind !== 'api_key' || principal.role !== 'integrator')
      return { allowed: false, why: 'role' };
    if (rule.service === undefined || !(principal.services ?? []).includes(rule.service)) {
      return { allowed: false, why: 'service' };
    }
  }
  if (rule.areaScoped && resourceArea !== undefined && !inScope(principal.scope, resourceArea)) {
    return { allowed: false, why: 'area' };
  }
  return { allowed: true };
}

/** {@link authorize}, throwing GatewayError GATEWAY_ERR_FORBIDDEN when refused. */
export function assertAuthorized(
  principal: Principal,
  action: Action,
  resourceArea?: Place | AreaScope,
): void {
  const d = authorize(principal, action, resourceArea);
  if (!d.allowed) {
    const why =
      d.why === 'role'
        ? `role ${principal.role} may not ${action}`
        : d.why === 'service'
          ? `this API key does not include the service needed for ${action}`
          : `the resource is outside the area of ${principal.kind === 'user' ? 'this user' : 'this key'}`;
    throw new GatewayError('GATEWAY_ERR_FORBIDDEN', why);
  }
}
