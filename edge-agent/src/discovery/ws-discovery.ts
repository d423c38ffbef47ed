/**
 * Our WS-Discovery client over UDP: Probes to configured unicast targets and — only when
 * explicitly enabled — to the multicast group; ProbeMatches collected for a window and matched
 * to our probes by RelatesTo; Hello/Bye heard on a configured UDP port and, with multicast, on
 * the group. Socket handlers never throw: bad datagrams are counted and logged at debug.
 */
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';

import { EdgeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import {
  MAX_DATAGRAM_BYTES,
  PROBE_TYPES,
  WSD_MULTICAST,
  buildProbe,
  newMessageId,
  parseDiscoveryDatagram,
  type DiscoveredEndpoint,
  type DiscoveryMessage,
} from './ws-discovery-xml.ts';

/** A unicast probe target: a device's (or discovery proxy's) WS-Discovery UDP endpoint. */
export interface UnicastTarget {
  host: string;
  port: number;
}

/** Multicast settings; multicast is off unless this is given with `enabled: true`. */
export interface MulticastOptions {
  /** Must be true to send anything to 239.255.255.250 (an explicit opt-in). */
  enabled: boolean;
  /** IPv4 address of the interface to probe and listen on. Default: chosen by the routing table. */
  interfaceAddress?: string;
}

/** Options of {@link WsDiscoveryClient.open}. */
export interface WsDiscoveryClientOptions {
  /** Default off. */
  multicast?: MulticastOptions;
  /**
   * Address the probe socket binds to (replies come back to it). Default: `0.0.0.0` when
   * multicast is enabled (replies can come from anywhere on the LAN), else `127.0.0.1` if every
   * unicast target is a loopback address, else `0.0.0.0`.
   */
  bindAddress?: string;
  /** Unicast targets, only used to choose the default bind address. */
  unicastTargets?: readonly UnicastTarget[];
  /** UDP address to hear Hello/Bye on (e.g. a simulator's `announce_to`); off when undefined. */
  helloListen?: { host: string; port: number };
  logger: Logger;
}

/** A Hello or Bye, as heard. */
export type Announcement =
  | { kind: 'hello'; endpoint: DiscoveredEndpoint; from: string }
  | { kind: 'bye'; endpointReference: string; from: string };

/** One device found by a probe round. */
export interface ProbeMatch extends DiscoveredEndpoint {
  /** Sender of the ProbeMatches, `host:port`. */
  from: string;
}

/** Counters. */
export interface WsDiscoveryCounters {
  probesSent: number;
  probeMatches: number;
  hellos: number;
  byes: number;
  malformed: number;
  oversized: number;
  unmatched: number;
}

interface PendingProbe {
  ids: Set<string>;
  matches: Map<string, ProbeMatch>;
  answered: Set<string>;
}

/** How long a unicast-only round waits for stragglers once every target has answered. */
const EARLY_GRACE_MS = 100;

function isLoopback(host: string): boolean {
  return isIPv4(host) && host.startsWith('127.');
}

async function bindSocket(socket: dgram.Socket, port: number, address: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

async function closeSocket(socket: dgram.Socket): Promise<void> {
  await new Promise<void>((resolve) => {
    try {
      socket.close(() => {
        resolve();
      });
    } catch {
      // Already closed (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing left to release.
      resolve();
    }
  });
}

/** The WS-Discovery client. */
export class WsDiscoveryClient {
  private readonly pending = new Set<PendingProbe>();
  private readonly listeners = new Set<(a: Announcement) => void>();
  private readonly counters: WsDiscoveryCounters = {
    probesSent: 0,
    probeMatches: 0,
    hellos: 0,
    byes: 0,
    malformed: 0,
    oversized: 0,
    unmatched: 0,
  };
  private closed = false;

  private constructor(
    private readonly probeSocket: dgram.Socket,
    private readonly announceSockets: dgram.Socket[],
    private readonly multicast: boolean,
    private readonly log: Logger,
  ) {
    probeSocket.on('message', (msg, rinfo) => {
      this.onDatagram(msg, rinfo);
    });
    for (const s of [probeSocket, ...announceSockets]) {
      s.on('error', (err) => {
        this.log.warn({ err }, 'WS-Discovery socket error');
      });
    }
    for (const s of announceSockets) {
      s.on('message', (msg, rinfo) => {
        this.onDatagram(msg, rinfo);
      });
    }
  }

  /** Open the sockets. Throws EdgeError EDGE_ERR_DISCOVERY_SOCKET when one cannot be bound. */
  static async open(opts: WsDiscoveryClientOptions): Promise<WsDiscoveryClient> {
    const multicast = opts.multicast?.enabled === true;
    const targets = opts.unicastTargets ?? [];
    const bindAddress =
      opts.bindAddress ?? (multicast || targets.some((t) => !isLoopback(t.host)) ? '0.0.0.0' : '127.0.0.1');
    const sockets: dgram.Socket[] = [];
    try {
      const probeSocket = dgram.createSocket('udp4');
      sockets.push(probeSocket);
      await bindSocket(probeSocket, 0, bindAddress);
      const announceSockets: dgram.Socket[] = [];
      if (opts.helloListen !== undefined) {
        // No reuseAddr: a port someone else holds is a configuration error, not something to share.
        const s = dgram.createSocket('udp4');
        sockets.push(s);
        await bindSocket(s, opts.helloListen.port, opts.helloListen.host);
        announceSockets.push(s);
      }
      if (multicast) {
        const iface = opts.multicast?.interfaceAddress;
        if (iface !== undefined) probeSocket.setMulticastInterface(iface);
        // Probes stay on the LAN segment.
        probeSocket.setMulticastTTL(1);
        const group = dgram.createSocket({ type: 'udp4', reuseAddr: true });
        sockets.push(group);
        await bindSocket(group, WSD_MULTICAST.port, '0.0.0.0');
        group.addMembership(WSD_MULTICAST.address, iface);
        announceSockets.push(group);
      }
      return new WsDiscoveryClient(probeSocket, announceSockets, multicast, opts.logger);
    } catch (err) {
      await Promise.all(sockets.map(closeSocket));
      const detail = err instanceof Error ? err.message : String(err);
      throw new EdgeError('EDGE_ERR_DISCOVERY_SOCKET', detail, { cause: err });
    }
  }

  /** Whether multicast probing is enabled. */
  get multicastEnabled(): boolean {
    return this.multicast;
  }

  /** The UDP port Hello/Bye are heard on (the first announce socket), if any. */
  get helloPort(): number | undefined {
    const s = this.announceSockets[0];
    return s === undefined ? undefined : s.address().port;
  }

  /** Subscribe to Hello/Bye; returns the unsubscribe function. */
  onAnnouncement(listener: (a: Announcement) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Counters since open. */
  counts(): Readonly<WsDiscoveryCounters> {
    return { ...this.counters };
  }

  /**
   * Send one Probe per type in {@link PROBE_TYPES} to each target and, when `multicast` is true,
   * to the group; collect ProbeMatches for `windowMs`. Without multicast the round ends early
   * (after a short grace for the second probe type) once every target has answered. Matches are
   * deduplicated by endpoint reference. Throws EDGE_ERR_DISCOVERY_MULTICAST_OFF when multicast
   * is asked for but was not enabled at open.
   */
  async probe(
    targets: readonly UnicastTarget[],
    opts: { multicast: boolean; windowMs: number },
  ): Promise<ProbeMatch[]> {
    if (opts.multicast && !this.multicast) throw new EdgeError('EDGE_ERR_DISCOVERY_MULTICAST_OFF');
    if (this.closed || (targets.length === 0 && !opts.multicast)) return [];
    const probes = PROBE_TYPES.map((type) => ({ id: newMessageId(), type }));
    const round: PendingProbe = {
      ids: new Set(probes.map((p) => p.id)),
      matches: new Map(),
      answered: new Set(),
    };
    this.pending.add(round);
    try {
      const want = new Set(targets.map((t) => `${t.host}:${t.port}`));
      const started = Date.now();
      let allAnsweredAt: number | undefined;
      const finished = new Promise<void>((resolve) => {
        const tick = setInterval(() => {
          const now = Date.now();
          if (
            !opts.multicast &&
            allAnsweredAt === undefined &&
            [...want].every((w) => round.answered.has(w))
          ) {
            allAnsweredAt = now;
          }
          // Without multicast, once every target answered, only the second probe type's answer
          // (usually a few ms behind the first) is worth waiting for.
          const early = allAnsweredAt !== undefined && now - allAnsweredAt >= EARLY_GRACE_MS;
          if (this.closed || early || now - started >= opts.windowMs) {
            clearInterval(tick);
            resolve();
          }
        }, 20);
      });
      const sends: Promise<void>[] = [];
      for (const { id, type } of probes) {
        const xml = buildProbe(id, type);
        for (const t of targets) sends.push(this.send(xml, t.host, t.port));
        if (opts.multicast) sends.push(this.send(xml, WSD_MULTICAST.address, WSD_MULTICAST.port));
      }
      await Promise.all(sends);
      await finished;
      return [...round.matches.values()];
    } finally {
      this.pending.delete(round);
    }
  }

  /** Close every socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await Promise.all([this.probeSocket, ...this.announceSockets].map(closeSocket));
  }

  private async send(xml: string, host: string, port: number): Promise<void> {
    if (this.closed) return;
    const buf = Buffer.from(xml, 'utf8');
    await new Promise<void>((resolve) => {
      this.probeSocket.send(buf, port, host, (err) => {
        if (err) this.log.warn({ err, host, port }, 'could not send WS-Discovery probe');
        else this.counters.probesSent += 1;
        resolve();
      });
    });
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      this.handle(msg, `${rinfo.address}:${rinfo.port}`);
    } catch (err) {
      // A listener threw, or a bug: never out of the socket handler.
      this.counters.malformed += 1;
      this.log.warn({ err }, 'WS-Discovery datagram handling failed');
    }
  }

  private handle(msg: Buffer, from: string): void {
    if (this.closed) return;
    if (msg.length > MAX_DATAGRAM_BYTES) {
      this.counters.oversized += 1;
      this.log.debug({ from, bytes: msg.length }, 'WS-Discovery datagram too large, dropped');
      return;
    }
    const parsed = parseDiscoveryDatagram(msg);
    if (!parsed.ok) {
      this.counters.malformed += 1;
      this.log.debug(
        { from, reason: parsed.reason, detail: parsed.detail.slice(0, 200) },
        'bad WS-Discovery datagram',
      );
      return;
    }
    this.dispatch(parsed.message, from);
  }

  private dispatch(message: DiscoveryMessage, from: string): void {
    switch (message.kind) {
      case 'probe_matches': {
        const round = [...this.pending].find((r) => r.ids.has(message.relatesTo));
        if (round === undefined) {
          this.counters.unmatched += 1;
          this.log.debug(
            { from, relates_to: message.relatesTo.slice(0, 100) },
            'ProbeMatches for no probe of ours',
          );
          return;
        }
        round.answered.add(from);
        for (const m of message.matches) {
          this.counters.probeMatches += 1;
          if (!round.matches.has(m.endpointReference)) round.matches.set(m.endpointReference, { ...m, from });
        }
        return;
      }
      case 'hello':
        this.counters.hellos += 1;
        this.emit({ kind: 'hello', endpoint: message.endpoint, from });
        return;
      case 'bye':
        this.counters.byes += 1;
        this.emit({ kind: 'bye', endpointReference: message.endpointReference, from });
        return;
      case 'other':
        // Probes (ours looped back, other clients'), Resolves: not for us.
        return;
    }
  }

  private emit(a: Announcement): void {
    for (const l of this.listeners) {
      try {
        l(a);
      } catch (err) {
        this.log.warn({ err }, 'announcement listener failed');
      }
    }
  }
}
