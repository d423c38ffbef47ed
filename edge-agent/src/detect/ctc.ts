/**
 * Greedy CTC decoding of the PP-OCRv4 recogniser's output: per time step take the most likely
 * class, collapse repeats, drop the blank. Class 0 is the blank, class i (1 ≤ i ≤ keys) is line
 * i−1 of `ppocr_keys_v1.txt`, and the class after the last key is a space.
 */
import { readFile } from 'node:fs/promises';
import { EdgeError } from '../errors.ts';

/** The recogniser's alphabet: `classes[i]` is the text of class i (`''` for the blank). */
export interface CtcCharset {
  readonly classes: readonly string[];
}

/** Build the alphabet from the keys file's text (one character per line; `\r` tolerated). */
export function parseCharset(keysText: string): CtcCharset {
  const lines = keysText.split('\n').map((l) => l.replace(/\r$/, ''));
  // A trailing newline leaves one empty last line that is not a key.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return { classes: ['', ...lines, ' '] };
}

/** Read and parse a keys file; EDGE_ERR_MODEL_MISSING if it cannot be read. */
export async function loadCharset(path: string): Promise<CtcCharset> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new EdgeError('EDGE_ERR_MODEL_MISSING', `character list ${path}`, { cause: err });
  }
  return parseCharset(text);
}

/** One decoded sequence. */
export interface CtcRead {
  /** Decoded text (one entry of `chars` per class emitted, concatenated). */
  text: string;
  /** The emitted characters, in order. */
  chars: string[];
  /** Per emitted character: the highest probability over the run of steps that produced it. */
  confidences: number[];
}

/**
 * Greedy-decode `batch` sequences from `probs`, laid out [batch, steps, classes] (already
 * softmaxed). Throws EDGE_ERR_MODEL_INCOMPATIBLE when the class count does not match the charset.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  batch: number,
  steps: number,
  classes: number,
  charset: CtcCharset,
): CtcRead[] {
  if (classes !== charset.classes.length) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_INCOMPATIBLE',
      `recogniser emits ${classes} classes, the character list has ${charset.classes.length}`,
    );
  }
  if (probs.length < batch * steps * classes) {
    throw new EdgeError(
      'EDGE_ERR_DETECT_RUN',
      `recogniser output has ${probs.length} values, expected ${batch * steps * classes}`,
    );
  }
  const out: CtcRead[] = [];
  for (let n = 0; n < batch; n++) {
    const chars: string[] = [];
    const confidences: number[] = [];
    let prev = -1;
    for (let t = 0; t < steps; t++) {
      const base = (n * steps + t) * classes;
      let best = 0;
      let bestP = probs[base] ?? 0;
      for (let c = 1; c < classes; c++) {
        const p = probs[base + c] ?? 0;
        if (p > bestP) {
          bestP = p;
          best = c;
        }
      }
      if (best === prev) {
        // Same class as the step before: one character, keep the run's highest probability.
        if (best !== 0) {
          const last = confidences.length - 1;
          confidences[last] = Math.max(confidences[last] ?? 0, bestP);
        }
      } else if (best !== 0) {
        chars.push(charset.classes[best] ?? '');
        confidences.push(bestP);
      }
      prev = best;
    }
    out.push({ text: chars.join(''), chars, confidences });
  }
  return out;
}
