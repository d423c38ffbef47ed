/** Pieces that show an event: where and when, direction, kind, and a card for the wall. */
import { evidencePath } from '../api/client.ts';
import type { CameraView, EventView } from '../api/types.ts';
import { formatNumber, formatTime, t, type MessageKey } from '../i18n/index.ts';
import { href } from '../lib/router.ts';
import { ApiImage } from './api-image.tsx';
import { scopeLabel } from './area-tree.tsx';
import { Plate } from './bits.tsx';

/** Camera name (or id) of an event. */
export function cameraName(e: { cameraId: string }, cameras: ReadonlyMap<string, CameraView>): string {
  const c = cameras.get(e.cameraId);
  return c === undefined ? e.cameraId : c.name || c.cameraId;
}

/** Place of an event's camera. */
export function cameraPlace(e: { cameraId: string }, cameras: ReadonlyMap<string, CameraView>): string {
  const c = cameras.get(e.cameraId);
  return c === undefined ? '—' : scopeLabel(c.place);
}

/** What was seen: the plate, or "face". */
export function EventWhat({ e }: { e: EventView }) {
  return e.plate !== null ? (
    <Plate text={e.plate.text} colour={e.plate.colour} />
  ) : (
    <span class="badge">{t('kind.face')}</span>
  );
}

/** A card of the live wall. */
export function EventCard({
  e,
  cameras,
  reason,
  fresh,
}: {
  e: EventView;
  cameras: ReadonlyMap<string, CameraView>;
  reason: string;
  fresh: boolean;
}) {
  return (
    <a
      class={`card${fresh ? ' fresh' : ''}`}
      href={href(`/events/${e.eventId}`)}
      data-event-id={e.eventId}
      data-testid="wall-card"
    >
      {e.evidenceSha256 !== '' ? (
        <ApiImage
          path={evidencePath(e.eventId, 'crop')}
          reason={reason}
          alt={t('event.cropAlt')}
          class="crop"
        />
      ) : (
        <div class="img-missing">{t('event.noEvidence')}</div>
      )}
      <div>
        <EventWhat e={e} />{' '}
        {e.plate !== null && <span class="muted">{t(`colour.${e.plate.colour}` as MessageKey)}</span>}
      </div>
      <div class="meta">
        {cameraName(e, cameras)} · {cameraPlace(e, cameras)}
      </div>
      <div class="meta">
        <time dateTime={new Date(e.timeMs).toISOString()}>{formatTime(e.timeMs)}</time> ·{' '}
        {t(`direction.${e.direction}` as MessageKey)} · {formatNumber(e.confidence * 100)}%
      </div>
    </a>
  );
}
