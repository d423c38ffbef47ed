/**
 * The embedded broker against real mqtt.js clients: per-site authentication, authorisation by
 * topic, the closed-until-ingest-subscribed rule, and PUBACKs held until Aedes persisted the
 * message. Real Aedes with its LevelDB on disk; nothing is faked (the persistence is only
 * instrumented to delay one call).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodePayload, topic } from '../../../proto/topics.ts';
import { SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { makeTempDir } from '../../bench/lifetime.ts';
import { waitFor } from '../../bench/wait.ts';
import {
  connectClient,
  connectSite,
  GATEWAY_USER,
  siteEntries,
  sitePassword,
  startTestBroker,
  type TestBroker,
} from '../fixtures/broker.ts';
import type { SiteCredentialEntry } from '../../../gateway/src/broker/types.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let entries: SiteCredentialEntry[];
beforeAll(async () => {
  entries = await siteEntries(['village-7', 'checkpoint-2']);
  entries.push({ ...(entries[1] as SiteCredentialEntry), siteId: 'retired-1', enabled: false });
});

async function broker(opts: Parameters<typeof startTestBroker>[1] = {}): Promise<TestBroker> {
  const b = await startTestBroker(entries, opts);
  cleanups.push(() => b.stop());
  return b;
}

async function client(p: Promise<MqttClient>): Promise<MqttClient> {
  const c = await p;
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** The CONNACK return code of a refused connection. */
async function refusal(p: Promise<MqttClient>): Promise<number | undefined> {
  try {
    const c = await p;
    cleanups.push(() => c.endAsync(true));
    return 0;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

function counter(b: TestBroker, name: string, labels: Record<string, string>): Promise<number> {
  return b.registry.getSingleMetricAsString(name).then((text) => {
    const sel = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${sel}}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  });
}

describe('authentication', () => {
  it('refuses no credentials, a wrong password, an unknown or disabled site, and a foreign client id', async () => {
    const b = await broker();
    const url = b.broker.url;
    expect(await refusal(connectClient(url, { clientId: 'edge-village-7' }))).toBe(5);
    expect(await refusal(connectSite(url, 'village-7', { password: 'wrong' }))).toBe(4);
    expect(await refusal(connectSite(url, 'nowhere-1', { password: sitePassword('village-7') }))).toBe(4);
    expect(await refusal(connectSite(url, 'retired-1', { password: sitePassword('checkpoint-2') }))).toBe(4);
    // A site may not take another site's (or the gateway's) client id, and so its session.
    expect(await refusal(connectSite(url, 'village-7', { clientId: 'edge-checkpoint-2' }))).toBe(5);
    expect(await refusal(connectSite(url, 'village-7', { clientId: 'village-7' }))).toBe(5);
    expect(await refusal(connectSite(url, 'village-7', { clientId: '@gateway-ingest' }))).toBe(5);
    expect(await refusal(connectSite(url, 'village-7', { clientId: 'edge-village-77' }))).toBe(5);
    expect(
      await refusal(connectClient(url, { ...GATEWAY_USER, password: 'nope', clientId: '@gateway-ingest' })),
    ).toBe(4);
    // A will on a topic the site may not publish is refused at CONNECT.
    expect(
      await refusal(
        connectSite(url, 'village-7', {
          will: { topic: topic.agent('checkpoint-2'), payload: Buffer.alloc(0), qos: 1, retain: true },
        }),
      ),
    ).toBe(5);
    expect(
      await counter(b, 'sharpeyes_gateway_broker_auth_failures_total', { reason: 'bad_credentials' }),
    ).toBe(4);

    // The right credentials work, with `edge-<site>` or `edge-<site>:suffix` as client id.
    await client(connectSite(url, 'village-7'));
    await client(connectSite(url, 'village-7', { clientId: 'edge-village-7:tool' }));
    await client(connectClient(url, { ...GATEWAY_USER, clientId: '@gateway-ingest' }));
  });

  it('lets sites in only once opened, the gateway at once', async () => {
    const b = await broker({ open: false });
    expect(await refusal(connectSite(b.broker.url, 'village-7'))).toBe(3);
    await client(connectClient(b.broker.url, { ...GATEWAY_USER, clientId: '@gateway-ingest' }));
    b.broker.open();
    await client(connectSite(b.broker.url, 'village-7'));
  });
});

describe('authorisation by topic', () => {
  it('refuses a publish under another site’s prefix or to its own config, and delivers nothing of it', async () => {
    const b = await broker();
    const url = b.broker.url;
    const gw = await client(connectClient(url, { ...GATEWAY_USER, clientId: '@gateway-ingest' }));
    const got: string[] = [];
    gw.on('message', (t, payload) => got.push(`${t} ${payload.toString()}`));
    await gw.subscribeAsync('sharpeyes/v1/sites/#', { qos: 1 });

    for (const target of [
      topic.events('checkpoint-2'),
      topic.config('village-7'),
      'sharpeyes/v1/sites/village-7/other',
      '$SYS/x',
    ]) {
      const v7 = await client(connectSite(url, 'village-7'));
      const closed = new Promise<void>((resolve) => {
        v7.once('close', () => {
          resolve();
        });
      });
      // No PUBACK comes: MQTT 3.1.1 has no negative acknowledgement, so Aedes disconnects.
      v7.publish(target, 'forged', { qos: 1 }, () => undefined);
      await closed;
    }
    // A legitimate publish after the forgeries is delivered, and it is the only one.
    const c2 = await client(connectSite(url, 'checkpoint-2'));
    await c2.publishAsync(topic.events('checkpoint-2'), 'genuine', { qos: 1 });
    await waitFor(() => (got.length > 0 ? true : undefined), { what: 'the genuine message' });
    expect(got).toEqual([`${topic.events('checkpoint-2')} genuine`]);
    expect(await counter(b, 'sharpeyes_gateway_broker_denied_total', { action: 'publish' })).toBe(4);
  });

  it('lets a site subscribe only to its own config, exactly', async () => {
    const b = await broker();
    const url = b.broker.url;
    const gw = await client(connectClient(url, { ...GATEWAY_USER, clientId: '@gateway-config' }));
    for (const site of ['village-7', 'checkpoint-2']) {
      const cfg = encodePayload('config', SiteConfig.fromPartial({ siteId: site, revision: 1 }));
      await gw.publishAsync(topic.config(site), cfg, { qos: 1, retain: true });
    }
    const v7 = await client(connectSite(url, 'village-7'));
    const got: string[] = [];
    v7.on('message', (t) => got.push(t));
    // mqtt.js rejects a subscription the broker refused (SUBACK 0x80).
    for (const filter of [
      topic.config('checkpoint-2'),
      'sharpeyes/v1/sites/+/config',
      '#',
      topic.events('village-7'),
    ]) {
      await expect(v7.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }
    expect(await counter(b, 'sharpeyes_gateway_broker_denied_total', { action: 'subscribe' })).toBe(4);
    const granted = await v7.subscribeAsync(topic.config('village-7'), { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    await waitFor(() => (got.length > 0 ? true : undefined), { what: 'own retained config' });
    // Another site's config published after the subscription does not reach it either.
    await gw.publishAsync(topic.config('checkpoint-2'), 'x', { qos: 1 });
    await gw.publishAsync(topic.config('village-7'), 'y', { qos: 1 });
    await waitFor(() => (got.length > 1 ? true : undefined), { what: 'own config update' });
    expect(got).toEqual([topic.config('village-7'), topic.config('village-7')]);
  });
});

describe('acknowledgement after persistence', () => {
  it('holds a publisher’s PUBACK until the message is in the persistent subscriber’s queue', async () => {
    let release: (() => void) | undefined;
    let blocked = false;
    const b = await broker({
      instrumentPersistence(p) {
        const target = p as { outgoingEnqueueCombi: (...args: unknown[]) => unknown };
        const real = target.outgoingEnqueueCombi.bind(target);
        target.outgoingEnqueueCombi = (...args: unknown[]) => {
          if (!blocked) return real(...args);
          return new Promise<void>((resolve) => {
            release = resolve;
          }).then(() => real(...args));
        };
      },
    });
    const url = b.broker.url;
    // A persistent gateway session subscribed to events, then offline: messages queue for it.
    const gw = await client(
      connectClient(url, { ...GATEWAY_USER, clientId: '@gateway-ingest', clean: false }),
    );
    await gw.subscribeAsync(topic.events('village-7'), { qos: 1 });
    await gw.endAsync();

    const v7 = await client(connectSite(url, 'village-7'));
    blocked = true;
    let acked = false;
    const publishing = v7.publishAsync(topic.events('village-7'), 'e1', { qos: 1 }).then(() => {
      acked = true;
    });
    await waitFor(() => release, { what: 'the enqueue to start' });
    // Give a PUBACK every chance to slip out while the queue write is pending.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(acked).toBe(false);
    blocked = false;
    release?.();
    await publishing;
    expect(acked).toBe(true);

    // And the message is really there for the session when it comes back. Queued messages
    // arrive right after the CONNACK: listen before connecting.
    const back = mqtt.connect(url, {
      ...GATEWAY_USER,
      clientId: '@gateway-ingest',
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    cleanups.push(() => back.endAsync(true));
    const got = await new Promise<string>((resolve) => {
      back.once('message', (_t, p) => {
        resolve(p.toString());
      });
    });
    expect(got).toBe('e1');
  });
});

describe('delivery', () => {
  it('delivers every message of a concurrent QoS1 burst to a persistent subscriber (aedes #955)', async () => {
    const b = await broker();
    const url = b.broker.url;
    const gw = await client(
      connectClient(url, { ...GATEWAY_USER, clientId: '@gateway-ingest', clean: false }),
    );
    const got = new Set<string>();
    gw.on('message', (_t, payload) => got.add(payload.toString()));
    await gw.subscribeAsync('sharpeyes/v1/sites/+/events', { qos: 1 });
    const publishers = await Promise.all(
      ['village-7', 'checkpoint-2'].map((s) => client(connectSite(url, s))),
    );
    const sent: string[] = [];
    await Promise.all(
      publishers.flatMap((p, k) =>
        Array.from({ length: 1000 }, (_, i) => {
          const site = k === 0 ? 'village-7' : 'checkpoint-2';
          sent.push(`${site}-${i}`);
          return p.publishAsync(topic.events(site), `${site}-${i}`, { qos: 1 });
        }),
      ),
    );
    await waitFor(() => (got.size === sent.length ? true : undefined), {
      what: `${sent.length} messages`,
      timeoutMs: 30_000,
    });
    expect([...got].sort()).toEqual(sent.sort());
  });
});

describe('TLS', () => {
  it('serves sites over TLS with the configured certificate, and refuses an unverifiable one', async () => {
    const dir = makeTempDir('gateway-tls');
    cleanups.push(() => {
      dir.remove();
    });
    const key = join(dir.path, 'key.pem');
    const cert = join(dir.path, 'cert.pem');
    // A self-signed certificate for 127.0.0.1 (openssl ships with Debian).
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const b = await broker({ tls: { host: '127.0.0.1', port: 0, keyFile: key, certFile: cert } });
    const url = b.broker.tlsUrl;
    if (url === undefined) throw new Error('no TLS listener');
    expect(url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const c = await client(
      connectSite(url, 'village-7', { ca: readFileSync(cert), rejectUnauthorized: true }),
    );
    await c.publishAsync(topic.events('village-7'), 'over tls', { qos: 1 });
    // Without the CA the client cannot verify the broker and does not connect.
    await expect(
      connectSite(url, 'village-7', { rejectUnauthorized: true, connectTimeout: 5000 }),
    ).rejects.toThrow();
    // Wrong credentials over TLS are refused like on the plain listener.
    expect(await refusal(connectSite(url, 'village-7', { ca: readFileSync(cert), password: 'wrong' }))).toBe(
      4,
    );
  });
});
