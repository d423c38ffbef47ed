/**
 * The tracker's contract: what it is given per frame and what it reports when a pass ends (or,
 * optionally, improves). The event builder (events/) turns a {@link TrackReport} into the proto
 * Event; nothing here depends on the wire format.
 */
import type { Box, FaceDetection, PlateColourName, PlateDetection, RgbImage } from '../detect/types.ts';
import type { InboundDirection, TravelDirection } from './direction.ts';
import type { UlidFactory } from './ulid.ts';

/**
 * A frame as the tracker sees it: the analysed image and when it was captured. Capture's `Frame`
 * satisfies it. The tracker keeps a reference to the frame of each track's best detection (for
 * the evidence crop), never a copy, so the caller must not reuse or mutate a frame's buffer.
 */
export interface TrackFrame extends RgbImage {
  /** Wall-clock capture time, epoch ms. */
  capturedAtMs: number;
}

/** A detection kept as evidence: the detection and the frame it was found in. */
export interface TrackObservation<D> {
  detection: D;
  frame: TrackFrame;
  /** The frame's capture time, epoch ms (after the tracker's monotonic clamp). */
  timeMs: number;
}

/** Why a track ended. */
export type TrackEndReason =
  /** Not matched for `endAfterMissedFrames` analysed frames and `endAfterMs`. */
  | 'unseen'
  /** Not matched, and its predicted position is mostly outside the frame. */
  | 'left_frame'
  /** Alive longer than `maxLifetimeMs` (a parked vehicle); the next detection starts a new track. */
  | 'max_lifetime'
  /** `flush()` was called (shutdown, camera offline). */
  | 'flushed';

/** The plate chosen from a track's reads. */
export interface PlateChoice {
  /** The chosen read's normalised text. */
  text: string;
  colour: PlateColourName;
  /** Per code point of `text`, from the chosen read. */
  charConfidences: number[];
  /** The chosen read's recogniser confidence (mean of `charConfidences`). */
  readConfidence: number;
  /** Reads in the winning similarity group. */
  agreeingReads: number;
  /** Valid reads the track had. */
  totalReads: number;
}

interface ReportBase {
  /** The event id: a ULID made when the track started, the same in every report of the track. */
  eventId: string;
  /** Tracker-local id, unique per camera and agent run, e.g. `p12`. */
  trackId: string;
  /** 0 for the first report of the track; +1 for each later one. */
  revision: number;
  /** True for the report at the track's end; false for a mid-track update (`emitUpdates`). */
  final: boolean;
  /** Set when `final`. */
  endReason: TrackEndReason | undefined;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Frames in which the track was matched. */
  hits: number;
  direction: TravelDirection;
}

/** A face pass. */
export interface FaceTrackReport extends ReportBase {
  kind: 'face';
  /** The best detection (confidence × size) and its frame. */
  best: TrackObservation<FaceDetection>;
}

/** A plate pass with at least one valid read. */
export interface PlateTrackReport extends ReportBase {
  kind: 'plate';
  /** The detection of the chosen read (or, if its frame was not kept, the best of its group) and its frame. */
  best: TrackObservation<PlateDetection>;
  plate: PlateChoice;
}

/** What the tracker reports for one pass. */
export type TrackReport = FaceTrackReport | PlateTrackReport;

/** Options of `createTracker`; every field has a default. */
export interface TrackerOptions {
  /**
   * A track ends after this many consecutive analysed frames without a match… Default 6: a
   * person hidden for ~2.5 s behind a passing vehicle is still one pass (measured on the eval
   * scenes; 4 split such passes in two).
   */
  endAfterMissedFrames?: number;
  /** …and at least this long since it was last seen, ms. Default 3000. */
  endAfterMs?: number;
  /** A track ends (and is reported) after this long even if still seen, ms. Default 120000. */
  maxLifetimeMs?: number;
  /** Report mid-track updates (same event id, revision + 1) when the best read or crop improves. Default false. */
  emitUpdates?: boolean;
  /** Minimum time between two updates of one track, ms. Default 1000. */
  updateMinIntervalMs?: number;
  /** The camera's inbound image direction (AnalysisSettings.inbound). Default 'unspecified'. */
  inbound?: InboundDirection;
  /** See `DirectionThresholds.minMoveFraction`. Default 0.08. */
  minMoveFraction?: number;
  /** See `DirectionThresholds.minGrowth`. Default 1.3. */
  minGrowth?: number;
  /** Jaro-Winkler threshold for grouping reads and tying plate detections to tracks. Default 0.85. */
  plateSimilarity?: number;
  /** Reads with a lower recogniser confidence still extend a track but do not vote. Default 0.5. */
  minReadConfidence?: number;
  /** Tracks whose best detection has a lower detector confidence are not reported (AnalysisSettings.min_confidence). Default 0. */
  minConfidence?: number;
  /** Tracks matched in fewer frames are not reported. Default 1. */
  minHits?: number;
  /**
   * A track matched in at least this many frames that never left its first box (centre always
   * < half a box diagonal away, size within 1.3×) and never had most of its box changed (the
   * `motionShare` of `update`) is scenery, not a pass, and is not reported. Without
   * `motionShare` no track is still. Default 3; 0 reports still tracks too.
   */
  staticMinHits?: number;
  /**
   * Association gate for a track with no velocity yet: centre distance, in mean box diagonals.
   * Default 3 (at 2 fps a small plate moves ~2 of its diagonals per frame).
   */
  maxJump?: number;
  /** Association gate around the predicted position of a track with a velocity, in box diagonals. Default 1.5. */
  predictedJump?: number;
  /** Plate texts per track whose best frame is kept for evidence. Default 3. */
  maxEvidenceTexts?: number;
  /** Reads kept per track for the vote (the lowest-confidence ones go first). Default 200. */
  maxReads?: number;
  /** Event id factory. Default: the process-wide monotonic ULID factory. */
  newEventId?: UlidFactory;
}

/** Counters of one tracker, for metrics. */
export interface TrackerStats {
  activeTracks: number;
  /** Tracks ended since creation. */
  endedTracks: number;
  /** Reports returned (finals and updates). */
  reports: number;
  /** Plate tracks that ended without a valid read (no event). */
  droppedNoRead: number;
  /** Tracks below `minConfidence` or `minHits` (no event). */
  droppedWeak: number;
  /** Tracks that never left their first box (see `staticMinHits`; no event). */
  droppedStatic: number;
}

/** A per-camera tracker. Not shared between cameras; not re-entrant. */
export interface Tracker {
  /**
   * Feed one analysed frame and its detections (empty when the motion gate skipped the
   * detectors: time still passes and tracks still end). Returns the reports of tracks that ended
   * in this frame, then any updates. Throws EDGE_ERR_TRACK_INPUT, before changing any state, on
   * a malformed frame or detection. `motionShare` (the motion gate's changed share under a box,
   * 0..1) lets the tracker tell scenery from passes (see `staticMinHits`).
   */
  update(
    frame: TrackFrame,
    detections: readonly (FaceDetection | PlateDetection)[],
    motionShare?: (box: Box) => number,
  ): TrackReport[];
  /**
   * Where the active tracks are expected at `nowMs` (predicted boxes grown by half their size,
   * clipped to the frame). A stopped vehicle makes no motion, so the pipeline should look here
   * too, or a track would end while its object is still in view.
   */
  activeRegions(nowMs: number): Box[];
  /** End every track now (reason 'flushed') and return their reports. */
  flush(): TrackReport[];
  /** Counters. */
  stats(): TrackerStats;
}
