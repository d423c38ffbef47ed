/**
 * Questions tests ask about processes and sockets, answered from /proc (Linux).
 *
 * "Gone" treats a zombie as gone: it runs nothing and holds no port or file, and when its
 * parent is dead it waits for PID 1 to reap it, which some container inits do late or never.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** State letter and process group of a pid, or undefined if it does not exist. */
function stat(pid: number): { state: string; pgrp: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // ENOENT: the process is gone (or was never there), which is an answer, not an error.
    return undefined;
  }
  // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses, so cut at the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', pgrp: Number(fields[2]) };
}

function signalZeroFinds(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Whether `pid` is gone: no such process, or only a zombie left. */
export function processGone(pid: number): boolean {
  if (!signalZeroFinds(pid)) return true;
  return stat(pid)?.state === 'Z';
}

/** Whether process group `pgid` is gone: `kill(-pgid, 0)` says ESRCH, or every member is a zombie. */
export function processGroupGone(pgid: number): boolean {
  if (!signalZeroFinds(-pgid)) return true;
  return groupMembers(pgid).every((pid) => stat(pid)?.state === 'Z');
}

/** Pids whose process group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => stat(pid)?.pgrp === pgid);
}

/** A socket a process listens on (TCP) or has bound (UDP). */
export interface BoundSocket {
  /** Table it came from: /proc/net/tcp, tcp6, udp or udp6. */
  protocol: 'tcp' | 'tcp6' | 'udp' | 'udp6';
  /** Local address, e.g. `127.0.0.1` or `::1`. */
  address: string;
  /** Local port. */
  port: number;
}

/**
 * TCP listeners and bound UDP sockets held by `pid`, from its fds and /proc/net. Lets a test
 * check that a service binds loopback only.
 */
export function boundSockets(pid: number): BoundSocket[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      // The fd was closed between readdir and readlink: nothing to report for it.
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m?.[1] !== undefined) inodes.add(m[1]);
  }
  const found: BoundSocket[] = [];
  for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    let table: string;
    try {
      table = readFileSync(`/proc/${pid}/net/${protocol}`, 'utf8');
    } catch {
      // No IPv6 in this kernel/namespace: no such sockets either.
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, state, inode] = [cols[1], cols[3], cols[9]];
      if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
      // TCP: 0A is LISTEN. UDP: 07 is an unconnected (bound) socket.
      if (protocol.startsWith('tcp') ? state !== '0A' : state !== '07') continue;
      const [hexAddr = '', hexPort = '0'] = local.split(':');
      found.push({ protocol, address: decodeAddress(hexAddr), port: parseInt(hexPort, 16) });
    }
  }
  return found;
}

/** Whether `pid` itself holds a TCP listener on `port` (false if it has exited). */
export function listensOn(pid: number, port: number): boolean {
  try {
    return boundSockets(pid).some((s) => s.protocol.startsWith('tcp') && s.port === port);
  } catch {
    // /proc/<pid> vanished: the process exited, so it listens on nothing.
    return false;
  }
}

/** /proc/net addresses are 32-bit words in host (little-endian) byte order. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => [6, 4, 2, 0].map((i) => parseInt(w.slice(i, i + 2), 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  // Not compressed (no `::`): tests compare against `isLoopback`, not strings.
  return groups.join(':');
}

/** Whether an address from {@link boundSockets} is loopback. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '0:0:0:0:0:0:0:1';
}
