/**
 * Ingest through a real embedded Aedes (LevelDB on disk) and real mqtt.js clients, storing into
 * STAND-IN in-memory stores (test/gateway/fixtures/memory-stores.ts) that the tests block, fail
 * or poison at precise moments. The same path against a real influxd is ingest-influx.test.ts.
 */
import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentStatus,
  AgentState,
  CameraState,
  CameraStatus,
} from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { encodePayload, topic } from '../../../proto/topics.ts';
import type { SiteCredentialEntry } from '../../../gateway/src/broker/types.ts';
import type { Ingest } from '../../../gateway/src/ingest/ingest.ts';
import { waitFor } from '../../bench/wait.ts';
import { connectSite, siteEntries, startTestBroker, type TestBroker } from '../fixtures/broker.ts';
import { eventsPayload, loadBaseJpeg, makeEvent, sha256Hex } from '../fixtures/events.ts';
import { memoryLogger } from '../../edge/fixtures/memory-logger.ts';
import { metricValue, startIngest } from '../fixtures/ingest.ts';
import {
  MemoryBatchEvidenceStore,
  MemoryEventIndex,
  MemoryEvidenceStore,
} from '../fixtures/memory-stores.ts';

const SITE = 'village-7';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let entries: SiteCredentialEntry[];
let jpeg: Buffer;
beforeAll(async () => {
  entries = await siteEntries([SITE, 'checkpoint-2']);
  jpeg = await loadBaseJpeg();
});

async function broker(): Promise<TestBroker> {
  const b = await startTestBroker(entries);
  cleanups.push(() => b.stop());
  return b;
}

async function site(url: string, name = SITE): Promise<MqttClient> {
  const c = await connectSite(url, name);
  cleanups.push(() => c.endAsync(true));
  return c;
}

async function ingestOn(
  url: string,
  stores: { index: MemoryEventIndex; evidence: MemoryEvidenceStore },
  opts: Parameters<typeof startIngest>[2] = {},
): Promise<{ ingest: Ingest; registry: import('prom-client').Registry }> {
  const started = await startIngest(url, stores, opts);
  cleanups.push(() => started.ingest.stop());
  return started;
}

function publishAll(c: MqttClient, payloads: Buffer[], name = SITE): Promise<unknown> {
  return Promise.all(payloads.map((p) => c.publishAsync(topic.events(name), p, { qos: 1 })));
}

