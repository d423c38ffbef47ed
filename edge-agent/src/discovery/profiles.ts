/**
 * Which media profile the agent analyses: a sub-stream near 720p when there is one, else the
 * smallest profile at least 640 px wide, else the first. Pure and deterministic (ties go to the
 * earlier profile), table-tested.
 */

/** The profile fields the choice looks at. */
export interface ProfileShape {
  token: string;
  width: number;
  height: number;
  fps: number;
}

/** Lines of the ideal analysis stream. */
export const ANALYSIS_TARGET_HEIGHT = 720;
/** "Near 720p": within ±25 % of 720 lines (540…900). */
const NEAR_FACTOR = 0.25;
/** Narrowest stream worth analysing when no sub-stream is near 720p. */
export const MIN_ANALYSIS_WIDTH = 640;

const pixels = (p: ProfileShape): number => p.width * p.height;

/**
 * Index of the analysis profile in `profiles`, or -1 when the list is empty.
 * A sub-stream is any profile other than the main stream (the largest in pixels, first on ties);
 * a single profile is the main stream.
 */
export function chooseAnalysisProfile(profiles: readonly ProfileShape[]): number {
  if (profiles.length === 0) return -1;
  let main = 0;
  profiles.forEach((p, i) => {
    const m = profiles[main];
    if (m !== undefined && pixels(p) > pixels(m)) main = i;
  });

  const lo = ANALYSIS_TARGET_HEIGHT * (1 - NEAR_FACTOR);
  const hi = ANALYSIS_TARGET_HEIGHT * (1 + NEAR_FACTOR);
  let best = -1;
  let bestScore = Infinity;
  profiles.forEach((p, i) => {
    if (i === main || p.height < lo || p.height > hi) return;
    const score = Math.abs(p.height - ANALYSIS_TARGET_HEIGHT);
    if (score < bestScore) {
      best = i;
      bestScore = score;
    }
  });
  if (best >= 0) return best;

  let smallest = -1;
  profiles.forEach((p, i) => {
    if (p.width < MIN_ANALYSIS_WIDTH) return;
    const s = profiles[smallest];
    if (s === undefined || pixels(p) < pixels(s)) smallest = i;
  });
  return smallest >= 0 ? smallest : 0;
}
