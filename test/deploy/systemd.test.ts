/**
 * The edge agent's systemd unit and install script (deploy/systemd/, deploy/install-edge-agent.sh).
 * The script runs against a temp root (--root): the user goes into that root's /etc/passwd
 * (systemd-sysusers --root), the unit is enabled offline (systemctl --root), and nothing outside
 * the temp dir changes — the test checks the real /etc/passwd. `systemd-analyze verify` checks
 * the installed unit. Then the unit's ExecStartPre and ExecStart run directly here, as root
 * (the service user exists only in the temp root), with the installed configuration's
 * data_dir and port moved to the temp dir: the preflight passes, the agent starts and answers
 * /healthz, and stops cleanly on SIGTERM. A broken configuration makes the preflight fail with
 * exit 2, the code the unit does not restart on.
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig as parseEdgeConfig } from '../../edge-agent/src/config/load.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { freePort, waitFor } from '../bench/wait.ts';
import {
  onPath,
  parseUnit,
  REPO,
  runCommand,
  startProgram,
  unitCommand,
  waitForLogLine,
  type RunningProgram,
} from './helpers.ts';

const UNIT = 'sharpeyes-edge-agent.service';
const SCRIPT = join(REPO, 'deploy/install-edge-agent.sh');
const isRoot = process.getuid?.() === 0;

describe('deploy/install-edge-agent.sh --root and the installed unit', () => {
  let tmp: TempDir;
  let root: string;
  let agent: RunningProgram | undefined;
  const realPasswd = readFileSync('/etc/passwd', 'utf8');

  beforeAll(() => {
    tmp = makeTempDir('deploy-systemd');
    root = join(tmp.path, 'root');
  });
  afterAll(async () => {
    await agent?.child.stop();
    tmp.remove();
  });

  const installed = (path: string) => join(root, path);
  const unitText = () => readFileSync(installed(`/etc/systemd/system/${UNIT}`), 'utf8');

  it('installs the user, configuration, secrets and unit into the root, and enables the unit', () => {
    expect(isRoot, 'the installer needs root (the project’s test machine runs tests as root)').toBe(true);
    runCommand(['mkdir', '-p', root]);
    writeFileSync(join(tmp.path, 'site.pw'), 'site-password\n');
    writeFileSync(join(tmp.path, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n');
    const r = runCommand([
      SCRIPT,
      '--root',
      root,
      '--site-id',
      'village-7',
      '--mqtt-url',
      'mqtts://centre.example.org:8883',
      '--ca-file',
      join(tmp.path, 'ca.crt'),
      '--mqtt-password-file',
      join(tmp.path, 'site.pw'),
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);

    const passwd = readFileSync(installed('/etc/passwd'), 'utf8');
    const entry =
      passwd
        .split('\n')
        .find((l) => l.startsWith('sharpeyes-edge:'))
        ?.split(':') ?? [];
    expect(entry[5]).toBe('/var/lib/sharpeyes-edge');
    expect(entry[6]).toBe('/usr/sbin/nologin');
    expect(Number(entry[2])).toBeLessThan(1000);
    const gid = Number(entry[3]);
    // Nothing outside the root changed.
    expect(readFileSync('/etc/passwd', 'utf8')).toBe(realPasswd);
    expect(existsSync(`/etc/systemd/system/${UNIT}`)).toBe(false);

    const config = installed('/etc/sharpeyes/edge-agent.json');
    const st = statSync(config);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, gid, 0o640]);
    const cfg = parseEdgeConfig(JSON.parse(readFileSync(config, 'utf8')));
    expect(cfg.site_id).toBe('village-7');
    expect(cfg.mqtt?.url).toBe('mqtts://centre.example.org:8883');
    expect(cfg.mqtt?.password_file).toBe('/etc/sharpeyes/edge-mqtt.password');
    expect(cfg.mqtt?.ca_file).toBe('/etc/sharpeyes/ca.crt');
    const pw = statSync(installed('/etc/sharpeyes/edge-mqtt.password'));
    expect([pw.gid, pw.mode & 0o777]).toEqual([gid, 0o640]);
    expect(readFileSync(installed('/etc/sharpeyes/edge-mqtt.password'), 'utf8')).toBe('site-password\n');
    expect(statSync(installed('/etc/sharpeyes/edge-agent.env')).mode & 0o777).toBe(0o600);

    const link = installed(`/etc/systemd/system/multi-user.target.wants/${UNIT}`);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(`/etc/systemd/system/${UNIT}`);
    // The program is this tree, so the unit points here.
    const unit = parseUnit(unitText());
    expect(unit.Service?.ExecStart).toEqual([
      `${REPO}/edge-agent/bin/edge-agent --config /etc/sharpeyes/edge-agent.json`,
    ]);
    expect(unit.Service?.WorkingDirectory).toEqual([REPO]);
  });

  it('runs again without replacing the configuration', () => {
    const config = installed('/etc/sharpeyes/edge-agent.json');
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(
        '"cameras": []',
        '"cameras": [{"camera_id": "gate", "xaddr": "http://192.0.2.1/onvif/device_service"}]',
      ),
    );
    const before = readFileSync(config, 'utf8');
    const r = runCommand([SCRIPT, '--root', root]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('keeping the existing');
    expect(readFileSync(config, 'utf8')).toBe(before);
    expect(readFileSync(installed('/etc/passwd'), 'utf8').match(/^sharpeyes-edge:/gm)).toHaveLength(1);
  });

  it('refuses bad input without touching the root', () => {
    expect(runCommand([SCRIPT, '--root', root, '--site-id', 'a/b']).code).toBe(1);
    expect(runCommand([SCRIPT, '--root', root, '--mqtt-url', 'http://x']).code).toBe(1);
    const fresh = join(tmp.path, 'fresh');
    runCommand(['mkdir', '-p', fresh]);
    const r = runCommand([SCRIPT, '--root', fresh]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--site-id is needed');
  });

  it('the unit is hardened, restarts on failure but not on a bad configuration, and stops gently', () => {
    const s = parseUnit(unitText()).Service ?? {};
    const one = (k: string) => s[k]?.[0];
    expect(one('User')).toBe('sharpeyes-edge');
    expect(one('StateDirectory')).toBe('sharpeyes-edge');
    expect(one('Restart')).toBe('always');
    expect(one('RestartPreventExitStatus')).toBe('2');
    expect(one('KillMode')).toBe('mixed');
    for (const [k, v] of Object.entries({
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      PrivateTmp: 'yes',
      ProtectProc: 'invisible',
      CapabilityBoundingSet: '',
    })) {
      expect(one(k), k).toBe(v);
    }
    // V8's JIT writes executable memory.
    expect(s.MemoryDenyWriteExecute).toBeUndefined();
    // data_dir of the template is the StateDirectory, the only writable place under ProtectSystem=strict.
    const tpl = JSON.parse(readFileSync(join(REPO, 'deploy/systemd/edge-agent.example.json'), 'utf8')) as {
      data_dir: string;
    };
    expect(tpl.data_dir).toBe(`/var/lib/${one('StateDirectory') ?? ''}`);
  });

  it('passes systemd-analyze verify', (ctx) => {
    const analyze = onPath('systemd-analyze');
    if (analyze === undefined) ctx.skip('systemd-analyze is not installed');
    const r = runCommand([analyze ?? '', 'verify', installed(`/etc/systemd/system/${UNIT}`)], { cwd: '/' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('ExecStartPre and ExecStart work when run directly; a broken configuration fails the preflight with 2', async () => {
    const s = parseUnit(unitText()).Service ?? {};
    const pre = unitCommand(s.ExecStartPre?.[0] ?? '');
    const start = unitCommand(s.ExecStart?.[0] ?? '');
    // The installed files, seen from here: /etc/sharpeyes → <root>/etc/sharpeyes. data_dir and
    // the port move into the temp dir (systemd would make /var/lib/sharpeyes-edge itself).
    const config = installed('/etc/sharpeyes/edge-agent.json');
    const port = await freePort();
    const cfg = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    const mqtt = cfg.mqtt as Record<string, unknown>;
    // WS-Discovery multicast (on in the template, for the site LAN) must never leave this host's
    // loopback tests: it is switched off here.
    Object.assign(cfg, {
      data_dir: join(tmp.path, 'state'),
      http: { host: '127.0.0.1', port },
      cameras: [],
      discovery: { multicast: false },
    });
    // The agent tries the (unreachable, documentation-only) centre and retries: no traffic leaves
    // loopback, so point it at a closed loopback port instead.
    Object.assign(mqtt, {
      url: `mqtt://127.0.0.1:${await freePort()}`,
      password_file: installed('/etc/sharpeyes/edge-mqtt.password'),
    });
    delete mqtt.ca_file;
    writeFileSync(config, JSON.stringify(cfg, null, 2));
    const map = (argv: string[]) => argv.map((a) => (a.startsWith('/etc/sharpeyes/') ? installed(a) : a));
    const cwd = s.WorkingDirectory?.[0] ?? '/';

    const preOk = runCommand(map(pre), { cwd });
    expect(preOk.code, preOk.stdout + preOk.stderr).toBe(0);
    expect(preOk.stdout).toMatch(/^ok {3}configuration /m);
    expect(preOk.stdout).toMatch(/^ok {3}ffmpeg /m);
    expect(preOk.stdout).toMatch(/^warn mqtt\.url mqtt:\/\/.* is not TLS/m);

    agent = startProgram(map(start), { name: 'edge-agent', logFile: join(tmp.path, 'agent.log'), cwd });
    await waitForLogLine(agent, 'edge agent started');
    const health = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
      },
      { what: 'the agent’s /healthz', timeoutMs: 30_000 },
    );
    expect(health.status).toMatch(/^(ok|degraded)$/);
    expect(await agent.child.stop()).toEqual({ code: 0, signal: null });

    writeFileSync(config, JSON.stringify({ ...cfg, capture: { fps: 1000 } }));
    const preBad = runCommand(map(pre), { cwd });
    expect(preBad.code).toBe(2);
    expect(preBad.stdout).toContain('/capture/fps');
    // A secret the agent could not resolve at start fails the preflight the same way.
    writeFileSync(
      config,
      JSON.stringify({
        ...cfg,
        default_credentials: { username: 'admin', password: { env: 'SHARPEYES_TEST_UNSET' } },
      }),
    );
    const preSecret = runCommand(map(pre), { cwd, env: { SHARPEYES_TEST_UNSET: '' } });
    expect(preSecret.code).toBe(2);
    expect(preSecret.stdout).toContain('SHARPEYES_TEST_UNSET is not set');
    // A missing password file is reported too (exit 1: not the configuration's shape).
    writeFileSync(
      config,
      JSON.stringify({ ...cfg, mqtt: { ...mqtt, password_file: join(tmp.path, 'missing.pw') } }),
    );
    const preMissing = runCommand(map(pre), { cwd });
    expect(preMissing.code).toBe(1);
    expect(preMissing.stdout).toMatch(/^FAIL mqtt\.password_file .*missing\.pw/m);
    chmodSync(tmp.path, 0o700);
  });
});
