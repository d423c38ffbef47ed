/**
 * A simulated site: what an edge agent at a village NVR would see on its LAN.
 *
 * Each camera is a simulated ONVIF device (test/sim/onvif) whose two profiles — main 1080p and
 * sub 720p, as real cameras have — point at RTSP mounts of the GStreamer server
 * (test/bench/services) looping a generated scene (test/scene) with known plates and faces. The
 * RTSP mounts need the camera's credentials, as real cameras do, and are shared live streams
 * (a late client joins mid-loop). Snapshots show the frame the stream is at now.
 *
 * Used by the demo and by every test that needs "a site with cameras".
 */
import type { Logger } from 'pino';
import { startRtspServer, type RtspServerHandle } from '../bench/services/index.ts';
import { generateScene, type SceneProgress } from '../scene/generate.ts';
import { runFfmpeg } from '../scene/ffmpeg.ts';
import { PRESET_NAMES, presetScene, type PresetName } from '../scene/presets.ts';
import type { SceneTruth } from '../scene/truth.ts';
import { startOnvifCamera } from './onvif/camera.ts';
import type { CameraCredentials, OnvifCamera } from './onvif/types.ts';

/** Options for {@link startSimulatedSite}. */
export interface SimulatedSiteOptions {
  /** Scenes, one camera each, in order. Default: every preset (three cameras). */
  presets?: readonly PresetName[];
  /** Loop length of the scenes, seconds. Default 20. */
  durationS?: number;
  /** Frame rate of the scenes. Default 15. */
  fps?: number;
  /** ONVIF and RTSP credentials of every camera. Default admin / sharpeyes-sim. */
  credentials?: CameraCredentials;
  /** Scene cache directory (see generateScene). Default `<repo>/.cache/scenes`. */
  sceneDir?: string;
  /** Called as scenes are generated (the first run takes a minute; later runs hit the cache). */
  onProgress?: (progress: SceneProgress) => void;
  logger?: Logger;
}

/** One camera of the site, with what a test needs to check detections against. */
export interface SiteCamera {
  /** Short name, e.g. `cam1-checkpoint`. */
  readonly name: string;
  readonly preset: PresetName;
  /** The simulated ONVIF device (fault modes, move, stats). */
  readonly onvif: OnvifCamera;
  /** UDP port on 127.0.0.1 that answers unicast WS-Discovery probes. */
  readonly discoveryPort: number;
  /** Sub-stream (720p) RTSP URL without credentials. */
  readonly rtspUrl: string;
  /** Main-stream (1080p) RTSP URL without credentials. */
  readonly mainRtspUrl: string;
  /** Ground truth of the 720p sub-stream's loop. */
  readonly truth: SceneTruth;
  /** Seconds into the loop the shared stream is at now (approximately: RTSP start is not instant). */
  loopPositionS(): number;
}

/** A running simulated site. */
export interface SimulatedSite {
  readonly cameras: readonly SiteCamera[];
  readonly credentials: CameraCredentials;
  readonly rtsp: RtspServerHandle;
  /** Stop every camera and the RTSP server. Idempotent. */
  stop(): Promise<void>;
}

const SUB = { width: 1280, height: 720 } as const;
const MAIN = { width: 1920, height: 1080 } as const;

