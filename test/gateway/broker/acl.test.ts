/** Authorisation rules by principal and topic (pure, table-driven). */
import { describe, expect, it } from 'vitest';
import {
  mayPublish,
  mayPublishOrphanWill,
  mayReceive,
  maySubscribe,
  mayUseClientId,
} from '../../../gateway/src/broker/acl.ts';
import type { Principal } from '../../../gateway/src/broker/types.ts';

const site: Principal = { kind: 'site', siteId: 'village-7' };
const gateway: Principal = { kind: 'gateway', name: '@gateway' };
const R = 'sharpeyes/v1/sites';

describe('mayPublish', () => {
  it.each([
    [site, `${R}/village-7/events`, true],
    [site, `${R}/village-7/agent`, true],
    [site, `${R}/village-7/discovered`, true],
    [site, `${R}/village-7/cameras/cam-1/status`, true],
    [site, `${R}/village-7/config`, false],
    [site, `${R}/village-77/events`, false],
    [site, `${R}/checkpoint-2/events`, false],
    [site, `${R}/village-7/other`, false],
    [site, `${R}/village-7/cameras/cam/1/status`, false],
    [site, `${R}/village-7/events/x`, false],
    [site, '$SYS/broker/x', false],
    [site, 'anything', false],
    [gateway, `${R}/village-7/config`, true],
    [gateway, `${R}/village-7/events`, true],
    [gateway, '$SYS/x', false],
    [gateway, `${R}/+/config`, false],
    // Snapshots: a site answers under its own prefix only, and never asks.
    [site, `${R}/village-7/snapshot/res/gw-1`, true],
    [site, `${R}/checkpoint-2/snapshot/res/gw-1`, false],
    [site, `${R}/village-7/snapshot/req`, false],
    [site, `${R}/checkpoint-2/snapshot/req`, false],
    [site, `${R}/village-7/snapshot/res`, false],
    [site, `${R}/village-7/snapshot/res/gw-1/x`, false],
    [site, `${R}/village-7/snapshot/res/+`, false],
    [gateway, `${R}/village-7/snapshot/req`, true],
  ] as const)('%o publishes %s: %s', (p, topic, want) => {
    expect(mayPublish(p, topic)).toBe(want);
  });
});

describe('maySubscribe and mayReceive', () => {
  it.each([
    [site, `${R}/village-7/config`, true],
    [site, `${R}/checkpoint-2/config`, false],
    [site, `${R}/+/config`, false],
    [site, `${R}/village-7/#`, false],
    [site, '#', false],
    [site, `${R}/village-7/events`, false],
    [gateway, `${R}/+/events`, true],
    [gateway, `${R}/#`, true],
    [gateway, '#', false],
    [gateway, '$SYS/#', false],
    [site, `${R}/village-7/snapshot/req`, true],
    [site, `${R}/checkpoint-2/snapshot/req`, false],
    [site, `${R}/+/snapshot/req`, false],
    [site, `${R}/village-7/snapshot/#`, false],
    [site, `${R}/village-7/snapshot/res/+`, false],
    [site, `${R}/+/snapshot/res/gw-1`, false],
    [gateway, `${R}/+/snapshot/res/gw-1`, true],
  ] as const)('%o subscribes %s: %s', (p, filter, want) => {
    expect(maySubscribe(p, filter)).toBe(want);
  });

  it('delivers to a site only its own config', () => {
    expect(mayReceive(site, `${R}/village-7/config`)).toBe(true);
    expect(mayReceive(site, `${R}/checkpoint-2/config`)).toBe(false);
    expect(mayReceive(site, `${R}/village-7/events`)).toBe(false);
    expect(mayReceive(gateway, `${R}/village-7/events`)).toBe(true);
  });

  it('delivers to a site its own snapshot requests, never another site’s nor any answer', () => {
    expect(mayReceive(site, `${R}/village-7/snapshot/req`)).toBe(true);
    expect(mayReceive(site, `${R}/checkpoint-2/snapshot/req`)).toBe(false);
    expect(mayReceive(site, `${R}/village-7/snapshot/res/gw-1`)).toBe(false);
    expect(mayReceive(site, `${R}/checkpoint-2/snapshot/res/gw-1`)).toBe(false);
    expect(mayReceive(gateway, `${R}/village-7/snapshot/res/gw-1`)).toBe(true);
  });
});

describe('client ids and orphan wills', () => {
  it.each([
    [site, 'edge-village-7', true],
    [site, 'edge-village-7:cli', true],
    [site, 'village-7', false],
    [site, 'edge-village-77', false],
    [site, 'edge-village', false],
    [site, '@gateway', false],
    [site, '', false],
    [gateway, '@sharpeyes-ingest', true],
    [gateway, '@', false],
    [gateway, 'village-7', false],
  ] as const)('%o as %s: %s', (p, id, want) => {
    expect(mayUseClientId(p, id)).toBe(want);
  });

  it('publishes an orphan will only on a site topic other than config', () => {
    expect(mayPublishOrphanWill(`${R}/village-7/agent`)).toBe(true);
    expect(mayPublishOrphanWill(`${R}/village-7/config`)).toBe(false);
    expect(mayPublishOrphanWill('$SYS/x')).toBe(false);
    expect(mayPublishOrphanWill(`${R}/village-7/snapshot/req`)).toBe(false);
    expect(mayPublishOrphanWill(`${R}/village-7/snapshot/res/gw-1`)).toBe(false);
  });
});
