/**
 * Scale-out configuration and authorisation (decision 15), pure: the role checks and overrides,
 * the per-connection MQTT users, and the ACL of the gateway-internal topics (embedded rules and
 * the generated Mosquitto ACL).
 */
import { describe, expect, it } from 'vitest';
import { filter, topic } from '../../proto/topics.ts';
import { mayPublish, maySubscribe } from '../../gateway/src/broker/acl.ts';
import { mosquittoAclFile } from '../../gateway/src/broker/mosquitto-files.ts';
import type { Principal } from '../../gateway/src/broker/types.ts';
import { parseConfig } from '../../gateway/src/config/load.ts';
import { isGatewayError } from '../../gateway/src/errors.ts';
import { scaleUsers } from '../../gateway/src/scale/config.ts';
import { withRole } from '../../gateway/src/scale/roles.ts';
import { withoutEvidenceBytes } from '../../gateway/src/scale/ingest-worker.ts';
import { Event } from '../../proto/gen/sharpeyes/v1/event.ts';

const external = {
  broker: { mode: 'external', url: 'mqtt://127.0.0.1:1883', password: { value: 'x' } },
  influx: { mode: 'external' },
};

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isGatewayError(err, 'GATEWAY_ERR_CONFIG')) return err.message;
    throw err;
  }
  throw new Error('no configuration error');
}

describe('scale-out roles', () => {
  it('defaults to role all, unchanged', () => {
    const c = parseConfig({});
    expect(c.role).toBe('all');
    expect(c.scale).toEqual({
      worker_id: '1',
      ingest_workers: ['1', '2'],
      share_group: 'sharpeyes-ingest',
      session_expiry_s: 7 * 86_400,
    });
  });

  it.each([
    [
      'ingest',
      {},
      /broker\/mode must be external with role ingest: the embedded broker \(Aedes\) has no MQTT 5 shared/,
    ],
    ['api', {}, /broker\/mode must be external with role api/],
    [
      'ingest',
      { broker: external.broker, influx: { mode: 'child' } },
      /influx\/mode must be external with role ingest/,
    ],
  ])('refuses role %s without what it needs', (role, extra, message) => {
    expect(configError(() => parseConfig({ role, ...extra }))).toMatch(message);
  });

  it('accepts the roles on an external broker', () => {
    expect(parseConfig({ role: 'ingest', ...external }).role).toBe('ingest');
    expect(parseConfig({ role: 'api', broker: external.broker }).role).toBe('api');
  });

  it('applies --role and --worker-id, checking them as the file is checked', () => {
    const c = parseConfig(external);
    const w = withRole(c, 'ingest', 'w-7');
    expect(w.role).toBe('ingest');
    expect(w.scale.worker_id).toBe('w-7');
    expect(c.role).toBe('all');
    expect(withRole(c)).toBe(c);
    expect(configError(() => withRole(c, 'leader'))).toMatch(/--role must be all, ingest or api/);
    expect(configError(() => withRole(c, undefined, 'a/b'))).toMatch(/--worker-id must be/);
    expect(configError(() => withRole(parseConfig({}), 'ingest'))).toMatch(/broker\/mode must be external/);
  });

  it('gives every connection its own MQTT user', () => {
    const users = scaleUsers.all('@sharpeyes', ['1', '2']);
    expect(new Set(users).size).toBe(users.length);
    expect(users).toContain('@sharpeyes-ingest-1');
    expect(users).toContain('@sharpeyes-ingest-2-registry');
    expect(users).toContain('@sharpeyes-stored');
    expect(users).not.toContain('@sharpeyes');
  });

  it('strips evidence bytes from the stored announcement, keeping the hashes', () => {
    const e = Event.fromPartial({
      eventId: 'e1',
      evidence: {
        jpeg: Buffer.from([1, 2]),
        sha256: 'ab',
        contextJpeg: Buffer.from([3]),
        contextSha256: 'cd',
      },
    });
    const [out] = withoutEvidenceBytes([e]);
    expect(out?.evidence).toMatchObject({ sha256: 'ab', contextSha256: 'cd' });
    expect(out?.evidence?.jpeg.length).toBe(0);
    expect(out?.evidence?.contextJpeg.length).toBe(0);
    expect(e.evidence?.jpeg.length).toBe(2);
  });
});

describe('gateway-internal topics are the gateway’s alone', () => {
  const gateway: Principal = { kind: 'gateway', name: '@sharpeyes-ingest-1' };
  const site: Principal = { kind: 'site', siteId: 'village-7' };

  it.each([
    [gateway, true],
    [site, false],
  ])('publish and subscribe the stored topic: %j → %s', (p, allowed) => {
    expect(mayPublish(p, topic.stored())).toBe(allowed);
    expect(maySubscribe(p, topic.stored())).toBe(allowed);
    expect(maySubscribe(p, filter.gatewayInternal)).toBe(allowed);
  });

  it('grants the gateway users, and no site, the internal topics in the Mosquitto ACL', () => {
    const acl = mosquittoAclFile({
      sites: [{ siteId: 'village-7', passwordHash: '$7$x', enabled: true }],
      gatewayUsers: [{ username: '@sharpeyes-ingest-1', password: 'x' }],
    });
    expect(acl).toContain(
      'user @sharpeyes-ingest-1\ntopic readwrite sharpeyes/v1/sites/#\ntopic readwrite sharpeyes/v1/gateway/#\n',
    );
    const siteBlock = acl.slice(acl.indexOf('user village-7'));
    expect(siteBlock).not.toContain('sharpeyes/v1/gateway');
  });
});
