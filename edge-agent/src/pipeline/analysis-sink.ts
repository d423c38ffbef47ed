/**
 * The supervisor's FrameSink for real: each camera's frames go through its own pipeline
 * (motion → detection in the shared inference worker → tracker → events). A camera whose plan
 * changes gets a fresh pipeline the next time its capture starts; open tracks are flushed when
 * its frames end.
 */
import type { Frame } from '../capture/index.ts';
import type { FrameSink } from '../cameras/supervisor.ts';
import type { CameraPlan } from '../config/merge.ts';
import type { EventSink } from '../events/index.ts';
import type { Logger } from '../log.ts';
import { createCameraPipeline, type DetectFn, type DetectorKinds, type FrameOutcome } from './pipeline.ts';

/** Options of {@link createAnalysisSink}. */
export interface AnalysisSinkOptions {
  siteId: string;
  detect: DetectFn;
  modelIds: { face: readonly string[]; plate: readonly string[] };
  /** The agent-wide detector switches (config `detect.face` / `detect.plate`). */
  kinds: DetectorKinds;
  minConfidence: number;
  /** The plan of a camera, looked up when its frames start. */
  planFor: (cameraId: string) => CameraPlan | undefined;
  events: EventSink;
  logger: Logger;
  onFrame?: (cameraId: string, outcome: FrameOutcome) => void;
}

/** A FrameSink that analyses frames. */
export function createAnalysisSink(opts: AnalysisSinkOptions): FrameSink {
  return {
    async consume(cameraId: string, frames: AsyncGenerator<Frame, void, undefined>) {
      const plan = opts.planFor(cameraId);
      const kinds = {
        face: opts.kinds.face && (plan?.detectors?.face ?? true),
        plate: opts.kinds.plate && (plan?.detectors?.plate ?? true),
      };
      const pipeline = createCameraPipeline({
        siteId: opts.siteId,
        cameraId,
        detect: opts.detect,
        kinds,
        modelIds: opts.modelIds,
        sink: opts.events,
        minConfidence: opts.minConfidence,
        motion: { masks: (plan?.masks ?? []).map((points) => ({ points })) },
        tracker: { inbound: plan?.inbound ?? 'unspecified' },
        logger: opts.logger,
        ...(opts.onFrame !== undefined && {
          onFrame: (o: FrameOutcome) => {
            opts.onFrame?.(cameraId, o);
          },
        }),
      });
      const log = opts.logger.child({ module: 'analysis', camera_id: cameraId });
      try {
        for await (const frame of frames) {
          try {
            await pipeline.process(frame);
          } catch (err) {
            // One bad frame (or a busy inference queue) costs that frame, never the camera.
            log.warn({ err }, 'frame not analysed');
          }
        }
      } finally {
        await pipeline.flush();
      }
    },
  };
}
