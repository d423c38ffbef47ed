/**
 * The typed adapter around onnxruntime-node — the only module that imports it. Sessions take
 * float32 tensors and return float32 tensors; nothing untyped from the runtime leaks out.
 *
 * Defaults suit a 2-core NVR shared by several cameras: one intra-op thread per session (the
 * inference pool scales by workers, not by threads inside one run), no spinning (idle intra-op
 * threads that spin steal the core from ffmpeg and sharp: ENVIRONMENT.md measured ~20% on the
 * plate pipeline), all graph optimisations, and log severity 3 (errors only: the converted
 * models make ORT warn "Removing initializer …" at load).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import * as ort from 'onnxruntime-node';

import { EdgeError } from '../errors.ts';
import type { ModelEntry, ResolvedModel } from './models.ts';

/** A float32 tensor: row-major data and its dimensions. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

/** Options of one session. */
export interface SessionOptions {
  /** Threads inside one run. Default {@link DEFAULT_INTRA_OP_THREADS}. */
  intraOpNumThreads?: number;
  /** Let idle intra-op threads spin (lower latency, burns CPU). Default false. */
  allowSpinning?: boolean;
}

/** One thread per session: parallelism comes from the inference pool's workers. */
export const DEFAULT_INTRA_OP_THREADS = 1;
/** Upper bound accepted for `intraOpNumThreads`. */
export const MAX_INTRA_OP_THREADS = 64;

/** A loaded model. Runs are serialised by the caller (one job at a time per worker). */
export interface OnnxSession {
  /** Manifest id of the model. */
  readonly modelId: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Run the model; returns every output as float32. Rejects with EDGE_ERR_DETECT_RUN. */
  run(feeds: Readonly<Record<string, FloatTensor>>): Promise<Record<string, FloatTensor>>;
  /** Free the native session. Further runs reject with EDGE_ERR_DETECT_CLOSED. */
  release(): Promise<void>;
}

/** The ORT session options we use, from ours (exported for tests). */
export function ortSessionOptions(opts: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  const threads = opts.intraOpNumThreads ?? DEFAULT_INTRA_OP_THREADS;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_INTRA_OP_THREADS) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_LOAD',
      `intraOpNumThreads must be an integer 1..${MAX_INTRA_OP_THREADS}, got ${threads}`,
    );
  }
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: opts.allowSpinning === true ? '1' : '0' } } },
  };
}

function describeShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Check the loaded graph against the manifest: every declared input and output exists, and the
 * fixed dimensions agree. An override file that fails this is not "compatible".
 */
export function checkCompatible(
  entry: ModelEntry,
  inputs: readonly ort.InferenceSession.ValueMetadata[],
  outputs: readonly ort.InferenceSession.ValueMetadata[],
): string[] {
  const problems: string[] = [];
  const check = (
    role: string,
    want: { name: string; shape: readonly (number | string)[] },
    have: readonly ort.InferenceSession.ValueMetadata[],
  ): void => {
    const meta = have.find((m) => m.name === want.name);
    if (meta === undefined) {
      problems.push(
        `${role} "${want.name}" is missing (the model has ${have.map((m) => m.name).join(', ')})`,
      );
      return;
    }
    if (!meta.isTensor) {
      problems.push(`${role} "${want.name}" is not a tensor`);
      return;
    }
    if (meta.type !== 'float32') problems.push(`${role} "${want.name}" is ${meta.type}, not float32`);
    // An empty shape means the graph does not declare one: nothing to compare.
    if (meta.shape.length === 0) return;
    const fixedMismatch =
      meta.shape.length !== want.shape.length ||
      want.shape.some(
        (d, i) => typeof d === 'number' && typeof meta.shape[i] === 'number' && meta.shape[i] !== d,
      );
    if (fixedMismatch) {
      problems.push(
        `${role} "${want.name}" has shape ${describeShape(meta.shape)}, the manifest says ${describeShape(want.shape)}`,
      );
    }
  };
  if (entry.input !== undefined) check('input', entry.input, inputs);
  for (const out of entry.outputs ?? []) check('output', out, outputs);
  return problems;
}

