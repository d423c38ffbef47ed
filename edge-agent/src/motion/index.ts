/** The motion gate: still scenes skip the detectors; motion regions tell them where to look. */
export { createMotionGate, mergeBoxes } from './gate.ts';
export type { MotionGate, MotionGateOptions, MotionResult } from './gate.ts';
export { isMasked, pointInPolygon, rasteriseMasks } from './mask.ts';
export type { NormPoint, NormPolygon } from './mask.ts';
