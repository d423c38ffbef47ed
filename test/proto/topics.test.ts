import { describe, expect, it } from 'vitest';
import { Event, EventKind } from '../../proto/gen/sharpeyes/v1/event.ts';
import { decodePayload, encodePayload, filter, isValidId, parseTopic, topic } from '../../proto/topics.ts';

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
});
