/**
 * Search: plate (exact, or with `?` and `*` wildcards), time range, area or cameras, kind and
 * confidence. The session's reason is asked once and sent with every query. Results in a table
 * with crops, or in time order on the map (a vehicle's passes through the checkpoints), and an
 * export of the results as a zip with CSV, evidence files and their sha256.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { evidencePath, exportEvents, searchEvents } from '../api/client.ts';
import type { AreaScope, DirectionName, EventKindName, EventView, SearchFilters } from '../api/types.ts';
import { ApiImage } from '../components/api-image.tsx';
import { areaOptions, placeInScope } from '../components/area-tree.tsx';
import { ErrorBox, TopBar } from '../components/bits.tsx';
import { EventWhat, cameraName, cameraPlace } from '../components/event-bits.tsx';
import { MapView, type MapPoint } from '../components/map-view.tsx';
import { ReasonBar } from '../components/reason-bar.tsx';
import { formatNumber, formatTime, t, type MessageKey } from '../i18n/index.ts';
import { href, navigate, useRoute } from '../lib/router.ts';
import { fromLocalInput, toLocalInput } from '../lib/time.ts';
import { useApp } from '../state.ts';

const HOUR = 3_600_000;

interface Form {
  plate: string;
  from: string;
  to: string;
  area: string;
  cameras: string[];
  kind: '' | EventKindName;
  minConfidence: string;
  direction: '' | DirectionName;
}

function formFromQuery(q: URLSearchParams): Form {
  const now = Date.now();
  return {
    plate: q.get('plate') ?? '',
    from: q.get('from') ?? toLocalInput(now - 24 * HOUR),
    to: q.get('to') ?? toLocalInput(now + 60_000),
    area: q.get('area') ?? '{}',
    cameras: q.getAll('camera'),
    kind: (q.get('kind') ?? '') as Form['kind'],
    minConfidence: q.get('minconf') ?? '',
    direction: (q.get('dir') ?? '') as Form['direction'],
  };
}

function filtersOf(f: Form): SearchFilters | string {
  const fromMs = fromLocalInput(f.from);
  const toMs = fromLocalInput(f.to);
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) return t('search.badRange');
  if (toMs <= fromMs) return t('search.badRange');
  const plate = f.plate.trim();
  const area = JSON.parse(f.area) as AreaScope;
  const conf = f.minConfidence === '' ? undefined : Number(f.minConfidence) / 100;
  if (conf !== undefined && (Number.isNaN(conf) || conf < 0 || conf > 1)) return t('search.badConfidence');
  return {
    fromMs,
    toMs,
    ...(plate !== '' && { plate }),
    ...(f.cameras.length > 0 && { cameraIds: f.cameras }),
    ...(Object.keys(area).length > 0 && { area }),
    ...(f.kind !== '' && { kinds: [f.kind] }),
    ...(conf !== undefined && { minConfidence: conf }),
    ...(f.direction !== '' && { direction: f.direction }),
    limit: 100,
  };
}

/** See the module comment. */
export function SearchPage() {
  const app = useApp();
  const route = useRoute();
  const [form, setForm] = useState<Form>(() => formFromQuery(route.query));
  const [results, setResults] = useState<EventView[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [searched, setSearched] = useState<SearchFilters | null>(null);
  const [view, setView] = useState<'table' | 'map'>('table');
  const [exporting, setExporting] = useState<string | null>(null);
  const [exportBusy, setExportBusy] = useState(false);
  const areas = useMemo(() => areaOptions(app.cameras), [app.cameras]);
  const area = JSON.parse(form.area) as AreaScope;
  const camerasInArea = app.cameras.filter((c) => placeInScope(c.place, area));
  const set = <K extends keyof Form>(k: K, v: Form[K]): void => {
    setForm((f) => ({ ...f, [k]: v }));
  };

  const run = async (filters: SearchFilters, more: boolean): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const reason = await app.askReason();
      const page = await searchEvents(more && next !== null ? { ...filters, cursor: next } : filters, reason);
      setResults((r) => (more ? [...r, ...page.events] : page.events));
      setNext(page.nextCursor);
      setSearched(filters);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e?: Event): void => {
    e?.preventDefault();
    const f = filtersOf(form);
    if (typeof f === 'string') {
      setError(new Error(f));
      return;
    }
    navigate(
      href('/search', {
        plate: form.plate,
        from: form.from,
        to: form.to,
        area: form.area === '{}' ? undefined : form.area,
        kind: form.kind,
        minconf: form.minConfidence,
        dir: form.direction,
        go: 1,
      }) + form.cameras.map((c) => `&camera=${encodeURIComponent(c)}`).join(''),
      true,
    );
    void run(f, false);
  };

  // Coming back (browser back from an event) re-runs the search the URL describes.
  useEffect(() => {
    if (route.query.get('go') === '1') {
      const f = filtersOf(form);
      if (typeof f !== 'string') void run(f, false);
    }
  }, []);

  const doExport = async (): Promise<void> => {
    if (searched === null) return;
    setError(undefined);
    setExportBusy(true);
    try {
      const reason = await app.askReason();
      setExporting(t('search.exportStarting'));
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      // The zip code (fflate) loads only when someone exports.
      const { buildExportZip, download } = await import('../lib/export.ts');
      // The export route lists the events (and audits the export); evidence follows one by one.
      const { events: all, truncated } = await exportEvents(searched, reason);
      const { zip, manifest } = await buildExportZip({
        events: all,
        cameras: app.camerasById,
        filters: searched,
        reason,
        me: app.me,
        truncated,
        onProgress: (done, total) => {
          setExporting(t('search.exportProgress', { done, total }));
        },
      });
      download(zip, `sharpeyes-export-${stamp}.zip`, 'application/zip');
      const bad = manifest.files.filter((f) => !f.matches_record).length;
      setExporting(
        (bad === 0
          ? t('search.exportDone', { n: manifest.events, files: manifest.files.length })
          : t('search.exportMismatch', { n: bad })) + (truncated ? ` ${t('search.exportTruncated')}` : ''),
      );
    } catch (err) {
      setExporting(null);
      setError(err);
    } finally {
      setExportBusy(false);
    }
  };

  const inTimeOrder = useMemo(() => [...results].sort((a, b) => a.timeMs - b.timeMs), [results]);
  const points = useMemo<MapPoint[]>(
    () =>
      inTimeOrder.flatMap((e) => {
        const c = app.camerasById.get(e.cameraId);
        if (c === undefined || c.position === null) return [];
        return [
          {
            id: e.eventId,
            lat: c.position.lat,
            lon: c.position.lon,
            colour: '#6cb6ff',
            label: formatTime(e.timeMs).slice(-8),
            title: `${formatTime(e.timeMs)} — ${c.name || c.cameraId}${e.plate === null ? '' : ` — ${e.plate.text}`}`,
            href: href(`/events/${e.eventId}`),
          },
        ];
      }),
    [inTimeOrder, app.camerasById],
  );

  return (
    <section>
      <TopBar title={t('search.title')} />
      <ReasonBar />
      <form class="panel" onSubmit={submit} data-testid="search-form">
        <div class="form-row">
          <label>
            {t('search.plate')}
            <input
              name="plate"
              value={form.plate}
              placeholder={t('search.platePlaceholder')}
              onInput={(e) => {
                set('plate', e.currentTarget.value);
              }}
            />
          </label>
          <label>
            {t('search.from')}
            <input
              name="from"
              type="datetime-local"
              value={form.from}
              onInput={(e) => {
                set('from', e.currentTarget.value);
              }}
            />
          </label>
          <label>
            {t('search.to')}
            <input
              name="to"
              type="datetime-local"
              value={form.to}
              onInput={(e) => {
                set('to', e.currentTarget.value);
              }}
            />
          </label>
          <div class="form-row" role="group" aria-label={t('search.quickRange')}>
            {[1, 24, 24 * 7].map((h) => (
              <button
                key={h}
                type="button"
                onClick={() => {
                  const now = Date.now();
                  setForm((f) => ({
                    ...f,
                    from: toLocalInput(now - h * HOUR),
                    to: toLocalInput(now + 60_000),
                  }));
                }}
              >
                {t(h === 1 ? 'range.lastHour' : h === 24 ? 'range.lastDay' : 'range.lastWeek')}
              </button>
            ))}
          </div>
        </div>
        <div class="form-row">
          <label>
            {t('field.area')}
            <select
              name="area"
              value={form.area}
              onChange={(e) => {
                setForm((f) => ({ ...f, area: e.currentTarget.value, cameras: [] }));
              }}
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
            {t('search.cameras')}
            <select
              name="cameras"
              multiple
              size={Math.min(5, Math.max(2, camerasInArea.length))}
              onChange={(e) => {
                set(
                  'cameras',
                  Array.from(e.currentTarget.selectedOptions, (o) => o.value),
                );
              }}
            >
              {camerasInArea.map((c) => (
                <option key={c.cameraId} value={c.cameraId} selected={form.cameras.includes(c.cameraId)}>
                  {c.name || c.cameraId}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('field.kind')}
            <select
              name="kind"
              value={form.kind}
              onChange={(e) => {
                set('kind', e.currentTarget.value as Form['kind']);
              }}
            >
              <option value="">{t('common.any')}</option>
              <option value="plate">{t('kind.plate')}</option>
              <option value="face">{t('kind.face')}</option>
            </select>
          </label>
          <label>
            {t('field.direction')}
            <select
              name="direction"
              value={form.direction}
              onChange={(e) => {
                set('direction', e.currentTarget.value as Form['direction']);
              }}
            >
              <option value="">{t('common.any')}</option>
              {(['in', 'out', 'unknown'] as const).map((d) => (
                <option key={d} value={d}>
                  {t(`direction.${d}`)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('search.minConfidence')}
            <input
              name="minConfidence"
              type="number"
              min={0}
              max={100}
              step={5}
              value={form.minConfidence}
              onInput={(e) => {
                set('minConfidence', e.currentTarget.value);
              }}
            />
          </label>
        </div>
        <div class="form-row">
          <button type="submit" class="primary" disabled={busy} data-testid="search-submit">
            {busy ? t('common.loading') : t('search.submit')}
          </button>
          <span class="muted">{t('search.wildcardHelp')}</span>
        </div>
      </form>
      <ErrorBox error={error} />
      {searched !== null && (
        <div class="panel">
          <div class="topbar">
            <h2 style={{ flex: 1 }} data-testid="result-count">
              {t('search.results', { n: results.length, more: next !== null ? '+' : '' })}
            </h2>
            <div role="group" aria-label={t('search.view')}>
              <button
                type="button"
                aria-pressed={view === 'table'}
                onClick={() => {
                  setView('table');
                }}
              >
                {t('search.asTable')}
              </button>{' '}
              <button
                type="button"
                aria-pressed={view === 'map'}
                onClick={() => {
                  setView('map');
                }}
                data-testid="show-map"
              >
                {t('search.onMap')}
              </button>
            </div>
            <button
              type="button"
              onClick={() => void doExport()}
              disabled={results.length === 0 || exportBusy}
              data-testid="export"
            >
              {t('search.export')}
            </button>
          </div>
          {exporting !== null && (
            <p class="muted" role="status" data-testid="export-status">
              {exporting}
            </p>
          )}
          {view === 'map' ? (
            <>
              <MapView
                points={points}
                path
                tileUrl={app.ui.tileUrl}
                tileAttribution={app.ui.tileAttribution}
                tileMaxZoom={app.ui.tileMaxZoom}
                testId="passes-map"
              />
              <ol class="muted">
                {inTimeOrder.map((e) => (
                  <li key={e.eventId}>
                    {formatTime(e.timeMs)} — {cameraName(e, app.camerasById)} (
                    {cameraPlace(e, app.camerasById)})
                  </li>
                ))}
              </ol>
            </>
          ) : (
            <table data-testid="results">
              <thead>
                <tr>
                  <th>{t('field.crop')}</th>
                  <th>{t('field.what')}</th>
                  <th>{t('field.time')}</th>
                  <th>{t('field.camera')}</th>
                  <th>{t('field.place')}</th>
                  <th>{t('field.direction')}</th>
                  <th class="num">{t('field.confidence')}</th>
                </tr>
              </thead>
              <tbody>
                {results.map((e) => (
                  <tr key={e.eventId} class="clickable" data-event-id={e.eventId}>
                    <td>
                      {e.evidenceSha256 !== '' && app.reason !== null ? (
                        <ApiImage
                          path={evidencePath(e.eventId, 'crop')}
                          reason={app.reason}
                          alt={t('event.cropAlt')}
                          class="thumb"
                        />
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    <td>
                      <a href={href(`/events/${e.eventId}`)} data-testid="open-event">
                        <EventWhat e={e} />
                      </a>
                    </td>
                    <td>{formatTime(e.timeMs)}</td>
                    <td>{cameraName(e, app.camerasById)}</td>
                    <td>{cameraPlace(e, app.camerasById)}</td>
                    <td>{t(`direction.${e.direction}` as MessageKey)}</td>
                    <td class="num">{formatNumber(e.confidence * 100)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {next !== null && (
            <button type="button" disabled={busy} onClick={() => void run(searched, true)}>
              {t('search.more')}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
