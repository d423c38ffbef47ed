/**
 * Data quality per camera and per area: last seen, online share over a window (24 h by
 * default) from recorded status changes, ingest lag and the share of events with evidence
 * (counts given by ingest/index). Pure functions.
 */
import { AREA_LEVELS, type AreaLevel, type AreaScope } from '../auth/scope.ts';
import type { Place } from './types.ts';

/** A recorded change of a camera's status. */
export interface StatusChange {
  atMs: number;
  /** Frames arriving (online or degraded); null = not known (analysis disabled, no status). */
  online: boolean | null;
}

/**
 * Share of the known time in [fromMs, toMs) during which the camera was online. `before` is the
 * state in force at `fromMs` (the last change before the window), undefined or null when
 * unknown: time in an unknown state does not count. Null when no time is known. `changes` must
 * be sorted by time.
 */
export function onlineShare(
  changes: readonly StatusChange[],
  before: boolean | null | undefined,
  fromMs: number,
  toMs: number,
): number | null {
  if (toMs <= fromMs) return null;
  let state = before;
  let t = fromMs;
  let known = 0;
  let online = 0;
  for (const c of changes) {
    if (c.atMs < fromMs) {
      state = c.online;
      continue;
    }
    if (c.atMs >= toMs) break;
    if (state !== undefined && state !== null) {
      known += c.atMs - t;
      if (state) online += c.atMs - t;
    }
    state = c.online;
    t = c.atMs;
  }
  if (state !== undefined && state !== null) {
    known += toMs - t;
    if (state) online += toMs - t;
  }
  return known > 0 ? online / known : null;
}

/** What ingest counted for one camera over the window. */
export interface IngestStats {
  events: number;
  eventsWithEvidence: number;
  /** Mean of (indexed time − event time) over the events, ms. */
  lagMsMean: number;
  lagMsMax: number;
}

/** Quality of one camera. */
export interface CameraQuality {
  cameraId: string;
  siteId: string;
  place: Place;
  /** Last status or frame seen, ms; null = never. */
  lastSeenMs: number | null;
  /** Frames arriving now; null = unknown. */
  onlineNow: boolean | null;
  /** Share of the window online; null = unknown. */
  onlineShare: number | null;
  events: number;
  /** Mean ingest lag, ms; null without events. */
  ingestLagMs: number | null;
  ingestLagMaxMs: number | null;
  /** Share of events that carry evidence; null without events. */
  evidenceShare: number | null;
}

/** Inputs of {@link cameraQuality}. */
export interface CameraQualityInput {
  cameraId: string;
  siteId: string;
  place: Place;
  lastSeenMs: number | null;
  changes: readonly StatusChange[];
  before: boolean | null | undefined;
  ingest?: IngestStats;
  fromMs: number;
  toMs: number;
}

/** Quality of one camera over [fromMs, toMs). */
export function cameraQuality(q: CameraQualityInput): CameraQuality {
  const last = [...q.changes].reverse().find((c) => c.atMs < q.toMs);
  const events = q.ingest?.events ?? 0;
  return {
    cameraId: q.cameraId,
    siteId: q.siteId,
    place: q.place,
    lastSeenMs: q.lastSeenMs,
    onlineNow: last?.online ?? q.before ?? null,
    onlineShare: onlineShare(q.changes, q.before, q.fromMs, q.toMs),
    events,
    ingestLagMs: events > 0 && q.ingest !== undefined ? q.ingest.lagMsMean : null,
    ingestLagMaxMs: events > 0 && q.ingest !== undefined ? q.ingest.lagMsMax : null,
    evidenceShare: events > 0 && q.ingest !== undefined ? q.ingest.eventsWithEvidence / events : null,
  };
}

/** Quality of an area: its cameras aggregated. */
export interface AreaQuality {
  area: AreaScope;
  cameras: number;
  camerasOnline: number;
  /** Cameras with a known state that are offline. */
  camerasOffline: number;
  /** Mean online share of the cameras with data; null when none has. */
  onlineShare: number | null;
  lastSeenMs: number | null;
  events: number;
  /** Event-weighted mean ingest lag. */
  ingestLagMs: number | null;
  ingestLagMaxMs: number | null;
  evidenceShare: number | null;
}

/** The area of `place` cut at `level` (a camera with an empty level there goes to the parent). */
function areaAt(place: Place, level: AreaLevel): AreaScope {
  const out: AreaScope = {};
  for (const l of AREA_LEVELS) {
    if (place[l] === '') break;
    out[l] = place[l];
    if (l === level) break;
  }
  return out;
}

/** Group camera qualities by their area at `level` (e.g. per district, per street). Sorted by area. */
export function areaQuality(cameras: readonly CameraQuality[], level: AreaLevel): AreaQuality[] {
  const groups = new Map<string, { area: AreaScope; list: CameraQuality[] }>();
  for (const c of cameras) {
    const area = areaAt(c.place, level);
    const key = AREA_LEVELS.map((l) => area[l] ?? '').join('\u0000');
    let g = groups.get(key);
    if (g === undefined) {
      g = { area, list: [] };
      groups.set(key, g);
    }
    g.list.push(c);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { area, list }]) => aggregate(area, list));
}

/** Aggregate camera qualities into one area figure. */
export function aggregate(area: AreaScope, list: readonly CameraQuality[]): AreaQuality {
  const shares = list.map((c) => c.onlineShare).filter((s): s is number => s !== null);
  const seen = list.map((c) => c.lastSeenMs).filter((s): s is number => s !== null);
  const events = list.reduce((n, c) => n + c.events, 0);
  const withEvidence = list.reduce((n, c) => n + (c.evidenceShare ?? 0) * c.events, 0);
  const lagSum = list.reduce((n, c) => n + (c.ingestLagMs ?? 0) * c.events, 0);
  const lagMax = list.map((c) => c.ingestLagMaxMs).filter((s): s is number => s !== null);
  return {
    area,
    cameras: list.length,
    camerasOnline: list.filter((c) => c.onlineNow === true).length,
    camerasOffline: list.filter((c) => c.onlineNow === false).length,
    onlineShare: shares.length === 0 ? null : shares.reduce((a, b) => a + b, 0) / shares.length,
    lastSeenMs: seen.length === 0 ? null : seen.reduce((a, b) => Math.max(a, b)),
    events,
    ingestLagMs: events === 0 ? null : lagSum / events,
    ingestLagMaxMs: lagMax.length === 0 ? null : lagMax.reduce((a, b) => Math.max(a, b)),
    evidenceShare: events === 0 ? null : withEvidence / events,
  };
}
