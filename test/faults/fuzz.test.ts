/**
 * Fuzz: 10 000 malformed, mutated and oversized payloads (fuzz-payloads.ts, seeded) published on
 * the site's events topic, interleaved with a stream of valid events from the real edge spool
 * and link, into the gateway (embedded Aedes, ingest, influxd, evidence store).
 *
 * - The gateway stays up (healthy, ingest connected) and valid ingest continues: every valid
 *   event is in InfluxDB once with its crop verified, those sent during the fuzz and after it.
 * - Every fuzz payload is accounted for: refused and counted in the gateway's metrics
 *   (`sharpeyes_gateway_ingest_rejected_messages_total` for a message refused whole,
 *   `…_rejected_events_total` for an event refused in a decodable message), or — only possible
 *   for random bit flips that happen to leave a valid event — stored. Refused + stored = the
 *   outcomes the payloads hold: one each, or one per event when a flip made two events of one.
 * - A site publishing under another site's prefix is refused by the broker (the connection is
 *   closed, nothing arrives, `sharpeyes_gateway_broker_denied_total` counts it), and so is a
 *   subscription to another site's config.
 */
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayApp } from '../../gateway/src/app.ts';
import { decodePayload, encodePayload, topic } from '../../proto/topics.ts';
import type { TestEdge } from '../edge/publish/harness.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';
import { startInfluxd, type InfluxdHandle } from '../bench/services/index.ts';
import { FUZZ_LIMITS, FUZZ_MIX, fuzzPayloads, type FuzzKind } from './fuzz-payloads.ts';
import {
  countPoints,
  leaveToReaper,
  newGatewaySetup,
  newRun,
  otherSitePassword,
  Producer,
  range,
  registryMetric,
  report,
  sample,
  scrapeMetric,
  SITE,
  SITE_PASSWORD,
  startEdge,
  startGateway,
  SyntheticEvents,
  tearDown,
  until,
  untilPoints,
  verifyIndex,
} from './harness.ts';

const FUZZ = Object.values(FUZZ_MIX).reduce((a, b) => a + b, 0);
const SEED = 20_240_505;
const VALID_DURING = 9500;
const VALID_AFTER = 500;
const OTHER_SITE = 'checkpoint-2';
const WINDOW = 1000;

/**
 * How many counted outcomes a payload must produce: one rejection for a message refused whole
 * (over the size limit, undecodable, no events, too many events), else one per event it holds,
 * each refused or stored. The count of events is the wire format's (the generated decoder), so a
 * bit flip that turns one event into two is two outcomes.
 */
function outcomesOf(payload: Buffer): number {
  if (payload.length > FUZZ_LIMITS.max_payload_bytes) return 1;
  let n: number;
  try {
    n = decodePayload('events', payload).events.length;
  } catch {
    return 1;
  }
  return n === 0 || n > FUZZ_LIMITS.max_events_per_message ? 1 : n;
}

function connect(url: string, username: string, password: string, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    protocolVersion: 4,
    clientId,
    username,
    password,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
}

