/**
 * The latest frame each camera delivered to analysis, kept so a live snapshot can be answered
 * from it (no extra connection to the camera). {@link LatestFrames.tap} wraps the supervisor's
 * frame sink: every frame the sink takes is remembered, by reference (frames are owned buffers
 * that nothing reuses, see capture/frame-assembler.ts), so the cost is one frame per camera kept
 * alive a little longer. A camera's entry goes when its frames end (capture stopped or removed).
 */
import type { FrameSink } from '../cameras/supervisor.ts';
import type { Frame } from '../capture/index.ts';

/** Where a snapshot can read the latest analysed frame of a camera. */
export interface LatestFrameSource {
  /** The newest frame of `cameraId` handed to analysis, or undefined when none is running. */
  latest(cameraId: string): Frame | undefined;
}

/** See the module comment. */
export class LatestFrames implements LatestFrameSource {
  readonly #frames = new Map<string, Frame>();

  /** A sink that remembers each frame, then hands it to `sink`. */
  tap(sink: FrameSink): FrameSink {
    return {
      consume: (cameraId, frames) => sink.consume(cameraId, this.#record(cameraId, frames)),
    };
  }

  latest(cameraId: string): Frame | undefined {
    return this.#frames.get(cameraId);
  }

  async *#record(
    cameraId: string,
    frames: AsyncGenerator<Frame, void, undefined>,
  ): AsyncGenerator<Frame, void, undefined> {
    try {
      for await (const frame of frames) {
        this.#frames.set(cameraId, frame);
        yield frame;
      }
    } finally {
      this.#frames.delete(cameraId);
    }
  }
}
