/**
 * An in-process Aedes 1.2 broker for tests, on a TCP listener at 127.0.0.1:<any free port>.
 *
 * Aedes speaks MQTT 3.1.1 only: an MQTT 5 client is refused, and `$share/…` subscriptions
 * silently deliver nothing. Use Mosquitto ({@link startMosquitto}) for MQTT 5 behaviour.
 *
 * Only this module touches the vendor's untyped corners (`persistence` and `mq` are `any` in its
 * typings); callers get typed options and the typed `Aedes` instance.
 */
import { createServer, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import createLevelPersistence from 'aedes-persistence-level';
import { Level } from 'level';

export type { Aedes } from 'aedes';

/** Options for {@link startAedes}. */
export interface AedesStartOptions {
  /**
   * Keep sessions, subscriptions, retained and queued messages in a LevelDB at this path, so a
   * broker started again on the same directory resumes them. Without this option the broker
   * keeps state in memory.
   */
  persistenceDir?: string;
  /** Port on 127.0.0.1. Default: any free port. Give a stopped broker's port to restart it in place. */
  port?: number;
  /** Broker hooks and limits (authenticate, authorizePublish, id, …), passed to Aedes. */
  brokerOptions?: Omit<AedesOptions, 'persistence' | 'mq' | 'decodeProtocol'>;
}

/** A running in-process Aedes. */
export interface AedesHandle {
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  /** Listener port. */
  readonly port: number;
  /** The broker itself, e.g. to watch `publish` events or publish from the broker side. */
  readonly broker: Aedes;
  /** Close the listener, drop connected clients, close the broker and its persistence. Idempotent. */
  stop(): Promise<void>;
}

type Persistence = ReturnType<typeof createLevelPersistence>;

/** Start an Aedes broker listening on 127.0.0.1. */
export async function startAedes(opts: AedesStartOptions = {}): Promise<AedesHandle> {
  const persistence = opts.persistenceDir === undefined ? undefined : levelPersistence(opts.persistenceDir);
  const broker = await Aedes.createBroker({ ...opts.brokerOptions, ...(persistence && { persistence }) });

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') reject(new Error('aedes: listener has no TCP address'));
      else resolve(addr.port);
    });
  });

  let stopping: Promise<void> | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    broker,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        for (const socket of sockets) socket.destroy();
        await closed;
        await new Promise<void>((resolve) => {
          broker.close(() => {
            resolve();
          });
        });
        // Aedes does not close its persistence; LevelDB holds a lock until closed.
        await persistence?.destroy();
      })();
      return stopping;
    },
  };
}

/** `aedes-persistence-level` over a `level` database (LevelDB) in `dir`. */
function levelPersistence(dir: string): Persistence {
  return createLevelPersistence(new Level(dir));
}
