/** The tier cascade's generated Mosquitto text: the bridge stanza and the upper broker's tier user. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { mosquittoAclFile, mosquittoPasswordFile } from '../../../gateway/src/broker/mosquitto-files.ts';
import { mosquittoBridgeConfig, tierUser, writeBridgeFile } from '../../../gateway/src/tier/bridge.ts';

const base = {
  tierId: 'qingshan',
  url: 'mqtt://city.example:1884',
  password: 'bridge-secret',
  restartTimeoutS: 2,
  restartTimeoutMaxS: 30,
};

describe('tierUser', () => {
  it.each([
    ['qingshan', '~tier-qingshan'],
    ['county.7_a-b', '~tier-county.7_a-b'],
  ])('%s → %s', (id, user) => {
    expect(tierUser(id)).toBe(user);
  });
  it.each(['', 'a/b', 'a+b', 'a#', 'x'.repeat(65)])('refuses %j', (id) => {
    expect(() => tierUser(id)).toThrow(/tier id/);
  });
});

describe('mosquittoBridgeConfig', () => {
  it('bridges the events topic out, QoS 1, with a persistent session under fixed ids', () => {
    const lines = mosquittoBridgeConfig(base).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'connection sharpeyes-tier-qingshan',
        'address city.example:1884',
        'remote_clientid ~tier-qingshan',
        'remote_username ~tier-qingshan',
        'remote_password bridge-secret',
        'cleansession false',
        'restart_timeout 2 30',
        'notifications false',
        'topic sharpeyes/v1/sites/+/events out 1',
      ]),
    );
    // Only events go up: config, snapshots and status stay with the lower tier.
    expect(lines.filter((l) => l.startsWith('topic '))).toEqual([
      'topic sharpeyes/v1/sites/+/events out 1',
      'topic sharpeyes/v1/tiers/qingshan/cameras out 1',
    ]);
    expect(lines.some((l) => l.startsWith('bridge_cafile'))).toBe(false);
  });

  it.each([
    ['mqtt://h', 'address h:1883'],
    ['mqtts://h', 'address h:8883'],
    ['mqtts://h:9999', 'address h:9999'],
  ])('%s → %s', (url, line) => {
    expect(mosquittoBridgeConfig({ ...base, url, caFile: '/etc/ca.pem' }).split('\n')).toContain(line);
  });

  it('needs a CA for mqtts and writes it', () => {
    expect(() => mosquittoBridgeConfig({ ...base, url: 'mqtts://h' })).toThrow(/ca_file/);
    expect(mosquittoBridgeConfig({ ...base, url: 'mqtts://h', caFile: '/etc/ca.pem' })).toContain(
      'bridge_cafile /etc/ca.pem',
    );
  });

  it('refuses a password that would break the file', () => {
    expect(() => mosquittoBridgeConfig({ ...base, password: 'a b' })).toThrow(/white space/);
    expect(() => mosquittoBridgeConfig({ ...base, password: 'a\nconnection x' })).toThrow(/white space/);
  });
});

describe('writeBridgeFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tier-bridge-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  it('writes 0600 and reports a change only when the text differs', async () => {
    const path = join(dir, 'up.conf');
    const log = pino({ level: 'silent' });
    expect(await writeBridgeFile(path, 'a\n', log)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await writeBridgeFile(path, 'a\n', log)).toBe(false);
    expect(await writeBridgeFile(path, 'b\n', log)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('b\n');
  });
});

describe('tier users in the upper broker files', () => {
  const input = {
    sites: [],
    gatewayUsers: [{ username: '@gw', password: 'p' }],
    tierUsers: [{ username: '~tier-qingshan', password: 'bridge-secret', sites: ['v-1', 'v-2'] }],
  };
  it('may write only the listed sites’ events', () => {
    const acl = mosquittoAclFile(input);
    const block = acl.slice(acl.indexOf('user ~tier-qingshan')).trim().split('\n');
    expect(block).toEqual([
      'user ~tier-qingshan',
      'topic write sharpeyes/v1/tiers/qingshan/cameras',
      'topic write sharpeyes/v1/sites/v-1/events',
      'topic write sharpeyes/v1/sites/v-2/events',
    ]);
  });
  it('gets a Mosquitto password line', async () => {
    expect(await mosquittoPasswordFile(input)).toMatch(/^~tier-qingshan:\$7\$/m);
  });
  it('refuses a tier user name that could be a site or gateway user', () => {
    expect(() =>
      mosquittoAclFile({ ...input, tierUsers: [{ username: 'v-1', password: 'p', sites: [] }] }),
    ).toThrow(/tier user name/);
  });
});
