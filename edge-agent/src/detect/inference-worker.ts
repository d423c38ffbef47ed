/**
 * Inference off the main event loop: a pool of worker threads (default 1) that own the ONNX
 * sessions. A job is one frame — `{ image, regions, detectors }` — and answers with its
 * detections. The frame's pixels are transferred, not copied.
 *
 * Back-pressure: a job waits in a bounded FIFO while every worker is busy; when the queue is
 * full the job is rejected at once with EDGE_ERR_DETECT_BUSY and counted (the caller drops the
 * frame, as capture does: a busy detector must never stall capture or grow a backlog).
 *
 * Failure: a worker that dies (an uncaught error in it, an out-of-memory isolate) has its
 * in-flight job rejected with EDGE_ERR_DETECT_WORKER and is restarted with backoff; queued
 * jobs wait for it. A job over `jobTimeoutMs` is rejected (EDGE_ERR_DETECT_WORKER) and its
 * worker is left to finish (result discarded) before it takes the next job: terminating a
 * thread inside onnxruntime aborts the whole process (see worker-entry.ts), so a worker is
 * terminated only if it stays silent past `hangTimeoutMs`. A worker that cannot start (a
 * model missing or altered) fails `start()` with the model's own error code. A native crash
 * (SIGSEGV) inside onnxruntime takes the process down: threads share it.
 *
 * TypeScript in workers: the thread starts worker-boot.mjs, which registers tsx and imports
 * worker-entry.ts (`execArgv: ['--import', 'tsx']` does not work on Node 20; see that file).
 */
import { Worker } from 'node:worker_threads';

