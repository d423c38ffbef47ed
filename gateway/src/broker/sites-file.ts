/**
 * The sites file: MQTT credentials of each site, until the registry (issue 6) holds them.
 *
 * ```json
 * { "sites": [
 *   { "site_id": "village-7", "password_hash": "$scrypt$ln=14,r=8,p=1$…$…",
 *     "mosquitto_password_hash": "$7$10000$…$…", "enabled": true } ] }
 * ```
 *
 * A site's MQTT user name is its site id. `gateway hash-password` prints both hashes of a new
 * password. The file is read at start and again on `reload()` (SIGHUP); a file that fails
 * validation on reload leaves the sites in force unchanged.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isValidId } from '../../../proto/topics.ts';
import { GatewayError } from '../errors.ts';
import { isMosquittoHash, isPasswordHash, verifyPassword } from './passwords.ts';
import type { Principal, SiteCredentialEntry, SiteCredentialSource } from './types.ts';

/** One site in the file. */
export const SiteEntrySchema = Type.Object(
  {
    site_id: Type.String({
      pattern: '^[A-Za-z0-9._-]{1,64}$',
      description: 'The site id, also its MQTT user name.',
    }),
    password_hash: Type.String({
      minLength: 1,
      maxLength: 512,
      description: 'scrypt ($scrypt$…) or Mosquitto ($7$…) hash of the MQTT password.',
    }),
    mosquitto_password_hash: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 512,
        description: 'Mosquitto $7$ hash of the same password, for generated Mosquitto files.',
      }),
    ),
    enabled: Type.Boolean({ default: true, description: 'false: the site may not connect.' }),
  },
  { additionalProperties: false },
);

/** The whole file. */
export const SitesFileSchema = Type.Object(
  {
    sites: Type.Array(SiteEntrySchema, { maxItems: 100_000, description: 'The sites.' }),
  },
  { additionalProperties: false },
);

export type SitesFile = Static<typeof SitesFileSchema>;

/** How long a successful verification is remembered (reconnect storms after an uplink outage). */
const CACHE_TTL_MS = 10 * 60_000;
const CACHE_MAX = 10_000;

/** Parse and validate the sites file's content; every problem listed as `path message`. */
export function parseSitesFile(raw: unknown, source = 'sites file'): SiteCredentialEntry[] {
  const value = Value.Default(SitesFileSchema, structuredClone(raw));
  const problems = [...Value.Errors(SitesFileSchema, value)].map(
    (e) => `${e.path === '' ? '/' : e.path} ${e.message}`,
  );
  const file = value as SitesFile;
  if (problems.length === 0) {
    const seen = new Set<string>();
    file.sites.forEach((s, i) => {
      if (seen.has(s.site_id)) problems.push(`/sites/${i}/site_id duplicate site "${s.site_id}"`);
      seen.add(s.site_id);
      if (!isPasswordHash(s.password_hash)) {
        problems.push(`/sites/${i}/password_hash is not a $scrypt$ or $7$ hash`);
      }
      if (s.mosquitto_password_hash !== undefined && !isMosquittoHash(s.mosquitto_password_hash)) {
        problems.push(`/sites/${i}/mosquitto_password_hash is not a Mosquitto $7$ hash`);
      }
    });
  }
  if (problems.length > 0) {
    throw new GatewayError('GATEWAY_ERR_SITES_FILE', `${source}:\n  ${[...new Set(problems)].join('\n  ')}`);
  }
  return file.sites.map((s) => ({
    siteId: s.site_id,
    passwordHash: s.password_hash,
    ...(s.mosquitto_password_hash !== undefined && { mosquittoPasswordHash: s.mosquitto_password_hash }),
    enabled: s.enabled,
  }));
}

/** Read and validate a sites file. */
export function readSitesFile(path: string): SiteCredentialEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayError('GATEWAY_ERR_SITES_FILE', `${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new GatewayError('GATEWAY_ERR_SITES_FILE', `${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseSitesFile(raw, path);
}

/** Site credentials from a list (the sites file, or a test's list). */
export class StaticSiteCredentialStore implements SiteCredentialSource {
  #sites = new Map<string, SiteCredentialEntry>();
  /** key (user + sha256 of the password) → verified principal and when it expires. */
  #cache = new Map<string, { principal: Principal; expiresMs: number }>();

  constructor(entries: readonly SiteCredentialEntry[]) {
    this.replace(entries);
  }

  /** Swap in a new list; remembered verifications are forgotten. */
  replace(entries: readonly SiteCredentialEntry[]): void {
    this.#sites = new Map(entries.map((e) => [e.siteId, e]));
    this.#cache.clear();
  }

  list(): readonly SiteCredentialEntry[] {
    return [...this.#sites.values()];
  }

  async verify(username: string, password: Uint8Array): Promise<Principal | undefined> {
    if (!isValidId(username)) return undefined;
    const entry = this.#sites.get(username);
    if (entry?.enabled !== true) return undefined;
    const key = `${username}\0${createHash('sha256').update(password).digest('base64')}`;
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.expiresMs > now) return hit.principal;
    if (!(await verifyPassword(password, entry.passwordHash))) return undefined;
    // The list may have been replaced while hashing: answer from the entry in force.
    if (this.#sites.get(username) !== entry) return this.verify(username, password);
    const principal: Principal = { kind: 'site', siteId: username };
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(key, { principal, expiresMs: now + CACHE_TTL_MS });
    return principal;
  }
}

/** The sites file as a credential store; `reload()` re-reads it. */
export class SitesFileCredentialStore extends StaticSiteCredentialStore {
  constructor(readonly path: string) {
    super(readSitesFile(path));
  }

  /** Re-read the file. On error the sites in force stay, and the error is thrown. */
  reload(): void {
    this.replace(readSitesFile(this.path));
  }
}
