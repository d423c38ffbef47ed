/**
 * The live bus on its own (no servers needed): sequence numbers, the resume ring, bounded
 * subscriber queues, duplicate publications, and what a subscriber sees when it falls behind.
 */
import { describe, expect, it } from 'vitest';
import { Event, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { LiveEventBus, ResumeMemoryStore } from '../../../gateway/src/live/bus.ts';

let n = 0;
function ev(over: Partial<Event> = {}): Event {
  n += 1;
  return Event.fromPartial({
    eventId: `ev-${n}`,
    siteId: 'site-a',
    cameraId: 'cam-a1',
    kind: EventKind.EVENT_KIND_PLATE,
    firstSeenMs: 1_700_000_000_000 + n,
    timeMs: 1_700_000_000_000 + n,
    ...over,
  });
}

/** A subscription that must exist. */
function must<T>(x: T | undefined): T {
  if (x === undefined) throw new Error('expected a subscription');
  return x;
}

function drain(sub: { next(): { seq: number; event: Event } | undefined }): { seq: number; id: string }[] {
  const out: { seq: number; id: string }[] = [];
  for (let i = sub.next(); i !== undefined; i = sub.next()) out.push({ seq: i.seq, id: i.event.eventId });
  return out;
}

describe('LiveEventBus', () => {
  it('numbers events and delivers them in order to every subscriber', () => {
    const bus = new LiveEventBus({ ringEvents: 10 });
    const a = must(bus.subscribe());
    const b = must(bus.subscribe());
    const events = [ev(), ev(), ev()];
    expect(bus.publish(...events)).toBe(3);
    expect(drain(a)).toEqual(events.map((e, i) => ({ seq: i + 1, id: e.eventId })));
    expect(drain(b).map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(bus.subscribers).toBe(2);
    a.close();
    b.close();
    expect(bus.subscribers).toBe(0);
  });

  it('starts a subscription anywhere in the ring, and refuses positions it no longer holds', () => {
    const bus = new LiveEventBus({ ringEvents: 4 });
    const events = Array.from({ length: 6 }, () => ev());
    bus.publish(...events);
    expect(bus.oldest).toBe(3);
    const sub = must(bus.subscribe({ afterSeq: 3 }));
    bus.publish(ev({ eventId: 'later' }));
    expect(drain(sub).map((x) => x.seq)).toEqual([4, 5, 6, 7]);
    expect(bus.oldest).toBe(4);
    expect(bus.subscribe({ afterSeq: 2 })).toBeUndefined(); // seq 3 is gone
    expect(bus.subscribe({ afterSeq: 3 })).toBeDefined(); // seq 4 onwards is still there
    expect(bus.subscribe({ afterSeq: 99 })).toBeUndefined(); // never issued
  });

  it('applies the filter at publish and to the ring backlog', () => {
    const bus = new LiveEventBus();
    bus.publish(ev({ cameraId: 'cam-b1' }), ev());
    const sub = must(bus.subscribe({ afterSeq: 0, accept: (e) => e.cameraId === 'cam-a1' }));
    bus.publish(ev({ cameraId: 'cam-b1' }), ev());
    expect(drain(sub).map((x) => x.seq)).toEqual([2, 4]);
    expect(sub.seenSeq).toBe(4);
  });

  it('drops a re-published event with the same revision, passes a higher revision', () => {
    const bus = new LiveEventBus();
    const sub = must(bus.subscribe());
    const e = ev();
    bus.publish(e);
    bus.publish(Event.fromPartial({ ...e }));
    bus.publish(Event.fromPartial({ ...e, revision: 1 }));
    expect(drain(sub).map((x) => x.seq)).toEqual([1, 2]);
    expect(bus.head).toBe(2);
  });

  it('strips evidence bytes before anyone sees the event', () => {
    const bus = new LiveEventBus();
    const sub = must(bus.subscribe());
    bus.publish(
      Event.fromPartial({
        ...ev(),
        evidence: { jpeg: Buffer.from('jpeg'), sha256: 'a'.repeat(64), contextJpeg: Buffer.from('ctx') },
      }),
    );
    const item = sub.next();
    expect(item?.event.evidence?.jpeg.length).toBe(0);
    expect(item?.event.evidence?.contextJpeg.length).toBe(0);
    expect(item?.event.evidence?.sha256).toBe('a'.repeat(64));
  });

  it('marks a subscriber that falls more than maxQueued behind as overflowed', async () => {
    const bus = new LiveEventBus();
    const sub = must(bus.subscribe({ maxQueued: 3 }));
    bus.publish(ev(), ev(), ev());
    expect(sub.overflowed).toBe(false);
    bus.publish(ev());
    expect(sub.overflowed).toBe(true);
    expect(sub.next()).toBeUndefined();
    await sub.wait(); // resolves at once: the reader must look
  });

  it('marks a subscriber whose unread ring backlog was overwritten as overflowed', () => {
    const bus = new LiveEventBus({ ringEvents: 3 });
    bus.publish(ev(), ev(), ev());
    const sub = must(bus.subscribe({ afterSeq: 0, maxQueued: 100 }));
    bus.publish(ev(), ev()); // overwrites seq 1 and 2 before they were read
    expect(sub.next()).toBeUndefined();
    expect(sub.overflowed).toBe(true);
  });

  it('wakes a waiting subscriber on publish and on abort', async () => {
    const bus = new LiveEventBus();
    const sub = must(bus.subscribe());
    const waited = sub.wait();
    bus.publish(ev());
    await waited;
    expect(sub.next()?.seq).toBe(1);
    const ac = new AbortController();
    const w2 = sub.wait(ac.signal);
    ac.abort();
    await w2;
    expect(sub.next()).toBeUndefined();
  });
});

describe('ResumeMemoryStore', () => {
  it('keeps memories for a while, at most max, and hands each out once', () => {
    let now = 0;
    const store = new ResumeMemoryStore(1000, 2, () => now);
    const m = (id: string) => ({ sent: new Map([[id, { revision: 0, seq: 1 }]]) });
    store.put('t1', m('a'));
    store.put('t2', m('b'));
    store.put('t3', m('c'));
    expect(store.size).toBe(2);
    expect(store.take('t1')).toBeUndefined();
    expect(store.take('t2')?.sent.has('b')).toBe(true);
    expect(store.take('t2')).toBeUndefined();
    now = 2000;
    expect(store.take('t3')).toBeUndefined();
  });
});
