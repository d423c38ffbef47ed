/**
 * The generated Mosquitto password and ACL files, served by a real Mosquitto 2.0: sites log in
 * with the passwords whose hashes the gateway made, and the same topic rules hold as in the
 * embedded broker (a site publishes only its own topics, reads only its own config).
 */
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  MOSQUITTO_SECURITY_CONFIG,
  mosquittoAclFile,
  mosquittoPasswordFile,
  writeMosquittoFiles,
} from '../../../gateway/src/broker/mosquitto-files.ts';
import { hashScrypt } from '../../../gateway/src/broker/passwords.ts';
import type { SiteCredentialEntry } from '../../../gateway/src/broker/types.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { filter as filters, topic } from '../../../proto/topics.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';
import { startMosquitto, type MosquittoHandle } from '../../bench/services/index.ts';
import { waitFor } from '../../bench/wait.ts';
import { connectClient, connectSite, siteEntries, sitePassword } from '../fixtures/broker.ts';

const GATEWAY = { username: '@gateway-ingest', password: 'ingest-secret' };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let dir: TempDir;
let mosquitto: MosquittoHandle;
let entries: SiteCredentialEntry[];

beforeAll(async () => {
  dir = makeTempDir('gateway-mosquitto-files');
  entries = await siteEntries(['village-7', 'checkpoint-2']);
  entries.push({ ...(entries[0] as SiteCredentialEntry), siteId: 'retired-1', enabled: false });
  const passwordFile = join(dir.path, 'passwd');
  const aclFile = join(dir.path, 'acl');
  await writeMosquittoFiles({ passwordFile, aclFile }, { sites: entries, gatewayUsers: [GATEWAY] });
  mosquitto = await startMosquitto({
    passwordFile,
    aclFile,
    extraConfig: MOSQUITTO_SECURITY_CONFIG.filter((l) => !l.startsWith('allow_anonymous')).join('\n'),
  });
});

afterAll(async () => {
  await mosquitto.stop();
  dir.remove();
});

async function client(p: Promise<MqttClient>): Promise<MqttClient> {
  const c = await p;
  cleanups.push(() => c.endAsync(true));
  return c;
}

async function refusal(p: Promise<MqttClient>): Promise<number | undefined> {
  try {
    const c = await p;
    cleanups.push(() => c.endAsync(true));
    return 0;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

describe('generated files', () => {
  it('write one password line per enabled site and gateway user, and per-site ACL sections', async () => {
    const passwords = await mosquittoPasswordFile({ sites: entries, gatewayUsers: [GATEWAY] });
    expect(
      passwords
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':')[0]),
    ).toEqual(['village-7', 'checkpoint-2', '@gateway-ingest']);
    expect(passwords).toMatch(/^village-7:\$7\$10000\$/);
    const acl = mosquittoAclFile({ sites: entries, gatewayUsers: [GATEWAY] });
    expect(acl).toContain('user village-7\ntopic write sharpeyes/v1/sites/village-7/events\n');
    expect(acl).toContain('topic read sharpeyes/v1/sites/village-7/config\n');
    expect(acl).toContain('topic read sharpeyes/v1/sites/village-7/snapshot/req\n');
    expect(acl).toContain('topic write sharpeyes/v1/sites/village-7/snapshot/res/+\n');
    expect(acl).not.toContain('retired-1');
    expect(await readFile(join(dir.path, 'acl'), 'utf8')).toBe(acl);
  });

  it('refuse a site that has only a scrypt hash, and a gateway user name a site could have', async () => {
    const scryptOnly: SiteCredentialEntry = {
      siteId: 'old-1',
      passwordHash: await hashScrypt('x'),
      enabled: true,
    };
    await expect(mosquittoPasswordFile({ sites: [scryptOnly], gatewayUsers: [] })).rejects.toSatisfy(
      (err: unknown) => isGatewayError(err, 'GATEWAY_ERR_MOSQUITTO_FILES') && err.message.includes('old-1'),
    );
    expect(() =>
      mosquittoAclFile({ sites: [], gatewayUsers: [{ username: 'village-7', password: 'x' }] }),
    ).toThrow(/must be "@"/);
  });
});

