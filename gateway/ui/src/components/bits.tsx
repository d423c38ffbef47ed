/** Small presentational pieces used across pages. */
import type { ComponentChildren } from 'preact';
import { ApiError } from '../api/http.ts';
import type { CameraStatusName, PlateColourName } from '../api/types.ts';
import { formatDuration, t, type MessageKey } from '../i18n/index.ts';

/** A plate in its colours. */
export function Plate({ text, colour }: { text: string; colour: PlateColourName }) {
  const cls = colour === 'unspecified' ? 'unknown' : colour;
  return (
    <span class={`plate plate-${cls}`} title={t(`colour.${colour}` as MessageKey)} data-testid="plate">
      {text || '—'}
    </span>
  );
}

/** A camera status as a coloured badge with its name (never colour alone). */
export function StatusBadge({ status }: { status: CameraStatusName }) {
  return <span class={`badge st-${status}`}>{t(`status.${status}` as MessageKey)}</span>;
}

/** Map colours of statuses (also the legend). */
export const STATUS_COLOURS: Record<CameraStatusName, string> = {
  online: '#4fd18b',
  degraded: '#ffc857',
  offline: '#ff7b72',
  unknown: '#9aa7b6',
};

/** An error from a call, in words (API code and field when given). */
export function ErrorBox({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  let text: string;
  if (error instanceof ApiError) {
    text =
      error.status === 403
        ? t('error.forbidden', { message: error.message })
        : t('error.api', { message: error.message, code: error.code });
  } else if (error instanceof Error) text = error.message;
  else text = typeof error === 'string' ? error : JSON.stringify(error);
  return (
    <div class="error" role="alert">
      {text}
    </div>
  );
}

/** Time left until `deadlineMs`, or how long ago it passed. */
export function Countdown({ deadlineMs, now }: { deadlineMs: number; now: number }) {
  const left = deadlineMs - now;
  return left >= 0 ? (
    <span class={left < 60_000 ? 'badge st-degraded' : 'badge'} data-testid="countdown">
      {t('alerts.left', { time: formatDuration(left) })}
    </span>
  ) : (
    <span class="badge st-offline" data-testid="countdown">
      {t('alerts.overdue', { time: formatDuration(-left) })}
    </span>
  );
}

/** A page heading row with actions on the right. */
export function TopBar({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="topbar">
      <h1>{title}</h1>
      {children}
    </div>
  );
}
