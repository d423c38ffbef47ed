/**
 * Authorisation by topic, from the principal alone (pure functions, table-tested). The same
 * rules are written as Mosquitto ACL lines by mosquitto-files.ts.
 *
 * - A site publishes only its own topics of the known kinds (events, agent, camera status,
 *   discovered, snapshot responses) under `topic.sitePrefix(site)`, never its own config or
 *   snapshot requests (which the gateway writes), and subscribes only to its own config and
 *   snapshot request topics, exactly (no wildcards).
 * - The gateway has full access to the sharpeyes topics, and alone to the gateway-internal ones
 *   (`sharpeyes/v1/gateway/…`, scale-out).
 * - Nobody publishes to `$SYS/…`; a site never receives anything but its own config and
 *   snapshot requests.
 *
 * Client ids: a site's must be `edge-<site id>` (what the edge agent uses), or that followed by
 * `:` and anything (a second tool of the site); the gateway's start with `@`, which no site id
 * contains. These sets are disjoint between sites (`:` and `@` are not in site ids), so no client
 * can take over another's persistent session (and with it the session's subscriptions).
 */
import {
  GATEWAY_TOPIC_ROOT,
  TIER_TOPIC_ROOT,
  parseSnapshotTopic,
  parseTopic,
  topic,
  TOPIC_ROOT,
} from '../../../proto/topics.ts';
import type { Principal } from './types.ts';

const ROOT_PREFIX = `${TOPIC_ROOT}/`;
/** Gateway-internal topics (scale-out): the gateway's alone. */
const GATEWAY_PREFIX = `${GATEWAY_TOPIC_ROOT}/`;

function gatewayTopic(name: string): boolean {
  return (
    name.startsWith(ROOT_PREFIX) || name.startsWith(GATEWAY_PREFIX) || name.startsWith(`${TIER_TOPIC_ROOT}/`)
  );
}

/** Whether `p` may publish to the topic name `name`. */
export function mayPublish(p: Principal, name: string): boolean {
  if (p.kind === 'gateway') return gatewayTopic(name) && !/[+#]/.test(name);
  const parsed = parseTopic(name);
  if (parsed !== undefined) return parsed.site === p.siteId && parsed.kind !== 'config';
  const snapshot = parseSnapshotTopic(name);
  return snapshot?.kind === 'snapshotResponse' && snapshot.site === p.siteId;
}

/** The only topics a site reads: its own config and snapshot requests. */
function siteReads(p: Principal & { kind: 'site' }, name: string): boolean {
  return name === topic.config(p.siteId) || name === topic.snapshotRequest(p.siteId);
}

/** Whether `p` may subscribe to the topic filter `filter`. */
export function maySubscribe(p: Principal, filter: string): boolean {
  if (p.kind === 'gateway') return gatewayTopic(filter);
  return siteReads(p, filter);
}

/** Whether a message on `name` may be delivered to `p` (defence in depth behind maySubscribe). */
export function mayReceive(p: Principal, name: string): boolean {
  if (p.kind === 'gateway') return true;
  return siteReads(p, name);
}

/** Whether `p` may connect with MQTT client id `clientId`. */
export function mayUseClientId(p: Principal, clientId: string): boolean {
  if (p.kind === 'gateway') return clientId.startsWith('@') && clientId.length > 1;
  const own = `edge-${p.siteId}`;
  return clientId === own || clientId.startsWith(`${own}:`);
}

/**
 * A will (last-will topic) published by the broker after its client is gone (`client` null in
 * Aedes, e.g. the will of a client connected when the broker last died). The will was checked
 * against its client's principal at CONNECT, so any sharpeyes topic but a config is allowed.
 */
export function mayPublishOrphanWill(name: string): boolean {
  const parsed = parseTopic(name);
  return parsed !== undefined && parsed.kind !== 'config';
}