describe('real Mosquitto with the generated files', () => {
  it('authenticates sites by their hashed passwords and refuses the rest', async () => {
    const url = mosquitto.url;
    await client(connectSite(url, 'village-7'));
    await client(connectClient(url, { ...GATEWAY, clientId: GATEWAY.username }));
    expect(await refusal(connectSite(url, 'village-7', { password: 'wrong' }))).toBe(5);
    expect(await refusal(connectSite(url, 'retired-1', { password: sitePassword('village-7') }))).toBe(5);
    expect(await refusal(connectClient(url, { clientId: 'anon' }))).toBe(5);
  });

  it('lets a site publish only its own topics, and read only its own config', async () => {
    const url = mosquitto.url;
    const gw = await client(connectClient(url, { ...GATEWAY, clientId: GATEWAY.username }));
    const got: string[] = [];
    gw.on('message', (t, payload) => got.push(`${t} ${payload.toString()}`));
    await gw.subscribeAsync('sharpeyes/v1/sites/#', { qos: 1 });
    for (const site of ['village-7', 'checkpoint-2']) {
      await gw.publishAsync(topic.config(site), `config of ${site}`, { qos: 1, retain: true });
    }
    await waitFor(() => (got.length === 2 ? true : undefined), { what: 'the gateway to see both configs' });
    got.length = 0;

    const v7 = await client(connectSite(url, 'village-7'));
    // Mosquitto acknowledges a denied MQTT 3.1.1 publish and drops it.
    await v7.publishAsync(topic.events('checkpoint-2'), 'forged', { qos: 1 });
    await v7.publishAsync(topic.config('village-7'), 'forged', { qos: 1 });
    await v7.publishAsync(`${topic.sitePrefix('village-7')}other`, 'forged', { qos: 1 });
    await v7.publishAsync(topic.cameraStatus('village-7', 'cam-1'), 'status', { qos: 1 });
    await v7.publishAsync(topic.events('village-7'), 'genuine', { qos: 1 });
    await waitFor(() => (got.length >= 2 ? true : undefined), { what: 'the genuine messages' });
    expect(got).toEqual([
      `${topic.cameraStatus('village-7', 'cam-1')} status`,
      `${topic.events('village-7')} genuine`,
    ]);

    const seen: string[] = [];
    v7.on('message', (t, payload) => seen.push(`${t} ${payload.toString()}`));
    // Subscriptions outside its own config may be granted, but nothing is ever delivered.
    for (const filter of [topic.config('checkpoint-2'), 'sharpeyes/v1/sites/+/config', '#']) {
      await v7.subscribeAsync(filter, { qos: 1 }).catch(() => undefined);
    }
    await v7.subscribeAsync(topic.config('village-7'), { qos: 1 });
    await waitFor(() => (seen.length > 0 ? true : undefined), { what: 'own retained config' });
    await gw.publishAsync(topic.events('checkpoint-2'), 'other site event', { qos: 1 });
    await gw.publishAsync(topic.config('checkpoint-2'), 'other site config', { qos: 1 });
    await gw.publishAsync(topic.config('village-7'), 'own config update', { qos: 1 });
    const update = `${topic.config('village-7')} own config update`;
    await waitFor(() => (seen.includes(update) ? true : undefined), { what: 'own config update' });
    // Overlapping subscriptions may deliver the own retained config more than once; nothing else.
    expect(new Set(seen)).toEqual(new Set([`${topic.config('village-7')} config of village-7`, update]));
  });

  it('lets a site read only its own snapshot requests and answer only under its own prefix', async () => {
    const url = mosquitto.url;
    const gw = await client(connectClient(url, { ...GATEWAY, clientId: GATEWAY.username }));
    const answers: string[] = [];
    gw.on('message', (t, payload) => answers.push(`${t} ${payload.toString()}`));
    await gw.subscribeAsync(filters.snapshotResponses('gw-1'), { qos: 0 });

    const v7 = await client(connectSite(url, 'village-7'));
    const asked: string[] = [];
    v7.on('message', (t, payload) => asked.push(`${t} ${payload.toString()}`));
    for (const f of [topic.snapshotRequest('checkpoint-2'), filters.snapshotRequest]) {
      await v7.subscribeAsync(f, { qos: 0 }).catch(() => undefined);
    }
    await v7.subscribeAsync(topic.snapshotRequest('village-7'), { qos: 0 });
    // Neither a site nor its own agent may ask a site for a snapshot: only the gateway.
    await v7.publishAsync(topic.snapshotRequest('village-7'), 'forged request', { qos: 1 });
    await v7.publishAsync(topic.snapshotRequest('checkpoint-2'), 'forged request', { qos: 1 });
    await gw.publishAsync(topic.snapshotRequest('checkpoint-2'), 'other site', { qos: 0 });
    await gw.publishAsync(topic.snapshotRequest('village-7'), 'own request', { qos: 0 });
    const own = `${topic.snapshotRequest('village-7')} own request`;
    await waitFor(() => (asked.includes(own) ? true : undefined), { what: 'the own request' });
    expect(new Set(asked)).toEqual(new Set([own]));

    await v7.publishAsync(topic.snapshotResponse('checkpoint-2', 'gw-1'), 'forged answer', { qos: 1 });
    await v7.publishAsync(topic.snapshotResponse('village-7', 'gw-1'), 'genuine answer', { qos: 1 });
    const genuine = `${topic.snapshotResponse('village-7', 'gw-1')} genuine answer`;
    await waitFor(() => (answers.includes(genuine) ? true : undefined), { what: 'the genuine answer' });
    expect(answers).toEqual([genuine]);
  });
});
