/** Events per second over a moving window (input and delivered fps). */

/** Counts timestamps in the last `windowMs` and turns them into a rate. */
export class RateWindow {
  private readonly times: number[] = [];
  private firstMs: number | null = null;

  constructor(private readonly windowMs: number) {}

  /** Record one event at `nowMs`. */
  add(nowMs: number): void {
    this.firstMs ??= nowMs;
    this.times.push(nowMs);
    this.prune(nowMs);
  }

  /**
   * Events per second at `nowMs`. The window is shortened to the time since the first event plus
   * `leadMs` (typically one expected interval), so the rate is meaningful right after a start and
   * is not diluted by the time before the first event.
   */
  rate(nowMs: number, leadMs = 0): number {
    this.prune(nowMs);
    if (this.firstMs === null) return 0;
    const span = Math.min(this.windowMs, Math.max(1, nowMs - this.firstMs + leadMs));
    return (this.times.length * 1000) / span;
  }

  /** Events in the window at `nowMs`. */
  count(nowMs: number): number {
    this.prune(nowMs);
    return this.times.length;
  }

  /** Milliseconds since the first event, or 0 when none. */
  spanMs(nowMs: number): number {
    return this.firstMs === null ? 0 : nowMs - this.firstMs;
  }

  /** Forget everything (a new ffmpeg run starts a new measurement). */
  reset(): void {
    this.times.length = 0;
    this.firstMs = null;
  }

  private prune(nowMs: number): void {
    const cutoff = nowMs - this.windowMs;
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] ?? Infinity) <= cutoff) drop++;
    if (drop > 0) this.times.splice(0, drop);
  }
}
