/**
 * The reason prompt: shown once per search session (the first search, evidence fetch or live
 * view needing one), and again only when the operator chooses to change it. The same rules as
 * the gateway (at least 8 characters, 3 different letters or digits) are checked here first so
 * the operator gets the message at once; the gateway still decides.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n/index.ts';

/** The client-side check (mirrors gateway/src/auth/reason.ts defaults). Empty = fine. */
export function reasonProblem(raw: string): string {
  const text = raw.trim().replace(/\s+/g, ' ');
  // Counted in code points, as the gateway counts them.
  const length = Array.from(text).length;
  if (length < 8) return t('reason.tooShort', { n: 8 });
  if (length > 500) return t('reason.tooLong', { n: 500 });
  const distinct = new Set(text.toLowerCase().match(/[\p{L}\p{N}]/gu) ?? []);
  if (distinct.size < 3) return t('reason.tooPlain');
  return '';
}

/** Props of {@link ReasonDialog}. */
export interface ReasonDialogProps {
  initial: string;
  onSubmit: (reason: string) => void;
  onCancel: () => void;
}

/** A modal dialog asking for the reason. */
export function ReasonDialog({ initial, onSubmit, onCancel }: ReasonDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [value, setValue] = useState(initial);
  const [problem, setProblem] = useState('');
  useEffect(() => {
    const d = ref.current;
    if (d !== null && !d.open) d.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      aria-labelledby="reason-title"
      data-testid="reason-dialog"
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          const p = reasonProblem(value);
          setProblem(p);
          if (p === '') onSubmit(value.trim().replace(/\s+/g, ' '));
        }}
      >
        <h2 id="reason-title">{t('reason.title')}</h2>
        <p class="muted">{t('reason.explain')}</p>
        <label>
          {t('reason.label')}
          <input
            name="reason"
            value={value}
            autoFocus
            required
            maxLength={500}
            placeholder={t('reason.placeholder')}
            onInput={(e) => {
              setValue(e.currentTarget.value);
            }}
          />
        </label>
        {problem !== '' && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        <div class="wizard-nav">
          <button type="submit" class="primary">
            {t('reason.confirm')}
          </button>
          <button type="button" onClick={onCancel}>
            {t('common.cancel')}
          </button>
        </div>
      </form>
    </dialog>
  );
}
