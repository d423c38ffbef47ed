/**
 * A tiny hash router: the route is `#/path?query`. Hash routing needs no server rewrite and
 * keeps the UI a set of static files; the gateway still falls back to index.html for deep links.
 */
import { useEffect, useState } from 'preact/hooks';

/** The current route. */
export interface Route {
  /** Path without the query, always starting with `/`. */
  path: string;
  query: URLSearchParams;
}

/** Parse a location hash (`#/search?plate=…`). */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = (q < 0 ? raw : raw.slice(0, q)) || '/';
  return {
    path: path.startsWith('/') ? path : `/${path}`,
    query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
  };
}

/** Build a hash href from a path and query values (undefined and empty values dropped). */
export function href(path: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return `#${path}${qs === '' ? '' : `?${qs}`}`;
}

/** Go to a route. `replace` keeps the history entry (for filter changes). */
export function navigate(to: string, replace = false): void {
  const target = to.startsWith('#') ? to : `#${to}`;
  if (replace) history.replaceState(null, '', target);
  else location.hash = target;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

/** The current route, re-rendering on change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = (): void => {
      setRoute(parseHash(location.hash));
    };
    window.addEventListener('hashchange', onChange);
    return () => {
      window.removeEventListener('hashchange', onChange);
    };
  }, []);
  return route;
}

/**
 * Match `path` against a pattern with `:name` segments. Returns the decoded parameters, or
 * undefined when it does not match.
 */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return undefined;
  const out: Record<string, string> = {};
  for (const [i, part] of p.entries()) {
    const seg = s[i] ?? '';
    if (part.startsWith(':')) {
      try {
        out[part.slice(1)] = decodeURIComponent(seg);
      } catch {
        return undefined;
      }
    } else if (part !== seg) return undefined;
  }
  return out;
}
