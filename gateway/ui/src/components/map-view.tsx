/**
 * Cameras (or a vehicle's passes) on a map. With a tile URL (an offline tile server at the
 * command centre) Leaflet draws them over tiles — loaded on demand, so the main bundle stays
 * small; without one, a plain coordinate canvas: an SVG of longitude/latitude with a graticule.
 * Every point is a link reachable with Tab, with a text label, so colour is never the only cue.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { t } from '../i18n/index.ts';

/** One point. */
export interface MapPoint {
  id: string;
  lat: number;
  lon: number;
  colour: string;
  /** Short text drawn next to the point. */
  label: string;
  /** Longer text (tooltip, accessible name). */
  title: string;
  /** Where activating the point goes. */
  href?: string;
}

/** Props of {@link MapView}. */
export interface MapViewProps {
  points: readonly MapPoint[];
  /** Join the points in order (a vehicle's passes through checkpoints). */
  path?: boolean;
  tileUrl: string;
  tileAttribution?: string;
  tileMaxZoom?: number;
  /** Clicking the map picks a position (the installer's pin). */
  onPick?: (lat: number, lon: number) => void;
  testId?: string;
}

/** See the module comment. */
export function MapView(props: MapViewProps) {
  return props.tileUrl === '' ? <CoordinateCanvas {...props} /> : <TiledMap {...props} />;
}

interface Projected extends MapPoint {
  x: number;
  y: number;
}

// The SVG's shape is the container's (CSS aspect-ratio), so nothing is letterboxed.
const W = 1000;
const H = 560;
const PAD = 60;

function niceStep(span: number): number {
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3.5 ? 2 : n < 7.5 ? 5 : 10) * mag;
}

function CoordinateCanvas({ points, path, testId, onPick }: MapViewProps) {
  const view = useMemo(() => {
    if (points.length === 0) return undefined;
    let minLat = Math.min(...points.map((p) => p.lat));
    let maxLat = Math.max(...points.map((p) => p.lat));
    let minLon = Math.min(...points.map((p) => p.lon));
    let maxLon = Math.max(...points.map((p) => p.lon));
    const minSpan = 0.002;
    if (maxLat - minLat < minSpan) [minLat, maxLat] = [minLat - minSpan / 2, maxLat + minSpan / 2];
    if (maxLon - minLon < minSpan) [minLon, maxLon] = [minLon - minSpan / 2, maxLon + minSpan / 2];
    // Equirectangular with the mid-latitude's scale, so distances look right locally.
    const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
    const spanX = (maxLon - minLon) * k;
    const spanY = maxLat - minLat;
    const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
    const ox = (W - spanX * scale) / 2;
    const oy = (H - spanY * scale) / 2;
    const px = (lon: number): number => ox + (lon - minLon) * k * scale;
    const py = (lat: number): number => H - (oy + (lat - minLat) * scale);
    const projected: Projected[] = points.map((p) => ({ ...p, x: px(p.lon), y: py(p.lat) }));
    const lonStep = niceStep(W / scale / k);
    const latStep = niceStep(H / scale);
    const lonLo = minLon - ox / scale / k;
    const lonHi = lonLo + W / scale / k;
    const latLo = minLat - oy / scale;
    const latHi = latLo + H / scale;
    const lons: number[] = [];
    for (let v = Math.ceil(lonLo / lonStep) * lonStep; v <= lonHi; v += lonStep) lons.push(v);
    const lats: number[] = [];
    for (let v = Math.ceil(latLo / latStep) * latStep; v <= latHi; v += latStep) lats.push(v);
    const digits = Math.max(0, -Math.floor(Math.log10(Math.min(lonStep, latStep))));
    const unproject = (x: number, y: number): [number, number] => [
      minLat + (H - y - oy) / scale,
      minLon + (x - ox) / scale / k,
    ];
    return {
      projected,
      lons: lons.map((v) => ({ v, x: px(v) })),
      lats: lats.map((v) => ({ v, y: py(v) })),
      digits,
      unproject,
    };
  }, [points]);

  if (view === undefined) {
    return (
      <div class="map" data-testid={testId} data-kind="canvas">
        <p class="muted" style={{ padding: '1rem' }}>
          {t('map.empty')}
        </p>
      </div>
    );
  }
  return (
    <div class="map" data-testid={testId} data-kind="canvas">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="group"
        aria-label={t('map.canvasLabel')}
        onClick={
          onPick === undefined
            ? undefined
            : (e) => {
                const r = e.currentTarget.getBoundingClientRect();
                // viewBox is letterboxed into the element (preserveAspectRatio meet).
                const s = Math.min(r.width / W, r.height / H);
                const x = (e.clientX - r.left - (r.width - W * s) / 2) / s;
                const y = (e.clientY - r.top - (r.height - H * s) / 2) / s;
                const [lat, lon] = view.unproject(x, y);
                onPick(Math.round(lat * 1e6) / 1e6, Math.round(lon * 1e6) / 1e6);
              }
        }
      >
        {view.lons.map(({ v, x }) => (
          <g key={`x${v}`}>
            <line class="gridline" x1={x} x2={x} y1={0} y2={H} />
            <text class="gridlabel" x={x + 3} y={H - 4}>
              {v.toFixed(view.digits)}°E
            </text>
          </g>
        ))}
        {view.lats.map(({ v, y }) => (
          <g key={`y${v}`}>
            <line class="gridline" x1={0} x2={W} y1={y} y2={y} />
            <text class="gridlabel" x={3} y={y - 3}>
              {v.toFixed(view.digits)}°N
            </text>
          </g>
        ))}
        {path === true && view.projected.length > 1 && (
          <polyline class="path" points={view.projected.map((p) => `${p.x},${p.y}`).join(' ')} />
        )}
        {view.projected.map((p, i) => (
          <a key={p.id} href={p.href ?? '#'} aria-label={p.title} data-point-id={p.id}>
            <title>{p.title}</title>
            <circle class="pt" cx={p.x} cy={p.y} r={path === true ? 12 : 10} fill={p.colour} />
            {path === true && (
              <text x={p.x} y={p.y + 5} text-anchor="middle" font-size="14" font-weight="700" fill="#000">
                {i + 1}
              </text>
            )}
            <text class="pt-label" x={p.x + 15} y={p.y + 5}>
              {p.label}
            </text>
          </a>
        ))}
      </svg>
    </div>
  );
}

function TiledMap(props: MapViewProps) {
  const el = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const handle = useRef<{ update(p: MapViewProps): void; destroy(): void } | null>(null);
  // Points that arrive while Leaflet is still loading are drawn once it is there.
  const latest = useRef(props);
  latest.current = props;
  useEffect(() => {
    let cancelled = false;
    import('./leaflet-map.ts').then(
      (m) => {
        if (cancelled || el.current === null) return;
        handle.current = m.createLeafletMap(el.current, latest.current);
      },
      (err: unknown) => {
        setFailed(err instanceof Error ? err.message : String(err));
      },
    );
    return () => {
      cancelled = true;
      handle.current?.destroy();
      handle.current = null;
    };
    // The map is created once per tile URL; points update below.
  }, [props.tileUrl]);
  useEffect(() => {
    handle.current?.update(props);
  }, [props.points, props.path]);
  if (failed !== null) return <CoordinateCanvas {...props} />;
  return <div class="map" ref={el} data-testid={props.testId} data-kind="tiles" />;
}
