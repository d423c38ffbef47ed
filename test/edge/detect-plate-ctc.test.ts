/**
 * Greedy CTC decoding: hand-made probability matrices, the recorded output tensors of the real
 * PP-OCRv4 recogniser (fixtures/plate-rec-tensors.json, made by fixtures/plate-record-rec.ts),
 * and the live model on the recorded crops.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctcGreedyDecode, loadCharset, parseCharset } from '../../edge-agent/src/detect/ctc.ts';
import type { CtcCharset } from '../../edge-agent/src/detect/ctc.ts';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { decodeImageFile } from '../../edge-agent/src/detect/image.ts';
import { resolveModel } from '../../edge-agent/src/detect/models.ts';
import { createSession } from '../../edge-agent/src/detect/onnx.ts';
import type { OnnxSession } from '../../edge-agent/src/detect/onnx.ts';
import { normalisePlateRead } from '../../edge-agent/src/detect/plate-filter.ts';
import { REC_HEIGHT, recogniseCrops } from '../../edge-agent/src/detect/plate-rec.ts';
import { sessionRunner } from '../../edge-agent/src/detect/plates.ts';
import type { RecordedRead } from './fixtures/plate-record-rec.ts';

const FIXTURES = fileURLToPath(new URL('fixtures', import.meta.url));

/** Charset of 4 keys: blank, a, b, c, d, space. */
const SMALL = parseCharset('a\nb\nc\nd\n');

/** A [1, steps, classes] tensor where step t puts probability `p` (default 0.9) on class `ids[t]`. */
function oneHot(ids: readonly number[], classes: number, p = 0.9): Float32Array {
  const out = new Float32Array(ids.length * classes);
  ids.forEach((id, t) => {
    for (let c = 0; c < classes; c++) out[t * classes + c] = c === id ? p : (1 - p) / (classes - 1);
  });
  return out;
}

describe('parseCharset', () => {
  it.each<[string, string, string[]]>([
    ['trailing newline', 'a\nb\n', ['', 'a', 'b', ' ']],
    ['no trailing newline', 'a\nb', ['', 'a', 'b', ' ']],
    ['CRLF', 'a\r\nb\r\n', ['', 'a', 'b', ' ']],
    ['a key that is a space stays a key', 'a\n \nb', ['', 'a', ' ', 'b', ' ']],
  ])('%s', (_name, text, classes) => {
    expect(parseCharset(text).classes).toEqual(classes);
  });

  it('the real list gives the recogniser 6625 classes (blank + 6623 keys + space)', async () => {
    const keys = await loadCharset((await resolveModel('ppocr-keys')).path);
    expect(keys.classes).toHaveLength(6625);
    expect(keys.classes[0]).toBe('');
    expect(keys.classes[6624]).toBe(' ');
  });

  it('a missing list is EDGE_ERR_MODEL_MISSING', async () => {
    await expect(loadCharset('/nonexistent/keys.txt')).rejects.toSatisfy((e) =>
      isEdgeError(e, 'EDGE_ERR_MODEL_MISSING'),
    );
  });
});

describe('ctcGreedyDecode on hand-made matrices', () => {
  it.each<[string, number[], string]>([
    ['all blank', [0, 0, 0], ''],
    ['one char', [0, 1, 0], 'a'],
    ['repeats collapse', [1, 1, 1, 2, 2], 'ab'],
    ['blank separates a doubled letter', [1, 0, 1], 'aa'],
    ['leading/trailing blanks', [0, 0, 3, 4, 0], 'cd'],
    ['the last class is a space', [1, 5, 2], 'a b'],
    ['repeat after blank after repeat', [2, 2, 0, 2, 2, 0, 0, 3], 'bbc'],
  ])('%s', (_name, ids, text) => {
    const [read] = ctcGreedyDecode(oneHot(ids, 6), 1, ids.length, 6, SMALL);
    expect(read?.text).toBe(text);
    expect(read?.chars).toHaveLength(Array.from(text).length);
  });

  it('takes the highest probability of a run as the character confidence', () => {
    const classes = 6;
    const probs = new Float32Array(3 * classes);
    // Steps 0 and 1 both say "a" (0.6 then 0.8); step 2 says "b" at 0.55.
    probs.set([0.1, 0.6, 0.1, 0.1, 0.05, 0.05], 0);
    probs.set([0.1, 0.8, 0.05, 0.05, 0, 0], classes);
    probs.set([0.2, 0.1, 0.55, 0.1, 0.05, 0], 2 * classes);
    const [read] = ctcGreedyDecode(probs, 1, 3, classes, SMALL);
    expect(read?.text).toBe('ab');
    expect(read?.confidences[0]).toBeCloseTo(0.8, 6);
    expect(read?.confidences[1]).toBeCloseTo(0.55, 6);
  });

  it('decodes each sequence of a batch independently', () => {
    const a = oneHot([1, 0, 2], 6);
    const b = oneHot([3, 3, 4], 6);
    const batch = new Float32Array(a.length + b.length);
    batch.set(a, 0);
    batch.set(b, a.length);
    expect(ctcGreedyDecode(batch, 2, 3, 6, SMALL).map((r) => r.text)).toEqual(['ab', 'cd']);
  });

  it('ties go to the lower class (blank wins a tie)', () => {
    const probs = Float32Array.from([0.5, 0.5, 0, 0, 0, 0]);
    expect(ctcGreedyDecode(probs, 1, 1, 6, SMALL)[0]?.text).toBe('');
  });

  it('rejects a class count that does not match the charset', () => {
    expect(() => ctcGreedyDecode(new Float32Array(7), 1, 1, 7, SMALL)).toThrow(/7 classes/);
  });

  it('rejects a tensor shorter than its dims', () => {
    expect(() => ctcGreedyDecode(new Float32Array(6), 2, 1, 6, SMALL)).toThrow(/expected 12/);
  });
});