/** Generate (or reuse) the scenes and start the RTSP server and one ONVIF camera per scene. */
export async function startSimulatedSite(opts: SimulatedSiteOptions = {}): Promise<SimulatedSite> {
  const presets = opts.presets ?? PRESET_NAMES;
  const credentials = opts.credentials ?? { username: 'admin', password: 'sharpeyes-sim' };
  const sceneOpts = {
    fps: opts.fps ?? 15,
    duration_s: opts.durationS ?? 20,
  };
  const genOpts = {
    ...(opts.sceneDir !== undefined && { outDir: opts.sceneDir }),
    ...(opts.onProgress !== undefined && { onProgress: opts.onProgress }),
  };

  // Sequential on purpose: two ffmpeg encodes at once only share the same two cores.
  const scenes = [];
  for (const preset of presets) {
    const sub = await generateScene(presetScene(preset, { ...sceneOpts, ...SUB }), genOpts);
    const main = await generateScene(presetScene(preset, { ...sceneOpts, ...MAIN }), genOpts);
    scenes.push({ preset, sub, main });
  }

  const auth = { user: credentials.username, password: credentials.password };
  const rtsp = await startRtspServer({
    mounts: scenes.flatMap(({ sub, main }, i) => [
      { path: `/cam${i + 1}/sub`, file: sub.videoPath, auth, shared: true },
      { path: `/cam${i + 1}/main`, file: main.videoPath, auth, shared: true },
    ]),
  });
  const streamsStartedAt = Date.now();

  const cameras: SiteCamera[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(cameras.map((c) => c.onvif.stop()));
    await rtsp.stop();
  };
  try {
    for (const [i, { preset, sub }] of scenes.entries()) {
      const n = i + 1;
      const name = `cam${n}-${preset}`;
      const durationS = sub.truth.video.duration_s;
      const loopPositionS = (): number => ((Date.now() - streamsStartedAt) / 1000) % durationS;
      const serial = `SIM${String(n).padStart(4, '0')}${preset.slice(0, 3).toUpperCase()}`;
      const onvif = await startOnvifCamera({
        name,
        identity: {
          endpoint_reference: `urn:uuid:5a1e0000-0000-4000-8000-${String(n).padStart(12, '0')}`,
          manufacturer: 'Sharpeyes Simulated',
          model: 'SIM-IPC-2M',
          firmware_version: '1.0.0',
          serial_number: serial,
          hardware_id: 'SIM-HW-1',
        },
        credentials,
        profiles: [
          {
            token: 'profile_main',
            name: 'MainStream',
            ...MAIN,
            fps: sceneOpts.fps,
            rtsp_uri: rtsp.url(`/cam${n}/main`),
          },
          {
            token: 'profile_sub',
            name: 'SubStream',
            ...SUB,
            fps: sceneOpts.fps,
            rtsp_uri: rtsp.url(`/cam${n}/sub`),
          },
        ],
        snapshot: liveSnapshot(sub.videoPath, loopPositionS),
        discovery: { mode: 'unicast' },
        ...(opts.logger !== undefined && { logger: opts.logger }),
      });
      const discoveryPort = onvif.discoveryPort;
      if (discoveryPort === undefined) throw new Error(`${name}: discovery socket did not start`);
      cameras.push({
        name,
        preset,
        onvif,
        discoveryPort,
        rtspUrl: rtsp.url(`/cam${n}/sub`),
        mainRtspUrl: rtsp.url(`/cam${n}/main`),
        truth: sub.truth,
        loopPositionS,
      });
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    cameras,
    credentials,
    rtsp,
    stop: () => (stopping ??= stopAll()),
  };
}

/**
 * Snapshot = the scene frame the live stream is showing now, as JPEG. Frames are extracted on
 * demand and cached per 0.5 s of loop time, so a UI polling every second costs one ffmpeg run.
 */
function liveSnapshot(videoPath: string, positionS: () => number): () => Promise<Buffer> {
  const cache = new Map<number, Promise<Buffer>>();
  return () => {
    const slot = Math.floor(positionS() * 2) / 2;
    let jpeg = cache.get(slot);
    if (jpeg === undefined) {
      jpeg = runFfmpeg(
        ['-ss', slot.toFixed(2), '-i', videoPath, '-frames:v', '1', '-q:v', '4', '-f', 'mjpeg', 'pipe:1'],
        { name: 'snapshot', captureStdout: true },
      ).then((r) => r.stdout);
      // A failed extraction is not cached: the next request tries again.
      void jpeg.catch(() => cache.delete(slot));
      if (cache.size > 8) cache.delete(cache.keys().next().value ?? slot);
      cache.set(slot, jpeg);
    }
    return jpeg;
  };
}
