/**
 * generateScene: spec → looping MP4 + ground-truth JSON, cached by spec hash so repeated test runs
 * reuse the encode.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../bench/lifetime.ts';
import { FACE_SOURCES, assetsDigest, checkAssets } from './assets.ts';
import type { Box } from './assets.ts';
import {
  backgroundFilter,
  compositionGraph,
  compositionInputs,
  osdDrawtexts,
  personSpriteGraph,
  signDrawtext,
  timestampText,
  vehicleSpriteGraph,
} from './draw.ts';
import { SceneError } from './errors.ts';
import { FFMPEG_PATH, runFfmpeg } from './ffmpeg.ts';
import { occlusionIntervals, planScene } from './plan.ts';
import type { LayeredTruth, ScenePlan } from './plan.ts';
import { makeRng, subSeed } from './rng.ts';
import { resolveSpec, specHash } from './spec.ts';
import type { SceneSpec } from './spec.ts';
import { TRUTH_VERSION, parseTruth, readTruth } from './truth.ts';
import type { SceneTruth, TruthObject } from './truth.ts';

/** Repository root (this file is test/scene/generate.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Default cache directory (gitignored `.cache/`). */
export const DEFAULT_SCENE_DIR = join(REPO_ROOT, '.cache', 'scenes');

/** Progress of one generation, for CLI output. */
export interface SceneProgress {
  scene: string;
  phase: 'cached' | 'sprites' | 'encode' | 'done';
  /** Frames encoded so far (encode phase). */
  frame?: number;
  frame_count?: number;
}

/** Options for {@link generateScene}. */
export interface GenerateOptions {
  /** Where the video and truth go; also the cache. Default `<repo>/.cache/scenes`. */
  outDir?: string;
  /** Re-encode even if a matching output exists. */
  force?: boolean;
  onProgress?: (progress: SceneProgress) => void;
}

/** What {@link generateScene} produced. */
export interface GeneratedScene {
  videoPath: string;
  truthPath: string;
  truth: SceneTruth;
  /** True when existing output was reused and ffmpeg did not run. */
  cached: boolean;
  /** Full spec hash (sha256 hex); file names carry its first 12 characters. */
  specHash: string;
  /** Wall time of this call. */
  elapsedMs: number;
}

let ffmpegVersionLine: Promise<string> | undefined;

/** First line of `ffmpeg -version` (part of the cache key: another build may draw differently). */
export function ffmpegVersion(): Promise<string> {
  ffmpegVersionLine ??= runFfmpeg(['-version'], { name: 'version', captureStdout: true }).then(
    (r) => r.stdout.toString('utf8').split('\n')[0] ?? FFMPEG_PATH,
  );
  return ffmpegVersionLine;
}

/** Generator sources whose change must invalidate cached scenes (drawing, layout, plates). */
const GENERATOR_SOURCES = [
  'assets.ts',
  'draw.ts',
  'generate.ts',
  'plan.ts',
  'plates.ts',
  'spec.ts',
  'truth.ts',
];

let sourcesDigestValue: string | undefined;

/** sha256 over the generator sources, so editing the drawing code regenerates cached scenes. */
function sourcesDigest(): string {
  if (sourcesDigestValue === undefined) {
    const h = createHash('sha256');
    const dir = dirname(fileURLToPath(import.meta.url));
    for (const name of GENERATOR_SOURCES) h.update(name).update(readFileSync(join(dir, name)));
    sourcesDigestValue = h.digest('hex');
  }
  return sourcesDigestValue;
}

