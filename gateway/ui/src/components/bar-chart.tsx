/**
 * A stacked bar chart in SVG: one bar per interval, stacked by series (e.g. in / out / other).
 * Every bar has a <title> with its numbers and the chart has a text summary, so it reads
 * without colour or a mouse.
 */
import { formatNumber } from '../i18n/index.ts';

/** One stacked series. */
export interface ChartSeries {
  key: string;
  label: string;
  colour: string;
}

/** One bar. */
export interface ChartBar {
  label: string;
  values: Record<string, number>;
}

/** Props of {@link BarChart}. */
export interface BarChartProps {
  series: readonly ChartSeries[];
  bars: readonly ChartBar[];
  title: string;
  testId?: string;
}

const W = 900;
const H = 260;
const L = 44;
const B = 36;
const T = 10;

/** See the module comment. */
export function BarChart({ series, bars, title, testId }: BarChartProps) {
  const totals = bars.map((b) => series.reduce((s, se) => s + (b.values[se.key] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const step = 10 ** Math.floor(Math.log10(max));
  const top = Math.ceil(max / step) * step;
  const ticks = [0, top / 2, top];
  const bw = (W - L - 8) / Math.max(1, bars.length);
  const y = (v: number): number => H - B - (v / top) * (H - B - T);
  const labelEvery = Math.max(1, Math.ceil(bars.length / 12));
  return (
    <figure class="chart" data-testid={testId}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title}>
        {ticks.map((v) => (
          <g key={v}>
            <line class="axis" x1={L} x2={W} y1={y(v)} y2={y(v)} />
            <text class="tick" x={L - 4} y={y(v) + 3} text-anchor="end">
              {formatNumber(v)}
            </text>
          </g>
        ))}
        {bars.map((b, i) => {
          let acc = 0;
          const x = L + i * bw + bw * 0.1;
          return (
            <g key={b.label}>
              <title>{`${b.label}: ${series.map((s) => `${s.label} ${formatNumber(b.values[s.key] ?? 0)}`).join(', ')}`}</title>
              {series.map((s) => {
                const v = b.values[s.key] ?? 0;
                const y0 = y(acc);
                acc += v;
                const y1 = y(acc);
                return v > 0 ? (
                  <rect key={s.key} x={x} width={bw * 0.8} y={y1} height={y0 - y1} fill={s.colour} />
                ) : null;
              })}
              {i % labelEvery === 0 && (
                <text class="tick" x={x + bw * 0.4} y={H - B + 14} text-anchor="middle">
                  {b.label}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption class="legend">
        {series.map((s) => (
          <span key={s.key}>
            <span class="dot" style={{ background: s.colour }} />
            {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