import { EdgeError, type EdgeErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { assertRgbImage } from './image.ts';
import { loadManifest, modelOverrideFromEnv, type ModelOverride } from './models.ts';
import { DEFAULT_INTRA_OP_THREADS, MAX_INTRA_OP_THREADS } from './onnx.ts';
import { isDetectorName, type DetectorName, type DetectorSettings } from './registry.ts';
import type { Box, Detection, RgbImage } from './types.ts';
import type { FromWorker, ToWorker, WireError, WorkerInit } from './worker-entry.ts';

const BOOT_URL = new URL('./worker-boot.mjs', import.meta.url);
const ENTRY_URL = new URL('./worker-entry.ts', import.meta.url);

/** Options of {@link InferencePool}. */
export interface InferencePoolOptions {
  /** Detectors every worker builds (and jobs may ask for). Default `['face']`. */
  detectors?: DetectorName[];
  /** Per-detector settings (plain data). */
  settings?: DetectorSettings;
  /** Worker threads. Default 1 (one core for inference; capture and the rest use the other). */
  workers?: number;
  /** onnxruntime intra-op threads per session. Default 1. */
  intraOpNumThreads?: number;
  /** Jobs waiting for a worker beyond those running. Default 4. */
  maxQueue?: number;
  /** A job running longer than this is rejected; its worker finishes it first. Default 30 s. */
  jobTimeoutMs?: number;
  /** A worker silent this long after a timeout is terminated (and restarted). Default 60 s. */
  hangTimeoutMs?: number;
  /** Model overrides by manifest id (see models/README.md). */
  modelOverrides?: Record<string, ModelOverride>;
  /** First restart delay after a crash, doubled per consecutive crash up to 10 s. Default 200 ms. */
  restartBackoffMs?: number;
  /** Worker start (model load) limit. Default 60 s. */
  startTimeoutMs?: number;
  logger?: Logger;
}

/** One frame to analyse. */
export interface InferenceJob {
  /** The frame. Its `data` buffer is transferred to the worker (detached here) unless `copy`. */
  image: RgbImage;
  /** Motion regions (image pixels); omitted = the whole frame, `[]` = nothing to look at. */
  regions?: readonly Box[];
  /** Detectors to run, e.g. `['face', 'plate']`. */
  detectors: readonly DetectorName[];
  /**
   * Copy the pixels instead of transferring them (the caller keeps using `image`). Also done
   * automatically when `data` is a view on a larger buffer, which transferring would detach.
   */
  copy?: boolean;
}

/** What a job produced. */
export interface InferenceResult {
  detections: Detection[];
  /** Worker-side time per detector, ms. */
  timings: Partial<Record<DetectorName, number>>;
  /** Time waiting in the queue, ms. */
  queuedMs: number;
  /** Submit → result, ms. */
  totalMs: number;
}

/** Counters of a pool (for /metrics and the bench). */
export interface InferencePoolStats {
  workers: number;
  busyWorkers: number;
  queued: number;
  submitted: number;
  completed: number;
  /** Jobs that ended in an error (worker crash, bad input, model failure). */
  failed: number;
  /** Jobs refused because the queue was full (EDGE_ERR_DETECT_BUSY). */
  rejectedBusy: number;
  /** Jobs rejected after `jobTimeoutMs`. */
  timeouts: number;
  /** Worker restarts after a crash or a hang. */
  workerRestarts: number;
}

interface PendingJob {
  id: number;
  image: RgbImage;
  regions: Box[] | undefined;
  detectors: DetectorName[];
  submittedAt: number;
  startedAt: number;
  resolve: (r: InferenceResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  ready: boolean;
  job: PendingJob | undefined;
  /** Id of a timed-out job the worker is still running (its answer is dropped). */
  draining: number | undefined;
  timer: NodeJS.Timeout | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  consecutiveCrashes: number;
}

function fromWire(err: WireError, fallback: EdgeErrorCode): EdgeError {
  if (err.code === undefined) return new EdgeError(fallback, err.message);
  // The message already starts with the catalogue text of its code: keep it as it is.
  const e = new EdgeError(err.code);
  e.message = err.message;
  return e;
}

/** A pool of inference worker threads. Create with {@link InferencePool.start}. */
export class InferencePool {
  readonly #opts: Required<
    Omit<InferencePoolOptions, 'logger' | 'settings' | 'modelOverrides' | 'detectors'>
  > & { detectors: DetectorName[] };
  readonly #init: WorkerInit;
  readonly #log: Logger;
  readonly #slots: Slot[] = [];
  readonly #queue: PendingJob[] = [];
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #stats = {
    submitted: 0,
    completed: 0,
    failed: 0,
    rejectedBusy: 0,
    timeouts: 0,
    workerRestarts: 0,
  };

  private constructor(opts: InferencePoolOptions) {
    const detectors: DetectorName[] = [...new Set<DetectorName>(opts.detectors ?? ['face'])];
    const problems: string[] = [];
    for (const d of detectors) if (!isDetectorName(d)) problems.push(`unknown detector "${String(d)}"`);
    const workers = opts.workers ?? 1;
    const threads = opts.intraOpNumThreads ?? DEFAULT_INTRA_OP_THREADS;
    const maxQueue = opts.maxQueue ?? 4;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64)
      problems.push(`workers ${workers} must be 1..64`);
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_INTRA_OP_THREADS) {
      problems.push(`intraOpNumThreads ${threads} must be 1..${MAX_INTRA_OP_THREADS}`);
    }
    if (!Number.isInteger(maxQueue) || maxQueue < 0)
      problems.push(`maxQueue ${maxQueue} must be an integer >= 0`);
    if (detectors.length === 0) problems.push('no detectors');
    if (problems.length > 0)
      throw new EdgeError('EDGE_ERR_DETECT_INPUT', `inference pool: ${problems.join('; ')}`);
    this.#opts = {
      detectors,
      workers,
      intraOpNumThreads: threads,
      maxQueue,
      jobTimeoutMs: opts.jobTimeoutMs ?? 30_000,
      hangTimeoutMs: opts.hangTimeoutMs ?? 60_000,
      restartBackoffMs: opts.restartBackoffMs ?? 200,
      startTimeoutMs: opts.startTimeoutMs ?? 60_000,
    };
    this.#init = {
      detectors,
      settings: opts.settings ?? {},
      session: { intraOpNumThreads: threads },
      modelOverrides: opts.modelOverrides ?? {},
    };
    this.#log = (opts.logger ?? silentLogger()).child({ module: 'inference' });
  }

  /**
   * Start the workers and wait until each has loaded and verified its models. Rejects with the
   * worker's error (EDGE_ERR_MODEL_*, EDGE_ERR_DETECT_WORKER) after stopping what started.
   */
  static async start(opts: InferencePoolOptions = {}): Promise<InferencePool> {
    const pool = new InferencePool(opts);
    pool.#logOverrides();
    try {
      await Promise.all(
        Array.from({ length: pool.#opts.workers }, (_, index) => {
          const slot: Slot = {
            index,
            worker: undefined,
            ready: false,
            job: undefined,
            draining: undefined,
            timer: undefined,
            restartTimer: undefined,
            consecutiveCrashes: 0,
          };
          pool.#slots.push(slot);
          return pool.#spawn(slot);
        }),
      );
    } catch (err) {
      await pool.close();
      throw err;
    }
    pool.#log.info(
      {
        workers: pool.#opts.workers,
        detectors: pool.#opts.detectors,
        intra_op_threads: pool.#opts.intraOpNumThreads,
      },
      'inference pool started',
    );
    return pool;
  }

  /** Say which manifest entries are replaced by a user's file (env wins, as in models.ts). */
  #logOverrides(): void {
    for (const { id } of loadManifest().models) {
      const override = modelOverrideFromEnv(id) ?? this.#init.modelOverrides[id];
      if (override !== undefined) {
        this.#log.info({ model: id, path: override.path, source: 'override' }, 'model override in use');
      }
    }
  }

  /** Detectors this pool runs. */
  get detectors(): readonly DetectorName[] {
    return this.#opts.detectors;
  }

  /** Analyse one frame. Rejects with EDGE_ERR_DETECT_BUSY when the queue is full. */
  detect(job: InferenceJob): Promise<InferenceResult> {
    if (this.#closed)
      return Promise.reject(new EdgeError('EDGE_ERR_DETECT_CLOSED', 'inference pool is closed'));
    try {
      assertRgbImage(job.image);
      for (const d of job.detectors) {
        if (!this.#opts.detectors.includes(d)) {
          throw new EdgeError(
            'EDGE_ERR_DETECT_UNAVAILABLE',
            `"${d}" is not configured in this inference pool`,
          );
        }
      }
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new EdgeError('EDGE_ERR_DETECT_INPUT', String(err)));
    }
    const idle = this.#slots.find((s) => s.ready && s.job === undefined && s.draining === undefined);
    if (idle === undefined && this.#queue.length >= this.#opts.maxQueue) {
      this.#stats.rejectedBusy++;
      return Promise.reject(
        new EdgeError(
          'EDGE_ERR_DETECT_BUSY',
          `${this.#queue.length} jobs queued, ${this.#slots.length} running`,
        ),
      );
    }
    this.#stats.submitted++;
    const { image } = job;
    const whole = image.data.byteOffset === 0 && image.data.byteLength === image.data.buffer.byteLength;
    // A real copy: on a Node Buffer, `.slice()` is a view, and transferring it would detach the
    // caller's frame (which the tracker keeps as evidence).
    const data =
      job.copy === true || !whole || !(image.data.buffer instanceof ArrayBuffer)
        ? new Uint8Array(image.data)
        : image.data;
    return new Promise<InferenceResult>((resolve, reject) => {
      const pending: PendingJob = {
        id: this.#nextId++,
        image: { data, width: image.width, height: image.height },
        regions: job.regions === undefined ? undefined : job.regions.map((r) => ({ ...r })),
        detectors: [...job.detectors],
        submittedAt: performance.now(),
        startedAt: 0,
        resolve,
        reject,
      };
      if (idle !== undefined) this.#dispatch(idle, pending);
      else this.#queue.push(pending);
    });
  }

  /** Counters since start. */
  stats(): InferencePoolStats {
    return {
      workers: this.#slots.length,
      busyWorkers: this.#slots.filter((s) => s.job !== undefined || s.draining !== undefined).length,
      queued: this.#queue.length,
      ...this.#stats,
    };
  }

  /**
   * Stop: queued jobs are rejected with EDGE_ERR_DETECT_CLOSED, running ones finish (bounded
   * by a short grace), sessions are released and the threads end.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Test hook: make worker `index` die (`exit` = thread exits, `throw` = uncaught error). */
  crashWorkerForTest(index: number, how: 'exit' | 'throw' = 'exit'): void {
    this.#slots[index]?.worker?.postMessage({ type: 'crash', how } satisfies ToWorker);
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      this.#stats.failed++;
      job.reject(new EdgeError('EDGE_ERR_DETECT_CLOSED', 'inference pool closed before the job ran'));
    }
    await Promise.all(this.#slots.map((slot) => this.#stopSlot(slot)));
    this.#log.info(this.stats(), 'inference pool stopped');
  }

  async #stopSlot(slot: Slot): Promise<void> {
    if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    const worker = slot.worker;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', () => {
        resolve();
      });
    });
    if (slot.ready) {
      // Ask politely (sessions released), then terminate if it does not finish in time.
      worker.postMessage({ type: 'close' } satisfies ToWorker);
      // Terminating inside onnxruntime can abort the process: only a worker that ignores the
      // request for this long (hung) is terminated.
      const grace = setTimeout(() => {
        this.#log.error({ worker: slot.index }, 'inference worker did not stop; terminating it');
        void worker.terminate();
      }, this.#opts.hangTimeoutMs);
      await exited;
      clearTimeout(grace);
    } else {
      await worker.terminate();
      await exited;
    }
  }

  /** Start a worker on `slot`; resolves when its detectors are ready, rejects if it cannot start. */
  #spawn(slot: Slot): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let starting = true;
      const worker = new Worker(BOOT_URL, {
        workerData: { ...this.#init, entry: ENTRY_URL.href },
        name: `inference-${slot.index}`,
      });
      slot.worker = worker;
      slot.ready = false;
      const startFailed = (err: EdgeError): void => {
        if (!starting) return;
        starting = false;
        clearTimeout(startTimer);
        void worker.terminate();
        reject(err);
      };
      const startTimer = setTimeout(() => {
        startFailed(
          new EdgeError(
            'EDGE_ERR_DETECT_WORKER',
            `worker ${slot.index} did not start within ${this.#opts.startTimeoutMs} ms`,
          ),
        );
      }, this.#opts.startTimeoutMs);
      worker.on('message', (msg: FromWorker) => {
        switch (msg.type) {
          case 'ready':
            if (!starting) break;
            starting = false;
            clearTimeout(startTimer);
            slot.ready = true;
            this.#log.debug({ worker: slot.index, models: msg.modelIds }, 'inference worker ready');
            resolve();
            this.#pump(slot);
            break;
          case 'init-error':
            startFailed(fromWire(msg.error, 'EDGE_ERR_DETECT_WORKER'));
            break;
          case 'result':
          case 'error':
            this.#finish(slot, msg);
            break;
          case 'fatal':
            this.#log.error(
              { worker: slot.index, err: msg.error.message },
              'inference worker failed; it will restart',
            );
            break;
          case 'closed':
            break;
        }
      });
      worker.on('error', (err) => {
        // An uncaught error inside the thread; `exit` follows and does the recovery.
        this.#log.warn({ worker: slot.index, err: err.message }, 'inference worker error');
        startFailed(
          new EdgeError('EDGE_ERR_DETECT_WORKER', `worker ${slot.index}: ${err.message}`, { cause: err }),
        );
      });
      worker.on('exit', (code) => {
        const wasReady = slot.ready;
        if (slot.timer !== undefined) clearTimeout(slot.timer);
        slot.timer = undefined;
        slot.worker = undefined;
        slot.ready = false;
        startFailed(
          new EdgeError(
            'EDGE_ERR_DETECT_WORKER',
            `worker ${slot.index} exited with code ${code} while starting`,
          ),
        );
        if (!wasReady) return;
        const job = slot.job;
        slot.job = undefined;
        slot.draining = undefined;
        if (job !== undefined) {
          this.#stats.failed++;
          job.reject(
            new EdgeError('EDGE_ERR_DETECT_WORKER', `the worker exited (code ${code}) while running the job`),
          );
        }
        if (!this.#closed) this.#restart(slot, code);
      });
    });
  }

  /** Restart `slot` after a crash, with doubling backoff; keeps trying until closed. */
  #restart(slot: Slot, code: number): void {
    slot.consecutiveCrashes++;
    this.#stats.workerRestarts++;
    const delay = Math.min(10_000, this.#opts.restartBackoffMs * 2 ** (slot.consecutiveCrashes - 1));
    this.#log.warn({ worker: slot.index, code, restart_in_ms: delay }, 'inference worker died; restarting');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#closed) return;
      this.#spawn(slot).catch((err: unknown) => {
        const error = err instanceof Error ? err : new EdgeError('EDGE_ERR_DETECT_WORKER', String(err));
        this.#log.error({ worker: slot.index, err: error.message }, 'inference worker restart failed');
        // Nothing can run these jobs while no worker is up: fail them rather than let them age.
        if (!this.#slots.some((s) => s.ready)) {
          for (const job of this.#queue.splice(0)) {
            this.#stats.failed++;
            job.reject(error);
          }
        }
        if (!this.#closed) this.#restart(slot, -1);
      });
    }, delay);
  }

  #dispatch(slot: Slot, job: PendingJob): void {
    const worker = slot.worker;
    if (worker === undefined) {
      this.#queue.unshift(job);
      return;
    }
    slot.job = job;
    job.startedAt = performance.now();
    slot.timer = setTimeout(() => {
      this.#timeOut(slot, worker);
    }, this.#opts.jobTimeoutMs);
    const msg: ToWorker = {
      type: 'job',
      id: job.id,
      image: job.image,
      ...(job.regions === undefined ? {} : { regions: job.regions }),
      detectors: job.detectors,
    };
    worker.postMessage(msg, [job.image.data.buffer as ArrayBuffer]);
  }

  /** The job in hand overran: reject it, let the worker finish it, terminate only if it hangs. */
  #timeOut(slot: Slot, worker: Worker): void {
    const job = slot.job;
    if (job === undefined) return;
    slot.job = undefined;
    slot.draining = job.id;
    this.#stats.timeouts++;
    this.#stats.failed++;
    this.#log.warn({ worker: slot.index, job_ms: this.#opts.jobTimeoutMs }, 'inference job timed out');
    job.reject(
      new EdgeError('EDGE_ERR_DETECT_WORKER', `the job ran longer than ${this.#opts.jobTimeoutMs} ms`),
    );
    slot.timer = setTimeout(() => {
      if (slot.draining !== job.id || slot.worker !== worker) return;
      this.#log.error(
        { worker: slot.index, silent_ms: this.#opts.hangTimeoutMs },
        'inference worker hung after a timed-out job; terminating it',
      );
      void worker.terminate();
    }, this.#opts.hangTimeoutMs);
  }

  #finish(slot: Slot, msg: Extract<FromWorker, { type: 'result' | 'error' }>): void {
    if (slot.draining === msg.id) {
      // The answer to a job that already timed out: drop it, the worker is free again.
      if (slot.timer !== undefined) clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.draining = undefined;
      this.#pump(slot);
      return;
    }
    const job = slot.job;
    if (job?.id !== msg.id) return;
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.job = undefined;
    const now = performance.now();
    if (msg.type === 'result') {
      slot.consecutiveCrashes = 0;
      this.#stats.completed++;
      job.resolve({
        detections: msg.detections,
        timings: msg.timings,
        queuedMs: job.startedAt - job.submittedAt,
        totalMs: now - job.submittedAt,
      });
    } else {
      this.#stats.failed++;
      job.reject(fromWire(msg.error, 'EDGE_ERR_DETECT_WORKER'));
    }
    this.#pump(slot);
  }

  #pump(slot: Slot): void {
    if (!slot.ready || slot.job !== undefined || slot.draining !== undefined) return;
    const next = this.#queue.shift();
    if (next !== undefined) this.#dispatch(slot, next);
  }
}

/** Start a pool (same as {@link InferencePool.start}). */
export function startInferencePool(opts: InferencePoolOptions = {}): Promise<InferencePool> {
  return InferencePool.start(opts);
}
