/** The motion gate: still scenes skip the detectors; motion regions tell them where to look. */
export { changedShare, createMotionGate, mergeBoxes } from './gate.ts';
export type { ChangeGrid, MotionGate, MotionGateOptions, MotionResult } from './gate.ts';
export { isMasked, pointInPolygon, rasteriseMasks } from './mask.ts';
export type { NormPoint, NormPolygon } from './mask.ts';
