/**
 * A feed of camera status reports for watchers (gRPC WatchCameraStatus, the REST camera view),
 * and an adapter from ingest's retained-topic store (SiteStateReader) to it.
 */
import type { CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { SiteStateReader } from '../ingest/site-state.ts';

/** Latest camera statuses and a notification on each new one. */
export interface CameraStatusFeed {
  /** The latest status of a camera (since the gateway started), if any. */
  latest(cameraId: string): CameraStatus | undefined;
  /** Every latest status (for a watcher's initial snapshot). */
  all(): CameraStatus[];
  /** Call `listener` with each new status; returns the function that unsubscribes. */
  onStatus(listener: (status: CameraStatus) => void): () => void;
}

/** The feed over ingest's site state (statuses from `…/cameras/{camera}/status`). */
export function cameraStatusFeedFromSiteState(state: SiteStateReader): CameraStatusFeed {
  /** camera id → site id, learnt from changes (a camera id is unique across sites in the registry). */
  const siteOf = new Map<string, string>();
  const find = (cameraId: string): CameraStatus | undefined => {
    const known = siteOf.get(cameraId);
    if (known !== undefined) {
      const s = state.site(known)?.cameras.get(cameraId)?.value;
      if (s !== undefined) return s;
    }
    for (const siteId of state.sites()) {
      const s = state.site(siteId)?.cameras.get(cameraId)?.value;
      if (s !== undefined) {
        siteOf.set(cameraId, siteId);
        return s;
      }
    }
    return undefined;
  };
  return {
    latest: find,
    all() {
      const out: CameraStatus[] = [];
      for (const siteId of state.sites()) {
        for (const r of state.site(siteId)?.cameras.values() ?? []) out.push(r.value);
      }
      return out;
    },
    onStatus(listener) {
      return state.onChange((change) => {
        if (change.kind !== 'cameraStatus') return;
        siteOf.set(change.cameraId, change.siteId);
        const s = state.site(change.siteId)?.cameras.get(change.cameraId)?.value;
        if (s === undefined) return;
        try {
          listener(s);
        } catch {
          // A watcher's failure must never reach ingest; watchers handle their own errors.
          return;
        }
      });
    },
  };
}
