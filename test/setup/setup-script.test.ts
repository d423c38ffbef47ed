/**
 * scripts/setup.sh, which both README commands run first: quiet and idempotent when the
 * machine is ready, and a clear refusal (not a half-install) when it cannot install.
 */
import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SETUP = join(ROOT, 'scripts', 'setup.sh');
const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function runSetup(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  try {
    const { stdout, stderr } = await run(cmd, args, { env, cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('scripts/setup.sh', () => {
  let tmp: TempDir | undefined;
  afterEach(() => {
    tmp?.remove();
    tmp = undefined;
  });

  it('is quiet and succeeds when everything is installed (run by npm test just before)', async () => {
    const r = await runSetup('bash', [SETUP], process.env);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it.runIf(process.getuid?.() === 0)(
    'refuses with the fix when a package is missing, the user is not root and sudo is unusable',
    async () => {
      tmp = makeTempDir('setup');
      // Shims: dpkg-query says nothing is installed; sudo exists but needs a password.
      const dpkg = join(tmp.path, 'dpkg-query');
      writeFileSync(dpkg, '#!/bin/sh\nexit 1\n');
      const sudo = join(tmp.path, 'sudo');
      writeFileSync(sudo, '#!/bin/sh\necho "sudo: a password is required" >&2\nexit 1\n');
      chmodSync(dpkg, 0o755);
      chmodSync(sudo, 0o755);
      chmodSync(tmp.path, 0o755);
      const env = { PATH: `${tmp.path}:/usr/local/bin:/usr/bin:/bin`, HOME: tmp.path };
      const r = await runSetup(
        'setpriv',
        ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'bash', SETUP],
        env,
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/missing system packages: influxdb mosquitto ffmpeg/);
      expect(r.stderr).toMatch(/not root and cannot use sudo/);
      expect(r.stderr).toMatch(/apt-get install -y --no-install-recommends influxdb/);
    },
  );
});
