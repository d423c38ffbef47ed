/**
 * The agent's local HTTP endpoint: `GET /metrics` (Prometheus text format), `GET /healthz`
 * (JSON) and `GET /discovered` (the ONVIF devices the agent found, registered or not, as the
 * proto DiscoveredDevices in its JSON form). Bound to loopback by default; read-only.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../log.ts';
import { CAMERA_STATE_NAMES, type HealthRegistry } from './status.ts';

/** Counters other modules increment; all are exposed on /metrics. */
export interface AgentMetrics {
  readonly registry: Registry;
  /** WS-Discovery probe rounds, by outcome. */
  readonly probeRounds: Counter<'outcome'>;
  /** Discovery datagrams that could not be parsed (hostile or broken devices). */
  readonly discoveryBadDatagrams: Counter;
  /** Devices currently known, by access (ok, auth_failed, …). */
  readonly devices: Gauge<'access'>;
}

/** Build the Prometheus registry: process defaults plus the agent's and cameras' gauges. */
export function createMetrics(health: HealthRegistry): AgentMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ site_id: health.siteId });
  collectDefaultMetrics({ register: registry, prefix: 'sharpeyes_edge_' });

  const perCamera = (
    name: string,
    help: string,
    pick: (h: ReturnType<HealthRegistry['cameraHealth']>[number]) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['camera_id'],
      registers: [registry],
      collect() {
        this.reset();
        for (const h of health.cameraHealth()) this.set({ camera_id: h.cameraId }, pick(h));
      },
    });

  new Gauge({
    name: 'sharpeyes_edge_camera_state',
    help: 'Camera state: 1 for the current state of each camera, 0 for the others.',
    labelNames: ['camera_id', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const h of health.cameraHealth()) {
        for (const state of CAMERA_STATE_NAMES)
          this.set({ camera_id: h.cameraId, state }, h.state === state ? 1 : 0);
      }
    },
  });
  perCamera('sharpeyes_edge_camera_input_fps', 'Frames per second read from the stream.', (h) => h.inputFps);
  perCamera('sharpeyes_edge_camera_analysed_fps', 'Frames per second analysed.', (h) => h.analysedFps);
  perCamera(
    'sharpeyes_edge_camera_dropped_frames',
    'Frames dropped because analysis was busy, since start.',
    (h) => h.droppedFrames,
  );
  perCamera('sharpeyes_edge_camera_restarts', 'Capture restarts since start.', (h) => h.restarts);
  perCamera(
    'sharpeyes_edge_camera_last_frame_seconds',
    'Unix time of the last frame (0 = none yet).',
    (h) => h.lastFrameMs / 1000,
  );
  new Gauge({
    name: 'sharpeyes_edge_disk_free_bytes',
    help: 'Free bytes on the spool file system.',
    registers: [registry],
    collect() {
      this.set(health.agentStatus().diskFreeBytes);
    },
  });
  new Gauge({
    name: 'sharpeyes_edge_config_revision',
    help: 'Revision of the site configuration in force.',
    registers: [registry],
    collect() {
      this.set(health.agentStatus().configRevision);
    },
  });

  return {
    registry,
    probeRounds: new Counter({
      name: 'sharpeyes_edge_discovery_probe_rounds_total',
      help: 'WS-Discovery probe rounds, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    discoveryBadDatagrams: new Counter({
      name: 'sharpeyes_edge_discovery_bad_datagrams_total',
      help: 'Discovery datagrams that could not be parsed.',
      registers: [registry],
    }),
    devices: new Gauge({
      name: 'sharpeyes_edge_discovered_devices',
      help: 'Devices known from discovery, by access.',
      labelNames: ['access'],
      registers: [registry],
    }),
  };
}

/** A running health server. */
export interface HealthServer {
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Serve /metrics and /healthz on `host:port` (port 0 = any free port). */
export async function startHealthServer(opts: {
  host: string;
  port: number;
  health: HealthRegistry;
  metrics: AgentMetrics;
  /** The discovered-devices report (JSON-ready); 404 when absent. */
  discovered?: () => unknown;
  logger: Logger;
}): Promise<HealthServer> {
  const { health, metrics, logger } = opts;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        });
      return;
    }
    if (path === '/healthz') {
      const cameras = health.cameraHealth();
      const agent = health.agentStatus();
      // The agent is healthy when it runs; cameras' troubles are reported, not a 503, so a
      // supervisor does not restart the agent because a camera is unplugged.
      const body = {
        status: cameras.every((c) => c.state === 'online' || c.state === 'disabled') ? 'ok' : 'degraded',
        site_id: health.siteId,
        version: health.version,
        uptime_s: Math.round(health.uptimeS()),
        cpu_percent: Math.round(agent.cpuPercent * 10) / 10,
        memory_rss_bytes: agent.memoryRssBytes,
        disk_free_bytes: agent.diskFreeBytes,
        config_revision: agent.configRevision,
        ...health.transport(),
        cameras: cameras.map((c) => ({
          camera_id: c.cameraId,
          state: c.state,
          input_fps: Math.round(c.inputFps * 100) / 100,
          analysed_fps: Math.round(c.analysedFps * 100) / 100,
          dropped_frames: c.droppedFrames,
          last_frame_ms: c.lastFrameMs,
          last_error: c.lastError,
          restarts: c.restarts,
        })),
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (path === '/discovered' && opts.discovered !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(opts.discovered()));
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try /metrics, /healthz or /discovered\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('health server has no TCP address');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
