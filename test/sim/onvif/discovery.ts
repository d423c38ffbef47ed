/**
 * WS-Discovery (2005/04, as ONVIF uses it): Probe/Resolve matching, ProbeMatches, Hello and Bye,
 * over a UDP socket that is either a loopback unicast socket or — inside an isolated network
 * namespace only — the real multicast group.
 */
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';

import type { Logger } from 'pino';

import { MAX_DATAGRAM_BYTES, applyReplyFault } from './faults.ts';
import { assertLoopback, assertMulticastAllowed, isLoopbackV4 } from './isolation.ts';
import type { CameraStats, DiscoveryConfig, FaultMode } from './types.ts';
import { NS, child, esc, parseXml, path, resolveQName, attr, type XmlElement } from './xml.ts';

/** The WS-Discovery multicast group and port. */
export const WSD_MULTICAST = { address: '239.255.255.250', port: 3702 } as const;

const ACTION = {
  probe: `${NS.wsd}/Probe`,
  probeMatches: `${NS.wsd}/ProbeMatches`,
  resolve: `${NS.wsd}/Resolve`,
  resolveMatches: `${NS.wsd}/ResolveMatches`,
  hello: `${NS.wsd}/Hello`,
  bye: `${NS.wsd}/Bye`,
} as const;
const TO_DISCOVERY = 'urn:schemas-xmlsoap-org:ws:2005:04:discovery';
const TO_ANONYMOUS = `${NS.wsa}/role/anonymous`;

/** Scope matching rules of WS-Discovery 2005/04. */
export const MATCH_BY = {
  rfc3986: `${NS.wsd}/rfc3986`,
  strcmp0: `${NS.wsd}/strcmp0`,
} as const;

/** The types an ONVIF camera advertises: dn:NetworkVideoTransmitter and tds:Device. */
export const DEVICE_TYPES: readonly { ns: string; local: string; qname: string }[] = [
  { ns: NS.dn, local: 'NetworkVideoTransmitter', qname: 'dn:NetworkVideoTransmitter' },
  { ns: NS.tds, local: 'Device', qname: 'tds:Device' },
];

/** What discovery says about a camera right now. */
export interface DiscoveryTarget {
  endpointReference: string;
  scopes: readonly string[];
  /** Space-separated device service URLs. */
  xaddrs: string;
  metadataVersion: number;
}

/** A parsed incoming discovery message. */
export type DiscoveryMessage =
  | {
      kind: 'probe';
      messageId: string;
      /** Requested types; `ns` undefined when the prefix was not declared. */
      types: { ns: string | undefined; local: string }[];
      scopes: string[];
      matchBy: string;
    }
  | { kind: 'resolve'; messageId: string; endpointReference: string }
  | { kind: 'other'; action: string };

/** Parse a datagram; undefined when it is not a SOAP 1.2 envelope we can read. */
export function parseDiscoveryMessage(xml: string): DiscoveryMessage | undefined {
  const parsed = parseXml(xml);
  if (!parsed.ok || parsed.root.local !== 'Envelope' || parsed.root.ns !== NS.soap) return undefined;
  const root = parsed.root;
  const messageId = path(root, 'Header', 'MessageID')?.text ?? '';
  const action = path(root, 'Header', 'Action')?.text ?? '';
  const body = child(root, 'Body', NS.soap);
  const probe = child(body, 'Probe', NS.wsd);
  if (probe !== undefined) {
    const typesEl = child(probe, 'Types', NS.wsd);
    const scopesEl = child(probe, 'Scopes', NS.wsd);
    return {
      kind: 'probe',
      messageId,
      types: splitList(typesEl).map((q) => resolveQName(typesEl as XmlElement, q)),
      scopes: splitList(scopesEl),
      matchBy: attr(scopesEl, 'MatchBy') ?? MATCH_BY.rfc3986,
    };
  }
  const resolve = child(body, 'Resolve', NS.wsd);
  if (resolve !== undefined) {
    return {
      kind: 'resolve',
      messageId,
      endpointReference: path(resolve, 'EndpointReference', 'Address')?.text ?? '',
    };
  }
  return { kind: 'other', action };
}

function splitList(el: XmlElement | undefined): string[] {
  return el === undefined ? [] : el.text.split(/\s+/).filter((s) => s !== '');
}

