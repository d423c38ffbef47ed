/** Live snapshots answered by the agent (see service.ts). */
export { SnapshotService, type SnapshotServiceOptions } from './service.ts';
export { LatestFrames, type LatestFrameSource } from './latest-frames.ts';
export { fitCameraImage, jpegFromRgb, SnapshotImageError, type FittedJpeg, type JpegBounds } from './jpeg.ts';
