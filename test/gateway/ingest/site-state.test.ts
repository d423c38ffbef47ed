/** The site state store: apply, reject, clear, bound, notify. */
import { describe, expect, it } from 'vitest';
import { AgentStatus, AgentState, CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { DiscoveredDevices } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { encodePayload, parseTopic, topic, type ParsedTopic } from '../../../proto/topics.ts';
import { SiteState, type SiteStateChange } from '../../../gateway/src/ingest/site-state.ts';

const p = (name: string): ParsedTopic => {
  const t = parseTopic(name);
  if (t === undefined) throw new Error(name);
  return t;
};

describe('SiteState', () => {
  it('keeps the latest agent, camera and discovered payloads, and notifies', () => {
    const s = new SiteState();
    const changes: SiteStateChange[] = [];
    s.onChange((c) => changes.push(c));
    const agent = encodePayload(
      'agent',
      AgentStatus.fromPartial({ siteId: 'v7', state: AgentState.AGENT_STATE_ONLINE }),
    );
    expect(s.apply(p(topic.agent('v7')), agent, 1000)).toBeUndefined();
    const cam = encodePayload(
      'cameraStatus',
      CameraStatus.fromPartial({ siteId: 'v7', cameraId: 'c1', inputFps: 2 }),
    );
    expect(s.apply(p(topic.cameraStatus('v7', 'c1')), cam, 2000)).toBeUndefined();
    const disc = encodePayload(
      'discovered',
      DiscoveredDevices.fromPartial({ siteId: 'v7', devices: [{ xaddrs: ['http://x'] }] }),
    );
    expect(s.apply(p(topic.discovered('v7')), disc, 3000)).toBeUndefined();
    const snap = s.site('v7');
    expect(snap?.agent).toEqual({
      value: expect.objectContaining({ state: AgentState.AGENT_STATE_ONLINE }) as unknown,
      receivedMs: 1000,
    });
    expect(snap?.cameras.get('c1')?.value.inputFps).toBe(2);
    expect(snap?.discovered?.value.devices).toHaveLength(1);
    expect(changes).toEqual([
      { kind: 'agent', siteId: 'v7' },
      { kind: 'cameraStatus', siteId: 'v7', cameraId: 'c1' },
      { kind: 'discovered', siteId: 'v7' },
    ]);
    expect(s.sites()).toEqual(['v7']);
  });

  it('rejects payloads naming another site or camera, and garbage', () => {
    const s = new SiteState();
    const other = encodePayload('agent', AgentStatus.fromPartial({ siteId: 'c2' }));
    expect(s.apply(p(topic.agent('v7')), other)).toBe('site_mismatch');
    const cam = encodePayload('cameraStatus', CameraStatus.fromPartial({ siteId: 'v7', cameraId: 'c9' }));
    expect(s.apply(p(topic.cameraStatus('v7', 'c1')), cam)).toBe('camera_mismatch');
    expect(s.apply(p(topic.agent('v7')), Buffer.from([0xff, 0xff, 0xff]))).toBe('decode');
    expect(s.sites()).toEqual([]);
  });

  it('clears an entry on an empty (retained-clear) payload, and bounds cameras per site', () => {
    const s = new SiteState({ maxCamerasPerSite: 2 });
    for (const c of ['c1', 'c2']) {
      const cam = encodePayload('cameraStatus', CameraStatus.fromPartial({ siteId: 'v7', cameraId: c }));
      expect(s.apply(p(topic.cameraStatus('v7', c)), cam)).toBeUndefined();
    }
    const third = encodePayload('cameraStatus', CameraStatus.fromPartial({ siteId: 'v7', cameraId: 'c3' }));
    expect(s.apply(p(topic.cameraStatus('v7', 'c3')), third)).toBe('too_many_cameras');
    expect(s.apply(p(topic.cameraStatus('v7', 'c1')), Buffer.alloc(0))).toBeUndefined();
    expect(s.apply(p(topic.cameraStatus('v7', 'c2')), Buffer.alloc(0))).toBeUndefined();
    expect(s.site('v7')).toBeUndefined();
  });
});
