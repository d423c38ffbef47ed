/**
 * The MQTT topics of sharpeyes, built and parsed in one place from a typed map of topic kind →
 * payload message. The edge agent and the gateway both use this module; nothing else spells a
 * topic string.
 *
 * ```
 * sharpeyes/v1/sites/{site}/events                   EventBatch       QoS1, edge → gateway
 * sharpeyes/v1/sites/{site}/agent                    AgentStatus      retained, last will
 * sharpeyes/v1/sites/{site}/cameras/{camera}/status  CameraStatus     retained
 * sharpeyes/v1/sites/{site}/discovered               DiscoveredDevices retained
 * sharpeyes/v1/sites/{site}/config                   SiteConfig       retained, gateway → edge
 * sharpeyes/v1/sites/{site}/snapshot/req             SnapshotRequest  QoS0, gateway → edge
 * sharpeyes/v1/sites/{site}/snapshot/res/{reply_to}  SnapshotResponse QoS0, edge → gateway
 * sharpeyes/v1/gateway/stored                        EventBatch       QoS1, ingest worker → api node
 * sharpeyes/v1/tiers/{tier}/cameras                  TierCameras      retained, lower → upper tier
 * ```
 *
 * `sharpeyes/v1/gateway/…` is internal to the gateway's own processes (scale-out, decision 15):
 * no site may read or write it. Ingest workers share the events stream through MQTT 5 shared
 * subscriptions ({@link sharedFilter}).
 *
 * The two snapshot topics are a request/response pair, not state: they are parsed by
 * {@link parseSnapshotTopic}, and {@link parseTopic} (the state and event topics ingest reads)
 * does not know them.
 *
 * Ids are 1–64 characters of `[A-Za-z0-9._-]`, so they can never contain the MQTT separators and
 * wildcards (`/ + #`) nor start with `$`.
 */
import { AgentStatus, CameraStatus } from './gen/sharpeyes/v1/camera.ts';
import { SiteConfig } from './gen/sharpeyes/v1/config.ts';
import { DiscoveredDevices } from './gen/sharpeyes/v1/discovery.ts';
import { EventBatch } from './gen/sharpeyes/v1/event.ts';
import { SnapshotRequest, SnapshotResponse } from './gen/sharpeyes/v1/snapshot.ts';
import { TierCameras } from './gen/sharpeyes/v1/tier.ts';

/** Every topic starts with this. */
export const TOPIC_ROOT = 'sharpeyes/v1/sites';

/** Topics between the gateway's own processes (never a site's) start with this. */
export const GATEWAY_TOPIC_ROOT = 'sharpeyes/v1/gateway';

/** Topics between gateway tiers (decision 15: a lower tier's bridge carries them up) start with this. */
export const TIER_TOPIC_ROOT = 'sharpeyes/v1/tiers';

const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Whether `id` may be a site or camera id (and so a topic level). */
export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

function checkId(what: string, id: string): string {
  if (!ID_RE.test(id)) {
    throw new TypeError(`${what} id ${JSON.stringify(id)} is not 1–64 characters of [A-Za-z0-9._-]`);
  }
  return id;
}

/** A protobuf message codec as ts-proto generates it. */
export interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** Topic kind → payload codec, QoS and retain flag. */
export const TOPICS = {
  events: { codec: EventBatch as Codec<EventBatch>, qos: 1, retain: false },
  agent: { codec: AgentStatus as Codec<AgentStatus>, qos: 1, retain: true },
  cameraStatus: { codec: CameraStatus as Codec<CameraStatus>, qos: 1, retain: true },
  discovered: { codec: DiscoveredDevices as Codec<DiscoveredDevices>, qos: 1, retain: true },
  config: { codec: SiteConfig as Codec<SiteConfig>, qos: 1, retain: true },
  snapshotRequest: { codec: SnapshotRequest as Codec<SnapshotRequest>, qos: 0, retain: false },
  snapshotResponse: { codec: SnapshotResponse as Codec<SnapshotResponse>, qos: 0, retain: false },
  /** Events an ingest worker stored (evidence bytes stripped), for the api node's live feed. */
  stored: { codec: EventBatch as Codec<EventBatch>, qos: 1, retain: false },
  /** A lower tier's cameras with their places, for the upper tier's registry. */
  tierCameras: { codec: TierCameras as Codec<TierCameras>, qos: 1, retain: true },
} as const;

/**
 * Bounds of the snapshot exchange. A response's JPEG is at most `maxJpegBytes` (the request's
 * `max_bytes` is capped to it), and a response payload larger than `maxResponseBytes` is dropped
 * unread by the gateway: a village uplink carries events first.
 */
export const SNAPSHOT_LIMITS = {
  /** Largest JPEG an agent sends, whatever the request asks. */
  maxJpegBytes: 1_048_576,
  /** `max_bytes` when a request leaves it 0. */
  defaultJpegBytes: 393_216,
  /** Largest SnapshotResponse payload (the JPEG plus a little protobuf). */
  maxResponseBytes: 1_048_576 + 4096,
  /** `timeout_ms` when a request leaves it 0. */
  defaultTimeoutMs: 5000,
  /** Largest `timeout_ms` an agent honours. */
  maxTimeoutMs: 15_000,
} as const;

/** The kinds of topic. */
export type TopicKind = keyof typeof TOPICS;

/** The payload type of a topic kind. */
export type PayloadOf<K extends TopicKind> = (typeof TOPICS)[K]['codec'] extends Codec<infer T> ? T : never;

