/**
 * Sites: one edge agent each. A site's id is also its MQTT user name; its MQTT password is
 * random, shown once (at creation and at each rotation) and stored as hashes only: a scrypt
 * hash for the embedded broker and Mosquitto's `$7$` PBKDF2 hash for an external Mosquitto's
 * password file (both made by broker/passwords.ts). {@link SiteStore} is the broker's
 * `SiteCredentialSource`: `verify` at CONNECT, `list` to generate Mosquitto's files, and
 * `credentialsChanged` fires (after commit) when either must be refreshed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { isValidId } from '../../../proto/topics.ts';
import { AgentState, type AgentStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { AuditActor, AuditLog } from '../audit/log.ts';
import { inScope, parseScope, scopeDepth, scopeToPlace, type AreaScope } from '../auth/scope.ts';
import { randomToken } from '../auth/secrets.ts';
import { hashSitePassword, verifyPassword } from '../broker/passwords.ts';
import type {
  Principal as MqttPrincipal,
  SiteCredentialEntry,
  SiteCredentialSource,
} from '../broker/types.ts';
import { GatewayError } from '../errors.ts';
import { Hook } from './hooks.ts';
import type { SqliteDb } from './sqlite.ts';
import type { AgentConnectivity, Place, Site, SiteStatus } from './types.ts';
import { invalid, oneOf, text } from './validate.ts';

/** Input of {@link SiteStore.create}. */
export interface SiteInput {
  siteId: string;
  name: string;
  /** At least the district. */
  place: Partial<Place>;
}

/** A change to a site. */
export interface SitePatch {
  name?: string;
  place?: Partial<Place>;
  status?: SiteStatus;
}

/** A site with its MQTT password, returned once. */
export interface SiteWithSecret {
  site: Site;
  /** MQTT password; shown once, stored only as a hash. */
  mqttPassword: string;
}

interface SiteRow {
  site_id: string;
  name: string;
  district: string;
  street: string;
  community: string;
  grid: string;
  status: string;
  mqtt_password_hash: string;
  mosquitto_password_hash: string;
  agent: string;
  agent_seen_ms: number | null;
  agent_config_revision: number;
  created_ms: number;
  updated_ms: number;
  credentials_rotated_ms: number;
}

function toSite(row: SiteRow): Site {
  return {
    siteId: row.site_id,
    name: row.name,
    place: { district: row.district, street: row.street, community: row.community, grid: row.grid },
    status: row.status as SiteStatus,
    agent: row.agent as AgentConnectivity,
    agentSeenMs: row.agent_seen_ms,
    agentConfigRevision: row.agent_config_revision,
    createdMs: row.created_ms,
    updatedMs: row.updated_ms,
    credentialsRotatedMs: row.credentials_rotated_ms,
  };
}

