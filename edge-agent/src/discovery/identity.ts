/**
 * Device identity: a camera is who it says it is (WS-Discovery endpoint reference, else serial
 * number), never where it is. Pure functions, table-tested.
 */

const UUID_URN = /^urn:uuid:[0-9a-f-]+$/i;

/** Trim; `urn:uuid:` references compare case-insensitively, so they are lower-cased. */
export function normaliseEndpointReference(epr: string): string {
  const t = epr.trim();
  return UUID_URN.test(t) ? t.toLowerCase() : t;
}

/**
 * The registry key of a device: its endpoint reference when known, else `serial:<serial>`;
 * undefined when neither is known.
 */
export function identityKey(id: { endpointReference?: string; serialNumber?: string }): string | undefined {
  const epr = normaliseEndpointReference(id.endpointReference ?? '');
  if (epr !== '') return epr;
  const serial = (id.serialNumber ?? '').trim();
  return serial === '' ? undefined : `serial:${serial}`;
}

/** Key of a configured address whose device could not be identified yet (see DiscoveredDevice.key). */
export function placeholderKey(xaddr: string): string {
  return `xaddr:${xaddr}`;
}

/** `scheme://user:pass@host/…` → `scheme://host/…`; unparseable input is returned without userinfo. */
export function stripUrlCredentials(uri: string): string {
  try {
    const u = new URL(uri);
    if (u.username === '' && u.password === '') return uri;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    // Not a URL we can parse: remove anything that looks like userinfo instead.
    return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1');
  }
}

/**
 * Pick the address to use among announced XAddrs: the current one if still announced, else the
 * first http(s) address (IPv4 preferred, as capture URIs are built from it).
 */
export function pickXaddr(xaddrs: readonly string[], current?: string): string | undefined {
  if (current !== undefined && xaddrs.includes(current)) return current;
  const http = xaddrs.filter((x) => /^https?:\/\//i.test(x));
  return http.find((x) => !x.includes('[')) ?? http[0];
}
