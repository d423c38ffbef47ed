/**
 * The registry against a real SQLite file: sites and their MQTT credentials, cameras and their
 * lifecycle, site config revisions and their notifications, edge reports feeding the collision
 * and quality reports, every change audited, all of it across a reopen.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AgentState,
  AgentStatus,
  CameraState,
  CameraStatus,
} from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { DiscoveredDevice } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { verifyAuditChain } from '../../../gateway/src/audit/verify.ts';
import { isGatewayError, type GatewayErrorCode } from '../../../gateway/src/errors.ts';
import type { NewCamera } from '../../../gateway/src/registry/cameras.ts';
import { Registry } from '../../../gateway/src/registry/registry.ts';
import type { SiteConfigChange } from '../../../gateway/src/registry/site-config.ts';
import { openTestDb, type TestDb } from './helpers.ts';

function throwsWith(fn: () => unknown, code: GatewayErrorCode): Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isGatewayError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  return caught as Error;
}

const H = 3_600_000;

function camInput(id: string, over: Partial<NewCamera> = {}): NewCamera {
  return {
    cameraId: id,
    siteId: 'v7',
    code: `CODE-${id}`,
    name: `camera ${id}`,
    place: { district: 'A', street: 'S1', community: 'V7' },
    category: 'village_entrance',
    identity: { endpointReference: `urn:uuid:${id}`, manufacturer: 'M', model: 'X' },
    ...over,
  };
}

describe('registry (SQLite)', () => {
  let t: TestDb;
  let reg: Registry;
  let pushed: SiteConfigChange[];

  function open(): void {
    reg = new Registry(t.db, t.audit, { now: t.clock.now, offlineAfterMs: 15 * 60_000 });
    pushed = [];
    reg.siteConfigChanged.on((c) => pushed.push(c));
  }

  beforeEach(async () => {
    t = openTestDb('registry');
    open();
    await reg.sites.create('user:inst', {
      siteId: 'v7',
      name: 'Village 7 NVR',
      place: { district: 'A', street: 'S1' },
    });
  });
  afterEach(() => {
    t.close();
  });

  describe('sites', () => {
    it('create shows the MQTT password once; the broker store verifies it; rotation replaces it', async () => {
      const { site, mqttPassword } = await reg.sites.create('user:inst', {
        siteId: 'v8',
        name: 'Village 8',
        place: { district: 'A', street: 'S2' },
      });
      expect(site).toMatchObject({
        siteId: 'v8',
        status: 'active',
        agent: 'unknown',
        place: { district: 'A', street: 'S2', community: '', grid: '' },
      });
      expect(mqttPassword.length).toBeGreaterThanOrEqual(32);
      const stored = JSON.stringify(t.db.all('SELECT * FROM sites'));
      expect(stored).not.toContain(mqttPassword);
      expect(await reg.sites.verify('v8', Buffer.from(mqttPassword))).toEqual({ kind: 'site', siteId: 'v8' });
      expect(await reg.sites.verify('v8', Buffer.from(mqttPassword))).toEqual({ kind: 'site', siteId: 'v8' });
      expect(await reg.verifySiteCredentials('v8', `${mqttPassword}x`)).toBeUndefined();
      expect(await reg.verifySiteCredentials('v7', mqttPassword)).toBeUndefined();
      expect(await reg.verifySiteCredentials('nope', mqttPassword)).toBeUndefined();
      expect(await reg.verifySiteCredentials('a/b', mqttPassword)).toBeUndefined();

      const entries = reg.sites.list();
      expect(entries.map((e) => [e.siteId, e.enabled])).toEqual([
        ['v7', true],
        ['v8', true],
      ]);
      expect(entries[1]?.passwordHash).toMatch(/^\$scrypt\$/);
      expect(entries[1]?.mosquittoPasswordHash).toMatch(/^\$7\$/);

      const changed: string[] = [];
      reg.sites.credentialsChanged.on((c) => changed.push(c.siteId));
      const rotated = await reg.sites.rotateCredentials('user:inst', 'v8');
      expect(await reg.verifySiteCredentials('v8', mqttPassword)).toBeUndefined();
      expect(await reg.verifySiteCredentials('v8', rotated.mqttPassword)).toEqual({ siteId: 'v8' });
      reg.sites.update('user:inst', 'v8', { status: 'disabled' });
      expect(await reg.verifySiteCredentials('v8', rotated.mqttPassword)).toBeUndefined();
      expect(changed).toEqual(['v8', 'v8']);
      expect(t.audit.list({ target: 'site:v8' }).map((r) => r.action)).toEqual([
        'site.update',
        'site.credentials_rotate',
        'site.create',
      ]);
      expect(JSON.stringify(t.audit.list({}))).not.toContain(rotated.mqttPassword);
    });

    it('refuses bad ids, duplicates and places without a district', async () => {
      let caught: unknown;
      try {
        await reg.sites.create('u', { siteId: 'v7', name: 'dup', place: { district: 'A' } });
      } catch (err) {
        caught = err;
      }
      expect(isGatewayError(caught, 'GATEWAY_ERR_CONFLICT')).toBe(true);
      for (const bad of [
        { siteId: 'a/b', name: 'x', place: { district: 'A' } },
        { siteId: 'ok', name: '', place: { district: 'A' } },
        { siteId: 'ok', name: 'x', place: {} },
      ]) {
        caught = undefined;
        try {
          await reg.sites.create('u', bad);
        } catch (err) {
          caught = err;
        }
        expect(isGatewayError(caught, 'GATEWAY_ERR_INVALID_INPUT')).toBe(true);
      }
    });

    it('records agent status; the last will keeps the config revision', () => {
      reg.recordAgentStatus(
        AgentStatus.fromPartial({
          siteId: 'v7',
          state: AgentState.AGENT_STATE_ONLINE,
          configRevision: 3,
          updatedMs: t.clock.t,
        }),
      );
      expect(reg.sites.mustGet('v7')).toMatchObject({
        agent: 'online',
        agentConfigRevision: 3,
        agentSeenMs: t.clock.t,
      });
      t.clock.advance(1000);
      reg.recordAgentStatus(AgentStatus.fromPartial({ siteId: 'v7', state: AgentState.AGENT_STATE_OFFLINE }));
      expect(reg.sites.mustGet('v7')).toMatchObject({
        agent: 'offline',
        agentConfigRevision: 3,
        agentSeenMs: t.clock.t,
      });
      reg.recordAgentStatus(
        AgentStatus.fromPartial({ siteId: 'unknown', state: AgentState.AGENT_STATE_ONLINE }),
      );
    });
  });

  describe('cameras and site config', () => {
    it('registration, activation, changes and retirement push new revisions (after commit), no-ops do not', () => {
      reg.cameras.create(
        'user:inst',
        camInput('c1', { credentials: { username: 'admin', password: 'cam-pw' } }),
      );
      expect(
        pushed.map((p) => [p.config.revision, p.config.cameras.map((c) => [c.cameraId, c.enabled])]),
      ).toEqual([[1, [['c1', false]]]]);
      expect(pushed[0]?.config.cameras[0]?.credentials).toEqual({ username: 'admin', password: 'cam-pw' });

      reg.cameras.transition('user:inst', 'c1', 'active', 'installed and aimed');
      expect(pushed.at(-1)?.config).toMatchObject({
        revision: 2,
        cameras: [{ cameraId: 'c1', enabled: true }],
      });

      reg.cameras.update('user:inst', 'c1', { name: 'renamed' });
      expect(pushed).toHaveLength(2);
      reg.cameras.update('user:inst', 'c1', { analysis: { fps: 4 } });
      expect(pushed.at(-1)?.config.revision).toBe(3);
      expect(pushed.at(-1)?.config.cameras[0]?.analysis?.fps).toBe(4);
      expect(reg.siteConfig('v7').revision).toBe(3);

      reg.cameras.transition('user:inst', 'c1', 'retired');
      expect(pushed.at(-1)?.config).toMatchObject({ revision: 4, cameras: [] });
      throwsWith(() => reg.cameras.transition('user:inst', 'c1', 'active'), 'GATEWAY_ERR_LIFECYCLE');
      throwsWith(() => reg.cameras.update('user:inst', 'c1', { name: 'x' }), 'GATEWAY_ERR_LIFECYCLE');

      // A failed change pushes nothing and audits nothing.
      const auditBefore = t.audit.head().seq;
      throwsWith(
        () => reg.cameras.create('user:inst', camInput('c2', { siteId: 'nope' })),
        'GATEWAY_ERR_INVALID_INPUT',
      );
      expect(pushed).toHaveLength(4);
      expect(t.audit.head().seq).toBe(auditBefore);

      const actions = t.audit
        .list({ target: 'camera:c1' })
        .map((r) => r.action)
        .reverse();
      expect(actions).toEqual([
        'camera.create',
        'camera.lifecycle',
        'camera.update',
        'camera.update',
        'camera.lifecycle',
      ]);
      const created = t.audit.list({ action: 'camera.create' })[0];
      expect(created?.details.credentials).toBe('set');
      expect(JSON.stringify(t.audit.list({}))).not.toContain('cam-pw');
      expect(t.audit.list({ action: 'camera.update' })[1]?.details).toEqual({
        changes: { name: { from: 'camera c1', to: 'renamed' } },
      });
    });

    it('lists stay sorted by id when cameras are added after the list was loaded', () => {
      reg.cameras.create('u', camInput('c5'));
      expect(reg.cameras.list().map((c) => c.cameraId)).toEqual(['c5']);
      t.db.transaction(() => {
        reg.cameras.create('u', camInput('c9'));
        reg.cameras.create('u', camInput('c1'));
      });
      expect(reg.cameras.list().map((c) => c.cameraId)).toEqual(['c1', 'c5', 'c9']);
      // One transaction, one site: one new revision for both cameras.
      expect(pushed.map((p) => p.config.cameras.length)).toEqual([1, 3]);
      reg.cameras.update('u', 'c5', { name: 'renamed' });
      expect(reg.cameras.get('c5')?.name).toBe('renamed');
    });

    it('keeps codes and device identities unique among non-retired cameras', () => {
      reg.cameras.create('u', camInput('c1'));
      throwsWith(() => reg.cameras.create('u', camInput('c1', { code: 'other' })), 'GATEWAY_ERR_CONFLICT');
      throwsWith(() => reg.cameras.create('u', camInput('c2', { code: 'CODE-c1' })), 'GATEWAY_ERR_CONFLICT');
      const dupDevice = throwsWith(
        () => reg.cameras.create('u', camInput('c3', { identity: { endpointReference: 'urn:uuid:c1' } })),
        'GATEWAY_ERR_CONFLICT',
      );
      expect(dupDevice.message).toContain('already registered as camera c1');
      reg.cameras.transition('u', 'c1', 'retired');
      expect(
        reg.cameras.create('u', camInput('c3', { identity: { endpointReference: 'urn:uuid:c1' } })).cameraId,
      ).toBe('c3');
    });

    it('moving a camera to another site updates both sites’ configs', async () => {
      await reg.sites.create('u', { siteId: 'v8', name: 'V8', place: { district: 'A' } });
      reg.cameras.create('u', camInput('c1'));
      pushed.length = 0;
      reg.cameras.update('u', 'c1', { siteId: 'v8' });
      expect(pushed.map((p) => [p.siteId, p.config.cameras.length])).toEqual([
        ['v7', 0],
        ['v8', 1],
      ]);
    });

    it('temporary cameras start and stop with refreshSiteConfigs', () => {
      const start = t.clock.t + H;
      reg.cameras.create('u', camInput('tmp', { temporary: { startMs: start, endMs: start + 2 * H } }));
      reg.cameras.transition('u', 'tmp', 'active');
      // Active but outside its window: the same content as registered, so still revision 1.
      expect(reg.siteConfig('v7')).toMatchObject({ revision: 1, cameras: [{ enabled: false }] });
      expect(reg.nextConfigBoundary()).toBe(start);
      expect(reg.refreshSiteConfigs()).toEqual([]);
      t.clock.t = start;
      const on = reg.refreshSiteConfigs();
      expect(on.map((c) => [c.revision, c.cameras[0]?.enabled])).toEqual([[2, true]]);
      t.clock.t = start + 2 * H;
      expect(reg.refreshSiteConfigs().map((c) => c.cameras[0]?.enabled)).toEqual([false]);
      expect(reg.nextConfigBoundary()).toBeUndefined();
    });

    it('maintenance log, lists by scope, lookups', () => {
      reg.cameras.create('u', camInput('c1'));
      reg.cameras.create('u', camInput('c2', { place: { district: 'A', street: 'S2' } }));
      reg.cameras.create('u', camInput('c3', { place: { district: 'B' }, lifecycle: 'discovered' }));
      t.clock.advance(1000);
      reg.cameras.addMaintenance('user:inst', 'c1', { kind: 'cleaning', note: 'lens cleaned' });
      reg.cameras.addMaintenance('user:inst', 'c1', {
        kind: 'repair',
        note: 'new PoE switch',
        timeMs: t.clock.t - 500,
      });
      expect(reg.cameras.maintenance('c1').map((m) => m.kind)).toEqual(['cleaning', 'repair']);
      throwsWith(
        () => reg.cameras.addMaintenance('u', 'c1', { kind: 'vandalism' as never, note: 'x' }),
        'GATEWAY_ERR_INVALID_INPUT',
      );
      throwsWith(
        () => reg.cameras.addMaintenance('u', 'ghost', { kind: 'repair', note: 'x' }),
        'GATEWAY_ERR_NOT_FOUND',
      );
      expect(reg.cameraIdsInScope({ district: 'A' })).toEqual(['c1', 'c2']);
      expect(reg.cameraIdsInScope({ district: 'A', street: 'S1' })).toEqual(['c1']);
      expect(reg.cameras.list({ lifecycles: ['discovered'] }).map((c) => c.cameraId)).toEqual(['c3']);
      expect(reg.placeOf('c3')).toEqual({ district: 'B', street: '', community: '', grid: '' });
      expect(reg.placeOf('ghost')).toBeUndefined();
      expect(reg.cameras.getByCode('CODE-c2')?.cameraId).toBe('c2');
      expect(t.audit.list({ action: 'camera.maintenance' })).toHaveLength(2);
    });
  });

  describe('edge reports', () => {
    it('collision report from discovery and status, with address moves', () => {
      reg.cameras.create('u', camInput('c1'));
      reg.cameras.transition('u', 'c1', 'active');
      reg.cameras.create('u', camInput('c2'));
      reg.cameras.transition('u', 'c2', 'active');
      const report = (xaddr: string) => ({
        siteId: 'v7',
        updatedMs: t.clock.t,
        devices: [
          DiscoveredDevice.fromPartial({
            identity: { endpointReference: 'urn:uuid:c1', manufacturer: 'M' },
            xaddrs: [xaddr],
          }),
          DiscoveredDevice.fromPartial({
            identity: { endpointReference: 'urn:uuid:new' },
            xaddrs: ['http://192.0.2.50/'],
          }),
        ],
      });
      expect(reg.recordDiscovered(report('http://192.0.2.10/onvif/device_service'))).toBe(true);
      expect(reg.recordDiscovered({ siteId: 'unknown', devices: [], updatedMs: 0 })).toBe(false);
      reg.recordCameraStatus(
        CameraStatus.fromPartial({
          siteId: 'v7',
          cameraId: 'c1',
          state: CameraState.CAMERA_STATE_ONLINE,
          updatedMs: t.clock.t,
          lastFrameMs: t.clock.t,
        }),
      );
      let r = reg.collisionReport();
      expect(r.unregistered.map((u) => u.identity.endpointReference)).toEqual(['urn:uuid:new']);
      expect(r.missing.map((m) => m.cameraId)).toEqual(['c2']);
      expect(r.moved).toEqual([]);

      t.clock.advance(H);
      reg.recordDiscovered(report('http://192.0.2.11/onvif/device_service'));
      reg.recordCameraStatus(
        CameraStatus.fromPartial({
          siteId: 'v7',
          cameraId: 'c1',
          state: CameraState.CAMERA_STATE_OFFLINE,
          updatedMs: t.clock.t,
          lastFrameMs: t.clock.t - H,
        }),
      );
      t.clock.advance(20 * 60_000);
      r = reg.collisionReport();
      expect(r.moved.map((m) => [m.cameraId, m.fromXaddrs, m.toXaddrs])).toEqual([
        ['c1', ['http://192.0.2.10/onvif/device_service'], ['http://192.0.2.11/onvif/device_service']],
      ]);
      expect(r.offline.map((o) => [o.cameraId, o.state, o.offlineForMs])).toEqual([
        ['c1', 'offline', 20 * 60_000],
      ]);
      expect(reg.collisionReport({ scope: { district: 'B' } })).toMatchObject({
        unregistered: [],
        missing: [],
        offline: [],
        moved: [],
      });
    });

    it('online share over 24 h from status changes, persisted; agent offline counts as offline', () => {
      reg.cameras.create('u', camInput('c1'));
      reg.cameras.transition('u', 'c1', 'active');
      const st = (state: CameraState): void => {
        reg.recordCameraStatus(
          CameraStatus.fromPartial({
            siteId: 'v7',
            cameraId: 'c1',
            state,
            updatedMs: t.clock.t,
            lastFrameMs: t.clock.t,
          }),
        );
      };
      st(CameraState.CAMERA_STATE_ONLINE);
      for (let i = 0; i < 50; i++) {
        t.clock.advance(120_000);
        st(CameraState.CAMERA_STATE_ONLINE);
      }
      t.clock.advance(H * 6 - 50 * 120_000);
      reg.recordAgentStatus(
        AgentStatus.fromPartial({
          siteId: 'v7',
          state: AgentState.AGENT_STATE_OFFLINE,
          updatedMs: t.clock.t,
        }),
      );
      t.clock.advance(6 * H);
      st(CameraState.CAMERA_STATE_DEGRADED);
      t.clock.advance(12 * H);
      expect(reg.reports.flush()).toBe(1);
      expect(reg.reports.flush()).toBe(0);
      const changes = t.db
        .all<{ state: string }>('SELECT state FROM camera_status_changes ORDER BY id')
        .map((r) => r.state);
      expect(changes).toEqual(['online', 'agent_offline', 'degraded']);

      const q = reg.qualityReport({
        ingest: new Map([['c1', { events: 100, eventsWithEvidence: 98, lagMsMean: 850, lagMsMax: 4000 }]]),
      });
      expect(q.cameras).toHaveLength(1);
      expect(q.cameras[0]?.onlineShare).toBeCloseTo(18 / 24, 10);
      expect(q.cameras[0]).toMatchObject({
        onlineNow: true,
        evidenceShare: 0.98,
        ingestLagMs: 850,
        lastSeenMs: t.clock.t - 12 * H,
      });
      expect(q.areas).toEqual([
        expect.objectContaining({ area: { district: 'A' }, cameras: 1, camerasOnline: 1, events: 100 }),
      ]);

      // Last seen and the changes survive a restart.
      t.reopen();
      open();
      expect(reg.reports.lastSeenMs('c1')).toBe(t.clock.t - 12 * H);
      expect(reg.qualityReport().cameras[0]?.onlineShare).toBeCloseTo(18 / 24, 10);
      t.clock.advance(9 * 86_400_000);
      expect(reg.reports.prune()).toBe(2);
      expect(reg.qualityReport().cameras[0]?.onlineShare).toBe(1);
    });

    it('ignores statuses of cameras not in the registry and re-delivered older statuses', () => {
      reg.recordCameraStatus(
        CameraStatus.fromPartial({
          siteId: 'v7',
          cameraId: 'ghost',
          state: CameraState.CAMERA_STATE_ONLINE,
          updatedMs: 1,
        }),
      );
      expect(reg.reports.statuses()).toEqual([]);
      reg.cameras.create('u', camInput('c1'));
      reg.recordCameraStatus(
        CameraStatus.fromPartial({
          cameraId: 'c1',
          state: CameraState.CAMERA_STATE_ONLINE,
          updatedMs: t.clock.t,
        }),
      );
      reg.recordCameraStatus(
        CameraStatus.fromPartial({
          cameraId: 'c1',
          state: CameraState.CAMERA_STATE_OFFLINE,
          updatedMs: t.clock.t - 1000,
        }),
      );
      expect(reg.reports.state('c1')).toBe('online');
    });
  });

  it('everything above left a verifiable audit chain and survives a reopen', () => {
    reg.cameras.create('u', camInput('c1'));
    t.reopen();
    open();
    expect(reg.cameras.mustGet('c1').name).toBe('camera c1');
    expect(reg.siteConfig('v7').revision).toBe(1);
    expect(pushed).toEqual([]);
    expect(verifyAuditChain(t.db)).toMatchObject({ ok: true, records: 2 });
  });
});
