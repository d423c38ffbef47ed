/**
 * Alert entries: request one (a plate or pattern, a case reference, a reason, an expiry of at
 * most 30 days, an area within one's own), and approve or revoke others'. An entry is inactive
 * until an operator other than the requester approves it; the gateway enforces that rule — the
 * page only does not offer approving one's own request.
 */
import { useMemo, useState } from 'preact/hooks';
import { approveEntry, listEntries, requestEntry, revokeEntry } from '../api/client.ts';
import type { AlertEntryView, AreaScope } from '../api/types.ts';
import { areaOptions, scopeLabel } from '../components/area-tree.tsx';
import { ErrorBox, Plate, TopBar } from '../components/bits.tsx';
import { reasonProblem } from '../components/reason-dialog.tsx';
import { formatTime, t, type MessageKey } from '../i18n/index.ts';
import { useAsync } from '../lib/hooks.ts';
import { useApp } from '../state.ts';

const DAY = 86_400_000;

function RequestForm({ onDone }: { onDone: () => void }) {
  const app = useApp();
  const [plate, setPlate] = useState('');
  const [caseRef, setCaseRef] = useState('');
  const [reason, setReason] = useState('');
  const [days, setDays] = useState(7);
  const [area, setArea] = useState('{}');
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<AlertEntryView | null>(null);
  const areas = useMemo(() => areaOptions(app.cameras), [app.cameras]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    setDone(null);
    const p = reasonProblem(reason);
    if (p !== '') {
      setError(new Error(p));
      return;
    }
    try {
      const parsed = JSON.parse(area) as AreaScope;
      const created = await requestEntry({
        plate: plate.trim(),
        caseRef: caseRef.trim(),
        reason: reason.trim(),
        expiresMs: Date.now() + days * DAY,
        ...(Object.keys(parsed).length > 0 && { area: parsed }),
      });
      setDone(created);
      setPlate('');
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" onSubmit={(e) => void submit(e)} data-testid="entry-form">
      <h2>{t('entries.request')}</h2>
      <p class="muted">{t('entries.rules')}</p>
      <div class="form-row">
        <label>
          {t('entries.plate')}
          <input
            name="plate"
            required
            value={plate}
            placeholder={t('search.platePlaceholder')}
            onInput={(e) => {
              setPlate(e.currentTarget.value);
            }}
          />
        </label>
        <label>
          {t('entries.caseRef')}
          <input
            name="caseRef"
            required
            value={caseRef}
            onInput={(e) => {
              setCaseRef(e.currentTarget.value);
            }}
          />
        </label>
        <label>
          {t('entries.days')}
          <input
            name="days"
            type="number"
            min={1}
            max={30}
            required
            value={days}
            onInput={(e) => {
              setDays(Number(e.currentTarget.value));
            }}
          />
        </label>
        <label>
          {t('field.area')}
          <select
            name="area"
            value={area}
            onChange={(e) => {
              setArea(e.currentTarget.value);
            }}
          >
            <option value="{}">{t('entries.wholeArea')}</option>
            {areas.map((a) => (
              <option key={a.value} value={a.value}>
                {a.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="form-row">
        <label style={{ flex: 1 }}>
          {t('entries.reason')}
          <input
            name="reason"
            required
            value={reason}
            onInput={(e) => {
              setReason(e.currentTarget.value);
            }}
          />
        </label>
      </div>
      <ErrorBox error={error} />
      {done !== null && (
        <p class="ok-box" role="status" data-testid="entry-requested">
          {t('entries.requested', { plate: done.plate })}
        </p>
      )}
      <button type="submit" class="primary" data-testid="entry-submit">
        {t('entries.submit')}
      </button>
    </form>
  );
}

/** See the module comment. */
export function EntriesPage() {
  const app = useApp();
  const res = useAsync(() => listEntries(), []);
  const [error, setError] = useState<unknown>(undefined);
  const mine = (e: AlertEntryView): boolean =>
    e.requestedBy === app.me.username || e.requestedBy === `user:${app.me.username}`;
  const act = async (fn: () => Promise<unknown>): Promise<void> => {
    setError(undefined);
    try {
      await fn();
      res.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section>
      <TopBar title={t('entries.title')} />
      <RequestForm onDone={res.reload} />
      <div class="panel">
        <h2>{t('entries.list')}</h2>
        <ErrorBox error={res.error ?? error} />
        <table data-testid="entries">
          <thead>
            <tr>
              <th>{t('field.plate')}</th>
              <th>{t('entries.caseRef')}</th>
              <th>{t('field.area')}</th>
              <th>{t('entries.requestedBy')}</th>
              <th>{t('entries.expires')}</th>
              <th>{t('field.status')}</th>
              <th>{t('alerts.action')}</th>
            </tr>
          </thead>
          <tbody>
            {(res.data ?? []).map((e) => (
              <tr
                key={e.entryId}
                data-entry-id={e.entryId}
                data-plate={e.plate}
                data-status={e.status}
                data-testid="entry-row"
              >
                <td>
                  <Plate text={e.plate} colour="unspecified" />
                </td>
                <td>
                  {e.caseRef}
                  <div class="muted">{e.reason}</div>
                </td>
                <td>{scopeLabel(e.area)}</td>
                <td>
                  {e.requestedBy}
                  <div class="muted">{formatTime(e.requestedMs)}</div>
                </td>
                <td>{formatTime(e.expiresMs)}</td>
                <td>
                  <span
                    class={`badge ${e.status === 'active' ? 'st-online' : e.status === 'pending' ? 'st-degraded' : 'st-unknown'}`}
                  >
                    {t(`entries.status.${e.status}` as MessageKey)}
                  </span>
                  {e.approvedBy !== null && (
                    <div class="muted">{t('entries.approvedBy', { who: e.approvedBy })}</div>
                  )}
                </td>
                <td>
                  {e.status === 'pending' &&
                    (mine(e) ? (
                      <span class="muted">{t('entries.needsOther')}</span>
                    ) : (
                      <button
                        type="button"
                        class="primary"
                        onClick={() => void act(() => approveEntry(e.entryId))}
                        data-testid="approve"
                      >
                        {t('entries.approve')}
                      </button>
                    ))}{' '}
                  {(e.status === 'pending' || e.status === 'active') && (
                    <button
                      type="button"
                      class="danger"
                      onClick={() => {
                        const why = prompt(t('entries.revokeWhy'));
                        if (why !== null && why.trim() !== '')
                          void act(() => revokeEntry(e.entryId, why.trim()));
                      }}
                    >
                      {t('entries.revoke')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
