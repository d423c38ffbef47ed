/**
 * A memo of text that was read and is clearly not a plate (a shop sign, the OSD camera label):
 * when the same box shows the same pixels again, the recogniser is not run again. Static text
 * is in every frame, and reading it costs as much as reading a plate.
 *
 * Only rejections are remembered, and only by pixels: a plate is always read afresh, and a box
 * whose crop changed (a vehicle in front of the sign, a new camera) is read again.
 */
import { quadIou } from './plate-det.ts';
import type { Point, RgbImage } from './types.ts';

/** Options of {@link StaticTextMemo}. */
export interface StaticTextMemoOptions {
  /** Entries kept (least recently matched dropped first). Default 32. */
  capacity?: number;
  /** An entry not matched in this many calls is dropped. Default 50. */
  maxIdleCalls?: number;
  /** Crops match when their mean absolute difference is at most this (0..255). Default 6. */
  maxMeanAbsDiff?: number;
  /** Boxes match when their bounds overlap by at least this IoU. Default 0.85. */
  minIou?: number;
}

interface Entry {
  quad: readonly Point[];
  crop: RgbImage;
  text: string;
  lastCall: number;
}

/** Mean absolute difference of two same-sized images, stopping early above `limit`. */
export function meanAbsDiff(a: RgbImage, b: RgbImage, limit = Infinity): number {
  if (a.width !== b.width || a.height !== b.height) return Infinity;
  const n = a.data.length;
  if (n === 0) return 0;
  const budget = limit * n;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += Math.abs((a.data[i] ?? 0) - (b.data[i] ?? 0));
    if (sum > budget) return Infinity;
  }
  return sum / n;
}

/** See the module comment. Not shared between threads; cheap to keep one per detector. */
export class StaticTextMemo {
  private readonly entries: Entry[] = [];
  private calls = 0;
  private readonly capacity: number;
  private readonly maxIdleCalls: number;
  private readonly maxMeanAbsDiff: number;
  private readonly minIou: number;

  constructor(opts: StaticTextMemoOptions = {}) {
    this.capacity = opts.capacity ?? 32;
    this.maxIdleCalls = opts.maxIdleCalls ?? 50;
    this.maxMeanAbsDiff = opts.maxMeanAbsDiff ?? 6;
    this.minIou = opts.minIou ?? 0.85;
  }

  /** Start a new frame: entries idle for too long are forgotten. */
  nextCall(): void {
    this.calls++;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.calls - (this.entries[i]?.lastCall ?? 0) > this.maxIdleCalls) this.entries.splice(i, 1);
    }
  }

  /** The remembered text of a box showing the same pixels, or undefined. */
  lookup(quad: readonly Point[], crop: RgbImage): string | undefined {
    for (const e of this.entries) {
      if (quadIou(e.quad, quad) < this.minIou) continue;
      if (meanAbsDiff(e.crop, crop, this.maxMeanAbsDiff) > this.maxMeanAbsDiff) continue;
      e.lastCall = this.calls;
      return e.text;
    }
    return undefined;
  }

  /** Remember that this box, with these pixels, read `text` and is not a plate. */
  remember(quad: readonly Point[], crop: RgbImage, text: string): void {
    if (this.entries.length >= this.capacity) {
      let oldest = 0;
      this.entries.forEach((e, i) => {
        if (e.lastCall < (this.entries[oldest]?.lastCall ?? Infinity)) oldest = i;
      });
      this.entries.splice(oldest, 1);
    }
    this.entries.push({ quad: [...quad], crop, text, lastCall: this.calls });
  }

  /** Number of remembered boxes. */
  get size(): number {
    return this.entries.length;
  }
}
