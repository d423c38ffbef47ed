/**
 * External Mosquitto with the registry's sites: the gateway writes Mosquitto's password and ACL
 * files (`broker.mosquitto_files`) at start and after every change of a site's credentials or
 * status, then asks Mosquitto to re-read them (SIGHUP to the pid in `reload_pid_file`, when set:
 * the same host, or a container sharing Mosquitto's pid namespace). Mosquitto keeps a connected
 * client connected after a reload; a disabled site is refused from its next connection.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { writeMosquittoFiles, type MosquittoTierUser } from '../broker/mosquitto-files.ts';
import type { Logger } from '../log.ts';
import type { Registry } from '../registry/index.ts';

/** Options of {@link startMosquittoSync}. */
export interface MosquittoSyncOptions {
  passwordFile: string;
  aclFile: string;
  reloadPidFile: string | undefined;
  /** The gateway's own Mosquitto user (ingest and config push). */
  gatewayUser: { username: string; password: string };
  /** More gateway users with the same password (scale-out: the api node's and its workers' clients). */
  extraGatewayUsers?: readonly string[];
  /** Lower tiers' bridges allowed in (upper gateway, `tier.downstream`). */
  tierUsers?: readonly MosquittoTierUser[];
  registry: Registry;
  logger: Logger;
}

/** Write the files now (rejects if they cannot be written) and on every change; returns the stop function. */
export async function startMosquittoSync(opts: MosquittoSyncOptions): Promise<() => void> {
  const log = opts.logger.child({ module: 'mosquitto-sync' });
  const write = async (): Promise<void> => {
    await writeMosquittoFiles(
      { passwordFile: opts.passwordFile, aclFile: opts.aclFile },
      {
        sites: opts.registry.sites.list(),
        gatewayUsers: [
          opts.gatewayUser,
          ...(opts.extraGatewayUsers ?? []).map((username) => ({
            username,
            password: opts.gatewayUser.password,
          })),
        ],
        ...(opts.tierUsers !== undefined && { tierUsers: opts.tierUsers }),
      },
    );
    let reloaded = false;
    if (opts.reloadPidFile !== undefined) {
      const pid = Number(readFileSync(opts.reloadPidFile, 'utf8').trim());
      if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error(`${opts.reloadPidFile} holds no pid`);
      process.kill(pid, 'SIGHUP');
      reloaded = true;
    }
    log.info(
      { password_file: opts.passwordFile, acl_file: opts.aclFile, mosquitto_reloaded: reloaded },
      'Mosquitto files written',
    );
  };
  await write();
  // Writes are serialised; a burst of changes collapses into one more write.
  let running: Promise<void> | undefined;
  let again = false;
  const schedule = (): void => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = write()
      .catch((err: unknown) => {
        log.error({ err }, 'Mosquitto files not written: new or changed site credentials are not in force');
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          schedule();
        }
      });
  };
  return opts.registry.sites.credentialsChanged.on(schedule);
}

/**
 * Wait until the broker accepts `username` (a connection that keeps no session: never the
 * ingest's own user, whose persistent session a clean login would discard). Mosquitto re-reads
 * its files a moment after they are written; until then a new gateway user is refused.
 */
export async function waitForBrokerLogin(opts: {
  url: string;
  username: string;
  password: string;
  ca?: Buffer;
  timeoutMs: number;
  logger: Logger;
}): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 250;
  for (;;) {
    try {
      const client = await mqtt.connectAsync(opts.url, {
        clientId: opts.username,
        username: opts.username,
        password: opts.password,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        ...(opts.ca !== undefined && { ca: opts.ca }),
      });
      await client.endAsync();
      return;
    } catch (err) {
      if (Date.now() + delay > deadline) throw err;
      opts.logger.warn(
        { err, retry_in_ms: delay },
        'the broker does not accept the gateway yet (reloading its files?)',
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 4000);
    }
  }
}
