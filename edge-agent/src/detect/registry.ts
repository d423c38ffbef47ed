/**
 * Detectors by name: how the inference worker builds the detectors a job asks for. A new
 * detector kind is one entry here (and a name in {@link DetectorName}).
 */
import { createFaceDetector, type FaceDetectorOptions } from './face.ts';
import type { ModelOverride } from './models.ts';
import type { SessionOptions } from './onnx.ts';
import { createPlateDetector, type PlateReaderOptions } from './plates.ts';
import type { Detector } from './types.ts';

/** Names a job can ask for. */
export type DetectorName = 'face' | 'plate';

/** Every name, in the order detectors run within one job. */
export const DETECTOR_NAMES: readonly DetectorName[] = ['face', 'plate'];

/** Whether `name` is a detector name. */
export function isDetectorName(name: string): name is DetectorName {
  return (DETECTOR_NAMES as readonly string[]).includes(name);
}

/**
 * Per-detector settings that cross into the worker, so plain data only (structured clone: no
 * functions, no logger).
 */
export interface DetectorSettings {
  face?: Omit<FaceDetectorOptions, 'logger' | 'session' | 'models'>;
  plate?: Omit<PlateReaderOptions, 'onRejected'>;
}

/** What every factory receives. */
export interface DetectorFactoryContext {
  /** Session options (threads) for every session the detector opens. */
  session: SessionOptions;
  /** Model overrides by manifest id (the environment's `SHARPEYES_MODEL_*` still win). */
  modelOverrides: Readonly<Record<string, ModelOverride>>;
  settings: DetectorSettings;
}

/** Builds one detector (loads and verifies its models). */
export type DetectorFactory = (ctx: DetectorFactoryContext) => Promise<Detector>;

/** The registry. */
export const DETECTOR_FACTORIES: Readonly<Record<DetectorName, DetectorFactory>> = {
  face: (ctx) =>
    createFaceDetector({
      ...ctx.settings.face,
      session: ctx.session,
      models: { overrides: ctx.modelOverrides },
    }),
  plate: (ctx) =>
    createPlateDetector({
      ...ctx.settings.plate,
      models: { overrides: ctx.modelOverrides },
      ...(ctx.session.intraOpNumThreads === undefined ? {} : { threads: ctx.session.intraOpNumThreads }),
    }),
};
