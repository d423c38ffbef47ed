/**
 * The live event wall: new plate and face events as they arrive (within a second of ingest),
 * each with its crop, plate text and colour, camera, place and time. Filters by area, camera
 * and kind are applied by the gateway (the stream is reopened when they change); pausing keeps
 * the stream and holds new events until resumed.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { liveStreamUrl } from '../api/client.ts';
import type { AreaScope, EventKindName, EventView } from '../api/types.ts';
import { areaOptions, placeInScope } from '../components/area-tree.tsx';
import { ErrorBox, TopBar } from '../components/bits.tsx';
import { EventCard } from '../components/event-bits.tsx';
import { ReasonBar } from '../components/reason-bar.tsx';
import { t, type MessageKey } from '../i18n/index.ts';
import { useLiveEvents } from '../lib/live.ts';
import { useApp } from '../state.ts';

const MAX_CARDS = 48;

/** See the module comment. */
export function WallPage() {
  const app = useApp();
  const [areaKey, setAreaKey] = useState('{}');
  const [cameraId, setCameraId] = useState('');
  const [kind, setKind] = useState<'' | EventKindName>('');
  const [paused, setPaused] = useState(false);
  const [events, setEvents] = useState<EventView[]>([]);
  const [held, setHeld] = useState<EventView[]>([]);
  const [freshIds, setFreshIds] = useState<ReadonlySet<string>>(new Set());
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    if (app.reason === null) app.askReason().catch(() => undefined);
  }, []);

  const area = JSON.parse(areaKey) as AreaScope;
  const areas = useMemo(() => areaOptions(app.cameras), [app.cameras]);
  const camerasInArea = app.cameras.filter((c) => placeInScope(c.place, area));
  const url =
    app.reason === null
      ? null
      : liveStreamUrl({
          reason: app.reason,
          ...(cameraId !== '' && { cameraIds: [cameraId] }),
          ...(kind !== '' && { kinds: [kind] }),
          ...(Object.keys(area).length > 0 && { area }),
        });

  const add = (list: EventView[], e: EventView): EventView[] =>
    [e, ...list.filter((x) => x.eventId !== e.eventId)].slice(0, MAX_CARDS);
  const live = useLiveEvents(url, (e) => {
    if (pausedRef.current) {
      setHeld((h) => add(h, e));
      return;
    }
    setEvents((list) => add(list, e));
    setFreshIds((s) => new Set([...s, e.eventId]));
    setTimeout(() => {
      setFreshIds((s) => {
        const n = new Set(s);
        n.delete(e.eventId);
        return n;
      });
    }, 3000);
  });

  // A new filter starts a new wall.
  useEffect(() => {
    setEvents([]);
    setHeld([]);
  }, [url]);

  const resume = (): void => {
    setPaused(false);
    setEvents((list) => held.reduceRight((acc, e) => add(acc, e), list));
    setHeld([]);
  };

  return (
    <section>
      <TopBar title={t('wall.title')}>
        <span
          class={`badge ${live.state === 'open' ? 'st-online' : live.state === 'closed' ? 'st-offline' : 'st-degraded'}`}
          data-testid="live-state"
          data-state={live.state}
        >
          {t(`live.${live.state}` as MessageKey)}
        </span>
        {paused ? (
          <button type="button" class="primary" onClick={resume} data-testid="resume">
            {t('wall.resume', { n: held.length })}
          </button>
        ) : (
          <button
            type="button"
            onClick={() => {
              setPaused(true);
            }}
            data-testid="pause"
          >
            {t('wall.pause')}
          </button>
        )}
      </TopBar>
      <ReasonBar />
      <ErrorBox error={live.error} />
      <div class="form-row" role="group" aria-label={t('wall.filters')}>
        <label>
          {t('field.area')}
          <select
            value={areaKey}
            onChange={(e) => {
              setAreaKey(e.currentTarget.value);
              setCameraId('');
            }}
            data-testid="wall-area"
          >
            <option value="{}">{t('area.all')}</option>
            {areas.map((a) => (
              <option key={a.value} value={a.value}>
                {a.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('field.camera')}
          <select
            value={cameraId}
            onChange={(e) => {
              setCameraId(e.currentTarget.value);
            }}
            data-testid="wall-camera"
          >
            <option value="">{t('common.any')}</option>
            {camerasInArea.map((c) => (
              <option key={c.cameraId} value={c.cameraId}>
                {c.name || c.cameraId}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('field.kind')}
          <select
            value={kind}
            onChange={(e) => {
              setKind(e.currentTarget.value as '' | EventKindName);
            }}
            data-testid="wall-kind"
          >
            <option value="">{t('common.any')}</option>
            <option value="plate">{t('kind.plate')}</option>
            <option value="face">{t('kind.face')}</option>
          </select>
        </label>
      </div>
      {app.reason === null ? (
        <p class="notice">{t('wall.needReason')}</p>
      ) : events.length === 0 ? (
        <p class="muted" data-testid="wall-empty">
          {t('wall.waiting')}
        </p>
      ) : null}
      <div class="wall" aria-live="polite" data-testid="wall">
        {app.reason !== null &&
          events.map((e) => (
            <EventCard
              key={e.eventId}
              e={e}
              cameras={app.camerasById}
              reason={app.reason ?? ''}
              fresh={freshIds.has(e.eventId)}
            />
          ))}
      </div>
    </section>
  );
}
