/** The `mqtt` and `spool` sections of the edge config: defaults, bounds, cross-field rules, secrets. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../edge-agent/src/config/load.ts';
import type { MqttSection } from '../../../edge-agent/src/config/schema.ts';
import { isEdgeError } from '../../../edge-agent/src/errors.ts';
import { readMqttSecrets } from '../../../edge-agent/src/publish/index.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';

function configError(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (err) {
    expect(isEdgeError(err, 'EDGE_ERR_CONFIG')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

const URL = 'mqtt://127.0.0.1:1883';

describe('mqtt and spool config', () => {
  it('fills defaults; without mqtt there is no transport section', () => {
    const plain = parseConfig({ site_id: 'village-7' });
    expect(plain.mqtt).toBeUndefined();
    expect(plain.spool).toEqual({
      max_bytes: 1024 ** 3,
      segment_bytes: 8 * 1024 ** 2,
      batch_max_events: 500,
      batch_max_bytes: 1024 ** 2,
      inflight_max: 100,
      inflight_max_bytes: 4 * 1024 ** 2,
      ack_flush_ms: 1000,
    });
    const c = parseConfig({ site_id: 'village-7', mqtt: { url: URL } });
    expect(c.mqtt).toEqual({
      url: URL,
      keepalive_s: 30,
      connect_timeout_ms: 10_000,
      reconnect_initial_ms: 1000,
      reconnect_max_ms: 30_000,
      status_interval_ms: 30_000,
    });
  });

  it('accepts TLS and credentials', () => {
    const c = parseConfig({
      site_id: 'village-7',
      mqtt: {
        url: 'mqtts://gateway.example:8883',
        username: 'v7',
        password_file: '/etc/sharpeyes/mqtt.pw',
        ca_file: '/etc/sharpeyes/ca.pem',
        cert_file: '/etc/sharpeyes/v7.pem',
        key_file: '/etc/sharpeyes/v7.key',
      },
    });
    expect(c.mqtt?.username).toBe('v7');
  });

  it.each([
    ['a URL that is not MQTT', { mqtt: { url: 'http://127.0.0.1:1883' } }, /\/mqtt\/url/],
    ['credentials in the URL', { mqtt: { url: 'mqtt://u:p@127.0.0.1:1883' } }, /\/mqtt\/url/],
    ['an unknown mqtt field', { mqtt: { url: URL, qos: 2 } }, /\/mqtt/],
    ['keepalive too short', { mqtt: { url: URL, keepalive_s: 1 } }, /\/mqtt\/keepalive_s/],
    ['a lower-case env name', { mqtt: { url: URL, password_env: 'pw' } }, /\/mqtt\/password_env/],
    [
      'both password sources',
      { mqtt: { url: URL, password_env: 'PW', password_file: '/pw' } },
      /password_file or password_env/,
    ],
    [
      'a certificate without key',
      { mqtt: { url: 'mqtts://h:8883', cert_file: '/c' } },
      /cert_file and key_file/,
    ],
    ['TLS files on mqtt://', { mqtt: { url: URL, ca_file: '/ca' } }, /must be mqtts/],
    [
      'reconnect delays inverted',
      { mqtt: { url: URL, reconnect_initial_ms: 5000, reconnect_max_ms: 1000 } },
      /reconnect_initial_ms/,
    ],
    ['a spool under 1 MiB', { spool: { max_bytes: 1000 } }, /\/spool\/max_bytes/],
    [
      'segments over a quarter of the spool',
      { spool: { max_bytes: 4 * 1024 ** 2, segment_bytes: 2 * 1024 ** 2 } },
      /segment_bytes/,
    ],
    ['an in-flight window of 0', { spool: { inflight_max: 0 } }, /\/spool\/inflight_max/],
    [
      'a site id that cannot be a topic level',
      { site_id: 'village:7', mqtt: { url: URL } },
      /\/site_id must be/,
    ],
    [
      'a camera id that cannot be a topic level',
      { mqtt: { url: URL }, cameras: [{ camera_id: 'cam:1', xaddr: 'http://h/onvif' }] },
      /\/cameras\/0\/camera_id must be/,
    ],
  ])('refuses %s', (_name, over, expected) => {
    expect(configError({ site_id: 'village-7', ...over })).toMatch(expected);
  });

  it('a site id with ":" is fine without MQTT (the file sink has no topics)', () => {
    expect(parseConfig({ site_id: 'village:7' }).site_id).toBe('village:7');
  });

  describe('secrets', () => {
    let tmp: TempDir | undefined;
    afterEach(() => {
      tmp?.remove();
      tmp = undefined;
    });
    const section = (over: Partial<MqttSection>): MqttSection => ({
      url: URL,
      keepalive_s: 30,
      connect_timeout_ms: 10_000,
      reconnect_initial_ms: 1000,
      reconnect_max_ms: 30_000,
      status_interval_ms: 30_000,
      ...over,
    });

    it('reads the password from a file (trailing newline dropped) or the environment', async () => {
      tmp = makeTempDir('mqtt-secrets');
      const file = join(tmp.path, 'pw');
      writeFileSync(file, 's3cret\n');
      expect(await readMqttSecrets(section({ password_file: file }))).toEqual({ password: 's3cret' });
      expect(await readMqttSecrets(section({ password_env: 'PW' }), { PW: 'from-env' })).toEqual({
        password: 'from-env',
      });
      expect(await readMqttSecrets(section({}))).toEqual({});
    });

    it('names what is missing, never the secret', async () => {
      const err: unknown = await readMqttSecrets(section({ password_env: 'PW' }), {}).catch(
        (e: unknown) => e,
      );
      expect(isEdgeError(err, 'EDGE_ERR_MQTT_SECRETS')).toBe(true);
      expect((err as Error).message).toContain('PW');
      const err2: unknown = await readMqttSecrets(section({ ca_file: '/nonexistent/ca.pem' })).catch(
        (e: unknown) => e,
      );
      expect(isEdgeError(err2, 'EDGE_ERR_MQTT_SECRETS')).toBe(true);
      expect((err2 as Error).message).toContain('/nonexistent/ca.pem');
    });
  });
});