const URI_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):(?:\/\/([^/?#]*))?([^?#]*)/;

/**
 * Whether probe scope `s1` matches target scope `s2` under `matchBy`: rfc3986 compares scheme and
 * authority case-insensitively and requires s1's path segments to be a prefix of s2's; strcmp0
 * is exact. Unknown rules never match.
 */
export function scopeMatches(s1: string, s2: string, matchBy: string): boolean {
  if (matchBy === MATCH_BY.strcmp0) return s1 === s2;
  if (matchBy !== MATCH_BY.rfc3986) return false;
  const a = URI_RE.exec(s1);
  const b = URI_RE.exec(s2);
  if (a === null || b === null) return false;
  if ((a[1] ?? '').toLowerCase() !== (b[1] ?? '').toLowerCase()) return false;
  if ((a[2] ?? '').toLowerCase() !== (b[2] ?? '').toLowerCase()) return false;
  const segs = (p: string | undefined): string[] => (p ?? '').split('/').filter((s) => s !== '');
  const sa = segs(a[3]);
  const sb = segs(b[3]);
  return sa.length <= sb.length && sa.every((seg, i) => seg === sb[i]);
}

/**
 * Whether a Probe matches: every requested type is one of ours (an undeclared prefix compares by
 * local name only), and every requested scope matches one of ours. Empty Types/Scopes match.
 */
export function probeMatches(
  probe: Extract<DiscoveryMessage, { kind: 'probe' }>,
  target: DiscoveryTarget,
): boolean {
  const typesOk = probe.types.every((t) =>
    DEVICE_TYPES.some((d) => d.local === t.local && (t.ns === undefined || t.ns === d.ns)),
  );
  const scopesOk = probe.scopes.every((s) => target.scopes.some((ts) => scopeMatches(s, ts, probe.matchBy)));
  return typesOk && scopesOk;
}

/** Sequencing header (AppSequence) state. */
export interface AppSequence {
  instanceId: number;
  messageNumber: number;
}

function discoveryEnvelope(
  action: string,
  to: string,
  seq: AppSequence,
  body: string,
  relatesTo?: string,
): string {
  seq.messageNumber += 1;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.wsa}" xmlns:d="${NS.wsd}" xmlns:dn="${NS.dn}" xmlns:tds="${NS.tds}">` +
    `<s:Header><a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
    (relatesTo !== undefined ? `<a:RelatesTo>${esc(relatesTo)}</a:RelatesTo>` : '') +
    `<a:To>${to}</a:To><a:Action>${action}</a:Action>` +
    `<d:AppSequence InstanceId="${seq.instanceId}" MessageNumber="${seq.messageNumber}"/></s:Header>` +
    `<s:Body>${body}</s:Body></s:Envelope>`
  );
}

function endpointFields(t: DiscoveryTarget): string {
  return (
    `<a:EndpointReference><a:Address>${esc(t.endpointReference)}</a:Address></a:EndpointReference>` +
    `<d:Types>${DEVICE_TYPES.map((d) => d.qname).join(' ')}</d:Types>` +
    `<d:Scopes>${esc(t.scopes.join(' '))}</d:Scopes>` +
    `<d:XAddrs>${esc(t.xaddrs)}</d:XAddrs>` +
    `<d:MetadataVersion>${t.metadataVersion}</d:MetadataVersion>`
  );
}

/** ProbeMatches answering the probe `relatesTo`. */
export function buildProbeMatches(t: DiscoveryTarget, relatesTo: string, seq: AppSequence): string {
  return discoveryEnvelope(
    ACTION.probeMatches,
    TO_ANONYMOUS,
    seq,
    `<d:ProbeMatches><d:ProbeMatch>${endpointFields(t)}</d:ProbeMatch></d:ProbeMatches>`,
    relatesTo,
  );
}

/** ResolveMatches answering the resolve `relatesTo`. */
export function buildResolveMatches(t: DiscoveryTarget, relatesTo: string, seq: AppSequence): string {
  return discoveryEnvelope(
    ACTION.resolveMatches,
    TO_ANONYMOUS,
    seq,
    `<d:ResolveMatches><d:ResolveMatch>${endpointFields(t)}</d:ResolveMatch></d:ResolveMatches>`,
    relatesTo,
  );
}

/** Hello: the camera (re)joined the network or changed its XAddrs. */
export function buildHello(t: DiscoveryTarget, seq: AppSequence): string {
  return discoveryEnvelope(ACTION.hello, TO_DISCOVERY, seq, `<d:Hello>${endpointFields(t)}</d:Hello>`);
}

/** Bye: the camera is leaving. */
export function buildBye(t: DiscoveryTarget, seq: AppSequence): string {
  return discoveryEnvelope(
    ACTION.bye,
    TO_DISCOVERY,
    seq,
    `<d:Bye><a:EndpointReference><a:Address>${esc(t.endpointReference)}</a:Address></a:EndpointReference></d:Bye>`,
  );
}

/** Dependencies of {@link DiscoveryResponder}. */
export interface DiscoveryResponderOptions {
  config: Exclude<DiscoveryConfig, { mode: 'off' }>;
  /** Current identity and addresses (they change on `move()`). */
  target: () => DiscoveryTarget;
  fault: () => FaultMode;
  stats: CameraStats;
  logger: Logger;
}

/** Answers Probe/Resolve and sends Hello/Bye. */
export class DiscoveryResponder {
  private readonly seq: AppSequence = { instanceId: Math.floor(Date.now() / 1000), messageNumber: 0 };
  private readonly pending = new Set<NodeJS.Timeout>();
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly opts: DiscoveryResponderOptions,
    /** Where Hello/Bye go; undefined: nowhere. */
    private readonly announceTo: { host: string; port: number } | undefined,
  ) {
    socket.on('message', (msg, rinfo) => {
      this.onMessage(msg, rinfo);
    });
    socket.on('error', (err) => {
      opts.logger.warn({ err }, 'discovery socket error');
    });
  }

  /** Bind the socket (after the multicast guard, in multicast mode). Does not send Hello. */
  static async start(opts: DiscoveryResponderOptions): Promise<DiscoveryResponder> {
    const cfg = opts.config;
    if (cfg.mode === 'multicast') {
      // The guard runs before the socket exists: nothing can be sent if it throws.
      assertMulticastAllowed(cfg.i_understand_this_must_run_in_a_netns);
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      await bind(socket, WSD_MULTICAST.port, '0.0.0.0');
      socket.addMembership(WSD_MULTICAST.address, '127.0.0.1');
      socket.setMulticastInterface('127.0.0.1');
      socket.setMulticastTTL(1);
      socket.setMulticastLoopback(true);
      return new DiscoveryResponder(socket, opts, { host: WSD_MULTICAST.address, port: WSD_MULTICAST.port });
    }
    const host = cfg.host ?? '127.0.0.1';
    assertLoopback(host, 'discovery.host');
    if (cfg.announce_to !== undefined) assertLoopback(cfg.announce_to.host, 'discovery.announce_to.host');
    const socket = dgram.createSocket('udp4');
    await bind(socket, cfg.port ?? 0, host);
    return new DiscoveryResponder(socket, opts, cfg.announce_to);
  }

  /** Local UDP port. */
  get port(): number {
    return this.socket.address().port;
  }

  /** Send Hello with the current target (start, address change). */
  async hello(): Promise<void> {
    if (this.announceTo === undefined || this.closed) return;
    await this.send(buildHello(this.opts.target(), this.seq), this.announceTo.host, this.announceTo.port);
    this.opts.stats.hellos_sent += 1;
  }

  /** Send Bye (best effort), drop pending replies, close the socket. Idempotent. */
  async stop(): Promise<void> {
    if (this.closed) return;
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    if (this.announceTo !== undefined) {
      try {
        await this.send(buildBye(this.opts.target(), this.seq), this.announceTo.host, this.announceTo.port);
      } catch (err) {
        this.opts.logger.warn({ err }, 'could not send Bye');
      }
    }
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.socket.close(() => {
        resolve();
      });
    });
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    const message = parseDiscoveryMessage(msg.toString('utf8'));
    if (message === undefined || message.kind === 'other') return;
    this.opts.stats.probes_received += 1;
    const fault = this.opts.fault();
    if (fault.kind === 'silent') {
      this.opts.logger.debug({ from: rinfo.address }, 'silent: probe ignored');
      return;
    }
    const target = this.opts.target();
    let reply: string;
    if (message.kind === 'probe') {
      if (!probeMatches(message, target)) return;
      reply = buildProbeMatches(target, message.messageId, this.seq);
    } else {
      if (message.endpointReference !== target.endpointReference) return;
      reply = buildResolveMatches(target, message.messageId, this.seq);
    }
    reply = applyReplyFault(reply, fault, MAX_DATAGRAM_BYTES);
    const send = (): void => {
      this.send(reply, rinfo.address, rinfo.port).then(
        () => {
          this.opts.stats.probes_answered += 1;
        },
        (err: unknown) => {
          this.opts.logger.warn({ err, to: rinfo.address }, 'could not answer probe');
        },
      );
    };
    if (fault.kind === 'slow') {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        send();
      }, fault.delay_ms);
      this.pending.add(timer);
    } else {
      send();
    }
  }

  private async send(xml: string, host: string, port: number): Promise<void> {
    // The one place datagrams leave: loopback, or — in multicast mode, which only runs in an
    // isolated namespace — the group, and 0.0.0.0: a probe sent out of a lo-only namespace whose
    // 239/8 route has no `src` carries source 0.0.0.0, and Linux delivers datagrams addressed to
    // 0.0.0.0 to the local host.
    const multicast = this.opts.config.mode === 'multicast';
    const allowed =
      isLoopbackV4(host) || (multicast && (host === WSD_MULTICAST.address || host === '0.0.0.0'));
    if (!allowed) throw new Error(`refusing to send discovery traffic to ${host}`);
    if (this.closed) return;
    const buf = Buffer.from(xml, 'utf8');
    await new Promise<void>((resolve, reject) => {
      this.socket.send(buf, port, host, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }
}

async function bind(socket: dgram.Socket, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}