function parsePlace(value: Partial<Place> | undefined): Place {
  const scope = parseScope(value, 'place');
  if (scopeDepth(scope) === 0) invalid('place.district', 'is required');
  return scopeToPlace(scope);
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Sites in SQLite. Registry migrations must have run (the Registry does it). */
export class SiteStore implements SiteCredentialSource {
  /** Fired after commit when a site's credentials or status changed (regenerate Mosquitto's files). */
  readonly credentialsChanged: Hook<{ siteId: string }>;
  /** site id → (stored hash, sha256 of the password that last verified against it). */
  private readonly verified = new Map<string, { hash: string; digest: Buffer }>();

  constructor(
    private readonly db: SqliteDb,
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
    log?: Logger,
  ) {
    this.credentialsChanged = new Hook('registry.site_credentials_changed', log);
  }

  private notifyCredentials(siteId: string): void {
    this.db.afterCommit(() => {
      this.credentialsChanged.emit({ siteId });
    });
  }

  /** Create a site; GATEWAY_ERR_CONFLICT when the id is taken. */
  async create(actor: AuditActor, input: SiteInput): Promise<SiteWithSecret> {
    if (typeof input.siteId !== 'string' || !isValidId(input.siteId)) {
      invalid('site_id', 'must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"');
    }
    const name = text(input.name, 'name', { max: 200 });
    const place = parsePlace(input.place);
    if (this.get(input.siteId) !== undefined)
      throw new GatewayError('GATEWAY_ERR_CONFLICT', `site ${input.siteId} exists`);
    const password = randomToken(24);
    const hashes = await hashSitePassword(password);
    const now = this.now();
    const site = this.db.transaction(() => {
      if (this.get(input.siteId) !== undefined)
        throw new GatewayError('GATEWAY_ERR_CONFLICT', `site ${input.siteId} exists`);
      this.db.run(
        `INSERT INTO sites (site_id, name, district, street, community, grid, status, mqtt_password_hash,
         mosquitto_password_hash, created_ms, updated_ms, credentials_rotated_ms) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)`,
        [
          input.siteId,
          name,
          place.district,
          place.street,
          place.community,
          place.grid,
          hashes.passwordHash,
          hashes.mosquittoPasswordHash,
          now,
          now,
          now,
        ],
      );
      this.audit.append({
        actor,
        action: 'site.create',
        target: `site:${input.siteId}`,
        details: { name, place },
      });
      this.notifyCredentials(input.siteId);
      return this.mustGet(input.siteId);
    });
    return { site, mqttPassword: password };
  }

  /** A site by id. */
  get(siteId: string): Site | undefined {
    const row = this.db.get<SiteRow>('SELECT * FROM sites WHERE site_id = ?', [siteId]);
    return row === undefined ? undefined : toSite(row);
  }

  /** A site by id, or GATEWAY_ERR_NOT_FOUND. */
  mustGet(siteId: string): Site {
    const site = this.get(siteId);
    if (site === undefined) throw new GatewayError('GATEWAY_ERR_NOT_FOUND', `site ${siteId}`);
    return site;
  }

  /** Sites inside `scope` (`{}`: all), by id. */
  sitesIn(scope: AreaScope): Site[] {
    return this.db
      .all<SiteRow>('SELECT * FROM sites ORDER BY site_id')
      .map(toSite)
      .filter((s) => inScope(scope, s.place));
  }

  /** Change name, place or status (a disabled site's agent can no longer log in). */
  update(actor: AuditActor, siteId: string, patch: SitePatch): Site {
    return this.db.transaction(() => {
      const before = this.mustGet(siteId);
      const name = patch.name === undefined ? before.name : text(patch.name, 'name', { max: 200 });
      const place = patch.place === undefined ? before.place : parsePlace(patch.place);
      const status =
        patch.status === undefined
          ? before.status
          : oneOf(patch.status, 'status', ['active', 'disabled'] as const);
      this.db.run(
        'UPDATE sites SET name = ?, district = ?, street = ?, community = ?, grid = ?, status = ?, updated_ms = ? WHERE site_id = ?',
        [name, place.district, place.street, place.community, place.grid, status, this.now(), siteId],
      );
      const changes: Record<string, unknown> = {};
      if (name !== before.name) changes.name = { from: before.name, to: name };
      if (JSON.stringify(place) !== JSON.stringify(before.place))
        changes.place = { from: before.place, to: place };
      if (status !== before.status) changes.status = { from: before.status, to: status };
      this.audit.append({ actor, action: 'site.update', target: `site:${siteId}`, details: { changes } });
      if (status !== before.status) this.notifyCredentials(siteId);
      return this.mustGet(siteId);
    });
  }

  /** Issue a new MQTT password (the old one stops working at once); returned once. */
  async rotateCredentials(actor: AuditActor, siteId: string): Promise<SiteWithSecret> {
    this.mustGet(siteId);
    const password = randomToken(24);
    const hashes = await hashSitePassword(password);
    const site = this.db.transaction(() => {
      const now = this.now();
      this.mustGet(siteId);
      this.db.run(
        `UPDATE sites SET mqtt_password_hash = ?, mosquitto_password_hash = ?, credentials_rotated_ms = ?, updated_ms = ?
         WHERE site_id = ?`,
        [hashes.passwordHash, hashes.mosquittoPasswordHash, now, now, siteId],
      );
      this.audit.append({ actor, action: 'site.credentials_rotate', target: `site:${siteId}` });
      this.notifyCredentials(siteId);
      return this.mustGet(siteId);
    });
    this.verified.delete(siteId);
    return { site, mqttPassword: password };
  }

  /**
   * Authenticate an agent's MQTT login (broker `SiteCredentialStore`): the site id as user name
   * and its current password. Undefined for an unknown or disabled site or a wrong password. A
   * password that verified against the current hash is remembered (as its sha256), so
   * reconnect storms of many sites cost a hash each rather than a scrypt each; rotation or a
   * new hash forgets it.
   */
  async verify(username: string, password: Uint8Array): Promise<MqttPrincipal | undefined> {
    if (!isValidId(username) || password.length === 0 || password.length > 1024) return undefined;
    const row = this.db.get<{ status: string; mqtt_password_hash: string }>(
      'SELECT status, mqtt_password_hash FROM sites WHERE site_id = ?',
      [username],
    );
    if (row === undefined || row.status !== 'active') return undefined;
    const digest = sha256(password);
    const cached = this.verified.get(username);
    if (
      cached !== undefined &&
      cached.hash === row.mqtt_password_hash &&
      timingSafeEqual(cached.digest, digest)
    ) {
      return { kind: 'site', siteId: username };
    }
    if (!(await verifyPassword(password, row.mqtt_password_hash))) return undefined;
    this.verified.set(username, { hash: row.mqtt_password_hash, digest });
    return { kind: 'site', siteId: username };
  }

  /** {@link verify} with a string password: `{siteId}` or undefined. */
  async verifySiteCredentials(username: string, password: string): Promise<{ siteId: string } | undefined> {
    const p = await this.verify(username, Buffer.from(password, 'utf8'));
    return p?.kind === 'site' ? { siteId: p.siteId } : undefined;
  }

  /** Every site's stored credential (broker `SiteCredentialSource`, for Mosquitto's files). */
  list(): readonly SiteCredentialEntry[] {
    return this.db
      .all<{ site_id: string; mqtt_password_hash: string; mosquitto_password_hash: string; status: string }>(
        'SELECT site_id, mqtt_password_hash, mosquitto_password_hash, status FROM sites ORDER BY site_id',
      )
      .map((r) => ({
        siteId: r.site_id,
        passwordHash: r.mqtt_password_hash,
        mosquittoPasswordHash: r.mosquitto_password_hash,
        enabled: r.status === 'active',
      }));
  }

  /** Record an agent's retained status (online/offline, config revision it runs). Not audited. */
  recordAgentStatus(status: AgentStatus, receivedMs: number = this.now()): void {
    const agent: AgentConnectivity =
      status.state === AgentState.AGENT_STATE_ONLINE
        ? 'online'
        : status.state === AgentState.AGENT_STATE_OFFLINE
          ? 'offline'
          : 'unknown';
    // The last will (offline) carries no revision: keep the one last reported.
    this.db.run(
      `UPDATE sites SET agent = ?, agent_seen_ms = ?,
       agent_config_revision = CASE WHEN ? > 0 THEN ? ELSE agent_config_revision END WHERE site_id = ?`,
      [
        agent,
        status.updatedMs > 0 ? status.updatedMs : receivedMs,
        status.configRevision,
        status.configRevision,
        status.siteId,
      ],
    );
  }
}
