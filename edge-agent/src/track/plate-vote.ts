/**
 * Choosing a track's plate from its reads, as Frigate does: group the reads by string similarity,
 * the largest group wins, and within it the best read is the plate.
 *
 * Groups: for each distinct text, its group is every read at least `similarity` (Jaro-Winkler)
 * like it. The largest group wins (ties: the larger summed confidence). Within the group the text
 * read exactly most often is chosen (ties: the higher best confidence), and the plate is that
 * text's highest-confidence read. When every text in the group is distinct this is exactly
 * "the group's highest-confidence read"; counting exact repeats first keeps one overconfident
 * misread ("京A12346" at 0.97) from beating three agreeing reads of "京A12345".
 */
import { jaroWinkler } from './jaro-winkler.ts';

/** One plate read of a track. */
export interface PlateRead {
  text: string;
  /** Ranking score of the read, 0..1: recogniser confidence × detector confidence. */
  confidence: number;
}

/** The chosen read and how strongly the track's reads back it. */
export interface PlateVote<R extends PlateRead> {
  /** The chosen read (the same object as in the input). */
  read: R;
  /** Reads in the winning group (including the chosen one). */
  agreeing: number;
  /** All valid reads considered. */
  total: number;
}

/** Default Jaro-Winkler threshold for "the same plate read differently". */
export const DEFAULT_PLATE_SIMILARITY = 0.85;

/** Pick the plate of `reads`; undefined when there is no read with text. */
export function votePlate<R extends PlateRead>(
  reads: readonly R[],
  similarity = DEFAULT_PLATE_SIMILARITY,
): PlateVote<R> | undefined {
  const valid = reads.filter((r) => r.text !== '');
  if (valid.length === 0) return undefined;
  // Distinct texts with their reads, in first-seen order (deterministic ties).
  const byText = new Map<string, R[]>();
  for (const r of valid) {
    const list = byText.get(r.text);
    if (list === undefined) byText.set(r.text, [r]);
    else list.push(r);
  }
  const texts = [...byText.keys()];
  const sim = new Map<string, number>();
  const similar = (a: string, b: string): boolean => {
    if (a === b) return true;
    const key = a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
    let v = sim.get(key);
    if (v === undefined) {
      v = jaroWinkler(a, b);
      sim.set(key, v);
    }
    return v >= similarity;
  };
  let bestGroup: string[] = [];
  let bestSize = -1;
  let bestWeight = -1;
  for (const centre of texts) {
    const group = texts.filter((t) => similar(centre, t));
    let size = 0;
    let weight = 0;
    for (const t of group) {
      for (const r of byText.get(t) ?? []) {
        size++;
        weight += r.confidence;
      }
    }
    if (size > bestSize || (size === bestSize && weight > bestWeight)) {
      bestGroup = group;
      bestSize = size;
      bestWeight = weight;
    }
  }
  let chosen: R | undefined;
  let chosenCount = -1;
  for (const t of bestGroup) {
    const list = byText.get(t) ?? [];
    const top = list.reduce<R | undefined>(
      (a, r) => (a === undefined || r.confidence > a.confidence ? r : a),
      undefined,
    );
    if (top === undefined) continue;
    if (
      list.length > chosenCount ||
      (list.length === chosenCount && chosen !== undefined && top.confidence > chosen.confidence)
    ) {
      chosen = top;
      chosenCount = list.length;
    }
  }
  if (chosen === undefined) return undefined;
  return { read: chosen, agreeing: bestSize, total: valid.length };
}
