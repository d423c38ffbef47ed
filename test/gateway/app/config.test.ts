/** The gateway configuration: defaults, every problem listed, cross-field rules, secrets. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig, resolveSecret } from '../../../gateway/src/config/load.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { makeTempDir } from '../../bench/lifetime.ts';

const dir = makeTempDir('gateway-config');
afterAll(() => {
  dir.remove();
});

function problems(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (err) {
    if (isGatewayError(err, 'GATEWAY_ERR_CONFIG')) return err.message;
    throw err;
  }
  return '';
}

describe('gateway config', () => {
  it('fills defaults, with the evidence under data_dir', () => {
    const c = parseConfig({ data_dir: '/srv/gw' });
    expect(c.broker).toMatchObject({
      mode: 'embedded',
      host: '127.0.0.1',
      port: 1883,
      username: '@sharpeyes-ingest',
    });
    expect(c.influx.mode).toBe('external');
    expect(c.ingest).toMatchObject({
      batch_max_events: 5000,
      batch_max_delay_ms: 50,
      max_in_flight_batches: 4,
    });
    expect(c.http).toEqual({ host: '127.0.0.1', port: 9480 });
    expect(c.evidence.dir).toBe('/srv/gw/evidence');
    expect(c.index).toMatchObject({ url: 'http://127.0.0.1:8086', database: 'sharpeyes' });
  });

  it('lists every problem, with its path', () => {
    const text = problems({
      data_dir: '',
      surprise: true,
      broker: { port: 70000, username: 'village-7' },
      ingest: { batch_max_events: 0 },
    });
    expect(text).toMatch(/\/data_dir/);
    expect(text).toMatch(/\/broker\/port/);
    expect(text).toMatch(/\/broker\/username/);
    expect(text).toMatch(/\/ingest\/batch_max_events/);
    expect(text).toMatch(/surprise|additional/i);
  });

  it('needs url and password with an external broker, and no embedded-only TLS', () => {
    const text = problems({ broker: { mode: 'external', tls: { key_file: 'k', cert_file: 'c' } } });
    expect(text).toMatch(/\/broker\/url is required/);
    expect(text).toMatch(/\/broker\/password is required/);
    expect(text).toMatch(/\/broker\/tls applies to the embedded broker only/);
    expect(
      problems({ broker: { mode: 'external', url: 'mqtts://10.0.0.1:8883', password: { env: 'GW_PW' } } }),
    ).toBe('');
  });

  it('reads files, and says which file is wrong', () => {
    const good = join(dir.path, 'good.json');
    writeFileSync(good, JSON.stringify({ http: { port: 0 } }));
    expect(loadConfigFile(good).http.port).toBe(0);
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(() => loadConfigFile(bad)).toThrow(/bad\.json is not valid JSON/);
    expect(() => loadConfigFile(join(dir.path, 'missing.json'))).toThrow(
      expect.objectContaining({ code: 'GATEWAY_ERR_CONFIG_READ' }) as Error,
    );
  });

  it('resolves secrets from a value, the environment or a file, never echoing them', () => {
    const file = join(dir.path, 'pw');
    writeFileSync(file, 's3cret\n');
    expect(resolveSecret({ value: 'v' }, '/x')).toBe('v');
    expect(resolveSecret({ env: 'GW_TEST_PW' }, '/x', { GW_TEST_PW: 'e' })).toBe('e');
    expect(resolveSecret({ file }, '/x')).toBe('s3cret');
    expect(() => resolveSecret({ env: 'GW_TEST_PW' }, '/broker/password', {})).toThrow(
      /\/broker\/password environment variable GW_TEST_PW is not set/,
    );
  });
});