describe('fuzz: malformed payloads on the events topic', () => {
  let tmp: TempDir;
  let influxd: InfluxdHandle;
  let gateway: GatewayApp | undefined;
  let edge: TestEdge | undefined;
  const producers: Producer[] = [];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    tmp = makeTempDir('fault-fuzz');
    influxd = await startInfluxd();
  });

  afterAll(async () => {
    await tearDown(
      ...clients.map((c) => () => c.endAsync(true)),
      ...producers.map((p) => () => p.stop()),
      () => edge?.stop(),
      () => gateway?.stop(),
      () => influxd.stop(),
      () => {
        leaveToReaper(tmp);
      },
    );
  });

  it('refuses and counts every bad payload, stays up, and stores every valid event once', async () => {
    const started = Date.now();
    expect(FUZZ).toBe(10_000);
    const setup = await newGatewaySetup(
      tmp,
      influxd.url,
      'fault_fuzz',
      {
        ingest: { ...FUZZ_LIMITS },
      },
      [OTHER_SITE],
    );
    const g = await startGateway(setup, join(tmp.path, 'gateway.log'));
    gateway = g;
    const valid = await SyntheticEvents.create(newRun());
    // Templates of the mutants: their own ids, and times three hours earlier, so a mutant that
    // passes can never land on a valid event's point.
    const templates = await SyntheticEvents.create({
      ...newRun(),
      baseMs: valid.ident.baseMs - 3 * 3600_000,
    });
    const e = await startEdge(join(tmp.path, 'edge'), g.brokerUrl);
    edge = e;
    const during = new Producer(e.spool, valid, { from: 0, count: VALID_DURING, ratePerS: 600 });
    producers.push(during);
    await untilPoints(influxd.url, setup.database, 300);

    // The fuzzer: a second client of the same site (client id `edge-<site>:…`), QoS1.
    const fuzzer = await connect(g.brokerUrl, SITE, SITE_PASSWORD, `edge-${SITE}:fuzz`);
    clients.push(fuzzer);
    const sent = new Map<FuzzKind, number>();
    let outcomes = 0;
    const pending = new Set<Promise<unknown>>();
    for (const f of fuzzPayloads(templates, SEED)) {
      while (pending.size >= WINDOW) await Promise.race(pending);
      sent.set(f.kind, (sent.get(f.kind) ?? 0) + 1);
      outcomes += outcomesOf(f.payload);
      const p = fuzzer
        .publishAsync(topic.events(SITE), f.payload, { qos: 1 })
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
    const fuzzDoneMs = Date.now() - started;
    await during.done;

    // Valid ingest goes on after the fuzz.
    const after = new Producer(e.spool, valid, { from: VALID_DURING, count: VALID_AFTER, ratePerS: 0 });
    producers.push(after);
    await after.done;
    const validCount = VALID_DURING + VALID_AFTER;
    expect(during.accepted + after.accepted).toBe(validCount);

    // Every fuzz payload is refused (and counted) or, for a harmless bit flip, stored. A stored
    // mutant whose flipped time fell before the retention window is dropped by influxd, and one
    // whose flipped revision is lower than a copy already written is skipped; the index counts
    // both instead of making a point.
    const refused = async (): Promise<number> =>
      (await scrapeMetric(g.httpUrl, 'sharpeyes_gateway_ingest_rejected_messages_total')) +
      (await scrapeMetric(g.httpUrl, 'sharpeyes_gateway_ingest_rejected_events_total'));
    const droppedByIndex = async (): Promise<number> =>
      (await scrapeMetric(g.httpUrl, 'sharpeyes_gateway_index_points_beyond_retention_total')) +
      (await scrapeMetric(g.httpUrl, 'sharpeyes_gateway_index_stale_revisions_total'));
    await untilPoints(influxd.url, setup.database, validCount, {
      explain: () => `spool ${JSON.stringify(e.spool.stats())}, ingest ${JSON.stringify(g.ingest.counts())}`,
    });
    await until(
      async () =>
        (await refused()) +
          (await droppedByIndex()) +
          ((await countPoints(influxd.url, setup.database)) - validCount) ===
        outcomes,
      'every fuzz payload refused or stored',
      () => JSON.stringify(g.ingest.counts()),
    );

    const r = await verifyIndex(setup, valid, range(0, validCount));
    const byReason: Record<string, number> = {};
    for (const reason of ['decode', 'empty', 'too_large', 'too_many_events']) {
      byReason[reason] = await registryMetric(g, 'sharpeyes_gateway_ingest_rejected_messages_total', {
        reason,
      });
    }
    for (const reason of [
      'site_mismatch',
      'bad_id',
      'bad_kind',
      'bad_time',
      'bad_value',
      'bad_evidence',
      'evidence_hash',
      'evidence_too_large',
      'index_refused',
      'evidence_refused',
    ]) {
      byReason[reason] = await registryMetric(g, 'sharpeyes_gateway_ingest_rejected_events_total', {
        reason,
      });
    }
    const refusedTotal = await refused();
    const beyondRetention = await droppedByIndex();
    // Mutants that passed validation (bit flips in, say, the confidence) are the only strangers;
    // their crops are verified too (r.evidenceBad covers every point of the site).
    const storedMutants = r.extra.length;

    // The gateway is up and well.
    const health = await fetch(`${g.httpUrl}/healthz`);
    const healthBody = (await health.json()) as { status: string };
    expect(health.status).toBe(200);
    expect(healthBody.status).toBe('ok');
    expect(g.ingest.connected).toBe(true);

    // Publishing under another site's prefix: refused by the broker, the connection closed.
    const deniedBefore = await registryMetric(g, 'sharpeyes_gateway_broker_denied_total', {
      action: 'publish',
    });
    const intruder = await connect(g.brokerUrl, SITE, SITE_PASSWORD, `edge-${SITE}:intruder`);
    clients.push(intruder);
    // The broker ends the connection; a reset may surface as an 'error' event, which is expected.
    intruder.on('error', () => undefined);
    const own = await SyntheticEvents.create(valid.ident, OTHER_SITE);
    const closed = new Promise<void>((resolve) => {
      intruder.once('close', () => {
        resolve();
      });
    });
    // Another site's config: SUBACK 0x80 (mqtt.js rejects), and the connection stays.
    await expect(intruder.subscribeAsync(topic.config(OTHER_SITE), { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    expect(intruder.connected).toBe(true);
    intruder.publish(topic.events(OTHER_SITE), encodePayload('events', { events: [own.make(900_000)] }), {
      qos: 1,
    });
    await closed;
    expect(
      await registryMetric(g, 'sharpeyes_gateway_broker_denied_total', { action: 'publish' }),
    ).toBeGreaterThan(deniedBefore);
    // The real site publishes on its own prefix; only its event arrives.
    const other = await connect(g.brokerUrl, OTHER_SITE, otherSitePassword(OTHER_SITE), `edge-${OTHER_SITE}`);
    clients.push(other);
    await other.publishAsync(
      topic.events(OTHER_SITE),
      encodePayload('events', { events: [own.make(900_001)] }),
      {
        qos: 1,
      },
    );
    await untilPoints(influxd.url, setup.database, 1, { site: OTHER_SITE });
    const otherSite = await verifyIndex(setup, own, [900_001]);

    report('fuzz', {
      fuzz_payloads: FUZZ,
      outcomes_expected: outcomes,
      by_kind: Object.fromEntries(sent),
      refused_counted: refusedTotal,
      refused_by_reason: byReason,
      stored_mutants: storedMutants,
      stored_mutants_beyond_retention: beyondRetention,
      valid_events_sent: validCount,
      points: r.points,
      duplicates: r.duplicates,
      missing: r.missing.length,
      evidence_verified: r.evidenceChecked,
      stored_mutants_evidence_verified: r.extraEvidenceChecked,
      // A flip in the evidence field's tag leaves an event without a crop, which is valid.
      stored_mutants_without_crop: storedMutants - r.extraEvidenceChecked,
      fuzz_published_ms: fuzzDoneMs,
      cross_site_publish_refused: otherSite.points === 1 && otherSite.extra.length === 0,
      wall_ms: Date.now() - started,
    });
    expect(outcomes).toBeGreaterThanOrEqual(FUZZ);
    expect(refusedTotal + storedMutants + beyondRetention).toBe(outcomes);
    // Each kind of refusal was exercised.
    for (const reason of [
      'decode',
      'empty',
      'too_large',
      'too_many_events',
      'site_mismatch',
      'bad_id',
      'bad_kind',
      'bad_time',
      'bad_value',
      'bad_evidence',
      'evidence_hash',
      'evidence_too_large',
    ]) {
      expect(byReason[reason], reason).toBeGreaterThan(0);
    }
    // Only random bit flips could pass; every other kind was refused.
    expect(storedMutants + beyondRetention).toBeLessThanOrEqual(FUZZ_MIX.flip_anywhere);
    expect(r.missing, `missing ${sample(r.missing)}`).toEqual([]);
    expect(r.evidenceBad, `evidence bad ${sample(r.evidenceBad)}`).toEqual([]);
    expect(r.evidenceChecked).toBeGreaterThanOrEqual(validCount);
    expect(r.points - storedMutants).toBe(validCount);
    expect(r.duplicates).toBe(0);
    expect(otherSite.points).toBe(1);
    expect(otherSite.missing).toEqual([]);
    expect(otherSite.extra).toEqual([]);
  }, 300_000);
});
