/**
 * The loopback TCP proxy used to cut links in fault tests: forwarding, cut (drop + refuse),
 * blackhole (hold silently, then deliver what was held), restore, retarget.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
import { waitFor } from './wait.ts';

/** An echo server on 127.0.0.1. */
async function startEcho(): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return { port: addr.port, server, sockets };
}

/** A client that collects what it receives and whether it was closed. */
async function client(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect({ port, host: '127.0.0.1' });
  let data = '';
  let closed = false;
  socket.on('data', (c: Buffer) => {
    data += c.toString();
  });
  socket.on('error', () => undefined);
  socket.once('close', () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed: () => closed };
}

describe('tcp proxy', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(): Promise<{ proxy: TcpProxy; echo: Awaited<ReturnType<typeof startEcho>> }> {
    const echo = await startEcho();
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of echo.sockets) s.destroy();
          echo.server.close(() => {
            resolve();
          });
        }),
    );
    const proxy = await startTcpProxy({ targetPort: echo.port });
    cleanups.push(() => proxy.stop());
    return { proxy, echo };
  }

  it('forwards both ways', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    cleanups.push(() => {
      c.socket.destroy();
    });
    c.socket.write('hello');
    await waitFor(() => (c.received() === 'hello' ? true : undefined), { what: 'echo through the proxy' });
    expect(proxy.connections()).toBe(1);
    expect(proxy.mode()).toBe('open');
  });

  it('cut drops connections and refuses new ones until restore', async () => {
    const { proxy, echo } = await setup();
    const c = await client(proxy.port);
    cleanups.push(() => {
      c.socket.destroy();
    });
    await waitFor(() => (proxy.connections() === 1 ? true : undefined), { what: 'a forwarded connection' });
    proxy.cut();
    await waitFor(() => (c.closed() ? true : undefined), { what: 'the client to see the close' });
    await waitFor(() => (echo.sockets.size === 0 ? true : undefined), {
      what: 'the server to see the close',
    });

    // A new connection is accepted by the kernel, then reset at once: nothing gets through.
    const refused = await client(proxy.port).catch(() => undefined);
    if (refused !== undefined) {
      cleanups.push(() => {
        refused.socket.destroy();
      });
      refused.socket.write('lost');
      await waitFor(() => (refused.closed() ? true : undefined), { what: 'the refused connection to close' });
      expect(refused.received()).toBe('');
    }

    proxy.restore();
    const again = await client(proxy.port);
    cleanups.push(() => {
      again.socket.destroy();
    });
    again.socket.write('back');
    await waitFor(() => (again.received() === 'back' ? true : undefined), { what: 'echo after restore' });
  });

  it('blackhole holds bytes silently and delivers them on restore', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    cleanups.push(() => {
      c.socket.destroy();
    });
    c.socket.write('a');
    await waitFor(() => (c.received() === 'a' ? true : undefined), { what: 'first echo' });
    proxy.blackhole();
    c.socket.write('b');
    // Nothing can arrive while the link is dark; give the bytes every chance to (wrongly) pass.
    await new Promise((r) => setTimeout(r, 200));
    expect(c.received()).toBe('a');
    expect(c.closed()).toBe(false);
    proxy.restore();
    await waitFor(() => (c.received() === 'ab' ? true : undefined), { what: 'held bytes after restore' });
  });

  it('retarget sends new connections to another server', async () => {
    const { proxy } = await setup();
    const other = await startEcho();
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of other.sockets) s.destroy();
          other.server.close(() => {
            resolve();
          });
        }),
    );
    proxy.retarget(other.port);
    const c = await client(proxy.port);
    cleanups.push(() => {
      c.socket.destroy();
    });
    c.socket.write('x');
    await waitFor(() => (c.received() === 'x' ? true : undefined), { what: 'echo from the new target' });
    expect(other.sockets.size).toBe(1);
  });
});
