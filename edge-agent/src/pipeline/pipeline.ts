/**
 * One camera's analysis: frame → motion gate → detectors (on the motion regions) → tracker →
 * events. Still scenes cost only the motion gate. Detection runs off the main thread (the
 * inference worker behind `detect`); this module only sequences the stages and times them.
 */
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { DETECTOR_NAMES, type InferencePool } from '../detect/index.ts';
import type { Box, Detection, RgbImage } from '../detect/types.ts';
import { buildEvent, type EventEvidenceOptions, type EventSink } from '../events/index.ts';
import type { Logger } from '../log.ts';
import {
  changedShare,
  createMotionGate,
  mergeBoxes,
  type MotionGateOptions,
  type MotionResult,
} from '../motion/index.ts';
import { createTracker, type TrackFrame, type TrackReport, type TrackerOptions } from '../track/index.ts';

/** Which detectors run on a camera. */
export interface DetectorKinds {
  face: boolean;
  plate: boolean;
}

/**
 * Runs the detectors on an image (off the main thread); the pipeline's only view of detection.
 * `regions` undefined = the whole image.
 */
export type DetectFn = (
  image: RgbImage,
  regions: readonly Box[] | undefined,
  kinds: DetectorKinds,
) => Promise<Detection[]>;

/** A DetectFn over the inference worker pool. Pixels are copied: the tracker keeps frames as evidence. */
export function poolDetect(pool: InferencePool): DetectFn {
  return async (image, regions, kinds) => {
    const detectors = DETECTOR_NAMES.filter((n) => kinds[n]);
    const result = await pool.detect({
      image,
      detectors,
      copy: true,
      ...(regions !== undefined && { regions }),
    });
    return result.detections;
  };
}

/** Model ids per kind, from models/manifest.json, carried by events. */
export const MODEL_IDS = { face: ['blazeface-back-256'], plate: ['ppocr-v4-det', 'ppocr-v4-rec'] } as const;

/** What one processed frame produced, for the CLI, the eval and tests. */
export interface FrameOutcome {
  frame: TrackFrame;
  motion: MotionResult;
  /** Empty when the motion gate skipped the detectors. */
  detections: Detection[];
  events: Event[];
  /** Stage times for this frame, ms. */
  timings: { motionMs: number; detectMs: number; trackMs: number };
}

/** Options of {@link createCameraPipeline}. */
export interface CameraPipelineOptions {
  siteId: string;
  cameraId: string;
  detect: DetectFn;
  kinds: DetectorKinds;
  /** Model ids per kind, carried by events. */
  modelIds: { face: readonly string[]; plate: readonly string[] };
  sink: EventSink;
  /** Skip detection on still frames. Default true; false runs every frame (the CLI on images). */
  gateOnMotion?: boolean;
  motion?: MotionGateOptions;
  tracker?: TrackerOptions;
  evidence?: EventEvidenceOptions;
  /** Detections below this confidence are ignored. Default 0 (the detectors' own thresholds). */
  minConfidence?: number;
  logger: Logger;
  /** Called after every frame (eval, CLI, tests). */
  onFrame?: (outcome: FrameOutcome) => void;
}

/** Running counters of a pipeline. */
export interface PipelineStats {
  frames: number;
  framesDetected: number;
  events: number;
  publishFailures: number;
  /** Detections dropped because neither motion nor an open track was under them. */
  staticDropped: number;
}

/** A camera's pipeline. */
export interface CameraPipeline {
  /** Analyse one frame; resolves when its events (if any) are published. */
  process(frame: TrackFrame): Promise<FrameOutcome>;
  /** End every open track (shutdown, camera gone) and publish their events. */
  flush(): Promise<Event[]>;
  stats(): PipelineStats;
}

/**
 * Share of a detection's box that must have changed for it to start a new track (an open track's
 * detections need none: a person who stops walking is still followed).
 */
const MIN_NEW_OBJECT_MOTION = 0.04;