/**
 * The model's bytes, read once and checked against the verified sha256 (the file could have
 * changed since it was verified), then passed through `transform`.
 */
async function transformedBytes(
  model: ResolvedModel,
  transform: (bytes: Uint8Array) => Uint8Array,
): Promise<Uint8Array> {
  const bytes = await readFile(model.path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== model.sha256) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_HASH',
      `model ${model.id} (${model.path}) changed after it was verified`,
    );
  }
  return transform(bytes);
}

/**
 * Load a verified model into a session, optionally edited in memory first by `transform` (which
 * may throw). EDGE_ERR_MODEL_LOAD / EDGE_ERR_MODEL_INCOMPATIBLE / EDGE_ERR_MODEL_HASH.
 */
export async function createSession(
  model: ResolvedModel,
  opts: SessionOptions = {},
  transform?: (bytes: Uint8Array) => Uint8Array,
): Promise<OnnxSession> {
  if (model.entry.kind !== 'onnx') {
    throw new EdgeError(
      'EDGE_ERR_MODEL_LOAD',
      `model ${model.id} is a ${model.entry.kind}, not an ONNX model`,
    );
  }
  const options = ortSessionOptions(opts);
  const source = transform === undefined ? model.path : await transformedBytes(model, transform);
  let session: ort.InferenceSession;
  try {
    session =
      typeof source === 'string'
        ? await ort.InferenceSession.create(source, options)
        : await ort.InferenceSession.create(source, options);
  } catch (err) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_LOAD',
      `model ${model.id} (${model.path}): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const problems = checkCompatible(model.entry, session.inputMetadata, session.outputMetadata);
  if (problems.length > 0) {
    await session.release();
    throw new EdgeError(
      'EDGE_ERR_MODEL_INCOMPATIBLE',
      `model ${model.id} (${model.path}${model.source === 'override' ? ', an override' : ''}): ${problems.join('; ')}`,
    );
  }
  return wrapSession(model.id, session);
}

function wrapSession(modelId: string, session: ort.InferenceSession): OnnxSession {
  let released = false;
  return {
    modelId,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    async run(feeds) {
      if (released) throw new EdgeError('EDGE_ERR_DETECT_CLOSED', `session ${modelId} was released`);
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        const expected = t.dims.reduce((a, b) => a * b, 1);
        if (expected !== t.data.length) {
          throw new EdgeError(
            'EDGE_ERR_DETECT_RUN',
            `${modelId}: feed ${name} has ${t.data.length} values for dims ${describeShape(t.dims)}`,
          );
        }
        ortFeeds[name] = new ort.Tensor('float32', t.data, t.dims);
      }
      let results: ort.InferenceSession.ReturnType;
      try {
        results = await session.run(ortFeeds);
      } catch (err) {
        throw new EdgeError(
          'EDGE_ERR_DETECT_RUN',
          `${modelId}: ${err instanceof Error ? err.message : String(err)}`,
          {
            cause: err,
          },
        );
      }
      const out: Record<string, FloatTensor> = {};
      for (const [name, value] of Object.entries(results)) {
        if (
          !(value instanceof ort.Tensor) ||
          value.type !== 'float32' ||
          !(value.data instanceof Float32Array)
        ) {
          throw new EdgeError('EDGE_ERR_DETECT_RUN', `${modelId}: output ${name} is not a float32 tensor`);
        }
        out[name] = { data: value.data, dims: [...value.dims] };
      }
      return out;
    },
    async release() {
      if (released) return;
      released = true;
      await session.release();
    },
  };
}

/** `outputs[name]`, or EDGE_ERR_DETECT_RUN when the model did not produce it. */
export function output(
  outputs: Readonly<Record<string, FloatTensor>>,
  name: string,
  modelId = 'model',
): FloatTensor {
  const t = outputs[name];
  if (t === undefined) throw new EdgeError('EDGE_ERR_DETECT_RUN', `${modelId}: no output "${name}"`);
  return t;
}
