/**
 * Who an MQTT client is, and the seam that decides it. The embedded broker (Aedes) asks a
 * {@link SiteCredentialStore} at CONNECT; the registry (issue 6) implements the same interface
 * later. Authorisation by topic follows from the principal alone (see acl.ts).
 */

/** An authenticated MQTT client. */
export type Principal =
  /** An edge agent of one site: publishes under its own prefix, reads only its own config. */
  | { readonly kind: 'site'; readonly siteId: string }
  /** The gateway itself (ingest, config publisher): full access to the sharpeyes topics. */
  | { readonly kind: 'gateway'; readonly name: string };

/** Verifies a site's MQTT credentials. */
export interface SiteCredentialStore {
  /**
   * The site principal for `username`/`password`, or undefined when the user is unknown,
   * disabled or the password is wrong. Never throws for bad credentials; rejects only when the
   * store itself fails (the broker then answers "server unavailable").
   */
  verify(username: string, password: Uint8Array): Promise<Principal | undefined>;
}

/** One site's stored credential, as the sites file (and later the registry) holds it. */
export interface SiteCredentialEntry {
  /** The site id; also its MQTT user name. */
  readonly siteId: string;
  /** `$scrypt$…` or Mosquitto's `$7$…` (PBKDF2-SHA512); verified by the embedded broker. */
  readonly passwordHash: string;
  /** Mosquitto's `$7$…` hash of the same password, for generated Mosquitto password files. */
  readonly mosquittoPasswordHash?: string;
  /** false: the site may not connect. */
  readonly enabled: boolean;
}

/** A store that can also list its sites (to generate Mosquitto's password and ACL files). */
export interface SiteCredentialSource extends SiteCredentialStore {
  list(): readonly SiteCredentialEntry[];
}
