/**
 * Generate preset scenes from the command line:
 *
 *   tsx test/scene/cli.ts --out DIR [--preset NAME|all] [--width W --height H] [--fps N]
 *                         [--duration S] [--force]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SCENE_DIR, generateScene } from './generate.ts';
import type { SceneProgress } from './generate.ts';
import { PRESET_NAMES, isPresetName, presetScene } from './presets.ts';
import type { PresetName } from './presets.ts';

const USAGE = `usage: tsx test/scene/cli.ts [--out DIR] [--preset ${PRESET_NAMES.join('|')}|all]
       [--width W --height H] [--fps N] [--duration S] [--force]
  --out       output/cache directory (default ${DEFAULT_SCENE_DIR})
  --preset    one preset or all (default all)
  --force     re-encode even when a cached scene matches`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} ${v}: not a number`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      preset: { type: 'string', default: 'all' },
      width: { type: 'string' },
      height: { type: 'string' },
      fps: { type: 'string' },
      duration: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let names: PresetName[];
  if (values.preset === 'all') names = [...PRESET_NAMES];
  else if (isPresetName(values.preset)) names = [values.preset];
  else {
    process.stderr.write(`unknown preset ${values.preset}\n${USAGE}\n`);
    return 2;
  }
  const width = num('width', values.width);
  const height =
    num('height', values.height) ?? (width === undefined ? undefined : Math.round((width * 9) / 16));

  let lastPct = -1;
  const onProgress = (p: SceneProgress): void => {
    if (p.phase === 'encode' && p.frame !== undefined && p.frame_count !== undefined) {
      const pct = Math.floor((100 * p.frame) / p.frame_count / 10) * 10;
      if (pct !== lastPct) {
        lastPct = pct;
        process.stdout.write(`  ${p.scene}: encoding ${p.frame}/${p.frame_count} frames (${pct}%)\n`);
      }
    } else if (p.phase === 'sprites') {
      lastPct = -1;
      process.stdout.write(`  ${p.scene}: drawing background and sprites\n`);
    }
  };

  for (const name of names) {
    const spec = presetScene(name, {
      width,
      height,
      fps: num('fps', values.fps),
      duration_s: num('duration', values.duration),
    });
    process.stdout.write(`${name}:\n`);
    const r = await generateScene(spec, { outDir: values.out, force: values.force, onProgress });
    const v = r.truth.video;
    const summary = r.truth.objects.map((o) => `${o.kind}:${o.text ?? o.id}`).join(', ');
    process.stdout.write(
      `  ${r.cached ? 'cached' : `generated in ${(r.elapsedMs / 1000).toFixed(1)} s`}: ${r.videoPath}\n` +
        `  ${v.width}x${v.height} ${v.fps} fps ${v.duration_s} s (${v.frame_count} frames); truth ${r.truthPath}\n` +
        `  objects: ${summary}\n`,
    );
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