describe('ingest', () => {
  it('stores evidence and events, one per message and in batches, and keeps the site state', async () => {
    const b = await broker();
    const stores = { index: new MemoryEventIndex(), evidence: new MemoryEvidenceStore() };
    const { ingest, registry } = await ingestOn(b.broker.url, stores);
    const edge = await site(b.broker.url);

    const single = Array.from({ length: 200 }, (_, i) =>
      makeEvent({ site: SITE, jpeg, plate: `京A${10000 + i}` }),
    );
    const batch = Array.from({ length: 50 }, () => makeEvent({ site: SITE, kind: 'face', jpeg }));
    await publishAll(edge, [...single.map((e) => eventsPayload([e])), eventsPayload(batch)]);
    await edge.publishAsync(
      topic.agent(SITE),
      encodePayload(
        'agent',
        AgentStatus.fromPartial({ siteId: SITE, state: AgentState.AGENT_STATE_ONLINE, spoolEvents: 7 }),
      ),
      { qos: 1, retain: true },
    );
    await edge.publishAsync(
      topic.cameraStatus(SITE, 'cam-1'),
      encodePayload(
        'cameraStatus',
        CameraStatus.fromPartial({ siteId: SITE, cameraId: 'cam-1', state: CameraState.CAMERA_STATE_ONLINE }),
      ),
      { qos: 1, retain: true },
    );

    await waitFor(() => (stores.index.events.size === 250 ? true : undefined), {
      what: '250 events indexed',
    });
    for (const e of [...single, ...batch]) {
      const stored = stores.index.events.get(e.eventId);
      expect(stored?.evidence?.sha256).toBe(e.evidence?.sha256);
      const bytes = stores.evidence.blobs.get(e.evidence?.sha256 ?? '');
      expect(bytes && sha256Hex(bytes)).toBe(e.evidence?.sha256);
    }
    await waitFor(() => (ingest.siteState.site(SITE)?.cameras.size === 1 ? true : undefined), {
      what: 'site state',
    });
    expect(ingest.siteState.site(SITE)?.agent?.value.spoolEvents).toBe(7);
    expect(ingest.counts()).toMatchObject({
      eventsReceived: 250,
      eventsWritten: 250,
      rejectedEvents: 0,
      rejectedMessages: 0,
    });
    expect(await metricValue(registry, 'sharpeyes_gateway_ingest_events_written_total')).toBe(250);
    expect(await metricValue(registry, 'sharpeyes_gateway_ingest_messages_total', { kind: 'events' })).toBe(
      201,
    );
  });

  it('acknowledges only after the index has written: a blocked write is redelivered to the next run', async () => {
    const b = await broker();
    const first = { index: new MemoryEventIndex(), evidence: new MemoryEvidenceStore() };
    first.index.gate.close();
    const { ingest } = await ingestOn(b.broker.url, first, { tuning: { stopTimeoutMs: 100 } });
    const edge = await site(b.broker.url);
    const events = Array.from({ length: 100 }, () => makeEvent({ site: SITE, jpeg }));
    // The broker acknowledges the edge (the messages are in the gateway session's queue)…
    await publishAll(
      edge,
      events.map((e) => eventsPayload([e])),
    );
    await waitFor(() => (first.index.gate.waiting > 0 ? true : undefined), { what: 'a blocked index write' });
    // …but the gateway has acknowledged nothing: stopping now abandons the batch.
    await ingest.stop();
    expect(first.index.events.size).toBe(0);
    first.index.gate.open();

    const second = { index: new MemoryEventIndex(), evidence: new MemoryEvidenceStore() };
    await ingestOn(b.broker.url, second);
    await waitFor(() => (second.index.events.size === 100 ? true : undefined), {
      what: 'redelivered events indexed',
    });
    expect([...second.index.events.keys()].sort()).toEqual(events.map((e) => e.eventId).sort());
  });

  it('rejects and counts malformed payloads, and keeps ingesting valid ones', async () => {
    const b = await broker();
    const stores = { index: new MemoryEventIndex(), evidence: new MemoryEvidenceStore() };
    const { ingest, registry } = await ingestOn(b.broker.url, stores);
    const edge = await site(b.broker.url);

    const good = Array.from({ length: 30 }, () => makeEvent({ site: SITE, jpeg }));
    const badHash = makeEvent({ site: SITE, jpeg });
    if (badHash.evidence) badHash.evidence.sha256 = 'f'.repeat(64);
    const wrongSite = makeEvent({ site: 'checkpoint-2', jpeg });
    const noKind = { ...makeEvent({ site: SITE }), kind: EventKind.EVENT_KIND_UNSPECIFIED };
    const payloads = [
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), // not protobuf
      eventsPayload([good[0] ?? makeEvent({ site: SITE })]).subarray(0, 20), // truncated
      eventsPayload([]), // no events
      eventsPayload([badHash]),
      eventsPayload([wrongSite]),
      eventsPayload([noKind]),
      ...good.map((e) => eventsPayload([e])),
    ];
    // Interleave the bad ones with the good ones.
    payloads.sort(() => Math.random() - 0.5);
    await publishAll(edge, payloads);
    await waitFor(() => (stores.index.events.size === 30 ? true : undefined), { what: 'the good events' });
    await waitFor(() => (ingest.counts().rejectedEvents === 3 ? true : undefined), {
      what: 'rejected events counted',
    });
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_rejected_messages_total', { reason: 'decode' }),
    ).toBe(2);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_rejected_messages_total', { reason: 'empty' }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_rejected_events_total', {
        reason: 'evidence_hash',
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_rejected_events_total', {
        reason: 'site_mismatch',
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_rejected_events_total', { reason: 'bad_kind' }),
    ).toBe(1);
    expect(stores.evidence.blobs.has(badHash.evidence?.sha256 ?? '')).toBe(false);
    expect(ingest.connected).toBe(true);
    // Rejected messages were acknowledged: a new run gets nothing again.
    await ingest.stop();
    const again = { index: new MemoryEventIndex(), evidence: new MemoryEvidenceStore() };
    const next = await ingestOn(b.broker.url, again);
    const marker = makeEvent({ site: SITE });
    await edge.publishAsync(topic.events(SITE), eventsPayload([marker]), { qos: 1 });
    await waitFor(() => (again.index.events.has(marker.eventId) ? true : undefined), {
      what: 'the marker event',
    });
    expect(next.ingest.counts().messages).toBe(1);
  });

  it('stops reading when the index is stalled: what it holds stays bounded, and everything lands after', async () => {
    const b = await broker();
    const stores = { index: new MemoryEventIndex(), evidence: new MemoryEvidenceStore() };
    stores.index.gate.close();
    cleanups.push(() => {
      stores.index.gate.open();
    });
    const tuning = { batchMaxEvents: 100, maxInFlightBatches: 2, batchMaxDelayMs: 20, stallWarnMs: 1000 };
    const bound = (tuning.maxInFlightBatches + 1) * tuning.batchMaxEvents;
    const log = memoryLogger('info');
    const { ingest } = await ingestOn(b.broker.url, stores, { tuning, logger: log.logger });
    const edge = await site(b.broker.url);
    const events = Array.from({ length: 3000 }, () => makeEvent({ site: SITE, jpeg }));
    let peak = 0;
    const watch = setInterval(() => {
      const s = ingest.windowStats();
      peak = Math.max(peak, s.pendingItems + s.inFlightItems);
    }, 5);
    cleanups.push(() => {
      clearInterval(watch);
    });
    let acked = 0;
    const publishing = Promise.all(
      events.map((e) =>
        edge.publishAsync(topic.events(SITE), eventsPayload([e]), { qos: 1 }).then(() => {
          acked += 1;
        }),
      ),
    );
    // The window fills, then reading stops: the count of messages read stays put while the
    // index is stalled, however long that is.
    await waitFor(() => (stores.index.writes >= tuning.maxInFlightBatches ? true : undefined), {
      what: 'stalled writes',
    });
    const read = await waitFor(
      async () => {
        const before = ingest.counts().messages;
        await new Promise((resolve) => setTimeout(resolve, 500));
        return ingest.counts().messages === before ? before : undefined;
      },
      { what: 'reading to stop', timeoutMs: 30_000 },
    );
    expect(read).toBeLessThanOrEqual(bound + 1);
    expect(peak).toBeLessThanOrEqual(bound);
    expect(stores.index.events.size).toBe(0);
    // Nothing read was acknowledged; the edge is held back too once the broker cannot deliver.
    expect(acked).toBeLessThan(events.length);
    // The stall is warned about once, with where the batches are held.
    const stalled = await waitFor(
      () =>
        log
          .text()
          .split('\n')
          .find((l) => l.includes('ingest stalled')),
      { what: 'the stall warning', timeoutMs: 10_000 },
    );
    expect(JSON.parse(stalled)).toMatchObject({
      level: 40,
      storing: [{ stage: 'index' }, { stage: 'index' }],
    });

    stores.index.gate.open();
    await publishing;
    await waitFor(() => (stores.index.events.size === 3000 ? true : undefined), {
      what: 'all events after the stall',
      timeoutMs: 45_000,
    });
    expect(peak).toBeLessThanOrEqual(bound);
    await waitFor(() => (log.text().includes('ingest moving again') ? true : undefined), {
      what: 'the stall cleared',
      timeoutMs: 10_000,
    });
    expect(log.text().split('ingest stalled').length - 1).toBe(1);
  });

  it('retries transient failures, and narrows a permanent refusal to the message that causes it', async () => {
    const b = await broker();
    const stores = { index: new MemoryEventIndex(), evidence: new MemoryEvidenceStore() };
    stores.index.failTransient = 3;
    stores.index.poison = (e) => e.cameraId === 'cam-poison';
    const { ingest, registry } = await ingestOn(b.broker.url, stores, {
      tuning: { retryInitialMs: 10, retryMaxMs: 50, batchMaxDelayMs: 200 },
    });
    const edge = await site(b.broker.url);
    const events = Array.from({ length: 40 }, (_, i) =>
      makeEvent({ site: SITE, jpeg, camera: i === 17 ? 'cam-poison' : 'cam-1' }),
    );
    await publishAll(
      edge,
      events.map((e) => eventsPayload([e])),
    );
    await waitFor(
      () => (ingest.counts().eventsWritten + ingest.counts().rejectedEvents === 40 ? true : undefined),
      {
        what: 'every event settled',
      },
    );
    expect(stores.index.events.size).toBe(39);
    expect(stores.index.events.has(events[17]?.eventId ?? '')).toBe(false);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_rejected_events_total', {
        reason: 'index_refused',
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_store_retries_total', { stage: 'index' }),
    ).toBe(3);
    expect(await metricValue(registry, 'sharpeyes_gateway_ingest_store_up', { stage: 'index' })).toBe(1);
  });

  it('stores a batch of evidence in one putMany, retried whole, and a refused blob costs only its message', async () => {
    const b = await broker();
    const evidence = new MemoryBatchEvidenceStore();
    const stores = { index: new MemoryEventIndex(), evidence };
    const { ingest, registry } = await ingestOn(b.broker.url, stores, {
      tuning: { retryInitialMs: 10, retryMaxMs: 20 },
    });
    const edge = await site(b.broker.url);

    // A backlog message of 300 events is one batch: one call, and after a disk error one retry.
    evidence.failTransient = 1;
    const backlog = Array.from({ length: 300 }, () => makeEvent({ site: SITE, jpeg }));
    await publishAll(edge, [eventsPayload(backlog)]);
    await waitFor(() => (stores.index.events.size === 300 ? true : undefined), { what: 'the backlog' });
    expect(evidence.calls).toEqual([300, 300]);
    expect(evidence.blobs.size).toBe(300);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_store_retries_total', { stage: 'evidence' }),
    ).toBe(1);

    // A blob the store refuses for good: its message is rejected and acknowledged, the rest stored.
    const poisoned = makeEvent({ site: SITE, jpeg });
    evidence.refuse = (sha) => sha === poisoned.evidence?.sha256;
    const others = Array.from({ length: 5 }, () => makeEvent({ site: SITE, jpeg }));
    await publishAll(
      edge,
      [poisoned, ...others].map((e) => eventsPayload([e])),
    );
    await waitFor(() => (stores.index.events.size === 305 ? true : undefined), { what: 'the others' });
    expect(stores.index.events.has(poisoned.eventId)).toBe(false);
    expect(
      await metricValue(registry, 'sharpeyes_gateway_ingest_rejected_events_total', {
        reason: 'evidence_refused',
      }),
    ).toBe(1);
    expect(ingest.counts()).toMatchObject({ eventsWritten: 305, rejectedEvents: 1 });
  });
});
