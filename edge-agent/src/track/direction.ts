/**
 * Direction of travel from a track's net motion, mapped through the camera's configured inbound
 * image direction (AnalysisSettings.inbound) to in / out.
 */
import type { Box } from '../detect/types.ts';
import { area, centre } from './geometry.ts';

/** A direction of motion in the image (proto `ImageDirection`, lower-cased). */
export type InboundDirection = 'left_to_right' | 'right_to_left' | 'towards' | 'away' | 'unspecified';

/** Direction of travel relative to the guarded place (proto `Direction`). */
export type TravelDirection = 'in' | 'out' | 'unknown';

/** Thresholds below which motion is too small to call. */
export interface DirectionThresholds {
  /** Net centre motion needed, as a fraction of the frame width (horizontal) or height (vertical). Default 0.08. */
  minMoveFraction: number;
  /** Linear size ratio last/first that on its own means towards (or its inverse, away). Default 1.3. */
  minGrowth: number;
}

/** Defaults of {@link DirectionThresholds}. */
export const DEFAULT_DIRECTION_THRESHOLDS: DirectionThresholds = { minMoveFraction: 0.08, minGrowth: 1.3 };

/**
 * In, out or unknown for a track that moved from `first` to `last` in a `width`×`height` frame.
 * Horizontal settings use the net horizontal motion. Towards/away combine moving down the image
 * and growing (each measured against its threshold, summed), so a vehicle approaching a camera
 * mounted high counts even when it barely grows, and one coming straight at a level camera
 * counts even when it barely moves down.
 */
export function travelDirection(
  first: Box,
  last: Box,
  frame: { width: number; height: number },
  inbound: InboundDirection,
  thresholds: DirectionThresholds = DEFAULT_DIRECTION_THRESHOLDS,
): TravelDirection {
  const a = centre(first);
  const b = centre(last);
  let along: number;
  switch (inbound) {
    case 'left_to_right':
      along = (b.x - a.x) / frame.width / thresholds.minMoveFraction;
      break;
    case 'right_to_left':
      along = (a.x - b.x) / frame.width / thresholds.minMoveFraction;
      break;
    case 'towards':
    case 'away': {
      const down = (b.y - a.y) / frame.height / thresholds.minMoveFraction;
      const grow =
        area(first) > 0 && area(last) > 0
          ? Math.log(Math.sqrt(area(last) / area(first))) / Math.log(thresholds.minGrowth)
          : 0;
      along = inbound === 'towards' ? down + grow : -(down + grow);
      break;
    }
    case 'unspecified':
      return 'unknown';
  }
  if (!Number.isFinite(along)) return 'unknown';
  if (along >= 1) return 'in';
  if (along <= -1) return 'out';
  return 'unknown';
}
