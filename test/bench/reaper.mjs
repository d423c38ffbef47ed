// Reaper: a detached watchdog that outlives its parent for a moment, to clean up after it.
//
// The parent writes commands on our stdin, one per line:
//   pgid <n>     a child process group to kill when the parent goes away
//   unpgid <n>   that group ended normally; forget it
//   dir <path>   a temp directory to remove when the parent goes away
//   undir <path> the parent removed it itself; forget it
// When stdin reaches EOF the parent has exited (normally, by a signal, or by SIGKILL, since the
// kernel closes its end of the pipe in every case): we SIGTERM every group, SIGKILL what is left
// after a grace period, remove every directory, and exit.
//
// Plain JavaScript on purpose: it runs with `node` alone, before or without any TS loader.
import { rmSync } from 'node:fs';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { setTimeout } from 'node:timers';

const GRACE_MS = 1500;
const groups = new Set();
const dirs = new Set();

// We share a terminal session with the parent only if setsid failed; ignore terminal signals
// either way so a Ctrl-C aimed at the test runner cannot stop the cleanup.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']) process.on(sig, () => undefined);

const alive = (pgid) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

const signalGroup = (pgid, sig) => {
  try {
    process.kill(-pgid, sig);
  } catch {
    // The group is already gone: nothing to do.
  }
};

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const space = line.indexOf(' ');
  const verb = line.slice(0, space);
  const arg = line.slice(space + 1);
  if (verb === 'pgid') groups.add(Number(arg));
  else if (verb === 'unpgid') groups.delete(Number(arg));
  else if (verb === 'dir') dirs.add(arg);
  else if (verb === 'undir') dirs.delete(arg);
});
rl.on('close', () => {
  for (const g of groups) signalGroup(g, 'SIGTERM');
  const deadline = Date.now() + GRACE_MS;
  const finish = () => {
    const left = [...groups].filter(alive);
    if (left.length > 0 && Date.now() < deadline) {
      setTimeout(finish, 50);
      return;
    }
    for (const g of left) signalGroup(g, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
    process.exit(0);
  };
  finish();
});
