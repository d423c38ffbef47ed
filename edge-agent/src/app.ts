/**
 * The edge agent, wired: health → discovery → spool and MQTT link (when `mqtt` is configured) →
 * camera supervisor (captures, analysis), started in that order and stopped in reverse, so
 * tracks flushed by a stopping camera still reach the spool. main.ts parses arguments and
 * handles signals; tests and the bench build the app directly.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SiteConfig } from '../../proto/gen/sharpeyes/v1/config.ts';
import { CameraSupervisor, DISCARD_SINK, type FrameSink } from './cameras/supervisor.ts';
import { startInferencePool, type DetectorName } from './detect/index.ts';
import { JsonLinesEventSink, type EventSink } from './events/index.ts';
import { createAnalysisSink } from './pipeline/analysis-sink.ts';
import { MODEL_IDS, poolDetect } from './pipeline/pipeline.ts';
import { defaultCredentials } from './config/load.ts';
import { effectiveCameras, type CameraPlan } from './config/merge.ts';
import type { EdgeConfig } from './config/schema.ts';
import { DiscoveredDevices } from '../../proto/gen/sharpeyes/v1/discovery.ts';
import {
  Discovery,
  toProtoDiscoveredDevices,
  type CredentialsQuery,
  type DeviceDiscovery,
} from './discovery/index.ts';
import { matches } from './cameras/supervisor.ts';
import { createMetrics, startHealthServer, type AgentMetrics, type HealthServer } from './health/server.ts';
import { HealthRegistry } from './health/status.ts';
import type { Logger } from './log.ts';
import { MqttLink } from './publish/index.ts';
import { LatestFrames, SnapshotService } from './snapshot/index.ts';
import { openSpool, type Spool } from './spool/index.ts';

/** The agent's version, from package.json. */
export const VERSION = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** How often process figures are sampled and camera fps refreshed. */
const SAMPLE_INTERVAL_MS = 5000;

/** Options of {@link startEdgeApp}. */
export interface EdgeAppOptions {
  config: EdgeConfig;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Where frames go; default: the analysis pipeline (motion, detection, tracking, events). */
  sink?: FrameSink;
  /**
   * Where events go. Default: the durable spool sent over MQTT when `mqtt` is configured, else
   * JSON lines in `detect.events_file`.
   */
  events?: EventSink;
}

/** The spool and MQTT link of an agent configured with `mqtt`. */
export interface EdgeTransport {
  readonly spool: Spool;
  readonly link: MqttLink;
}

/** A running edge agent. */
export interface EdgeApp {
  readonly health: HealthRegistry;
  readonly metrics: AgentMetrics;
  readonly discovery: DeviceDiscovery;
  readonly supervisor: CameraSupervisor;
  /** `http://host:port` of /metrics and /healthz. */
  readonly healthUrl: string;
  /** The spool and MQTT link, when `mqtt` is configured. */
  readonly transport: EdgeTransport | undefined;
  /** The cameras being analysed, after merging the SiteConfig in force. */
  plans(): CameraPlan[];
  /**
   * Apply a SiteConfig from the gateway. Returns false (and changes nothing) when it is for
   * another site or not newer than the one in force.
   */
  applySiteConfig(site: SiteConfig): boolean;
  /** Stop everything, in reverse start order. Idempotent. */
  stop(): Promise<void>;
}

