/**
 * `--settings JSON` for the detection eval and the edge-pipeline bench: detector tuning (the
 * inference worker's {@link DetectorSettings}) to try without editing code, e.g.
 *
 *   npm run eval -- detection --settings '{"plate":{"maxDetScale":0.6}}'
 *
 * The detectors check the values themselves when they start (EDGE_ERR_DETECT_OPTIONS).
 */
import type { DetectorSettings } from '../../edge-agent/src/detect/index.ts';

/** The settings given with `--settings` (empty when absent) and the other arguments. */
export function takeSettingsArg(args: readonly string[]): { settings: DetectorSettings; rest: string[] } {
  const i = args.indexOf('--settings');
  if (i < 0) return { settings: {}, rest: [...args] };
  const raw = args[i + 1];
  if (raw === undefined)
    throw new Error('--settings needs a JSON object, e.g. {"plate":{"maxDetScale":0.6}}');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(`--settings is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('--settings must be a JSON object with "face" and/or "plate" keys');
  }
  const unknown = Object.keys(parsed).filter((k) => k !== 'face' && k !== 'plate');
  if (unknown.length > 0) throw new Error(`--settings: unknown detector ${unknown.join(', ')} (face, plate)`);
  return { settings: parsed, rest: [...args.slice(0, i), ...args.slice(i + 2)] };
}
