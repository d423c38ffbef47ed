/**
 * Case-bound plate alerts against a real SQLite file: request, approval by someone else,
 * revocation, expiry; matching plate events into alerts once; escalation; acknowledgement in
 * scope; every step audited and the chain intact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Event, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { AlertService, type AlertChange } from '../../../gateway/src/alerts/alerts.ts';
import { AlertEntryStore, type AlertEntryChange } from '../../../gateway/src/alerts/entries.ts';
import { verifyAuditChain } from '../../../gateway/src/audit/verify.ts';
import { isGatewayError, type GatewayErrorCode } from '../../../gateway/src/errors.ts';
import { apiKey, openTestDb, user, type TestDb } from '../registry/helpers.ts';

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

const DAY = 86_400_000;
const PLACE_A1 = { district: 'A', street: 'S1', community: 'V7', grid: '' };
const PLACE_B = { district: 'B', street: 'S9', community: '', grid: '' };

const op1 = user('op1', 'operator', { district: 'A' });
const op2 = user('op2', 'operator', { district: 'A' });
const opB = user('opb', 'operator', { district: 'B' });
const opGlobal = user('chief', 'operator');

describe('plate alerts (SQLite)', () => {
  let t: TestDb;
  let entries: AlertEntryStore;
  let alerts: AlertService;
  let entryChanges: AlertEntryChange[];
  let alertChanges: AlertChange[];
  let n = 0;

  function plateEvent(plate: string, over: Partial<Event> = {}): Event {
    n++;
    return Event.fromPartial({
      eventId: `ev-${n}`,
      siteId: 'v7',
      cameraId: 'v7-gate-in',
      kind: EventKind.EVENT_KIND_PLATE,
      timeMs: t.clock.t,
      detail: { $case: 'plate', value: { text: plate } },
      ...over,
    });
  }

  beforeEach(() => {
    t = openTestDb('alerts');
    entries = new AlertEntryStore(
      t.db,
      t.audit,
      { ackTimeoutMs: 60_000, maxEscalations: 2, maxEntriesPerCase: 3 },
      t.clock.now,
    );
    alerts = new AlertService(t.db, t.audit, entries, t.clock.now);
    entryChanges = [];
    alertChanges = [];
    entries.changed.on((c) => entryChanges.push(c));
    alerts.changed.on((c) => alertChanges.push(c));
  });
  afterEach(() => {
    t.close();
  });

  function requestActive(plate = '粤B12345', caseRef = 'XS-2025-0815') {
    const e = entries.request(op1, {
      plate,
      caseRef,
      reason: `case ${caseRef}: stolen vehicle`,
      expiresMs: t.clock.t + 7 * DAY,
    });
    return entries.approve(op2, e.entryId);
  }

  it('an entry is inactive until someone else approves it; then it raises one alert per event', () => {
    const e = entries.request(op1, {
      plate: '粤b 12345',
      caseRef: 'XS-2025-0815',
      reason: 'case XS-2025-0815: stolen vehicle',
      expiresMs: t.clock.t + 7 * DAY,
    });
    expect(e).toMatchObject({
      plate: '粤B12345',
      kind: 'plate',
      status: 'pending',
      area: { district: 'A' },
      requestedBy: 'op1',
    });
    expect(alerts.processEvent(plateEvent('粤B12345'), PLACE_A1)).toEqual([]);

    throwsWith(() => entries.approve(op1, e.entryId), 'GATEWAY_ERR_ALERT_APPROVAL');
    throwsWith(() => entries.approve(opB, e.entryId), 'GATEWAY_ERR_FORBIDDEN');
    throwsWith(
      () => entries.approve(user('inst', 'installer', { district: 'A' }), e.entryId),
      'GATEWAY_ERR_FORBIDDEN',
    );
    const approved = entries.approve(op2, e.entryId);
    expect(approved).toMatchObject({ status: 'active', approvedBy: 'op2' });
    throwsWith(() => entries.approve(opGlobal, e.entryId), 'GATEWAY_ERR_ALERT_STATE');

    t.clock.advance(1000);
    const ev = plateEvent('粤B12345');
    const raised = alerts.processEvent(ev, PLACE_A1);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      entryId: e.entryId,
      caseRef: 'XS-2025-0815',
      eventId: ev.eventId,
      cameraId: 'v7-gate-in',
      plate: '粤B12345',
      place: PLACE_A1,
      ackDeadlineMs: t.clock.t + 60_000,
      escalationLevel: 0,
      acknowledgedBy: null,
    });
    // The same event again (redelivery, a better revision) raises nothing new.
    expect(alerts.processEvent({ ...ev, revision: 1 }, PLACE_A1)).toEqual([]);
    // Other plates, faces, other areas: nothing.
    expect(alerts.processEvent(plateEvent('粤B12346'), PLACE_A1)).toEqual([]);
    expect(
      alerts.processEvent(
        plateEvent('粤B12345', { kind: EventKind.EVENT_KIND_FACE, detail: undefined }),
        PLACE_A1,
      ),
    ).toEqual([]);
    expect(alerts.processEvent(plateEvent('粤B12345'), PLACE_B)).toEqual([]);
    expect(alertChanges.map((c) => c.change)).toEqual(['raised']);
    expect(entryChanges.map((c) => c.change)).toEqual(['requested', 'approved']);
  });

  it('expired and revoked entries never match; expiry is audited once', () => {
    const a = requestActive('粤B12345', 'CASE-A');
    const b = requestActive('*D12345', 'CASE-B');
    entries.revoke(op1, a.entryId, 'vehicle recovered, case CASE-A closed');
    expect(entries.get(a.entryId)?.status).toBe('revoked');
    expect(alerts.processEvent(plateEvent('粤B12345'), PLACE_A1)).toEqual([]);
    expect(alerts.processEvent(plateEvent('粤BD12345'), PLACE_A1)).toHaveLength(1);
    throwsWith(() => entries.revoke(op1, a.entryId, 'again, why not'), 'GATEWAY_ERR_ALERT_STATE');
    throwsWith(() => entries.revoke(op1, b.entryId, ''), 'GATEWAY_ERR_REASON_REQUIRED');

    t.clock.advance(7 * DAY);
    expect(entries.get(b.entryId)?.status).toBe('expired');
    expect(alerts.processEvent(plateEvent('粤BD12345'), PLACE_A1)).toEqual([]);
    expect(entries.auditExpired().map((e) => e.entryId)).toEqual([b.entryId]);
    expect(entries.auditExpired()).toEqual([]);
    expect(t.audit.list({ action: 'alert_entry.expire' })).toHaveLength(1);
    throwsWith(() => entries.approve(op2, b.entryId), 'GATEWAY_ERR_ALERT_STATE');
  });

  it('validates requests: pattern guardrail, expiry bound, area within the requester’s, reason, case limit, roles', () => {
    const base = {
      plate: '粤B12345',
      caseRef: 'C-9',
      reason: 'case C-9 hit and run',
      expiresMs: t.clock.t + DAY,
    };
    throwsWith(() => entries.request(op1, { ...base, plate: '粤*' }), 'GATEWAY_ERR_ALERT_PATTERN');
    throwsWith(() => entries.request(op1, { ...base, plate: '粤A*' }), 'GATEWAY_ERR_ALERT_PATTERN');
    const tooLong = throwsWith(
      () => entries.request(op1, { ...base, expiresMs: t.clock.t + 31 * DAY }),
      'GATEWAY_ERR_INVALID_INPUT',
    );
    expect(tooLong.message).toMatch(/expires_ms must be at most 30 days/);
    throwsWith(() => entries.request(op1, { ...base, expiresMs: t.clock.t }), 'GATEWAY_ERR_INVALID_INPUT');
    throwsWith(() => entries.request(op1, { ...base, area: { district: 'B' } }), 'GATEWAY_ERR_FORBIDDEN');
    throwsWith(() => entries.request(op1, { ...base, reason: 'x' }), 'GATEWAY_ERR_REASON_REQUIRED');
    throwsWith(() => entries.request(op1, { ...base, caseRef: '' }), 'GATEWAY_ERR_INVALID_INPUT');
    throwsWith(() => entries.request(user('adm', 'admin'), base), 'GATEWAY_ERR_FORBIDDEN');
    throwsWith(() => entries.request(apiKey('k', ['alerts']), base), 'GATEWAY_ERR_FORBIDDEN');
    const narrow = entries.request(op1, { ...base, area: { district: 'A', street: 'S1' } });
    expect(narrow.area).toEqual({ district: 'A', street: 'S1' });
    entries.request(op1, { ...base, plate: '粤B12346' });
    entries.request(op1, { ...base, plate: '粤B12347' });
    const full = throwsWith(
      () => entries.request(op1, { ...base, plate: '粤B12348' }),
      'GATEWAY_ERR_ALERT_PATTERN',
    );
    expect(full.message).toMatch(/already has 3 live entries/);
    expect(entries.list({ caseRef: 'C-9', status: 'pending' })).toHaveLength(3);
    expect(entries.list({ scope: { district: 'B' } })).toEqual([]);
  });

  it('escalates unacknowledged alerts at their deadline, up to the limit; acknowledgement stops it', () => {
    requestActive();
    const [a1] = alerts.processEvent(plateEvent('粤B12345'), PLACE_A1);
    const [a2] = alerts.processEvent(plateEvent('粤B12345'), PLACE_A1);
    if (a1 === undefined || a2 === undefined) throw new Error('no alerts');
    t.clock.advance(59_999);
    expect(alerts.escalateDue()).toEqual([]);
    t.clock.advance(1);
    expect(alerts.escalateDue().map((a) => [a.alertId, a.escalationLevel])).toEqual([
      [a1.alertId, 1],
      [a2.alertId, 1],
    ]);
    expect(alerts.escalateDue()).toEqual([]);

    throwsWith(() => alerts.acknowledge(opB, a1.alertId), 'GATEWAY_ERR_FORBIDDEN');
    throwsWith(
      () => alerts.acknowledge(apiKey('k', ['events'], { district: 'A' }), a1.alertId),
      'GATEWAY_ERR_FORBIDDEN',
    );
    const acked = alerts.acknowledge(op2, a1.alertId, 'patrol car 3 dispatched');
    expect(acked).toMatchObject({
      acknowledgedBy: 'user:op2',
      ackNote: 'patrol car 3 dispatched',
      escalationLevel: 1,
    });
    throwsWith(() => alerts.acknowledge(op1, a1.alertId), 'GATEWAY_ERR_ALERT_STATE');

    t.clock.advance(60_000);
    expect(alerts.escalateDue().map((a) => [a.alertId, a.escalationLevel])).toEqual([[a2.alertId, 2]]);
    t.clock.advance(60_000);
    expect(alerts.escalateDue()).toEqual([]);
    const keyAck = alerts.acknowledge(apiKey('k7', ['alerts'], { district: 'A' }), a2.alertId);
    expect(keyAck.acknowledgedBy).toBe('key:k7');

    expect(alerts.list({ open: true })).toEqual([]);
    expect(alerts.list({ scope: { district: 'A' } }).map((a) => a.alertId)).toEqual([a2.alertId, a1.alertId]);
    expect(alerts.list({ scope: { district: 'B' } })).toEqual([]);
    expect(alerts.list({ afterId: a1.alertId }).map((a) => a.alertId)).toEqual([a2.alertId]);
    expect(alertChanges.map((c) => c.change)).toEqual([
      'raised',
      'raised',
      'escalated',
      'escalated',
      'acknowledged',
      'escalated',
      'acknowledged',
    ]);
  });

  it('every step is in the audit trail and the chain verifies', () => {
    const e = requestActive();
    const [a] = alerts.processEvent(plateEvent('粤B12345'), PLACE_A1);
    if (a === undefined) throw new Error('no alert');
    t.clock.advance(60_000);
    alerts.escalateDue();
    alerts.acknowledge(op1, a.alertId);
    entries.revoke(op2, e.entryId, 'case closed, vehicle found');
    expect(
      t.audit
        .list({})
        .map((r) => r.action)
        .reverse(),
    ).toEqual([
      'alert_entry.request',
      'alert_entry.approve',
      'alert.raise',
      'alert.escalate',
      'alert.acknowledge',
      'alert_entry.revoke',
    ]);
    const req = t.audit.list({ action: 'alert_entry.request' })[0];
    expect(req?.actor).toBe('user:op1');
    expect(req?.details).toMatchObject({
      plate: '粤B12345',
      case_ref: 'XS-2025-0815',
      reason: 'case XS-2025-0815: stolen vehicle',
    });
    expect(verifyAuditChain(t.db)).toMatchObject({ ok: true, records: 6 });
  });

  it('the database itself refuses an approval by the requester', () => {
    const e = entries.request(op1, {
      plate: '粤B12345',
      caseRef: 'C-1',
      reason: 'case C-1 stolen car',
      expiresMs: t.clock.t + DAY,
    });
    expect(() =>
      t.db.run("UPDATE alert_entries SET approved_by = 'op1', approved_ms = 1 WHERE entry_id = ?", [
        e.entryId,
      ]),
    ).toThrow(/CHECK constraint/);
  });
});
