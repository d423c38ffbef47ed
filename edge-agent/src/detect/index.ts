/**
 * The detection stage: models (manifest + verified loader), the onnxruntime adapter, image
 * helpers, the face detector, and the inference worker pool that runs detectors off the main
 * thread. The contract types are in types.ts.
 */
export type {
  Box,
  Detection,
  Detector,
  FaceDetection,
  PlateColourName,
  PlateDetection,
  Point,
  RgbImage,
} from './types.ts';
export {
  DEFAULT_FACE_IOU_THRESHOLD,
  DEFAULT_FACE_SCORE_THRESHOLD,
  FACE_MODEL_ID,
  FaceDetector,
  createFaceDetector,
  type FaceDetectorOptions,
  type FaceRunStats,
} from './face.ts';
export { DEFAULT_TILING, planTiles, type Tile, type TilingOptions } from './face-tiles.ts';
export {
  DECODABLE_FORMATS,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_PIXELS,
  assertRgbImage,
  clipBox,
  cropImage,
  decodeImage,
  decodeImageFile,
  encodeJpeg,
  letterbox,
  letterboxTensor,
  resizeBilinear,
  toTensor,
  warpQuad,
  type DecodeLimits,
  type JpegOptions,
  type LetterboxTransform,
  type Normalisation,
} from './image.ts';
export {
  InferencePool,
  startInferencePool,
  type InferenceJob,
  type InferencePoolOptions,
  type InferencePoolStats,
  type InferenceResult,
} from './inference-worker.ts';
export {
  MANIFEST_PATH,
  clearModelCache,
  loadManifest,
  manifestEntry,
  modelEnvName,
  resolveModel,
  type ModelEntry,
  type ModelManifest,
  type ModelOverride,
  type ResolveModelOptions,
  type ResolvedModel,
} from './models.ts';
export {
  DEFAULT_INTRA_OP_THREADS,
  createSession,
  type FloatTensor,
  type OnnxSession,
  type SessionOptions,
} from './onnx.ts';
export { DETECTOR_NAMES, isDetectorName, type DetectorName, type DetectorSettings } from './registry.ts';
export { createPlateDetector, type PlateDetectorOptions } from './plates.ts';
