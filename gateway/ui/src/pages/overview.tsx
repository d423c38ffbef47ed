/**
 * Overview: the cameras of the user's area on the map, coloured by status, and beside it the
 * location tree with counts and online share. Selecting an area narrows the map.
 */
import { useMemo, useState } from 'preact/hooks';
import type { AreaScope, CameraStatusName } from '../api/types.ts';
import { AreaTree, placeInScope, scopeLabel } from '../components/area-tree.tsx';
import { ErrorBox, STATUS_COLOURS, StatusBadge, TopBar } from '../components/bits.tsx';
import { MapView, type MapPoint } from '../components/map-view.tsx';
import { formatTime, t, type MessageKey } from '../i18n/index.ts';
import { useInterval } from '../lib/hooks.ts';
import { href } from '../lib/router.ts';
import { useApp } from '../state.ts';

/** See the module comment. */
export function OverviewPage() {
  const app = useApp();
  const [area, setArea] = useState<AreaScope>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const refresh = (): void => {
    setBusy(true);
    app.refreshCameras().then(
      () => {
        setBusy(false);
        setError(undefined);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  // Statuses change: refresh the list every 30 s while the overview is open.
  useInterval(refresh, 30_000);
  const inArea = useMemo(() => app.cameras.filter((c) => placeInScope(c.place, area)), [app.cameras, area]);
  const points = useMemo<MapPoint[]>(
    () =>
      inArea.flatMap((c) =>
        c.position === null
          ? []
          : [
              {
                id: c.cameraId,
                lat: c.position.lat,
                lon: c.position.lon,
                colour: STATUS_COLOURS[c.status],
                label: c.name || c.cameraId,
                title: `${c.name || c.cameraId} — ${t(`status.${c.status}` as MessageKey)}`,
                ...(app.me.role === 'operator' && { href: href('/search', { camera: c.cameraId }) }),
              },
            ],
      ),
    [inArea, app.me.role],
  );
  const unplaced = inArea.filter((c) => c.position === null).length;
  return (
    <section>
      <TopBar title={t('overview.title')}>
        <span class="muted">{scopeLabel(area)}</span>
        <button type="button" onClick={refresh} disabled={busy}>
          {t('common.refresh')}
        </button>
      </TopBar>
      <ErrorBox error={error} />
      <div class="split">
        <div>
          <MapView
            points={points}
            tileUrl={app.ui.tileUrl}
            tileAttribution={app.ui.tileAttribution}
            tileMaxZoom={app.ui.tileMaxZoom}
            testId="overview-map"
          />
          <div class="legend" aria-hidden="true">
            {(Object.keys(STATUS_COLOURS) as CameraStatusName[]).map((s) => (
              <span key={s}>
                <span class="dot" style={{ background: STATUS_COLOURS[s] }} />
                {t(`status.${s}` as MessageKey)}
              </span>
            ))}
          </div>
          {unplaced > 0 && <p class="muted">{t('overview.unplaced', { n: unplaced })}</p>}
        </div>
        <div class="panel">
          <AreaTree cameras={app.cameras} selected={area} onSelect={setArea} />
        </div>
      </div>
      <div class="panel">
        <h2>{t('overview.cameras', { n: inArea.length })}</h2>
        <table data-testid="camera-table">
          <thead>
            <tr>
              <th>{t('field.camera')}</th>
              <th>{t('field.place')}</th>
              <th>{t('field.category')}</th>
              <th>{t('field.status')}</th>
              <th>{t('field.lastSeen')}</th>
            </tr>
          </thead>
          <tbody>
            {inArea.map((c) => (
              <tr key={c.cameraId} data-camera-id={c.cameraId}>
                <td>
                  {c.name || c.cameraId} <span class="muted">{c.code}</span>
                </td>
                <td>{scopeLabel(c.place)}</td>
                <td>{t(`category.${c.category}` as MessageKey)}</td>
                <td>
                  <StatusBadge status={c.status} />
                </td>
                <td>{c.lastSeenMs === null ? '—' : formatTime(c.lastSeenMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
