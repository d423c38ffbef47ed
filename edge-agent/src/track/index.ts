/** Tracking: one track per object pass, one report per track (see tracker.ts). */
export { createTracker } from './tracker.ts';
export type {
  FaceTrackReport,
  PlateChoice,
  PlateTrackReport,
  TrackEndReason,
  TrackFrame,
  TrackObservation,
  TrackReport,
  Tracker,
  TrackerOptions,
  TrackerStats,
} from './types.ts';
export { DEFAULT_DIRECTION_THRESHOLDS, travelDirection } from './direction.ts';
export type { DirectionThresholds, InboundDirection, TravelDirection } from './direction.ts';
export { jaro, jaroWinkler } from './jaro-winkler.ts';
export { DEFAULT_PLATE_SIMILARITY, votePlate } from './plate-vote.ts';
export type { PlateRead, PlateVote } from './plate-vote.ts';
export { createUlidFactory, isUlid, ulid, ulidTimeMs } from './ulid.ts';
export type { UlidFactory } from './ulid.ts';
