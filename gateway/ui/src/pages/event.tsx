/**
 * Event detail: the evidence crop and context frame with every field, and the linked context —
 * the same plate at other cameras within ±N hours, events at cameras within R metres within
 * ±M minutes, and the camera's live snapshot (fetched via the edge) refreshing every second.
 */
import { useState } from 'preact/hooks';
import { evidencePath, getEvent, searchEvents, snapshotPath } from '../api/client.ts';
import type { EventView } from '../api/types.ts';
import { ApiImage } from '../components/api-image.tsx';
import { ErrorBox, TopBar } from '../components/bits.tsx';
import { EventWhat, cameraName, cameraPlace } from '../components/event-bits.tsx';
import { ReasonBar } from '../components/reason-bar.tsx';
import { formatDuration, formatNumber, formatTime, t, type MessageKey } from '../i18n/index.ts';
import { distanceM } from '../lib/geo.ts';
import { useAsync } from '../lib/hooks.ts';
import { href } from '../lib/router.ts';
import { useApp } from '../state.ts';

function LinkedTable({ events, anchor, testId }: { events: EventView[]; anchor: EventView; testId: string }) {
  const app = useApp();
  if (events.length === 0)
    return (
      <p class="muted" data-testid={testId} data-count="0">
        {t('event.noneLinked')}
      </p>
    );
  return (
    <table data-testid={testId} data-count={events.length}>
      <thead>
        <tr>
          <th>{t('field.what')}</th>
          <th>{t('field.time')}</th>
          <th>{t('event.offset')}</th>
          <th>{t('field.camera')}</th>
          <th>{t('field.place')}</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.eventId} data-event-id={e.eventId}>
            <td>
              <a href={href(`/events/${e.eventId}`)}>
                <EventWhat e={e} />
              </a>
            </td>
            <td>{formatTime(e.timeMs)}</td>
            <td>{`${e.timeMs >= anchor.timeMs ? '+' : '−'}${formatDuration(Math.abs(e.timeMs - anchor.timeMs))}`}</td>
            <td>{cameraName(e, app.camerasById)}</td>
            <td>{cameraPlace(e, app.camerasById)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function SamePlate({ e, reason }: { e: EventView; reason: string }) {
  const [hours, setHours] = useState(2);
  const plate = e.plate?.text ?? '';
  const res = useAsync(
    async (signal) => {
      if (plate === '') return [];
      const page = await searchEvents(
        { fromMs: e.timeMs - hours * 3_600_000, toMs: e.timeMs + hours * 3_600_000, plate, limit: 200 },
        reason,
        signal,
      );
      return page.events.filter((x) => x.eventId !== e.eventId && x.cameraId !== e.cameraId);
    },
    [e.eventId, hours, reason],
  );
  return (
    <div class="panel">
      <h2>{t('event.samePlate')}</h2>
      <div class="form-row">
        <label>
          {t('event.withinHours')}
          <input
            type="number"
            min={1}
            max={72}
            value={hours}
            onChange={(ev) => {
              setHours(Math.max(1, Number(ev.currentTarget.value) || 1));
            }}
          />
        </label>
      </div>
      {plate === '' ? (
        <p class="muted">{t('event.notPlate')}</p>
      ) : (
        <>
          <ErrorBox error={res.error} />
          {res.data !== undefined && <LinkedTable events={res.data} anchor={e} testId="same-plate" />}
        </>
      )}
    </div>
  );
}

function Nearby({ e, reason }: { e: EventView; reason: string }) {
  const app = useApp();
  const [metres, setMetres] = useState(1000);
  const [minutes, setMinutes] = useState(10);
  const here = app.camerasById.get(e.cameraId)?.position ?? null;
  const near =
    here === null
      ? []
      : app.cameras
          .filter((c) => c.position !== null && distanceM(here, c.position) <= metres)
          .map((c) => c.cameraId);
  const res = useAsync(
    async (signal) => {
      if (near.length === 0) return [];
      const page = await searchEvents(
        {
          fromMs: e.timeMs - minutes * 60_000,
          toMs: e.timeMs + minutes * 60_000,
          cameraIds: near,
          limit: 200,
        },
        reason,
        signal,
      );
      return page.events.filter((x) => x.eventId !== e.eventId);
    },
    [e.eventId, near.join(','), minutes, reason],
  );
  return (
    <div class="panel">
      <h2>{t('event.nearby')}</h2>
      <div class="form-row">
        <label>
          {t('event.withinMetres')}
          <input
            type="number"
            min={50}
            max={20000}
            step={50}
            value={metres}
            onChange={(ev) => {
              setMetres(Math.max(50, Number(ev.currentTarget.value) || 50));
            }}
          />
        </label>
        <label>
          {t('event.withinMinutes')}
          <input
            type="number"
            min={1}
            max={720}
            value={minutes}
            onChange={(ev) => {
              setMinutes(Math.max(1, Number(ev.currentTarget.value) || 1));
            }}
          />
        </label>
        <span class="muted">{t('event.nearbyCameras', { n: near.length })}</span>
      </div>
      {here === null ? (
        <p class="muted">{t('event.noPosition')}</p>
      ) : (
        <>
          <ErrorBox error={res.error} />
          {res.data !== undefined && <LinkedTable events={res.data} anchor={e} testId="nearby" />}
        </>
      )}
    </div>
  );
}

/** See the module comment. */
export function EventPage({ eventId }: { eventId: string }) {
  const app = useApp();
  const reason = app.reason;
  const res = useAsync(
    async () => (reason === null ? undefined : getEvent(eventId, reason)),
    [eventId, reason],
  );
  if (reason === null) {
    return (
      <section>
        <TopBar title={t('event.title')} />
        <ReasonBar />
        <p class="notice">{t('event.needReason')}</p>
      </section>
    );
  }
  const e = res.data;
  const cam = e === undefined ? undefined : app.camerasById.get(e.cameraId);
  return (
    <section>
      <TopBar title={t('event.title')}>
        <a
          class="button"
          href="#/search"
          onClick={(ev) => {
            if (history.length > 1) {
              ev.preventDefault();
              history.back();
            }
          }}
        >
          {t('common.back')}
        </a>
      </TopBar>
      <ReasonBar />
      <ErrorBox error={res.error} />
      {e !== undefined && (
        <>
          <div class="grid-2">
            <div class="panel">
              <h2>{t('event.evidence')}</h2>
              {e.evidenceSha256 !== '' ? (
                <ApiImage
                  path={evidencePath(e.eventId, 'crop')}
                  reason={reason}
                  alt={t('event.cropAlt')}
                  class="frame"
                  testId="event-crop"
                />
              ) : (
                <p class="muted">{t('event.noEvidence')}</p>
              )}
              <h3>{t('event.context')}</h3>
              {e.contextSha256 !== '' ? (
                <ApiImage
                  path={evidencePath(e.eventId, 'context')}
                  reason={reason}
                  alt={t('event.contextAlt')}
                  class="frame"
                  testId="event-context"
                />
              ) : (
                <p class="muted">{t('event.noContext')}</p>
              )}
            </div>
            <div class="panel">
              <h2>
                <EventWhat e={e} />
              </h2>
              <table data-testid="event-fields">
                <tbody>
                  {(
                    [
                      ['field.eventId', e.eventId],
                      ['field.kind', t(`kind.${e.kind}`)],
                      [
                        'field.plateColour',
                        e.plate === null ? '—' : t(`colour.${e.plate.colour}` as MessageKey),
                      ],
                      [
                        'field.reads',
                        e.plate === null ? '—' : `${e.plate.agreeingReads} / ${e.plate.totalReads}`,
                      ],
                      ['field.time', formatTime(e.timeMs)],
                      ['field.firstSeen', formatTime(e.firstSeenMs)],
                      ['field.lastSeen', formatTime(e.lastSeenMs)],
                      ['field.camera', `${cameraName(e, app.camerasById)} (${e.cameraId})`],
                      ['field.site', e.siteId],
                      ['field.place', cameraPlace(e, app.camerasById)],
                      ['field.direction', t(`direction.${e.direction}` as MessageKey)],
                      ['field.confidence', `${formatNumber(e.confidence * 100, 1)}%`],
                      [
                        'field.box',
                        e.box === null
                          ? '—'
                          : `${e.box.x},${e.box.y} ${e.box.width}×${e.box.height} / ${e.frameWidth}×${e.frameHeight}`,
                      ],
                      ['field.track', e.trackId],
                      ['field.revision', String(e.revision)],
                      ['field.models', e.modelIds.join(', ') || '—'],
                      ['field.evidenceSha', e.evidenceSha256 || '—'],
                      ['field.contextSha', e.contextSha256 || '—'],
                    ] as [MessageKey, string][]
                  ).map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row">{t(k)}</th>
                      <td style={{ wordBreak: 'break-all' }}>{v}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </div>
          <div class="grid-2">
            <SamePlate e={e} reason={reason} />
            <Nearby e={e} reason={reason} />
          </div>
          <div class="panel">
            <h2>{t('event.liveSnapshot', { camera: cam?.name ?? e.cameraId })}</h2>
            <ApiImage
              path={snapshotPath(e.cameraId)}
              reason={reason}
              refreshMs={1000}
              alt={t('event.snapshotAlt')}
              class="frame"
              testId="live-snapshot"
            />
          </div>
        </>
      )}
    </section>
  );
}