/** Build and start the agent. */
export async function startEdgeApp(opts: EdgeAppOptions): Promise<EdgeApp> {
  const { config, logger } = opts;
  const env = opts.env ?? process.env;
  const log = logger.child({ module: 'app' });
  const fallbackCredentials = defaultCredentials(config, env);
  let site: SiteConfig | undefined;
  let plan = effectiveCameras(config, undefined, env);

  const health = new HealthRegistry(config.site_id, VERSION, config.data_dir);
  const metrics = createMetrics(health);
  await health.sample();
  // Bound once discovery exists (it starts after the server, so the server reports early failures).
  let discovered: (() => unknown) | undefined;
  const server: HealthServer = await startHealthServer({
    host: config.http.host,
    port: config.http.port,
    health,
    metrics,
    discovered: () => discovered?.() ?? { siteId: config.site_id, devices: [] },
    logger,
  });
  const stops: (() => Promise<void>)[] = [() => server.close()];

  try {
    // Credentials for a device: the plan that names it, else the site default.
    const credentialsFor = (q: CredentialsQuery) => {
      const named = plan.cameras.find((p) =>
        matches(p, {
          identity: { endpointReference: q.endpointReference, serialNumber: q.serialNumber },
          xaddr: q.xaddr,
          xaddrs: [q.xaddr],
        }),
      );
      return named?.credentials ?? fallbackCredentials;
    };
    const d = config.discovery;
    const discovery = new Discovery({
      multicast: { enabled: d.multicast },
      unicastTargets: d.unicast_targets,
      xaddrs: [...d.xaddrs, ...plan.cameras.flatMap((p) => (p.xaddr === undefined ? [] : [p.xaddr]))],
      ...(d.hello_port !== 0 && { helloListen: { host: d.hello_host, port: d.hello_port } }),
      credentialsFor,
      reprobeIntervalMs: d.reprobe_interval_ms,
      probeTimeoutMs: d.probe_timeout_ms,
      onvif: { timeoutMs: d.onvif_timeout_ms },
      logger,
    });

    const discoveredReport = () =>
      toProtoDiscoveredDevices(config.site_id, discovery.devices(), {
        cameraIdFor: (device) => plan.cameras.find((p) => matches(p, device))?.cameraId,
      });
    discovered = () => DiscoveredDevices.toJSON(discoveredReport());
    // Discovery changes, and config changes (a device's camera id), change the published report.
    const discoveredListeners = new Set<() => void>();
    const discoveredChanged = (): void => {
      for (const listener of discoveredListeners) listener();
    };

    // Bound once the supervisor exists; the link only delivers configs after it started (below).
    let applySiteConfig: (next: SiteConfig) => boolean = () => false;
    let transport: EdgeTransport | undefined;
    // Live snapshots for the gateway: the latest analysed frame, else the camera's ONVIF snapshot.
    const latestFrames = new LatestFrames();
    const snapshots = new SnapshotService({
      siteId: config.site_id,
      plans: () => plan.cameras,
      discovery,
      frames: latestFrames,
      logger,
      registry: metrics.registry,
    });
    if (config.mqtt !== undefined && opts.events === undefined) {
      const spool = await openSpool({
        dir: join(config.data_dir, 'spool'),
        maxBytes: config.spool.max_bytes,
        segmentBytes: config.spool.segment_bytes,
        ackFlushMs: config.spool.ack_flush_ms,
        logger,
        registry: metrics.registry,
      });
      // Closed after the link and after the supervisor (stops run in reverse).
      stops.push(() => spool.close());
      const link = new MqttLink({
        siteId: config.site_id,
        mqtt: config.mqtt,
        spoolConfig: config.spool,
        spool,
        health,
        discovered: {
          current: discoveredReport,
          onChange: (listener) => {
            discoveredListeners.add(listener);
            return () => discoveredListeners.delete(listener);
          },
        },
        onSiteConfig: (next) => applySiteConfig(next),
        onSnapshotRequest: (request) => snapshots.handle(request),
        logger,
        registry: metrics.registry,
        env,
      });
      stops.push(() => link.stop());
      transport = { spool, link };
    }

    let sink = opts.sink;
    if (sink === undefined && !config.detect.face && !config.detect.plate) {
      // Capture only (commissioning, the capture bench): frames are taken and released.
      sink = DISCARD_SINK;
    }
    if (sink === undefined) {
      const detectors: DetectorName[] = [];
      if (config.detect.face) detectors.push('face');
      if (config.detect.plate) detectors.push('plate');
      const pool = await startInferencePool({
        detectors,
        workers: config.detect.workers,
        intraOpNumThreads: config.detect.threads,
        maxQueue: config.detect.queue,
        logger,
      });
      stops.push(() => pool.close());
      let events = opts.events ?? transport?.spool;
      if (events === undefined) {
        await mkdir(config.data_dir, { recursive: true });
        const file = new JsonLinesEventSink({
          path: config.detect.events_file ?? join(config.data_dir, 'events.jsonl'),
          evidenceDir: join(config.data_dir, 'evidence'),
        });
        // Stopped after the supervisor (stops run in reverse), so flushed tracks are written.
        stops.push(() => file.close());
        events = file;
      }
      sink = createAnalysisSink({
        siteId: config.site_id,
        detect: poolDetect(pool),
        modelIds: MODEL_IDS,
        kinds: { face: config.detect.face, plate: config.detect.plate },
        minConfidence: config.detect.min_confidence,
        planFor: (cameraId) => plan.cameras.find((p) => p.cameraId === cameraId),
        events,
        logger,
      });
    }

    const supervisor = new CameraSupervisor({
      discovery,
      health,
      capture: {
        width: config.capture.width,
        height: config.capture.height,
        fps: config.capture.fps,
        stallTimeoutMs: config.capture.stall_timeout_ms,
        backoff: { initialMs: config.capture.backoff_initial_ms, maxMs: config.capture.backoff_max_ms },
        ffmpegPath: config.capture.ffmpeg_path,
      },
      sink: latestFrames.tap(sink),
      captureDiscovered: config.capture_discovered,
      defaultCredentials: fallbackCredentials,
      logger,
    });
    stops.push(() => supervisor.stop());

    const offChange = discovery.onChange((change) => {
      log.debug({ kind: change.kind, device: change.device.key }, 'device change');
      const counts = new Map<string, number>();
      for (const dev of discovery.devices()) counts.set(dev.access, (counts.get(dev.access) ?? 0) + 1);
      metrics.devices.reset();
      for (const [access, n] of counts) metrics.devices.set({ access }, n);
      supervisor.reconcile();
      discoveredChanged();
    });
    stops.push(async () => {
      offChange();
      await discovery.stop();
    });
    supervisor.setPlans(plan.cameras);
    await discovery.start();

    const timer = setInterval(() => {
      supervisor.refreshHealth();
      health.sample().catch((err: unknown) => {
        log.warn({ err }, 'process sample failed');
      });
    }, SAMPLE_INTERVAL_MS);
    timer.unref();
    stops.push(() => {
      clearInterval(timer);
      return Promise.resolve();
    });

    applySiteConfig = (next) => {
      if (next.siteId !== config.site_id) {
        log.warn({ site_id: next.siteId }, 'ignoring site config addressed to another site');
        return false;
      }
      if (site !== undefined && next.revision <= site.revision) {
        log.info(
          { revision: next.revision, in_force: site.revision },
          'ignoring site config that is not newer',
        );
        return false;
      }
      site = next;
      plan = effectiveCameras(config, site, env);
      health.setConfigRevision(plan.revision);
      supervisor.setPlans(plan.cameras);
      // New credentials may have arrived: devices that refused the old ones are tried now.
      for (const device of discovery.devices()) {
        if (device.access === 'auth_failed') {
          discovery.retryNow(device.key).catch((err: unknown) => {
            log.warn({ err, device: device.key }, 'retry after config change failed');
          });
        }
      }
      discoveredChanged();
      log.info({ revision: plan.revision, cameras: plan.cameras.length }, 'site config applied');
      return true;
    };
    transport?.link.start();

    log.info(
      {
        site_id: config.site_id,
        version: VERSION,
        health_url: server.url,
        cameras: plan.cameras.length,
        events_to: transport === undefined ? 'file' : 'mqtt',
      },
      'edge agent started',
    );

    let stopping: Promise<void> | undefined;
    return {
      health,
      metrics,
      discovery,
      supervisor,
      healthUrl: server.url,
      transport,
      plans: () => plan.cameras,
      applySiteConfig: (next) => applySiteConfig(next),
      stop() {
        stopping ??= (async () => {
          log.info('edge agent stopping');
          for (const stop of stops.reverse()) {
            try {
              await stop();
            } catch (err) {
              log.error({ err }, 'stop step failed');
            }
          }
          log.info('edge agent stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    // Undo what started; the start error is the one that matters, later ones are logged.
    for (const stop of stops.reverse()) {
      await stop().catch((stopErr: unknown) => {
        log.debug({ err: stopErr }, 'cleanup after failed start');
      });
    }
    throw err;
  }
}
