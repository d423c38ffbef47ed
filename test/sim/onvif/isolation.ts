/**
 * Network-rule guards. The simulator only binds/sends to 127.0.0.0/8, and multicast discovery
 * runs only where it provably cannot leave the machine: a network namespace whose only
 * interface is `lo`. /proc/self/net/dev lists every interface of the calling process's network
 * namespace (addressless ones included), so it is the proof we check.
 */
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';

import { MulticastGuardError, SimError } from './errors.ts';

/** Interfaces of the current network namespace, from /proc/self/net/dev. */
export function namespaceInterfaces(procNetDev = '/proc/self/net/dev'): string[] {
  const text = readFileSync(procNetDev, 'utf8');
  return text
    .split('\n')
    .slice(2)
    .map((line) => line.split(':')[0]?.trim() ?? '')
    .filter((name) => name !== '');
}

/** Whether this process's network namespace has no interface but `lo`, and which it has. */
export function checkNetnsIsolation(procNetDev?: string): { isolated: boolean; interfaces: string[] } {
  const interfaces = namespaceInterfaces(procNetDev);
  return { isolated: interfaces.length > 0 && interfaces.every((i) => i === 'lo'), interfaces };
}

/**
 * Throw unless multicast discovery is allowed here: the caller acknowledged the rule
 * explicitly, and the namespace is isolated. Called before any multicast socket exists.
 */
export function assertMulticastAllowed(acknowledged: unknown, procNetDev?: string): void {
  if (acknowledged !== true) {
    throw new MulticastGuardError(
      'refusing multicast WS-Discovery: set discovery.i_understand_this_must_run_in_a_netns = true ' +
        'and run inside a namespace made by runInNetns (test/sim/netns.ts)',
    );
  }
  let check: { isolated: boolean; interfaces: string[] };
  try {
    check = checkNetnsIsolation(procNetDev);
  } catch (err) {
    throw new MulticastGuardError(
      `refusing multicast WS-Discovery: cannot list network interfaces (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (!check.isolated) {
    throw new MulticastGuardError(
      `refusing multicast WS-Discovery: this network namespace has interfaces [${check.interfaces.join(', ')}]; ` +
        'multicast to 239.255.255.250 would reach a real network. Run inside runInNetns (test/sim/netns.ts).',
    );
  }
}

/** Whether `host` is an IPv4 address in 127.0.0.0/8. */
export function isLoopbackV4(host: string): boolean {
  return isIPv4(host) && host.startsWith('127.');
}

/** Throw unless `host` is an IPv4 loopback address. */
export function assertLoopback(host: string, what: string): void {
  if (!isLoopbackV4(host)) {
    throw new SimError(
      'SIM_ERR_NOT_LOOPBACK',
      `${what}: ${host} is not in 127.0.0.0/8; the simulator stays on loopback`,
    );
  }
}
