/**
 * A loopback TCP proxy to cut a link on demand (fault tests: the edge's uplink to the broker).
 *
 * Put it between a client and a server: the client connects to `127.0.0.1:proxy.port`, the
 * proxy connects on to the target. Then:
 * - `cut()` drops every connection at once (both sides see the socket close, as when a router
 *   reboots) and refuses new ones (accepted and reset at once) until `restore()`;
 * - `blackhole()` keeps the connections open but stops forwarding in both directions (reads are
 *   paused, so TCP holds the bytes as a dead link would: only timeouts and keepalives notice),
 *   and new connections hang the same way, until `restore()`, which forwards what was held.
 *
 * The listener stays bound while cut, so the port cannot be taken by anyone else meanwhile.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Where to forward to. */
  targetPort: number;
  targetHost?: string;
  /** Port to listen on (127.0.0.1). Default: any free port. */
  port?: number;
}

/** The proxy's mode. */
export type TcpProxyMode = 'open' | 'cut' | 'blackhole';

/** A running proxy. */
export interface TcpProxy {
  /** Listening port on 127.0.0.1. */
  readonly port: number;
  /** `mqtt://127.0.0.1:<port>`, for convenience. */
  readonly url: string;
  mode(): TcpProxyMode;
  /** Connections currently forwarded (both ends open). */
  connections(): number;
  /** Connections accepted since start. */
  accepted(): number;
  /** Drop all connections and refuse new ones. */
  cut(): void;
  /** Hold connections but forward nothing, in either direction. */
  blackhole(): void;
  /** Forward again (connections dropped by `cut` stay dropped; clients reconnect). */
  restore(): void;
  /** Point new connections at another target port (a restarted server on a new port). */
  retarget(port: number, host?: string): void;
  /** Close the listener and every connection. Idempotent. */
  stop(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/** Start a proxy on 127.0.0.1 forwarding to `targetHost:targetPort`. */
export async function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  let targetPort = opts.targetPort;
  let targetHost = opts.targetHost ?? '127.0.0.1';
  let mode: TcpProxyMode = 'open';
  let accepted = 0;
  const pairs = new Set<Pair>();
  /** Sockets held silently by a blackhole (client side of connections opened meanwhile). */
  const held = new Set<Socket>();

  const drop = (pair: Pair): void => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  };

  const server: Server = createServer((client) => {
    accepted += 1;
    client.on('error', () => undefined);
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') {
      held.add(client);
      client.on('data', () => undefined);
      client.once('close', () => held.delete(client));
      return;
    }
    const upstream = connect({ port: targetPort, host: targetHost });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    upstream.on('error', () => undefined);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => {
      drop(pair);
    });
    upstream.once('close', () => {
      drop(pair);
    });
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') reject(new Error('tcp-proxy: no TCP address'));
      else resolve(addr.port);
    });
  });

  let stopping: Promise<void> | undefined;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    mode: () => mode,
    connections: () => pairs.size,
    accepted: () => accepted,
    cut() {
      mode = 'cut';
      for (const pair of [...pairs]) drop(pair);
      for (const socket of held) socket.destroy();
      held.clear();
    },
    blackhole() {
      mode = 'blackhole';
      for (const pair of pairs) {
        pair.client.unpipe(pair.upstream);
        pair.upstream.unpipe(pair.client);
        pair.client.pause();
        pair.upstream.pause();
      }
    },
    restore() {
      if (mode === 'blackhole') {
        for (const pair of pairs) {
          pair.client.pipe(pair.upstream);
          pair.upstream.pipe(pair.client);
        }
      }
      // Connections opened during a blackhole never got an upstream: drop them so their
      // clients notice and reconnect.
      for (const socket of held) socket.destroy();
      held.clear();
      mode = 'open';
    },
    retarget(newPort, host) {
      targetPort = newPort;
      if (host !== undefined) targetHost = host;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const pair of [...pairs]) drop(pair);
        for (const socket of held) socket.destroy();
        held.clear();
      });
      return stopping;
    },
  };
}