/** A parsed topic. */
export type ParsedTopic =
  | { kind: 'events' | 'agent' | 'discovered' | 'config'; site: string }
  | { kind: 'cameraStatus'; site: string; camera: string };

/** Topic names, by kind. */
export const topic = {
  events: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/events`,
  agent: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/agent`,
  cameraStatus: (site: string, camera: string): string =>
    `${TOPIC_ROOT}/${checkId('site', site)}/cameras/${checkId('camera', camera)}/status`,
  discovered: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/discovered`,
  config: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/config`,
  snapshotRequest: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/snapshot/req`,
  snapshotResponse: (site: string, replyTo: string): string =>
    `${TOPIC_ROOT}/${checkId('site', site)}/snapshot/res/${checkId('reply_to', replyTo)}`,
  /** Prefix under which a site publishes (for ACLs): `sharpeyes/v1/sites/{site}/`. */
  sitePrefix: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/`,
  /** Where ingest workers announce what they stored (gateway-internal). */
  stored: (): string => `${GATEWAY_TOPIC_ROOT}/stored`,
  /** A lower tier's cameras (retained). */
  tierCameras: (tier: string): string => `${TIER_TOPIC_ROOT}/${checkId('tier', tier)}/cameras`,
} as const;

/** Subscription filters (MQTT wildcards) for one kind across all sites. */
export const filter = {
  events: `${TOPIC_ROOT}/+/events`,
  agent: `${TOPIC_ROOT}/+/agent`,
  cameraStatus: `${TOPIC_ROOT}/+/cameras/+/status`,
  discovered: `${TOPIC_ROOT}/+/discovered`,
  config: `${TOPIC_ROOT}/+/config`,
  snapshotRequest: `${TOPIC_ROOT}/+/snapshot/req`,
  /** Every site's answers to one requester (`reply_to`). */
  snapshotResponses: (replyTo: string): string =>
    `${TOPIC_ROOT}/+/snapshot/res/${checkId('reply_to', replyTo)}`,
  /** One site's answers to any requester (for ACLs). */
  siteSnapshotResponses: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/snapshot/res/+`,
  /** Every gateway-internal topic (for ACLs). */
  gatewayInternal: `${GATEWAY_TOPIC_ROOT}/#`,
  /** Every tier's cameras. */
  tierCameras: `${TIER_TOPIC_ROOT}/+/cameras`,
  /** Every tier topic (for ACLs). */
  tiers: `${TIER_TOPIC_ROOT}/#`,
} as const;

/** The tier id of a tier cameras topic; undefined for any other name (or a bad id). */
export function parseTierCamerasTopic(name: string): string | undefined {
  const prefix = `${TIER_TOPIC_ROOT}/`;
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split('/');
  const tier = parts[0];
  return parts.length === 2 && parts[1] === 'cameras' && tier !== undefined && ID_RE.test(tier)
    ? tier
    : undefined;
}

/**
 * An MQTT 5 shared subscription to `filterText` in `group`: the broker gives each message to ONE
 * member of the group (the subscribers with this same string), which is how ingest workers split
 * the events stream. Messages still arrive under their own topic names.
 */
export function sharedFilter(group: string, filterText: string): string {
  return `$share/${checkId('share group', group)}/${filterText}`;
}

/** Parse a topic name; undefined when it is not one of ours (or an id is invalid). */
export function parseTopic(name: string): ParsedTopic | undefined {
  const prefix = `${TOPIC_ROOT}/`;
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split('/');
  const site = parts[0];
  if (site === undefined || !ID_RE.test(site)) return undefined;
  if (parts.length === 2) {
    const kind = parts[1];
    if (kind === 'events' || kind === 'agent' || kind === 'discovered' || kind === 'config') {
      return { kind, site };
    }
    return undefined;
  }
  const camera = parts[2];
  if (parts.length === 4 && parts[1] === 'cameras' && parts[3] === 'status' && camera !== undefined) {
    return ID_RE.test(camera) ? { kind: 'cameraStatus', site, camera } : undefined;
  }
  return undefined;
}

/** A parsed snapshot topic. */
export type SnapshotTopic =
  { kind: 'snapshotRequest'; site: string } | { kind: 'snapshotResponse'; site: string; replyTo: string };

/** Parse a snapshot request or response topic; undefined for any other name (or a bad id). */
export function parseSnapshotTopic(name: string): SnapshotTopic | undefined {
  const prefix = `${TOPIC_ROOT}/`;
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split('/');
  const [site, level, dir, replyTo] = parts;
  if (site === undefined || !ID_RE.test(site) || level !== 'snapshot') return undefined;
  if (parts.length === 3 && dir === 'req') return { kind: 'snapshotRequest', site };
  if (parts.length === 4 && dir === 'res' && replyTo !== undefined && ID_RE.test(replyTo)) {
    return { kind: 'snapshotResponse', site, replyTo };
  }
  return undefined;
}

/** Encode a payload for a topic kind. */
export function encodePayload<K extends TopicKind>(kind: K, message: PayloadOf<K>): Buffer {
  const codec = TOPICS[kind].codec as Codec<PayloadOf<K>>;
  const bytes = codec.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decode a payload of a topic kind. Throws (protobuf's own error) on a malformed payload; the
 * caller counts and rejects it.
 */
export function decodePayload<K extends TopicKind>(kind: K, payload: Uint8Array): PayloadOf<K> {
  const codec = TOPICS[kind].codec as Codec<PayloadOf<K>>;
  return codec.decode(payload);
}
