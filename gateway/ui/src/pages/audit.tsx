/** The audit trail (auditors): recent records and a check of the hash chain. */
import { useState } from 'preact/hooks';
import { request } from '../api/http.ts';
import { bool, list, num, str } from '../api/read.ts';
import { ErrorBox, TopBar } from '../components/bits.tsx';
import { formatTime, t } from '../i18n/index.ts';
import { useAsync } from '../lib/hooks.ts';

interface Row {
  seq: number;
  atMs: number;
  actor: string;
  action: string;
  target: string;
  details: string;
}

/** See the module comment. */
export function AuditPage() {
  const res = useAsync(async () => {
    const body = await request<unknown>('/audit', { query: { limit: 200 } });
    return list(body, 'items').map((r): Row => ({
      seq: num(r, 'seq'),
      atMs: num(r, 'time_ms'),
      actor: str(r, 'actor'),
      action: str(r, 'action'),
      target: str(r, 'target'),
      details: JSON.stringify((r as Record<string, unknown>).details ?? {}),
    }));
  }, []);
  const [verify, setVerify] = useState<{ ok: boolean; text: string } | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const check = async (): Promise<void> => {
    setError(undefined);
    try {
      const body = await request<unknown>('/audit/verify', { method: 'POST', body: {} });
      setVerify({ ok: bool(body, 'ok'), text: str(body, 'message') || JSON.stringify(body) });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section>
      <TopBar title={t('audit.title')}>
        <button type="button" class="primary" onClick={() => void check()}>
          {t('audit.verify')}
        </button>
      </TopBar>
      {verify !== null && (
        <p class={verify.ok ? 'ok-box' : 'error'}>
          {verify.ok ? t('audit.ok') : t('audit.broken', { detail: verify.text })}
        </p>
      )}
      <ErrorBox error={res.error ?? error} />
      <table data-testid="audit-table">
        <thead>
          <tr>
            <th>#</th>
            <th>{t('field.time')}</th>
            <th>{t('audit.actor')}</th>
            <th>{t('audit.action')}</th>
            <th>{t('audit.target')}</th>
            <th>{t('audit.details')}</th>
          </tr>
        </thead>
        <tbody>
          {(res.data ?? []).map((r) => (
            <tr key={r.seq}>
              <td>{r.seq}</td>
              <td>{formatTime(r.atMs)}</td>
              <td>{r.actor}</td>
              <td>{r.action}</td>
              <td>{r.target}</td>
              <td style={{ wordBreak: 'break-all', fontSize: '0.85rem' }}>{r.details}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
