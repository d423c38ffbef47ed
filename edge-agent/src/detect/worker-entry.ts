/**
 * The inference worker thread: owns the ONNX sessions, builds the configured detectors at start
 * (so a missing or altered model fails the pool's start, not the first frame) and runs one job
 * at a time. Loaded by worker-boot.mjs (which registers tsx); started only by
 * inference-worker.ts. The message types below are the protocol between the two.
 *
 * The thread only ever ends between jobs. onnxruntime-node runs a model synchronously inside a
 * setImmediate; if the thread is torn down (worker.terminate(), process.exit, an uncaught error)
 * while such a run is queued or running, the binding throws a C++ Napi::Error with nowhere to
 * go and the WHOLE PROCESS aborts ("terminate called after throwing an instance of
 * 'Napi::Error'", seen here). So uncaught errors are caught, the job in hand is dropped (its
 * result is not trusted), and the thread exits once the job chain has settled.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { EdgeError, isEdgeError, type EdgeErrorCode } from '../errors.ts';
import type { ModelOverride } from './models.ts';
import type { SessionOptions } from './onnx.ts';
import { DETECTOR_FACTORIES, DETECTOR_NAMES, type DetectorName, type DetectorSettings } from './registry.ts';
import type { Box, Detection, Detector, RgbImage } from './types.ts';

/** `workerData` of an inference worker. */
export interface WorkerInit {
  /** Detectors to build at start. */
  detectors: DetectorName[];
  settings: DetectorSettings;
  session: SessionOptions;
  modelOverrides: Record<string, ModelOverride>;
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  code?: EdgeErrorCode;
  message: string;
}

/** Main thread → worker. */
export type ToWorker =
  | { type: 'job'; id: number; image: RgbImage; regions?: Box[]; detectors: DetectorName[] }
  | { type: 'close' }
  /** Test hook: die the way a native crash or a bug would (`exit`: thread exits; `throw`: uncaught). */
  | { type: 'crash'; how: 'exit' | 'throw' };

/** Worker → main thread. */
export type FromWorker =
  | { type: 'ready'; detectors: DetectorName[]; modelIds: string[] }
  | { type: 'init-error'; error: WireError }
  | { type: 'result'; id: number; detections: Detection[]; timings: Partial<Record<DetectorName, number>> }
  | { type: 'error'; id: number; error: WireError }
  /** The worker hit an uncaught error and will exit after the job in hand (dropped). */
  | { type: 'fatal'; error: WireError }
  | { type: 'closed' };

/** Serialise an error for postMessage (EdgeError keeps its code). */
export function toWireError(err: unknown): WireError {
  if (isEdgeError(err)) return { code: err.code, message: err.message };
  return { message: err instanceof Error ? err.message : String(err) };
}

function post(port: NonNullable<typeof parentPort>, msg: FromWorker): void {
  port.postMessage(msg);
}

/** Every use of the sessions runs on this chain, one after another. */
let chain: Promise<void> = Promise.resolve();
/** Set when the thread is going to exit: the job in hand posts nothing. */
let dying = false;

/** Exit once nothing is queued on the sessions (see the module comment for why). */
function exitSafely(code: number): void {
  dying = true;
  void chain.finally(() => process.exit(code));
}

async function main(port: NonNullable<typeof parentPort>, init: WorkerInit): Promise<void> {
  const detectors = new Map<DetectorName, Detector>();
  try {
    for (const name of DETECTOR_NAMES) {
      if (!init.detectors.includes(name)) continue;
      detectors.set(
        name,
        await DETECTOR_FACTORIES[name]({
          session: init.session,
          modelOverrides: init.modelOverrides,
          settings: init.settings,
        }),
      );
    }
  } catch (err) {
    await Promise.allSettled([...detectors.values()].map((d) => d.close()));
    post(port, { type: 'init-error', error: toWireError(err) });
    return;
  }
  post(port, {
    type: 'ready',
    detectors: [...detectors.keys()],
    modelIds: [...detectors.values()].flatMap((d) => [...d.modelIds]),
  });

  // One job at a time: the sessions are not shared between concurrent runs, and the pool
  // never sends a second job before the first answered; the chain makes that explicit.
  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'job':
        chain = chain.then(() => runJob(port, detectors, msg));
        break;
      case 'close':
        chain = chain.then(async () => {
          await Promise.allSettled([...detectors.values()].map((d) => d.close()));
          post(port, { type: 'closed' });
          port.close();
        });
        break;
      case 'crash':
        // Die as a thread does after a fatal error: the job in hand never answers.
        if (msg.how === 'exit') {
          exitSafely(70);
        } else {
          setImmediate(() => {
            throw new Error('inference worker crash requested by a test');
          });
        }
        break;
    }
  });
}

async function runJob(
  port: NonNullable<typeof parentPort>,
  detectors: ReadonlyMap<DetectorName, Detector>,
  job: Extract<ToWorker, { type: 'job' }>,
): Promise<void> {
  try {
    const detections: Detection[] = [];
    const timings: Partial<Record<DetectorName, number>> = {};
    for (const name of DETECTOR_NAMES) {
      if (!job.detectors.includes(name)) continue;
      const detector = detectors.get(name);
      if (detector === undefined) {
        throw new EdgeError(
          'EDGE_ERR_DETECT_UNAVAILABLE',
          `"${name}" is not configured in this inference pool`,
        );
      }
      const t0 = performance.now();
      detections.push(...(await detector.detect(job.image, job.regions)));
      timings[name] = performance.now() - t0;
    }
    if (!dying) post(port, { type: 'result', id: job.id, detections, timings });
  } catch (err) {
    if (!dying) post(port, { type: 'error', id: job.id, error: toWireError(err) });
  }
}

if (parentPort !== null) {
  const port = parentPort;
  const fatal = (err: unknown): void => {
    if (!dying) post(port, { type: 'fatal', error: toWireError(err) });
    exitSafely(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  // Model loading is native work too: it runs on the chain, so an early fatal error waits for it.
  chain = main(port, workerData as WorkerInit).catch((err: unknown) => {
    post(port, { type: 'init-error', error: toWireError(err) });
  });
}
