/**
 * Cuts ffmpeg's raw rgb24 byte stream into frames. Pipe reads return whatever the kernel had
 * (64 KiB at a time, typically), so a frame spans many chunks and a chunk may end one frame and
 * start the next.
 */

/** Reassembles fixed-size frames from chunks of any size. */
export class FrameAssembler {
  private current: Buffer | undefined;
  private filled = 0;

  /** @param frameBytes bytes per frame: width × height × 3 for rgb24. */
  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) {
      throw new RangeError(`frameBytes must be a positive integer, got ${frameBytes}`);
    }
  }

  /**
   * Append a chunk; returns the frames it completed, in order. Each frame is a new Buffer that
   * the caller owns (nothing is shared with `chunk` or with later frames).
   */
  push(chunk: Buffer): Buffer[] {
    const done: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      // Allocated on demand, so an idle capture holds no half-frame buffer.
      this.current ??= Buffer.allocUnsafe(this.frameBytes);
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        done.push(this.current);
        this.current = undefined;
        this.filled = 0;
      }
    }
    return done;
  }

  /** Bytes of the frame being assembled (a partial frame when the stream ends mid-frame). */
  get partialBytes(): number {
    return this.filled;
  }
}
