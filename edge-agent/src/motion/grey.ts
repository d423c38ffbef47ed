/**
 * Area-average downscaling of a packed RGB frame to a small grey grid, the motion gate's working
 * image. Pure TypeScript and allocation-free per frame: the sampling plan is built once per frame
 * size and the output array is reused.
 */

/** A grey image, one float per cell (0..255). */
export interface GreyGrid {
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * How one frame size maps onto the grid. Each grid cell averages the input pixels that fall in
 * it, sampled every `step` pixels in both directions: at 1280×720 → 160×90 each cell is 8×8 px and
 * averages 9 of its 64 pixels (3×3). That keeps most of the noise averaging (σ/3) and reads a
 * third of the rows, which is what the cost is (memory, not arithmetic): ~0.5 ms per 720p frame.
 */
export interface DownscalePlan {
  inWidth: number;
  inHeight: number;
  outWidth: number;
  outHeight: number;
  step: number;
  /** For each sampled input row: its byte offset in the frame. */
  rowOffsets: Int32Array;
  /** For each sampled input row: the first index of its grid row in the output. */
  rowOut: Int32Array;
  /** For each grid column: the byte offset (within a row) of its first sampled input column. */
  colStart: Int32Array;
  /** For each grid column: how many sampled input columns fall in it. */
  colCount: Int32Array;
  /** Per grid cell: 1 / (samples in the cell × 256), folding the luma weights' scale in. */
  scale: Float32Array;
}

/**
 * Plan the downscale of an `inWidth`×`inHeight` frame to a grid `outWidth` cells wide (height
 * keeps the aspect ratio, at least 1). `step` 0 picks one: about 3×3 samples per cell.
 */
export function planDownscale(inWidth: number, inHeight: number, outWidth: number, step = 0): DownscalePlan {
  const outW = Math.max(1, Math.min(inWidth, Math.round(outWidth)));
  const outH = Math.max(1, Math.min(inHeight, Math.round((inHeight * outW) / inWidth)));
  const cell = Math.min(inWidth / outW, inHeight / outH);
  const s = step > 0 ? Math.floor(step) : Math.max(1, Math.round(cell / 3));
  // Sample at the centre of each step so the samples are spread evenly over the cell.
  const first = Math.floor((s - 1) / 2);
  const rows: number[] = [];
  for (let y = first; y < inHeight; y += s) rows.push(y);
  const cols: number[] = [];
  for (let x = first; x < inWidth; x += s) cols.push(x);
  const rowOffsets = new Int32Array(rows.length);
  const rowOut = new Int32Array(rows.length);
  const rowCell = new Int32Array(rows.length);
  rows.forEach((y, i) => {
    const oy = Math.min(outH - 1, Math.floor((y * outH) / inHeight));
    rowOffsets[i] = y * inWidth * 3;
    rowOut[i] = oy * outW;
    rowCell[i] = oy;
  });
  const colStart = new Int32Array(outW).fill(-1);
  const colCount = new Int32Array(outW);
  for (const x of cols) {
    const ox = Math.min(outW - 1, Math.floor((x * outW) / inWidth));
    if (colStart[ox] === -1) colStart[ox] = x * 3;
    colCount[ox] = (colCount[ox] ?? 0) + 1;
  }
  for (let ox = 0; ox < outW; ox++) if (colStart[ox] === -1) colStart[ox] = 0;
  const rowCounts = new Float64Array(outH);
  for (const oy of rowCell) rowCounts[oy] = (rowCounts[oy] ?? 0) + 1;
  const colCounts = colCount;
  const scale = new Float32Array(outW * outH);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const n = (rowCounts[oy] ?? 0) * (colCounts[ox] ?? 0);
      scale[oy * outW + ox] = n > 0 ? 1 / (n * 256) : 0;
    }
  }
  return {
    inWidth,
    inHeight,
    outWidth: outW,
    outHeight: outH,
    step: s,
    rowOffsets,
    rowOut,
    colStart,
    colCount,
    scale,
  };
}

/**
 * Downscale `rgb` (packed, `plan.inWidth`×`plan.inHeight`) into `out` (length
 * `outWidth*outHeight`) as grey 0..255 (BT.601 luma, integer weights 77/150/29).
 */
export function downscaleGrey(plan: DownscalePlan, rgb: Uint8Array, out: Float32Array): void {
  out.fill(0);
  const { rowOffsets, rowOut, colStart, colCount, scale, outWidth } = plan;
  const nRows = rowOffsets.length;
  const stride = plan.step * 3;
  for (let r = 0; r < nRows; r++) {
    const base = rowOffsets[r] ?? 0;
    const outRow = rowOut[r] ?? 0;
    for (let ox = 0; ox < outWidth; ox++) {
      let p = base + (colStart[ox] ?? 0);
      const end = p + (colCount[ox] ?? 0) * stride;
      let sum = 0;
      for (; p < end; p += stride) {
        sum += 77 * (rgb[p] as number) + 150 * (rgb[p + 1] as number) + 29 * (rgb[p + 2] as number);
      }
      out[outRow + ox] = (out[outRow + ox] ?? 0) + sum;
    }
  }
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = (out[i] ?? 0) * (scale[i] ?? 0);
}
