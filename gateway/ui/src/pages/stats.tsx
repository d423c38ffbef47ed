/**
 * Statistics: passes per hour or per day, per camera or per area, by direction (vehicles in and
 * out of each village entrance), over a chosen time range. Counts only — no plate text, so no
 * reason is asked.
 */
import { useMemo, useState } from 'preact/hooks';
import { passStats } from '../api/client.ts';
import {
  AREA_LEVELS,
  type AreaLevel,
  type AreaScope,
  type EventKindName,
  type PassRow,
} from '../api/types.ts';
import { areaOptions, scopeLabel } from '../components/area-tree.tsx';
import { BarChart, type ChartBar } from '../components/bar-chart.tsx';
import { ErrorBox, TopBar } from '../components/bits.tsx';
import { formatNumber, locale, t } from '../i18n/index.ts';
import { useAsync } from '../lib/hooks.ts';
import { fromLocalInput, localTimeZone, toLocalInput } from '../lib/time.ts';
import { useApp } from '../state.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type GroupBy = 'camera' | AreaLevel;

function startOfToday(): number {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** See the module comment. */
export function StatsPage() {
  const app = useApp();
  const [from, setFrom] = useState(toLocalInput(startOfToday() - 6 * DAY));
  const [to, setTo] = useState(toLocalInput(startOfToday() + DAY));
  const [interval, setIntervalMs] = useState<number>(HOUR);
  const [groupBy, setGroupBy] = useState<GroupBy>('camera');
  const [areaKey, setAreaKey] = useState('{}');
  const [kind, setKind] = useState<EventKindName>('plate');
  const [focus, setFocus] = useState('');
  const areas = useMemo(() => areaOptions(app.cameras), [app.cameras]);
  const area = JSON.parse(areaKey) as AreaScope;
  const fromMs = fromLocalInput(from);
  const toMs = fromLocalInput(to);
  const valid = !Number.isNaN(fromMs) && !Number.isNaN(toMs) && toMs > fromMs;

  const res = useAsync(
    async () =>
      valid
        ? passStats({
            fromMs,
            toMs,
            intervalMs: interval,
            kinds: [kind],
            timeZone: localTimeZone(),
            ...(Object.keys(area).length > 0 && { area }),
          })
        : [],
    [fromMs, toMs, interval, kind, areaKey],
  );

  const groupOf = (r: PassRow): string => {
    if (groupBy === 'camera') {
      const c = app.camerasById.get(r.cameraId);
      return c?.name || r.cameraId;
    }
    const c = app.camerasById.get(r.cameraId);
    if (c === undefined) return t('stats.unknownArea');
    const s: AreaScope = {};
    for (const l of AREA_LEVELS) {
      if (c.place[l] === '') break;
      s[l] = c.place[l];
      if (l === groupBy) break;
    }
    return scopeLabel(s);
  };

  const rows = res.data ?? [];
  const groups = useMemo(() => {
    const m = new Map<string, { in: number; out: number; other: number; total: number }>();
    for (const r of rows) {
      const g = groupOf(r);
      const v = m.get(g) ?? { in: 0, out: 0, other: 0, total: 0 };
      v.in += r.in;
      v.out += r.out;
      v.other += r.other;
      v.total += r.total;
      m.set(g, v);
    }
    return [...m.entries()].sort((a, b) => b[1].total - a[1].total);
  }, [rows, groupBy, app.camerasById]);

  const bars = useMemo<ChartBar[]>(() => {
    const fmt = new Intl.DateTimeFormat(
      locale(),
      interval >= DAY
        ? { month: '2-digit', day: '2-digit' }
        : { day: '2-digit', hour: '2-digit', hour12: false },
    );
    const byStart = new Map<number, { in: number; out: number; other: number }>();
    if (valid) {
      // Every interval of the range, so quiet hours show as gaps rather than disappearing.
      const n = Math.min(2000, Math.ceil((toMs - fromMs) / interval));
      const first = rows.length > 0 ? Math.min(...rows.map((r) => r.startMs)) : fromMs;
      const base = first - Math.ceil((first - fromMs) / interval) * interval;
      for (let i = 0; i < n; i++) byStart.set(base + i * interval, { in: 0, out: 0, other: 0 });
    }
    for (const r of rows) {
      if (focus !== '' && groupOf(r) !== focus) continue;
      const v = byStart.get(r.startMs) ?? { in: 0, out: 0, other: 0 };
      v.in += r.in;
      v.out += r.out;
      v.other += r.other;
      byStart.set(r.startMs, v);
    }
    return [...byStart.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([start, v]) => ({ label: fmt.format(start), values: v }));
  }, [rows, focus, interval, groupBy, valid, fromMs, toMs]);

  const quick = (days: number): void => {
    setFrom(toLocalInput(startOfToday() - (days - 1) * DAY));
    setTo(toLocalInput(startOfToday() + DAY));
    setIntervalMs(days <= 2 ? HOUR : DAY);
  };

  return (
    <section>
      <TopBar title={t('stats.title')} />
      <div class="panel">
        <div class="form-row">
          <label>
            {t('search.from')}
            <input
              type="datetime-local"
              value={from}
              onChange={(e) => {
                setFrom(e.currentTarget.value);
              }}
              data-testid="stats-from"
            />
          </label>
          <label>
            {t('search.to')}
            <input
              type="datetime-local"
              value={to}
              onChange={(e) => {
                setTo(e.currentTarget.value);
              }}
              data-testid="stats-to"
            />
          </label>
          <div class="form-row" role="group" aria-label={t('search.quickRange')}>
            <button
              type="button"
              onClick={() => {
                quick(1);
              }}
            >
              {t('range.today')}
            </button>
            <button
              type="button"
              onClick={() => {
                quick(7);
              }}
            >
              {t('range.days', { n: 7 })}
            </button>
            <button
              type="button"
              onClick={() => {
                quick(30);
              }}
            >
              {t('range.days', { n: 30 })}
            </button>
          </div>
        </div>
        <div class="form-row">
          <label>
            {t('stats.interval')}
            <select
              value={interval}
              onChange={(e) => {
                setIntervalMs(Number(e.currentTarget.value));
              }}
              data-testid="stats-interval"
            >
              <option value={HOUR}>{t('stats.perHour')}</option>
              <option value={DAY}>{t('stats.perDay')}</option>
            </select>
          </label>
          <label>
            {t('stats.groupBy')}
            <select
              value={groupBy}
              onChange={(e) => {
                setGroupBy(e.currentTarget.value as GroupBy);
                setFocus('');
              }}
            >
              <option value="camera">{t('field.camera')}</option>
              {AREA_LEVELS.map((l) => (
                <option key={l} value={l}>
                  {t(`level.${l}`)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('field.area')}
            <select
              value={areaKey}
              onChange={(e) => {
                setAreaKey(e.currentTarget.value);
                setFocus('');
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
            {t('field.kind')}
            <select
              value={kind}
              onChange={(e) => {
                setKind(e.currentTarget.value as EventKindName);
              }}
            >
              <option value="plate">{t('kind.plate')}</option>
              <option value="face">{t('kind.face')}</option>
            </select>
          </label>
        </div>
      </div>
      {!valid && <p class="error">{t('search.badRange')}</p>}
      <ErrorBox error={res.error} />
      <div class="panel">
        <h2>{focus === '' ? t('stats.chartAll') : t('stats.chartOf', { name: focus })}</h2>
        <BarChart
          title={t('stats.chartLabel')}
          testId="stats-chart"
          series={[
            { key: 'in', label: t('direction.in'), colour: '#4fd18b' },
            { key: 'out', label: t('direction.out'), colour: '#6cb6ff' },
            { key: 'other', label: t('stats.otherDirection'), colour: '#9aa7b6' },
          ]}
          bars={bars}
        />
      </div>
      <div class="panel">
        <table data-testid="stats-table">
          <thead>
            <tr>
              <th>{groupBy === 'camera' ? t('field.camera') : t(`level.${groupBy}`)}</th>
              <th class="num">{t('direction.in')}</th>
              <th class="num">{t('direction.out')}</th>
              <th class="num">{t('stats.otherDirection')}</th>
              <th class="num">{t('stats.total')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {groups.map(([name, v]) => (
              <tr key={name}>
                <td>{name}</td>
                <td class="num">{formatNumber(v.in)}</td>
                <td class="num">{formatNumber(v.out)}</td>
                <td class="num">{formatNumber(v.other)}</td>
                <td class="num">{formatNumber(v.total)}</td>
                <td>
                  <button
                    type="button"
                    aria-pressed={focus === name}
                    onClick={() => {
                      setFocus(focus === name ? '' : name);
                    }}
                  >
                    {t('stats.chartThis')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
