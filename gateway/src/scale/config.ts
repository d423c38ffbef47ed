/**
 * The `role` of a gateway process and the `scale` section (scale-out, decision 15). One gateway
 * runs as `all` (the default: everything in one process, as before). Past one machine's ingest,
 * it runs as one `api` node (SQLite registry, REST/gRPC/UI, config push, Mosquitto files, the
 * live feed) and N `ingest` workers that share the events stream through an MQTT 5 shared
 * subscription on Mosquitto (or EMQX) and write InfluxDB and the shared evidence directory.
 */
import { Type, type Static } from '@sinclair/typebox';

const ID = '^[A-Za-z0-9._-]{1,16}$';

/** What this gateway process does. */
export const RoleSchema = Type.Union([Type.Literal('all'), Type.Literal('ingest'), Type.Literal('api')], {
  default: 'all',
  description:
    'all: the whole gateway in one process. ingest: a stateless ingest worker (external MQTT 5 broker, shared subscription; no database). api: the registry, APIs, UI and live feed, no event ingest. `--role` on the command line overrides it.',
});

/** A gateway role. */
export type GatewayRole = Static<typeof RoleSchema>;

/** The `scale` section. */
export const ScaleConfigSchema = Type.Object(
  {
    worker_id: Type.String({
      pattern: ID,
      default: '1',
      description:
        'role ingest: this worker’s id (`--worker-id` overrides it). Its MQTT user and client id are `<broker.username>-ingest-<worker_id>`, fixed, so a restarted worker resumes its persistent session.',
    }),
    ingest_workers: Type.Array(Type.String({ pattern: ID }), {
      default: ['1', '2'],
      maxItems: 64,
      uniqueItems: true,
      description:
        'role api: the worker ids whose MQTT users the api node writes into Mosquitto’s password and ACL files (`broker.mosquitto_files`).',
    }),
    share_group: Type.String({
      pattern: ID,
      default: 'sharpeyes-ingest',
      description: 'MQTT 5 shared-subscription group of the ingest workers ($share/<group>/…).',
    }),
    session_expiry_s: Type.Integer({
      minimum: 60,
      maximum: 30 * 86_400,
      default: 7 * 86_400,
      description:
        'MQTT 5 session expiry of the workers and the api node’s feed, s: how long the broker keeps a stopped process’s session and queues its share of the stream.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Scale-out: ingest workers and the api node.' },
);

/** The `scale` section, after defaults. */
export type ScaleConfig = Static<typeof ScaleConfigSchema>;

/**
 * The MQTT users (= client ids under Mosquitto's `use_username_as_clientid`, which
 * MOSQUITTO_SECURITY_CONFIG requires) of the scale-out processes: every connection has its own,
 * or one would take over another's session.
 */
export const scaleUsers = {
  /** An ingest worker's connection (shared subscription, stored-events publisher). */
  ingest: (base: string, workerId: string): string => `${base}-ingest-${workerId}`,
  /** An ingest worker's registry view (retained SiteConfig topics). */
  registryView: (base: string, workerId: string): string => `${base}-ingest-${workerId}-registry`,
  /** The api node's status reader (agent, camera status, discovered). */
  apiStatus: (base: string): string => `${base}-api`,
  /** The api node's stored-events feed. */
  apiStored: (base: string): string => `${base}-stored`,
  /** The api node's config publisher. */
  apiConfig: (base: string): string => `${base}-config`,
  /** The api node's snapshot requester. */
  apiSnapshots: (base: string): string => `${base}-snapshots`,
  /** A single gateway's (role all) users beside `base` itself (ingest), for Mosquitto's files. */
  singleNode: (base: string): string[] => [scaleUsers.apiConfig(base), scaleUsers.apiSnapshots(base)],
  /** Every user of an api node and its workers, for Mosquitto's files. */
  all: (base: string, workerIds: readonly string[]): string[] => [
    scaleUsers.apiStatus(base),
    scaleUsers.apiStored(base),
    scaleUsers.apiConfig(base),
    scaleUsers.apiSnapshots(base),
    ...workerIds.flatMap((w) => [scaleUsers.ingest(base, w), scaleUsers.registryView(base, w)]),
  ],
} as const;
