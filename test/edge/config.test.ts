/** The edge agent's configuration: validation with `path message` errors, secrets, merging. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { effectiveCameras } from '../../edge-agent/src/config/merge.ts';
import {
  defaultCredentials,
  loadConfigFile,
  parseConfig,
  PASSWORD_ENV,
} from '../../edge-agent/src/config/load.ts';
import { EdgeError } from '../../edge-agent/src/errors.ts';
import { SiteConfig } from '../../proto/gen/sharpeyes/v1/config.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';

function configError(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    expect((err as EdgeError).code).toBe('EDGE_ERR_CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

describe('parseConfig', () => {
  it('fills defaults for a minimal file', () => {
    const c = parseConfig({ site_id: 'village-7' });
    expect(c.log_level).toBe('info');
    expect(c.http).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(c.discovery.multicast).toBe(false);
    expect(c.discovery.reprobe_interval_ms).toBe(60_000);
    expect(c.capture).toMatchObject({ width: 1280, height: 720, fps: 2, stall_timeout_ms: 10_000 });
    expect(c.cameras).toEqual([]);
  });

  it.each([
    ['missing site id', {}, /\/site_id/],
    ['site id with a topic wildcard', { site_id: 'a/b' }, /\/site_id Expected string to match/],
    ['unknown top-level field', { site_id: 's', colour: 'red' }, /\/colour/],
    ['unknown nested field', { site_id: 's', capture: { fps: 2, speed: 9 } }, /\/capture\/speed/],
    ['fps out of bounds', { site_id: 's', capture: { fps: 100 } }, /\/capture\/fps/],
    ['wrong type', { site_id: 's', discovery: { multicast: 'yes' } }, /\/discovery\/multicast/],
    [
      'secret with two sources',
      { site_id: 's', default_credentials: { username: 'u', password: { value: 'a', env: 'B' } } },
      /\/default_credentials\/password/,
    ],
    [
      'duplicate camera id',
      { site_id: 's', cameras: [{ camera_id: 'c1' }, { camera_id: 'c1' }] },
      /\/cameras\/1\/camera_id duplicate/,
    ],
    [
      'backoff inverted',
      { site_id: 's', capture: { backoff_initial_ms: 5000, backoff_max_ms: 1000 } },
      /backoff/,
    ],
  ])('rejects %s, naming the path', (_name, raw, pattern) => {
    expect(configError(raw)).toMatch(pattern);
  });

  it('lists every problem at once, one per line', () => {
    const message = configError({ capture: { fps: -1 }, http: { port: 70000 } });
    const lines = message.split('\n').slice(1);
    expect(lines.some((l) => l.includes('/site_id'))).toBe(true);
    expect(lines.some((l) => l.includes('/capture/fps'))).toBe(true);
    expect(lines.some((l) => l.includes('/http/port'))).toBe(true);
  });

  it('rejects a non-object', () => {
    expect(configError([1, 2])).toMatch(/JSON object/);
  });
});

describe('loadConfigFile and secrets', () => {
  let tmp: TempDir | undefined;
  afterEach(() => {
    tmp?.remove();
    tmp = undefined;
  });

  it('reports unreadable files and invalid JSON clearly', () => {
    tmp = makeTempDir('edge-config');
    expect(() => loadConfigFile(join(tmp?.path ?? '', 'nope.json'))).toThrow(/cannot be read/);
    const bad = join(tmp.path, 'bad.json');
    writeFileSync(bad, '{ "site_id": ');
    expect(() => loadConfigFile(bad)).toThrow(/not valid JSON/);
  });

  it('resolves secrets from value, env and file; the env override wins; a missing variable is named', () => {
    tmp = makeTempDir('edge-config');
    const secretFile = join(tmp.path, 'pw');
    writeFileSync(secretFile, 'from-file\n');
    const base = { site_id: 's' };
    const withPw = (password: unknown) =>
      parseConfig({ ...base, default_credentials: { username: 'u', password } });
    expect(defaultCredentials(withPw({ value: 'inline' }), {})).toEqual({
      username: 'u',
      password: 'inline',
    });
    expect(defaultCredentials(withPw({ env: 'CAM_PW' }), { CAM_PW: 'from-env' })?.password).toBe('from-env');
    expect(defaultCredentials(withPw({ file: secretFile }), {})?.password).toBe('from-file');
    expect(defaultCredentials(withPw({ value: 'inline' }), { [PASSWORD_ENV]: 'override' })?.password).toBe(
      'override',
    );
    expect(() => defaultCredentials(withPw({ env: 'CAM_PW' }), {})).toThrow(/CAM_PW is not set/);
  });
});

describe('effectiveCameras', () => {
  const local = parseConfig({
    site_id: 'site-1',
    default_credentials: { username: 'admin', password: { value: 'site-pw' } },
    cameras: [
      { camera_id: 'gate', serial_number: 'SN1', profile_token: 'sub' },
      {
        camera_id: 'yard',
        xaddr: 'http://127.0.0.1:8000/onvif/device_service',
        credentials: { username: 'y', password: { value: 'ypw' } },
      },
    ],
  });

  it('uses the local list, with default credentials, when the gateway has said nothing', () => {
    const plan = effectiveCameras(local, undefined, {});
    expect(plan.revision).toBe(0);
    expect(plan.cameras.map((c) => [c.cameraId, c.credentials?.username, c.enabled])).toEqual([
      ['gate', 'admin', true],
      ['yard', 'y', true],
    ]);
  });

  it('lets the gateway win field by field, keeps local credentials it leaves out, adds its cameras', () => {
    const site = SiteConfig.fromPartial({
      siteId: 'site-1',
      revision: 7,
      defaultAnalysis: { fps: 3 },
      cameras: [
        { cameraId: 'gate', identity: { endpointReference: 'urn:uuid:1' }, enabled: false },
        {
          cameraId: 'new',
          identity: { serialNumber: 'SN9' },
          credentials: { username: 'n', password: 'npw' },
          enabled: true,
        },
      ],
    });
    const plan = effectiveCameras(local, site, {});
    expect(plan.revision).toBe(7);
    const gate = plan.cameras.find((c) => c.cameraId === 'gate');
    expect(gate).toEqual({
      cameraId: 'gate',
      endpointReference: 'urn:uuid:1',
      serialNumber: 'SN1',
      profileToken: 'sub',
      credentials: { username: 'admin', password: 'site-pw' },
      enabled: false,
      fps: 3,
    });
    expect(plan.cameras.find((c) => c.cameraId === 'new')?.credentials).toEqual({
      username: 'n',
      password: 'npw',
    });
    expect(plan.cameras.map((c) => c.cameraId)).toEqual(['gate', 'new', 'yard']);
  });

  it('ignores a SiteConfig addressed to another site', () => {
    const site = SiteConfig.fromPartial({
      siteId: 'other',
      revision: 3,
      cameras: [{ cameraId: 'x', enabled: true }],
    });
    const plan = effectiveCameras(local, site, {});
    expect(plan.revision).toBe(0);
    expect(plan.cameras.map((c) => c.cameraId)).toEqual(['gate', 'yard']);
  });
});
