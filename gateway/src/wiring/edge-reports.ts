/**
 * What the edges report over their retained status topics (held by ingest's SiteState) goes into
 * the registry: discovered devices (the installer's list and the collision report), camera
 * statuses (last seen, online share), agent statuses (an offline agent marks its cameras
 * `agent_offline`). A cleared retained message only removes the in-memory entry: the registry
 * keeps the history it already has.
 */
import type { SiteStateReader } from '../ingest/site-state.ts';
import type { Logger } from '../log.ts';
import type { Registry } from '../registry/index.ts';

/** Start copying reports into the registry; returns the function that stops it. */
export function bridgeEdgeReports(
  siteState: SiteStateReader,
  registry: Registry,
  logger: Logger,
): () => void {
  const log = logger.child({ module: 'edge-reports' });
  return siteState.onChange((change) => {
    const site = siteState.site(change.siteId);
    if (site === undefined) return;
    try {
      switch (change.kind) {
        case 'agent':
          if (site.agent !== undefined) registry.recordAgentStatus(site.agent.value, site.agent.receivedMs);
          break;
        case 'cameraStatus': {
          const status = site.cameras.get(change.cameraId);
          if (status !== undefined) registry.recordCameraStatus(status.value, status.receivedMs);
          break;
        }
        case 'discovered':
          if (site.discovered !== undefined)
            registry.recordDiscovered(site.discovered.value, site.discovered.receivedMs);
          break;
      }
    } catch (err) {
      log.error({ err, site_id: change.siteId, report: change.kind }, 'edge report not recorded');
    }
  });
}
