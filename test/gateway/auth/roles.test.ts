/**
 * The authorisation matrix: every role × every action × resource inside / outside the
 * principal's area / no resource area, plus integrator keys by service. The expectations are
 * written out here independently of the rule table in roles.ts, so a change there that is not
 * also made here fails.
 */
import { describe, expect, it } from 'vitest';
import {
  ACTIONS,
  API_SERVICES,
  ROLES,
  assertAuthorized,
  authorize,
  type Action,
  type ApiService,
  type Principal,
  type Role,
} from '../../../gateway/src/auth/roles.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { apiKey, user } from '../registry/helpers.ts';

/** Which roles may do what (integrators: with the service named). Written out by hand. */
const EXPECTED: Record<Action, { roles: Role[]; area: boolean; service?: ApiService }> = {
  'user.manage': { roles: ['admin'], area: false },
  'api_key.manage': { roles: ['admin'], area: false },
  'settings.manage': { roles: ['admin'], area: false },
  'site.read': { roles: ['admin', 'installer', 'operator'], area: true },
  'site.manage': { roles: ['installer'], area: true },
  'camera.read': { roles: ['admin', 'installer', 'operator', 'integrator'], area: true, service: 'cameras' },
  'camera.manage': { roles: ['installer'], area: true },
  'discovered.read': { roles: ['installer'], area: true },
  'registry.report': { roles: ['admin', 'installer', 'operator'], area: true },
  'stats.read': { roles: ['installer', 'operator', 'integrator'], area: true, service: 'stats' },
  'event.search': { roles: ['operator', 'integrator'], area: true, service: 'events' },
  'event.get': { roles: ['operator', 'integrator'], area: true, service: 'events' },
  'event.stream': { roles: ['operator', 'integrator'], area: true, service: 'events' },
  'event.export': { roles: ['operator'], area: true },
  'evidence.fetch': { roles: ['operator', 'integrator'], area: true, service: 'evidence' },
  'snapshot.fetch': { roles: ['operator', 'integrator'], area: true, service: 'snapshots' },
  'alert.read': { roles: ['operator', 'integrator'], area: true, service: 'alerts' },
  'alert.acknowledge': { roles: ['operator', 'integrator'], area: true, service: 'alerts' },
  'alert_entry.read': { roles: ['operator'], area: true },
  'alert_entry.request': { roles: ['operator'], area: true },
  'alert_entry.approve': { roles: ['operator'], area: true },
  'alert_entry.revoke': { roles: ['operator'], area: true },
  'audit.read': { roles: ['auditor'], area: false },
  'audit.verify': { roles: ['auditor'], area: false },
};

const SCOPE = { district: 'A', street: 'S1' };
const INSIDE = { district: 'A', street: 'S1', community: 'C1', grid: '' };
const OUTSIDE = { district: 'A', street: 'S2', community: '', grid: '' };

function principalFor(role: Role): Principal {
  return role === 'integrator' ? apiKey('k1', API_SERVICES, SCOPE) : user(`${role}1`, role, SCOPE);
}

type Where = 'inside' | 'outside' | 'no area';
const WHERE: Where[] = ['inside', 'outside', 'no area'];

const matrix: [Role, Action, Where, boolean][] = [];
for (const role of ROLES) {
  for (const action of ACTIONS) {
    for (const where of WHERE) {
      const e = EXPECTED[action];
      const roleOk = e.roles.includes(role);
      const areaOk = !(e.area && where === 'outside');
      matrix.push([role, action, where, roleOk && areaOk]);
    }
  }
}

describe('authorize', () => {
  it('the matrix covers every action of the rule table', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...ACTIONS].sort());
    expect(matrix.length).toBe(ROLES.length * ACTIONS.length * 3);
  });

  it.each(matrix)('%s %s (%s) → %s', (role, action, where, allowed) => {
    const p = principalFor(role);
    const area = where === 'inside' ? INSIDE : where === 'outside' ? OUTSIDE : undefined;
    const d = authorize(p, action, area);
    expect(d.allowed).toBe(allowed);
    if (!d.allowed) {
      const e = EXPECTED[action];
      expect(d.why).toBe(e.roles.includes(role) ? 'area' : 'role');
    }
  });

  const keyCases: [Action, ApiService[], boolean][] = [];
  for (const action of ACTIONS) {
    const e = EXPECTED[action];
    if (!e.roles.includes('integrator') || e.service === undefined) continue;
    keyCases.push([action, [e.service], true]);
    keyCases.push([action, API_SERVICES.filter((s) => s !== e.service), false]);
  }
  it.each(keyCases)('an API key for %s with services %j → %s', (action, services, allowed) => {
    const d = authorize(apiKey('k2', services, SCOPE), action, INSIDE);
    expect(d.allowed).toBe(allowed);
    if (!d.allowed) expect(d.why).toBe('service');
  });

  it('a user cannot hold the integrator role, and a key cannot act as another role', () => {
    expect(authorize(user('u', 'integrator'), 'event.search').allowed).toBe(false);
    const forged: Principal = {
      kind: 'api_key',
      id: 'k',
      name: 'k',
      role: 'operator',
      scope: {},
      services: API_SERVICES,
    };
    expect(authorize(forged, 'event.search')).toEqual({ allowed: false, why: 'role' });
  });

  it('a global scope reaches every area; an unset place is outside any area scope', () => {
    expect(authorize(user('o', 'operator'), 'event.get', OUTSIDE).allowed).toBe(true);
    expect(
      authorize(user('o', 'operator', { district: 'A' }), 'event.get', {
        district: '',
        street: '',
        community: '',
        grid: '',
      }).allowed,
    ).toBe(false);
  });

  it('assertAuthorized throws GATEWAY_ERR_FORBIDDEN saying why', () => {
    const cases: [Principal, Action, typeof INSIDE | undefined, RegExp][] = [
      [user('i', 'installer', SCOPE), 'event.search', undefined, /role installer may not event\.search/],
      [user('o', 'operator', SCOPE), 'event.get', OUTSIDE, /outside the area of this user/],
      [apiKey('k', ['cameras'], SCOPE), 'event.search', undefined, /does not include the service/],
    ];
    for (const [p, action, area, message] of cases) {
      let caught: unknown;
      try {
        assertAuthorized(p, action, area);
      } catch (err) {
        caught = err;
      }
      expect(isGatewayError(caught, 'GATEWAY_ERR_FORBIDDEN')).toBe(true);
      expect((caught as Error).message).toMatch(message);
    }
    expect(() => {
      assertAuthorized(user('a', 'auditor'), 'audit.verify');
    }).not.toThrow();
  });
});
