/**
 * The edge pipeline's cost per analysed 720p frame, by stage (motion gate, face, plate,
 * tracker), measured on the generated scenes at 2 fps with the real models in the inference
 * worker; and how many cameras at 2 analysed fps two cores sustain.
 *
 * Capacity is computed from the measured medians, not observed: per camera and second,
 *   agent CPU  = 2 × (motion + tracker) + 2 × motion_share × (face + plate) + capture,
 * where capture (ffmpeg decoding a 720p H.264 stream plus the agent reading its frames) is
 * measured by `npm run bench -- edge-capture` (default 4.4% of a core per camera, overridable).
 * Two limits apply: all of it within 80% of two cores, and the inference part within 80% of the
 * inference workers' cores (two workers, the agent's default on 2 cores, one thread each). Backlog
 * cannot grow while both hold, because the workers' queue is bounded and drains faster than it
 * fills.
 *
 *   npm run bench -- edge-pipeline [motion_share=0.2] [capture_percent_per_camera=4.4] [--settings JSON]
 *
 * `--settings` tunes the detectors as in the eval (test/eval/settings-arg.ts).
 */
import { startInferencePool } from '../../../edge-agent/src/detect/index.ts';
import { readVideoFrames } from '../../../edge-agent/src/capture/file-source.ts';
import { createMotionGate, mergeBoxes } from '../../../edge-agent/src/motion/index.ts';
import { createTracker } from '../../../edge-agent/src/track/index.ts';
import { silentLogger } from '../../../edge-agent/src/log.ts';
import { generateScene } from '../../scene/generate.ts';
import { PRESET_NAMES, presetScene } from '../../scene/presets.ts';
import { takeSettingsArg } from '../../eval/settings-arg.ts';

export const description =
  'per-stage ms per 720p frame (motion, face, plate, tracker) and cameras per 2 cores';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor(s.length / 2)] ?? 0);
}

function p90(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor(s.length * 0.9)] ?? 0);
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export async function run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>> {
  const { settings, rest } = takeSettingsArg(args);
  const motionShare = Number(rest[0] ?? 0.2);
  const capturePercent = Number(rest[1] ?? 4.4);
  const workers = 2;
  const pool = await startInferencePool({
    detectors: ['face', 'plate'],
    settings,
    workers,
    logger: silentLogger(),
  });
  const motion: number[] = [];
  const face: number[] = [];
  const plate: number[] = [];
  const track: number[] = [];
  let frames = 0;
  let moving = 0;
  try {
    for (const name of PRESET_NAMES) {
      const scene = await generateScene(
        presetScene(name, { width: 1280, height: 720, fps: 15, duration_s: 20 }),
      );
      progress(`${name}: analysing ${scene.truth.video.duration_s * 2} frames`);
      const gate = createMotionGate({});
      const tracker = createTracker({});
      for await (const frame of readVideoFrames(scene.videoPath, { width: 1280, height: 720, fps: 2 })) {
        frames += 1;
        let t = performance.now();
        const m = gate.update(frame);
        motion.push(performance.now() - t);
        const regions = mergeBoxes([...m.regions, ...tracker.activeRegions(frame.capturedAtMs)], 8);
        let detections: Awaited<ReturnType<typeof pool.detect>>['detections'] = [];
        if (regions.length > 0) {
          moving += 1;
          const r = await pool.detect({ image: frame, regions, detectors: ['face', 'plate'], copy: true });
          detections = r.detections;
          face.push(r.timings.face ?? 0);
          plate.push(r.timings.plate ?? 0);
        }
        t = performance.now();
        tracker.update(frame, detections);
        track.push(performance.now() - t);
      }
    }
  } finally {
    await pool.close();
  }
  const m = median(motion);
  const f = median(face);
  const p = median(plate);
  const tr = median(track);
  // CPU ms per camera per second at 2 analysed fps.
  const inferenceMs = 2 * motionShare * (f + p);
  const perCameraMs = 2 * (m + tr) + inferenceMs + capturePercent * 10;
  const byCores = Math.floor((2 * 1000 * 0.8) / perCameraMs);
  const byWorker = Math.floor((workers * 1000 * 0.8) / inferenceMs);
  return {
    frames,
    frames_with_motion_share: r1(moving / frames),
    motion_ms: r1(m),
    face_ms: r1(f),
    plate_ms: r1(p),
    tracker_ms: Math.round(tr * 100) / 100,
    motion_ms_p90: r1(p90(motion)),
    face_ms_p90: r1(p90(face)),
    plate_ms_p90: r1(p90(plate)),
    assumed_motion_share: motionShare,
    capture_percent_per_camera: capturePercent,
    cpu_ms_per_camera_per_s: r1(perCameraMs),
    cameras_by_cpu_80pct: byCores,
    inference_workers: workers,
    cameras_by_inference_workers: byWorker,
    cameras_at_2fps_per_2_cores: Math.min(byCores, byWorker),
    settings,
    rss_bytes: process.memoryUsage.rss(),
  };
}
