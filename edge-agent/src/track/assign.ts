/**
 * Optimal one-to-one assignment (Hungarian / Kuhn-Munkres, O(n²m)) maximising the summed score.
 * At 2 fps objects jump far between frames and two plates side by side can each look close to
 * the other's next position; the best total pairing resolves that where a greedy pass may not.
 */

/** A pair chosen by {@link assign}: row index, column index. */
export type Pair = [row: number, col: number];

/**
 * Pick pairs of (row, col) maximising the sum of `scores[row][col]`, each row and column used at
 * most once. Entries that are not finite (−Infinity, NaN) are forbidden and never paired; scores
 * should be positive (a pair scoring ≤ 0 is no better than leaving both unmatched).
 */
export function assign(scores: readonly (readonly number[])[]): Pair[] {
  const rows = scores.length;
  const cols = rows === 0 ? 0 : (scores[0]?.length ?? 0);
  if (rows === 0 || cols === 0) return [];
  const transpose = rows > cols;
  const n = transpose ? cols : rows;
  const m = transpose ? rows : cols;
  const at = (i: number, j: number): number =>
    transpose ? (scores[j]?.[i] ?? Number.NaN) : (scores[i]?.[j] ?? Number.NaN);
  let max = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) if (Number.isFinite(at(i, j))) max = Math.max(max, at(i, j));
  // A forbidden pair counts as score 0, the same as leaving both unmatched, so the result is a
  // maximum-weight matching (not a maximum-cardinality one); such pairs are dropped afterwards.
  const cost = (i: number, j: number): number => {
    const s = at(i, j);
    return Number.isFinite(s) ? max - Math.max(0, s) : max;
  };
  // e-maxx formulation, 1-based: p[j] = row matched to column j, way[] = augmenting path.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Number.POSITIVE_INFINITY);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0] ?? 0;
      let delta = Number.POSITIVE_INFINITY;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j] === 1) continue;
        const cur = cost(i0 - 1, j - 1) - (u[i0] ?? 0) - (v[j] ?? 0);
        if (cur < (minv[j] ?? Number.POSITIVE_INFINITY)) {
          minv[j] = cur;
          way[j] = j0;
        }
        if ((minv[j] ?? Number.POSITIVE_INFINITY) < delta) {
          delta = minv[j] ?? Number.POSITIVE_INFINITY;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j] === 1) {
          const pj = p[j] ?? 0;
          u[pj] = (u[pj] ?? 0) + delta;
          v[j] = (v[j] ?? 0) - delta;
        } else {
          minv[j] = (minv[j] ?? 0) - delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0] ?? 0;
      p[j0] = p[j1] ?? 0;
      j0 = j1;
    } while (j0 !== 0);
  }
  const pairs: Pair[] = [];
  for (let j = 1; j <= m; j++) {
    const i = p[j] ?? 0;
    if (i === 0) continue;
    if (!Number.isFinite(at(i - 1, j - 1))) continue;
    pairs.push(transpose ? [j - 1, i - 1] : [i - 1, j - 1]);
  }
  return pairs.sort((a, b) => a[0] - b[0]);
}
