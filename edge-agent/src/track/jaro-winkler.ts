/**
 * Jaro-Winkler string similarity over Unicode code points (a plate's province character is one
 * code point, not two UTF-16 units), used to group plate reads and to tie plate detections to
 * tracks.
 */

/** Jaro similarity of `a` and `b`, 0..1 (1 = equal; two empty strings are equal). */
export function jaro(a: string, b: string): number {
  const s = Array.from(a);
  const t = Array.from(b);
  if (s.length === 0 && t.length === 0) return 1;
  if (s.length === 0 || t.length === 0) return 0;
  const window = Math.max(0, Math.floor(Math.max(s.length, t.length) / 2) - 1);
  const sMatched = new Array<boolean>(s.length).fill(false);
  const tMatched = new Array<boolean>(t.length).fill(false);
  let matches = 0;
  for (let i = 0; i < s.length; i++) {
    const lo = Math.max(0, i - window);
    const hi = Math.min(t.length - 1, i + window);
    for (let j = lo; j <= hi; j++) {
      if (tMatched[j] === true || s[i] !== t[j]) continue;
      sMatched[i] = true;
      tMatched[j] = true;
      matches++;
      break;
    }
  }
  if (matches === 0) return 0;
  let transpositions = 0;
  let k = 0;
  for (let i = 0; i < s.length; i++) {
    if (sMatched[i] !== true) continue;
    while (tMatched[k] !== true) k++;
    if (s[i] !== t[k]) transpositions++;
    k++;
  }
  const m = matches;
  return (m / s.length + m / t.length + (m - transpositions / 2) / m) / 3;
}

/**
 * Jaro-Winkler similarity, 0..1: Jaro boosted by the common prefix (up to 4 code points,
 * scaling factor `p`, standard 0.1). Plates share their province and city prefix, so the boost
 * favours misreads of the serial over different plates of the same city only mildly.
 */
export function jaroWinkler(a: string, b: string, p = 0.1): number {
  const j = jaro(a, b);
  const s = Array.from(a);
  const t = Array.from(b);
  let prefix = 0;
  while (prefix < 4 && prefix < s.length && prefix < t.length && s[prefix] === t[prefix]) prefix++;
  return j + prefix * p * (1 - j);
}