/** Whether `box` overlaps any of `regions`. */
function touchesAny(box: Box, regions: readonly Box[]): boolean {
  return regions.some(
    (r) =>
      box.x < r.x + r.width && r.x < box.x + box.width && box.y < r.y + r.height && r.y < box.y + box.height,
  );
}

/** Build a camera's pipeline. */
export function createCameraPipeline(opts: CameraPipelineOptions): CameraPipeline {
  const gate = createMotionGate(opts.motion ?? {});
  const tracker = createTracker(opts.tracker ?? {});
  const log = opts.logger.child({ module: 'pipeline', camera_id: opts.cameraId });
  const stats: PipelineStats = {
    frames: 0,
    framesDetected: 0,
    events: 0,
    publishFailures: 0,
    staticDropped: 0,
  };
  const minConfidence = opts.minConfidence ?? 0;
  const ctx = { siteId: opts.siteId, cameraId: opts.cameraId, modelIds: opts.modelIds };

  const publish = async (reports: readonly TrackReport[]): Promise<Event[]> => {
    const events: Event[] = [];
    for (const report of reports) {
      const event = await buildEvent(report, ctx, opts.evidence ?? {});
      events.push(event);
      try {
        await opts.sink.publish(event);
        stats.events += 1;
      } catch (err) {
        // The sink (the spool, issue 5) is where durability lives; here a failure is counted and
        // reported, and the next events are still tried.
        stats.publishFailures += 1;
        log.error({ err, event_id: event.eventId }, 'event could not be published');
      }
    }
    return events;
  };

  return {
    async process(frame) {
      stats.frames += 1;
      const t0 = performance.now();
      const motion = gate.update(frame);
      const t1 = performance.now();
      let detections: Detection[] = [];
      const wanted = opts.kinds.face || opts.kinds.plate;
      // Open tracks are looked at too: a vehicle stopped at a barrier is still to the motion
      // gate, and without this its pass would end while it waits.
      const tracked = tracker.activeRegions(frame.capturedAtMs);
      if (wanted && (motion.moving || tracked.length > 0 || opts.gateOnMotion === false)) {
        const regions =
          opts.gateOnMotion === false ? undefined : mergeBoxes([...motion.regions, ...tracked], 8);
        const found = await opts.detect(frame, regions, opts.kinds);
        stats.framesDetected += 1;
        detections = found.filter((d) => {
          if (d.confidence < minConfidence) return false;
          // Something that did not move and is not being followed is scenery, not a pass: a
          // building's window grid that looks like a face at night, a poster, a parked car's plate
          // seen because a pedestrian walked past. Detection regions are padded for context, so
          // such things are in view whenever anything moves nearby.
          // Motion regions are coarse (a passing truck's spans half the frame), so the test is
          // whether anything changed under the box itself (a low bar: a face at night differs
          // little from the background). Scenery that passes it still has to move, or change
          // under most of its box, before the tracker reports it (staticMinHits). A re-seed says
          // nothing about motion.
          const moved =
            motion.changed !== undefined && changedShare(motion.changed, d.box) >= MIN_NEW_OBJECT_MOTION;
          if (opts.gateOnMotion === false || moved || touchesAny(d.box, tracked)) return true;
          stats.staticDropped += 1;
          return false;
        });
      }
      const t2 = performance.now();
      // The tracker also runs on still frames: that is how it learns a pass has ended.
      const changed = motion.changed;
      const reports = tracker.update(
        frame,
        detections.filter((d) => opts.kinds[d.kind]),
        opts.gateOnMotion === false
          ? undefined
          : (box) => (changed === undefined ? 0 : changedShare(changed, box)),
      );
      const t3 = performance.now();
      const events = await publish(reports);
      const outcome: FrameOutcome = {
        frame,
        motion,
        detections,
        events,
        timings: { motionMs: t1 - t0, detectMs: t2 - t1, trackMs: t3 - t2 },
      };
      opts.onFrame?.(outcome);
      return outcome;
    },
    async flush() {
      return publish(tracker.flush());
    },
    stats: () => ({ ...stats }),
  };
}
