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
 * ```
 *
 * Ids are 1–64 characters of `[A-Za-z0-9._-]`, so they can never contain the MQTT separators and
 * wildcards (`/ + #`) nor start with `$`.
 */
import { AgentStatus, CameraStatus } from './gen/sharpeyes/v1/camera.ts';
import { SiteConfig } from './gen/sharpeyes/v1/config.ts';
import { DiscoveredDevices } from './gen/sharpeyes/v1/discovery.ts';
import { EventBatch } from './gen/sharpeyes/v1/event.ts';

/** Every topic starts with this. */
export const TOPIC_ROOT = 'sharpeyes/v1/sites';

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
  /** Prefix under which a site publishes (for ACLs): `sharpeyes/v1/sites/{site}/`. */
  sitePrefix: (site: string): string => `${TOPIC_ROOT}/${checkId('site', site)}/`,
} as const;

/** Subscription filters (MQTT wildcards) for one kind across all sites. */
export const filter = {
  events: `${TOPIC_ROOT}/+/events`,
  agent: `${TOPIC_ROOT}/+/agent`,
  cameraStatus: `${TOPIC_ROOT}/+/cameras/+/status`,
  discovered: `${TOPIC_ROOT}/+/discovered`,
  config: `${TOPIC_ROOT}/+/config`,
} as const;

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
