/** The stated reason of this search session, with a button to change it. */
import { t } from '../i18n/index.ts';
import { useApp } from '../state.ts';

/** See the module comment. */
export function ReasonBar() {
  const app = useApp();
  return (
    <div class="form-row" data-testid="reason-bar">
      <span class="muted">{t('reason.current')}</span>
      <strong data-testid="reason-text">{app.reason ?? t('reason.none')}</strong>
      <button
        type="button"
        onClick={() => {
          app.askReason(true).catch(() => undefined);
        }}
      >
        {app.reason === null ? t('reason.state') : t('reason.change')}
      </button>
    </div>
  );
}
