/**
 * The Leaflet side of map-view.tsx, in its own chunk (imported only when a tile server is
 * configured). The only module that imports Leaflet.
 */
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import type { MapViewProps } from './map-view.tsx';

/** Create a map in `el`; `update` redraws the points, `destroy` frees it. */
export function createLeafletMap(
  el: HTMLElement,
  initial: MapViewProps,
): { update(p: MapViewProps): void; destroy(): void } {
  const map = L.map(el, {
    zoomControl: true,
    attributionControl: true,
    keyboard: true,
    fadeAnimation: false,
  });
  L.tileLayer(initial.tileUrl, {
    maxZoom: initial.tileMaxZoom ?? 18,
    attribution: initial.tileAttribution ?? '',
  }).addTo(map);
  const layer = L.layerGroup().addTo(map);
  let onPick = initial.onPick;
  map.on('click', (e: L.LeafletMouseEvent) => {
    onPick?.(Math.round(e.latlng.lat * 1e6) / 1e6, Math.round(e.latlng.lng * 1e6) / 1e6);
  });
  const update = (p: MapViewProps): void => {
    onPick = p.onPick;
    layer.clearLayers();
    const latlngs = p.points.map((pt) => L.latLng(pt.lat, pt.lon));
    if (p.path === true && latlngs.length > 1)
      L.polyline(latlngs, { color: '#6cb6ff', weight: 3, dashArray: '6 4' }).addTo(layer);
    p.points.forEach((pt, i) => {
      const m = L.circleMarker([pt.lat, pt.lon], {
        radius: 8,
        color: '#000',
        weight: 1.5,
        fillColor: pt.colour,
        fillOpacity: 1,
      });
      m.bindTooltip(p.path === true ? `${i + 1}. ${pt.title}` : pt.title);
      if (pt.href !== undefined) {
        const href = pt.href;
        m.on('click', () => {
          location.hash = href.replace(/^#/, '');
        });
      }
      m.addTo(layer);
    });
    if (latlngs.length > 0) map.fitBounds(L.latLngBounds(latlngs).pad(0.2), { maxZoom: 17 });
    else map.setView([0, 0], 2);
  };
  update(initial);
  return {
    update,
    destroy: () => {
      map.remove();
    },
  };
}