/** Measure the ink box of a drawtext (drawn white on grey at its real position). */
async function measureInk(drawtext: string, width: number, height: number, what: string): Promise<Box> {
  const { stdout } = await runFfmpeg(
    [
      '-f',
      'lavfi',
      '-i',
      `color=c=0x808080:s=${width}x${height}:d=1`,
      '-vf',
      drawtext,
      '-frames:v',
      '1',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'gray',
      'pipe:1',
    ],
    { name: `measure ${what}`, captureStdout: true },
  );
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = stdout[y * width + x] ?? 128;
      if (Math.abs(v - 128) > 40) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) throw new SceneError('SCENE_BAD_SPEC', `${what}: text drew no pixels`);
  return { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

function staticObject(id: string, text: string | undefined, box: Box, plan: ScenePlan): TruthObject {
  const last = (plan.frame_count - 1) / plan.spec.fps;
  const o: TruthObject = {
    id,
    kind: 'text',
    appear_s: 0,
    disappear_s: last,
    keyframes: [{ t_s: 0, ...box }],
  };
  if (text !== undefined) o.text = text;
  return o;
}

/** A cached truth file, or undefined if it is unreadable or invalid (then the scene is regenerated). */
async function readCachedTruth(path: string): Promise<SceneTruth | undefined> {
  try {
    return await readTruth(path);
  } catch (err) {
    // A corrupt cache entry is a cache miss: regenerating overwrites it. Anything else is real.
    if (err instanceof SceneError && err.code === 'SCENE_BAD_TRUTH') return undefined;
    throw err;
  }
}

/**
 * Run async jobs with at most `limit` in flight (2 cores: more ffmpegs only thrash). On failure no
 * new job starts, running ones are awaited (the work dir is removed after), then the first error
 * is thrown.
 */
async function inParallel<T>(jobs: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(jobs.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < jobs.length && failed === undefined) {
      const i = next++;
      const job = jobs[i];
      if (job === undefined) continue;
      try {
        results[i] = await job();
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failed !== undefined) throw failed.err;
  return results;
}

/**
 * Generate (or reuse) the scene for `spec`: `<name>-<hash12>.mp4` and `<name>-<hash12>.truth.json`
 * in `outDir`. Outputs are written under temporary names and renamed, so a concurrent or killed
 * run never leaves a half file that looks complete.
 */
export async function generateScene(spec: SceneSpec, opts: GenerateOptions = {}): Promise<GeneratedScene> {
  const started = Date.now();
  checkAssets();
  const resolved = resolveSpec(spec);
  const plan = planScene(resolved);
  const hash = specHash(resolved, `${sourcesDigest()}|${assetsDigest()}|${await ffmpegVersion()}`);
  const outDir = resolve(opts.outDir ?? DEFAULT_SCENE_DIR);
  const base = `${resolved.name}-${hash.slice(0, 12)}`;
  const videoPath = join(outDir, `${base}.mp4`);
  const truthPath = join(outDir, `${base}.truth.json`);
  const progress = opts.onProgress;

  if (opts.force !== true && existsSync(videoPath) && existsSync(truthPath)) {
    const truth = await readCachedTruth(truthPath);
    const size = (await stat(videoPath)).size;
    if (truth?.scene?.spec_hash === hash && size > 0) {
      progress?.({ scene: resolved.name, phase: 'cached' });
      return { videoPath, truthPath, truth, cached: true, specHash: hash, elapsedMs: Date.now() - started };
    }
  }

  await mkdir(outDir, { recursive: true });
  const work = makeTempDir(`scene-${resolved.name}`);
  try {
    const file = (name: string): string => join(work.path, name);
    await writeFile(file('sign.txt'), plan.sign.text);
    const osdFiles: { timestamp?: string; label?: string } = {};
    if (plan.osd.timestamp !== undefined) {
      osdFiles.timestamp = file('osd-time.txt');
      await writeFile(osdFiles.timestamp, timestampText(plan.osd.timestamp.start_epoch_s));
    }
    if (plan.osd.label !== undefined) {
      osdFiles.label = file('osd-label.txt');
      await writeFile(osdFiles.label, plan.osd.label.text);
    }

    // Text boxes first (cheap): the truth, occlusion included, is complete before anything slow runs.
    const { width, height } = resolved;
    const layered: LayeredTruth[] = [];
    const signBox = await measureInk(
      signDrawtext(plan.sign, file('sign.txt'), 'white'),
      width,
      height,
      'sign',
    );
    layered.push({ object: staticObject('sign', plan.sign.text, signBox, plan), layer: -1 });
    for (const { object, sprite_index } of plan.sprite_truth) layered.push({ object, layer: sprite_index });
    const osdOnly = (part: 'timestamp' | 'label'): { timestamp?: string; label?: string } =>
      part === 'timestamp' ? { timestamp: osdFiles.timestamp } : { label: osdFiles.label };
    if (osdFiles.timestamp !== undefined) {
      const [dt] = osdDrawtexts(plan.osd, osdOnly('timestamp'));
      if (dt !== undefined) {
        const box = await measureInk(dt, width, height, 'osd timestamp');
        layered.push({
          object: staticObject('osd-time', undefined, box, plan),
          layer: Number.POSITIVE_INFINITY,
        });
      }
    }
    if (osdFiles.label !== undefined && plan.osd.label !== undefined) {
      const [dt] = osdDrawtexts(plan.osd, osdOnly('label'));
      if (dt !== undefined) {
        const box = await measureInk(dt, width, height, 'osd label');
        layered.push({
          object: staticObject('osd-label', plan.osd.label.text, box, plan),
          layer: Number.POSITIVE_INFINITY,
        });
      }
    }
    const occluded = occlusionIntervals(plan, layered);
    for (const { object } of layered) {
      const intervals = occluded.get(object.id);
      if (intervals !== undefined) object.occluded_s = intervals;
    }

    const truth = parseTruth(
      {
        version: TRUTH_VERSION,
        scene: { name: resolved.name, spec_hash: hash },
        video: {
          file: `${base}.mp4`,
          width,
          height,
          fps: resolved.fps,
          duration_s: plan.frame_count / resolved.fps,
          frame_count: plan.frame_count,
        },
        objects: layered.map((l) => l.object),
      },
      `generated truth for ${resolved.name}`,
    );

    // Background and sprites: small single-frame renders, two at a time.
    progress?.({ scene: resolved.name, phase: 'sprites' });
    const bgPath = file('background.png');
    const spritePaths = plan.sprites.map((sp, i) => file(`sprite-${i}-${sp.id}.png`));
    const bgRng = makeRng(subSeed(resolved.seed, 'background'));
    const jobs: (() => Promise<unknown>)[] = [
      () =>
        runFfmpeg(
          [
            '-filter_complex',
            `${backgroundFilter(plan, file('sign.txt'), bgRng)}[out]`,
            '-map',
            '[out]',
            '-frames:v',
            '1',
            '-y',
            bgPath,
          ],
          { name: `${resolved.name} background` },
        ),
      ...plan.sprites.map((sprite, i) => () => {
        const out = spritePaths[i] ?? file(`sprite-${i}.png`);
        if (sprite.kind === 'vehicle') {
          return runFfmpeg(
            [
              '-filter_complex',
              vehicleSpriteGraph(sprite.vehicle, sprite.geometry),
              '-map',
              '[out]',
              '-frames:v',
              '1',
              '-y',
              out,
            ],
            { name: `${resolved.name} vehicle ${sprite.id}` },
          );
        }
        return runFfmpeg(
          [
            '-i',
            FACE_SOURCES[sprite.person.source].path,
            '-filter_complex',
            personSpriteGraph(sprite),
            '-map',
            '[out]',
            '-frames:v',
            '1',
            '-y',
            out,
          ],
          { name: `${resolved.name} person ${sprite.id}` },
        );
      }),
    ];
    await inParallel(jobs, 2);

    const graphPath = file('composition.txt');
    await writeFile(graphPath, compositionGraph(plan, osdFiles));
    const fps = String(resolved.fps);
    // Unique per call: concurrent generations of one spec (two test files) must not share a temp file.
    const tmpTag = `${process.pid}-${randomUUID().slice(0, 8)}`;
    const tmpVideo = join(outDir, `.${base}.${tmpTag}.tmp.mp4`);
    progress?.({ scene: resolved.name, phase: 'encode', frame: 0, frame_count: plan.frame_count });
    try {
      await runFfmpeg(
        [
          ...compositionInputs(plan, bgPath, spritePaths),
          '-filter_complex_script',
          graphPath,
          '-map',
          '[out]',
          '-frames:v',
          String(plan.frame_count),
          '-r',
          fps,
          '-c:v',
          'libx264',
          '-preset',
          'veryfast',
          '-crf',
          '23',
          '-pix_fmt',
          'yuv420p',
          '-g',
          fps,
          '-keyint_min',
          fps,
          '-sc_threshold',
          '0',
          '-bf',
          '0',
          '-an',
          '-movflags',
          '+faststart',
          '-f',
          'mp4',
          '-y',
          tmpVideo,
        ],
        {
          name: `${resolved.name} encode`,
          onFrame: (frame) => {
            progress?.({ scene: resolved.name, phase: 'encode', frame, frame_count: plan.frame_count });
          },
        },
      );
      await rename(tmpVideo, videoPath);
    } finally {
      await rm(tmpVideo, { force: true });
    }
    const tmpTruth = join(outDir, `.${base}.${tmpTag}.tmp.json`);
    await writeFile(tmpTruth, `${JSON.stringify(truth, null, 2)}\n`);
    await rename(tmpTruth, truthPath);
    progress?.({
      scene: resolved.name,
      phase: 'done',
      frame: plan.frame_count,
      frame_count: plan.frame_count,
    });
    return { videoPath, truthPath, truth, cached: false, specHash: hash, elapsedMs: Date.now() - started };
  } finally {
    work.remove();
  }
}
