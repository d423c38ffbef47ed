/**
 * The detection stage's contract: what an image is, what a detection is, and what a detector
 * does. Face and plate detectors, the inference worker, the tracker and the CLI depend on
 * these types only.
 *
 * Guardrail: detections are geometry, confidence and (for plates) the text on the plate. There
 * is no identity, face matching or attribute of a person here, and none may be added.
 */

/** A packed RGB image, 8 bits per channel, no row padding: `data.length === width*height*3`. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Axis-aligned box in pixels of the image it was found in, origin top-left. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A point in pixels. */
export interface Point {
  x: number;
  y: number;
}

/** Plate background colour classes (GA 36). */
export type PlateColourName = 'blue' | 'yellow' | 'green' | 'white' | 'black' | 'unknown';

/** A face: box, score and the six BlazeFace keypoints (eyes, nose, mouth, ear tragions). */
export interface FaceDetection {
  kind: 'face';
  box: Box;
  /** 0..1, after sigmoid. */
  confidence: number;
  keypoints: Point[];
}

/** A plate that passed the format filter. */
export interface PlateDetection {
  kind: 'plate';
  /** Axis-aligned bounds of the plate's (possibly rotated) quadrilateral. */
  box: Box;
  /** The text detector's quadrilateral, clockwise from top-left. */
  quad: [Point, Point, Point, Point];
  /** Mean text-detector probability inside the region, 0..1. */
  detConfidence: number;
  /** Normalised text, e.g. "京A12345", "粤BD12345". */
  text: string;
  /** Per character (code point) of `text`, 0..1. */
  charConfidences: number[];
  /** Mean of `charConfidences` (the read's confidence). */
  confidence: number;
  colour: PlateColourName;
}

export type Detection = FaceDetection | PlateDetection;

/** Something that finds objects in an image. */
export interface Detector<D extends Detection = Detection> {
  /** Model ids (from models/manifest.json) behind this detector, for events. */
  readonly modelIds: readonly string[];
  /**
   * Detect in `image`. `regions` (motion regions, image pixels) limit where to look; omitted =
   * the whole image. Bad input (wrong size, empty) rejects with EDGE_ERR_DETECT_INPUT.
   */
  detect(image: RgbImage, regions?: readonly Box[]): Promise<D[]>;
  /** Release sessions. */
  close(): Promise<void>;
}
