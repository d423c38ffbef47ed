import { describe, expect, it } from 'vitest';
import { CameraIdentity } from '../../proto/gen/sharpeyes/v1/camera.ts';
import { Event, EventKind } from '../../proto/gen/sharpeyes/v1/event.ts';
import { SnapshotOrigin, SnapshotStatus } from '../../proto/gen/sharpeyes/v1/snapshot.ts';
import {
  decodePayload,
  encodePayload,
  filter,
  isValidId,
  parseSnapshotTopic,
  parseTierCamerasTopic,
  parseTopic,
  sharedFilter,
  SNAPSHOT_LIMITS,
  topic,
  TOPICS,
} from '../../proto/topics.ts';

describe('MQTT topics', () => {
  it.each([
    [topic.events('site-1'), { kind: 'events', site: 'site-1' }],
    [topic.agent('s.2'), { kind: 'agent', site: 's.2' }],
    [topic.discovered('S_3'), { kind: 'discovered', site: 'S_3' }],
    [topic.config('x'), { kind: 'config', site: 'x' }],
    [topic.cameraStatus('a', 'cam-01'), { kind: 'cameraStatus', site: 'a', camera: 'cam-01' }],
  ])('%s round-trips', (name, parsed) => {
    expect(parseTopic(name)).toEqual(parsed);
  });

  it.each(['a/b', 'a+', '#', '', '$SYS', 'x'.repeat(65), 'plate 京A'])('refuses id %j', (id) => {
    expect(isValidId(id)).toBe(false);
    expect(() => topic.events(id)).toThrow(/not 1–64 characters/);
    expect(() => topic.cameraStatus('ok', id)).toThrow(/camera id/);
  });

  it.each([
    'sharpeyes/v1/sites/a/events/x',
    'sharpeyes/v1/sites/a/unknown',
    'sharpeyes/v1/sites/+/events',
    'sharpeyes/v1/sites/a/cameras/b/state',
    'sharpeyes/v1/sites/a/cameras/+/status',
    'other/v1/sites/a/events',
    'sharpeyes/v1/sites//events',
  ])('does not parse %s', (name) => {
    expect(parseTopic(name)).toBeUndefined();
  });

  it('filters match the built names', () => {
    const toRe = (f: string): RegExp => new RegExp(`^${f.replaceAll('+', '[^/]+')}$`);
    expect(topic.events('a')).toMatch(toRe(filter.events));
    expect(topic.cameraStatus('a', 'b')).toMatch(toRe(filter.cameraStatus));
    expect(topic.config('a')).toMatch(toRe(filter.config));
  });

  it('encodes and decodes the payload of a kind, and throws on garbage', () => {
    const bytes = encodePayload('events', {
      events: [
        Event.fromPartial({ eventId: 'e1', siteId: 's', cameraId: 'c', kind: EventKind.EVENT_KIND_PLATE }),
      ],
    });
    const batch = decodePayload('events', bytes);
    expect(batch.events[0]?.eventId).toBe('e1');
    expect(() => decodePayload('events', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow();
  });

  it('builds and parses the snapshot request/response pair, which parseTopic does not know', () => {
    expect(topic.snapshotRequest('site-1')).toBe('sharpeyes/v1/sites/site-1/snapshot/req');
    expect(topic.snapshotResponse('site-1', 'gw-1a')).toBe('sharpeyes/v1/sites/site-1/snapshot/res/gw-1a');
    expect(parseSnapshotTopic(topic.snapshotRequest('site-1'))).toEqual({
      kind: 'snapshotRequest',
      site: 'site-1',
    });
    expect(parseSnapshotTopic(topic.snapshotResponse('s.2', 'r_3'))).toEqual({
      kind: 'snapshotResponse',
      site: 's.2',
      replyTo: 'r_3',
    });
    expect(parseTopic(topic.snapshotRequest('site-1'))).toBeUndefined();
    expect(parseTopic(topic.snapshotResponse('site-1', 'gw'))).toBeUndefined();
    const toRe = (f: string): RegExp => new RegExp(`^${f.replaceAll('+', '[^/]+')}$`);
    expect(topic.snapshotRequest('a')).toMatch(toRe(filter.snapshotRequest));
    expect(topic.snapshotResponse('a', 'gw')).toMatch(toRe(filter.snapshotResponses('gw')));
    expect(topic.snapshotResponse('a', 'other')).not.toMatch(toRe(filter.snapshotResponses('gw')));
    expect(topic.snapshotResponse('a', 'gw')).toMatch(toRe(filter.siteSnapshotResponses('a')));
    expect(topic.snapshotResponse('b', 'gw')).not.toMatch(toRe(filter.siteSnapshotResponses('a')));
    // Request and response are live exchanges: at most once, never retained.
    expect(TOPICS.snapshotRequest).toMatchObject({ qos: 0, retain: false });
    expect(TOPICS.snapshotResponse).toMatchObject({ qos: 0, retain: false });
  });

  it.each(['a/b', '+', '#', '', 'x'.repeat(65)])('refuses reply_to %j', (id) => {
    expect(() => topic.snapshotResponse('ok', id)).toThrow(/reply_to id/);
    expect(() => filter.snapshotResponses(id)).toThrow(/reply_to id/);
  });

  it.each([
    'sharpeyes/v1/sites/a/snapshot',
    'sharpeyes/v1/sites/a/snapshot/req/x',
    'sharpeyes/v1/sites/a/snapshot/res',
    'sharpeyes/v1/sites/a/snapshot/res/+',
    'sharpeyes/v1/sites/a/snapshot/res/x/y',
    'sharpeyes/v1/sites/+/snapshot/req',
    'sharpeyes/v1/sites/a/snapshots/req',
    'sharpeyes/v1/sites/a/events',
    'other/v1/sites/a/snapshot/req',
  ])('does not parse %s as a snapshot topic', (name) => {
    expect(parseSnapshotTopic(name)).toBeUndefined();
  });

  it('round-trips snapshot messages (camera or device target) within the JPEG bound', () => {
    const req = decodePayload(
      'snapshotRequest',
      encodePayload('snapshotRequest', {
        requestId: 'r1',
        replyTo: 'gw',
        target: {
          $case: 'device',
          value: CameraIdentity.fromPartial({ endpointReference: 'urn:uuid:1', serialNumber: 'SN' }),
        },
        timeoutMs: 3000,
        maxBytes: 1000,
        maxWidth: 640,
        sentMs: 1,
      }),
    );
    expect(req.target?.$case).toBe('device');
    expect(req.target?.$case === 'device' && req.target.value.endpointReference).toBe('urn:uuid:1');
    const jpeg = Buffer.alloc(SNAPSHOT_LIMITS.maxJpegBytes, 0xab);
    const res = encodePayload('snapshotResponse', {
      requestId: 'r1',
      siteId: 's',
      status: SnapshotStatus.SNAPSHOT_STATUS_OK,
      message: '',
      jpeg,
      takenMs: 2,
      width: 1280,
      height: 720,
      origin: SnapshotOrigin.SNAPSHOT_ORIGIN_ONVIF,
      retryAfterMs: 0,
    });
    expect(res.length).toBeLessThanOrEqual(SNAPSHOT_LIMITS.maxResponseBytes);
    expect(decodePayload('snapshotResponse', res).jpeg.length).toBe(jpeg.length);
  });

  it('builds the gateway-internal stored topic and shared subscriptions (scale-out)', () => {
    expect(topic.stored()).toBe('sharpeyes/v1/gateway/stored');
    expect(parseTopic(topic.stored())).toBeUndefined();
    expect(TOPICS.stored).toMatchObject({ qos: 1, retain: false });
    expect(sharedFilter('sharpeyes-ingest', filter.events)).toBe(
      '$share/sharpeyes-ingest/sharpeyes/v1/sites/+/events',
    );
    expect(() => sharedFilter('a/b', filter.events)).toThrow(/share group id/);
    expect(() => sharedFilter('+', filter.events)).toThrow(/share group id/);
    const bytes = encodePayload('stored', {
      events: [
        Event.fromPartial({ eventId: 'e1', siteId: 's', cameraId: 'c', kind: EventKind.EVENT_KIND_FACE }),
      ],
    });
    expect(decodePayload('stored', bytes).events[0]?.eventId).toBe('e1');
  });

  it('builds and parses the tier cameras topic (tier cascade)', () => {
    expect(topic.tierCameras('qingshan')).toBe('sharpeyes/v1/tiers/qingshan/cameras');
    expect(filter.tierCameras).toBe('sharpeyes/v1/tiers/+/cameras');
    expect(parseTierCamerasTopic(topic.tierCameras('qingshan'))).toBe('qingshan');
    for (const bad of [
      'sharpeyes/v1/tiers/q/cameras/x',
      'sharpeyes/v1/tiers/+/cameras',
      'sharpeyes/v1/sites/q/events',
    ])
      expect(parseTierCamerasTopic(bad)).toBeUndefined();
    expect(parseTopic(topic.tierCameras('q'))).toBeUndefined();
    expect(() => topic.tierCameras('a/b')).toThrow(/tier id/);
    expect(TOPICS.tierCameras).toMatchObject({ qos: 1, retain: true });
    const bytes = encodePayload('tierCameras', { tierId: 'q', publishedMs: 5, cameras: [] });
    expect(decodePayload('tierCameras', bytes)).toMatchObject({ tierId: 'q', publishedMs: 5 });
  });
});
