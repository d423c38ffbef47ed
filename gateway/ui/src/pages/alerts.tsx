/**
 * Alerts: hits of approved, case-bound plate entries in the operator's area. Each shows its
 * acknowledgement deadline counting down and its escalation level; acknowledging takes a short
 * note. New hits and escalations arrive on the live alert stream; the list is also re-read every
 * 15 s so a missed message costs at most that.
 */
import { useState } from 'preact/hooks';
import { acknowledgeAlert, listAlerts, liveAlertsUrl } from '../api/client.ts';
import type { AlertView } from '../api/types.ts';
import { scopeLabel } from '../components/area-tree.tsx';
import { Countdown, ErrorBox, Plate, TopBar } from '../components/bits.tsx';
import { formatTime, t } from '../i18n/index.ts';
import { useAsync, useInterval, useNow } from '../lib/hooks.ts';
import { useSse } from '../lib/live.ts';
import { href } from '../lib/router.ts';
import { useApp } from '../state.ts';

function AlertRow({
  a,
  now,
  onAck,
}: {
  a: AlertView;
  now: number;
  onAck: (a: AlertView, note: string) => Promise<void>;
}) {
  const app = useApp();
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const cam = app.camerasById.get(a.cameraId);
  const open = a.acknowledgedMs === null;
  return (
    <tr data-alert-id={a.alertId} data-testid="alert-row" data-open={open}>
      <td>
        <Plate text={a.plate} colour="unspecified" />
        <div class="muted">{t('alerts.case', { ref: a.caseRef })}</div>
      </td>
      <td>
        <a href={href(`/events/${a.eventId}`)}>{formatTime(a.eventTimeMs)}</a>
      </td>
      <td>
        {cam?.name ?? a.cameraId}
        <div class="muted">{scopeLabel(a.place)}</div>
      </td>
      <td>
        {open ? (
          <Countdown deadlineMs={a.ackDeadlineMs} now={now} />
        ) : (
          <span class="badge st-online">{t('alerts.acknowledged')}</span>
        )}
      </td>
      <td data-testid="escalation">
        {a.escalationLevel === 0 ? (
          '—'
        ) : (
          <span class="badge st-offline">{t('alerts.escalated', { n: a.escalationLevel })}</span>
        )}
      </td>
      <td>
        {open ? (
          <form
            class="form-row"
            onSubmit={(e) => {
              e.preventDefault();
              setBusy(true);
              void onAck(a, note).finally(() => {
                setBusy(false);
              });
            }}
          >
            <label>
              {t('alerts.note')}
              <input
                value={note}
                onInput={(e) => {
                  setNote(e.currentTarget.value);
                }}
              />
            </label>
            <button type="submit" class="primary" disabled={busy} data-testid="ack">
              {t('alerts.ack')}
            </button>
          </form>
        ) : (
          <span class="muted">
            {t('alerts.ackedBy', { who: a.acknowledgedBy ?? '', at: formatTime(a.acknowledgedMs ?? 0) })}
          </span>
        )}
      </td>
    </tr>
  );
}

/** See the module comment. */
export function AlertsPage() {
  const now = useNow(1000);
  const [showAll, setShowAll] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const res = useAsync(() => listAlerts(showAll ? undefined : true), [showAll]);
  useInterval(res.reload, 15_000);
  // Each message is a change of one alert: re-read the list (it is short) rather than patch it.
  const live = useSse(liveAlertsUrl(), ['alert'], () => {
    res.reload();
  });
  const ack = async (a: AlertView, note: string): Promise<void> => {
    setError(undefined);
    try {
      await acknowledgeAlert(a.alertId, note);
      res.reload();
    } catch (err) {
      setError(err);
    }
  };
  const alerts = res.data ?? [];
  return (
    <section>
      <TopBar title={t('alerts.title')}>
        <span class={`badge ${live.state === 'open' ? 'st-online' : 'st-degraded'}`}>
          {t(live.state === 'open' ? 'live.open' : 'live.retrying')}
        </span>
        <label class="inline">
          <input
            type="checkbox"
            checked={showAll}
            onChange={(e) => {
              setShowAll(e.currentTarget.checked);
            }}
          />
          {t('alerts.showAll')}
        </label>
        <a class="button" href={href('/entries')}>
          {t('nav.entries')}
        </a>
      </TopBar>
      <ErrorBox error={res.error ?? error} />
      {alerts.length === 0 && !res.loading ? (
        <p class="muted" data-testid="no-alerts">
          {t('alerts.none')}
        </p>
      ) : (
        <table data-testid="alerts">
          <thead>
            <tr>
              <th>{t('field.plate')}</th>
              <th>{t('field.time')}</th>
              <th>{t('field.camera')}</th>
              <th>{t('alerts.deadline')}</th>
              <th>{t('alerts.escalation')}</th>
              <th>{t('alerts.action')}</th>
            </tr>
          </thead>
          <tbody>
            {alerts.map((a) => (
              <AlertRow key={a.alertId} a={a} now={now} onAck={ack} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
