/**
 * The pages and who sees them. The nav shows a role only its pages, and the router refuses the
 * others (the API refuses them anyway: this is convenience, not the access control).
 */
import type { Role } from './api/types.ts';
import type { MessageKey } from './i18n/index.ts';

/** One page of the nav. */
export interface PageDef {
  id: string;
  /** Route pattern (`:param` segments). */
  path: string;
  label: MessageKey;
  roles: readonly Role[];
  /** Shown in the nav (detail pages are not). */
  nav: boolean;
}

/** Every page. */
export const PAGES: readonly PageDef[] = [
  {
    id: 'overview',
    path: '/overview',
    label: 'nav.overview',
    roles: ['operator', 'installer', 'admin'],
    nav: true,
  },
  { id: 'wall', path: '/wall', label: 'nav.wall', roles: ['operator'], nav: true },
  { id: 'search', path: '/search', label: 'nav.search', roles: ['operator'], nav: true },
  { id: 'event', path: '/events/:id', label: 'nav.event', roles: ['operator'], nav: false },
  { id: 'alerts', path: '/alerts', label: 'nav.alerts', roles: ['operator'], nav: true },
  { id: 'entries', path: '/entries', label: 'nav.entries', roles: ['operator'], nav: true },
  { id: 'stats', path: '/stats', label: 'nav.stats', roles: ['operator', 'installer'], nav: true },
  {
    id: 'health',
    path: '/health',
    label: 'nav.health',
    roles: ['operator', 'installer', 'admin'],
    nav: true,
  },
  { id: 'installer', path: '/installer', label: 'nav.installer', roles: ['installer'], nav: true },
  { id: 'register', path: '/installer/register', label: 'nav.register', roles: ['installer'], nav: false },
  { id: 'confirm', path: '/installer/cameras/:id', label: 'nav.confirm', roles: ['installer'], nav: false },
  { id: 'audit', path: '/audit', label: 'nav.audit', roles: ['auditor'], nav: true },
];

/** Where a role lands after signing in. */
export function homeFor(role: Role): string {
  switch (role) {
    case 'installer':
      return '/installer';
    case 'operator':
      return '/overview';
    case 'auditor':
      return '/audit';
    default:
      return '/overview';
  }
}
