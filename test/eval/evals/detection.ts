/**
 * `npm run eval -- detection`: the edge pipeline (motion → face + plate detection in the
 * inference worker → tracker → events) on generated scenes with ground truth, through the
 * degradations in variations.ts, scored by score.ts. Scenes use the three presets with seeded
 * random plate strings (so nothing is tuned to one picture); every (scene, seed) is run through
 * every variation.
 *
 *   npm run eval -- detection [--seeds 11,23,5,37] [--quick] [--only VARIATION] [--dump DIR] [--settings JSON]
 *
 * `--dump DIR` writes each run's truth, per-frame detections and events as JSON (for diagnosis).
 * `--settings JSON` tunes the detectors, e.g. `{"plate":{"maxDetScale":0.6}}` (settings-arg.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readVideoFrames } from '../../../edge-agent/src/capture/file-source.ts';
import { startInferencePool } from '../../../edge-agent/src/detect/index.ts';
import { MemoryEventSink } from '../../../edge-agent/src/events/index.ts';
import { silentLogger } from '../../../edge-agent/src/log.ts';
import { createCameraPipeline, MODEL_IDS, poolDetect } from '../../../edge-agent/src/pipeline/pipeline.ts';
import { generateScene, REPO_ROOT } from '../../scene/generate.ts';
import { PRESET_NAMES, presetScene } from '../../scene/presets.ts';
import type { SceneSpec } from '../../scene/spec.ts';
import { emptyTally, metrics, scoreRun, type FrameResult, type ScoredEvent, type Tally } from '../score.ts';
import { takeSettingsArg } from '../settings-arg.ts';
import { applyVariation, VARIATIONS } from '../variations.ts';

export const description =
  'detection accuracy on generated scenes (plates, faces, distractors, one event per pass)';

/**
 * Four seeds, 140 plate passes: with 70 (two seeds) one plate moved the exact-read rate by 1.4
 * points and seed pairs differed by up to 4 points, so a 0.95 target sat inside the noise.
 */
const DEFAULT_SEEDS = [11, 23, 5, 37];

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 2;

/** A preset with its plate strings left to the seed. */
function seeded(spec: SceneSpec, seed: number): SceneSpec {
  return {
    ...spec,
    name: `${spec.name}-s${seed}`,
    seed,
    vehicles: spec.vehicles.map(({ plate_text: _fixed, ...v }) => v),
  };
}

export async function run(
  allArgs: string[],
  progress: (msg: string) => void,
): Promise<Record<string, unknown>> {
  const { settings, rest: args } = takeSettingsArg(allArgs);
  const quick = args.includes('--quick');
  const seedArg = args[args.indexOf('--seeds') + 1];
  const seeds =
    args.includes('--seeds') && seedArg !== undefined ? seedArg.split(',').map(Number) : DEFAULT_SEEDS;
  const argValue = (name: string): string | undefined =>
    args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
  const only = argValue('--only');
  const dumpDir = argValue('--dump');
  if (dumpDir !== undefined) mkdirSync(dumpDir, { recursive: true });
  const variations = VARIATIONS.filter((v) => only === undefined || v.name === only).slice(
    0,
    quick ? 2 : undefined,
  );
  if (variations.length === 0) throw new Error(`--only: no variation named ${only ?? ''}`);
  const sceneDir = join(REPO_ROOT, '.cache', 'eval-scenes');
  mkdirSync(sceneDir, { recursive: true });

  const pool = await startInferencePool({ detectors: ['face', 'plate'], settings, logger: silentLogger() });
  const tally = emptyTally();
  const perVariation = new Map<string, Tally>();
  const stage = { motion: [] as number[], detect: [] as number[], track: [] as number[] };
  try {
    const scenes: SceneSpec[] = PRESET_NAMES.flatMap((name) =>
      seeds.map((seed) =>
        seeded(presetScene(name, { width: WIDTH, height: HEIGHT, fps: 10, duration_s: 20 }), seed),
      ),
    );
    let n = 0;
    for (const spec of scenes) {
      const scene = await generateScene(spec, { outDir: sceneDir });
      for (const variation of variations) {
        n += 1;
        progress(`${n}/${scenes.length * variations.length}: ${spec.name} × ${variation.name}`);
        const sink = new MemoryEventSink();
        const frames: FrameResult[] = [];
        const pipeline = createCameraPipeline({
          siteId: 'eval',
          cameraId: spec.name,
          detect: poolDetect(pool),
          kinds: { face: true, plate: true },
          modelIds: MODEL_IDS,
          sink,
          logger: silentLogger(),
          onFrame: (o) => {
            frames.push({
              t_s: o.frame.capturedAtMs / 1000,
              detections: o.detections.map((d) => ({ kind: d.kind, box: d.box })),
              ...(dumpDir !== undefined && {
                motion_regions: o.motion.regions,
                motion_reset: o.motion.reset,
              }),
            });
            stage.motion.push(o.timings.motionMs);
            if (o.detections.length > 0 || o.motion.moving) stage.detect.push(o.timings.detectMs);
            stage.track.push(o.timings.trackMs);
          },
        });
        let i = 0;
        for await (const frame of readVideoFrames(scene.videoPath, {
          width: WIDTH,
          height: HEIGHT,
          fps: FPS,
        })) {
          const varied = await applyVariation(frame, variation, spec.seed * 1000 + i);
          i += 1;
          await pipeline.process({ ...frame, data: varied.data });
        }
        await pipeline.flush();
        const events: ScoredEvent[] = sink.latest().map((e) => ({
          kind: e.detail?.$case === 'plate' ? 'plate' : 'face',
          t_s: e.timeMs / 1000,
          box: { x: e.box?.x ?? 0, y: e.box?.y ?? 0, width: e.box?.width ?? 0, height: e.box?.height ?? 0 },
          ...(e.detail?.$case === 'plate' && { text: e.detail.value.text }),
        }));
        const result = {
          truth: scene.truth,
          width: WIDTH,
          height: HEIGHT,
          rotateDeg: variation.rotateDeg,
          frames,
          events,
        };
        scoreRun(result, tally);
        if (dumpDir !== undefined) {
          writeFileSync(join(dumpDir, `${spec.name}--${variation.name}.json`), JSON.stringify(result));
        }
        const own = perVariation.get(variation.name) ?? emptyTally();
        scoreRun(result, own);
        perVariation.set(variation.name, own);
      }
    }
  } finally {
    await pool.close();
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? 0 : Math.round((s[Math.floor(s.length / 2)] ?? 0) * 10) / 10;
  };
  if (tally.misreads.length > 0)
    progress(`plates not read exactly: ${JSON.stringify(tally.misreads.slice(0, 20))}`);
  if (tally.notOneEvent.length > 0)
    progress(`passes without exactly one event: ${JSON.stringify(tally.notOneEvent.slice(0, 30))}`);
  for (const [name, t] of perVariation) progress(`${name}: ${JSON.stringify(metrics(t))}`);
  return {
    ...metrics(tally),
    scenes: PRESET_NAMES.length * seeds.length,
    variations: variations.map((v) => v.name).join(','),
    plate_passes_80px: tally.platePasses80,
    plate_events: tally.plateEvents,
    face_instances_24px: tally.faceTruthInstances,
    frames: tally.frames,
    passes: tally.passes,
    small_plate_passes_60_80px: tally.smallPlatePasses,
    small_plate_passes_one_event: tally.smallPlatePassesWithOneEvent,
    median_motion_ms: median(stage.motion),
    median_detect_ms_on_moving_frames: median(stage.detect),
    median_track_ms: median(stage.track),
    settings,
  };
}