const RECORDED = JSON.parse(readFileSync(join(FIXTURES, 'plate-rec-tensors.json'), 'utf8')) as RecordedRead[];

/** Rebuild a dense [1, steps, classes] tensor from a recorded top-3 (the rest spread evenly). */
function densify(r: RecordedRead): Float32Array {
  const out = new Float32Array(r.steps * r.classes);
  r.top.forEach((step, t) => {
    const rest = Math.max(0, 1 - step.reduce((s, [, p]) => s + p, 0)) / (r.classes - step.length);
    out.fill(rest, t * r.classes, (t + 1) * r.classes);
    for (const [c, p] of step) out[t * r.classes + c] = p;
  });
  return out;
}

describe('ctcGreedyDecode on recorded PP-OCRv4 output', () => {
  let keys: CtcCharset;
  beforeAll(async () => {
    keys = await loadCharset((await resolveModel('ppocr-keys')).path);
  });

  it('has the recorded fixtures', () => {
    expect(RECORDED.map((r) => r.file)).toEqual([
      'plate-rec-blue-130.png',
      'plate-rec-yellow-150.png',
      'plate-rec-green-260.png',
      'plate-rec-blue-80.png',
      'plate-rec-sign.png',
    ]);
  });

  it.each(RECORDED.map((r) => [r.file, r] as const))('%s decodes to its truth', (_file, r) => {
    const [read] = ctcGreedyDecode(densify(r), 1, r.steps, r.classes, keys);
    expect(read).toBeDefined();
    if (read === undefined) return;
    // The plate's dot is read as "·"; normalisation drops it.
    const normalised = normalisePlateRead(
      read.chars.map((ch, i) => ({ ch, confidence: read.confidences[i] ?? 0 })),
    )
      .map((c) => c.ch)
      .join('');
    expect(normalised).toBe(r.truth);
    expect(read.confidences.every((p) => p > 0.5 && p <= 1)).toBe(true);
  });
});

describe('the live recogniser on the recorded crops', () => {
  let session: OnnxSession | undefined;
  let keys: CtcCharset;
  beforeAll(async () => {
    session = await createSession(await resolveModel('ppocr-v4-rec'));
    keys = await loadCharset((await resolveModel('ppocr-keys')).path);
  });
  afterAll(async () => {
    await session?.release();
  });

  it('reproduces the recorded argmax path and text, batched in one run', async () => {
    if (session === undefined) throw new Error('no session');
    const crops = await Promise.all(RECORDED.map((r) => decodeImageFile(join(FIXTURES, r.file))));
    expect(crops.every((c) => c.height === REC_HEIGHT)).toBe(true);
    const calls: (readonly number[])[] = [];
    const runner = sessionRunner(session);
    const reads = await recogniseCrops(
      {
        run: (data, dims) => {
          calls.push(dims);
          return runner.run(data, dims);
        },
      },
      crops,
      keys,
    );
    expect(calls).toEqual([[5, 3, REC_HEIGHT, 320]]);
    RECORDED.forEach((r, i) => {
      const read = reads[i];
      const argmaxText = r.top
        .map((s) => s[0]?.[0] ?? 0)
        .filter((c, t, all) => c !== 0 && c !== all[t - 1])
        .map((c) => keys.classes[c])
        .join('');
      expect(read?.text).toBe(argmaxText);
    });
  });
});
