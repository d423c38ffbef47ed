/**
 * Plate reading accuracy with the real models:
 * - rendered plates of every colour, 60–400 px wide, each clean and with blur, JPEG q30, a
 *   12–15° rotation, night noise, and all of these at once (seeded, so the same pixels every run);
 * - the bench's 720p scenes, whole frames and vehicle regions, against the ground truth, where the
 *   shop sign and the OSD clock must never yield a plate.
 * Timing is printed, never asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlateDetector } from '../../edge-agent/src/detect/plates.ts';
import type { PlateDetector } from '../../edge-agent/src/detect/plates.ts';
import type { Box, PlateDetection } from '../../edge-agent/src/detect/types.ts';
import { makeTempDir } from '../bench/lifetime.ts';
import type { TempDir } from '../bench/lifetime.ts';
import { readFrames } from '../scene/ffmpeg.ts';
import { generateScene } from '../scene/generate.ts';
import type { PlateType } from '../scene/plates.ts';
import { PRESET_NAMES, presetScene } from '../scene/presets.ts';
import { boxAt, interpolateBox } from '../scene/truth.ts';
import type { SceneTruth, VisibleBox } from '../scene/truth.ts';
import { PLATE_VARIATIONS, makeVariant, plateImagePath, plateStrings } from './fixtures/plate-variants.ts';
import type { PlateVariation } from './fixtures/plate-variants.ts';

const WIDTHS = [60, 80, 100, 130, 180, 250, 400] as const;
const TYPES: readonly PlateType[] = ['blue', 'yellow', 'green'];
const PLATES_PER_CELL = 2;
/** The variations the ≥ 0.95 target is held to; `combined` (all at once) is reported only. */
const SINGLE: readonly PlateVariation[] = ['clean', 'blur', 'jpeg30', 'rotate', 'night'];

/** Hits and trials under a key. */
class Tally {
  readonly cells = new Map<string, { hit: number; n: number }>();
  add(key: string, hit: boolean): void {
    const c = this.cells.get(key) ?? { hit: 0, n: 0 };
    c.hit += hit ? 1 : 0;
    c.n += 1;
    this.cells.set(key, c);
  }
  rate(key: string): number {
    const c = this.cells.get(key);
    return c === undefined || c.n === 0 ? Number.NaN : c.hit / c.n;
  }
  table(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, c] of [...this.cells].sort(([a], [b]) => a.localeCompare(b))) {
      out[k] = `${(c.hit / c.n).toFixed(3)} (${c.hit}/${c.n})`;
    }
    return out;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function intersects(a: Box, b: Box, slack = 2): boolean {
  return (
    a.x < b.x + b.width + slack &&
    b.x < a.x + a.width + slack &&
    a.y < b.y + b.height + slack &&
    b.y < a.y + a.height + slack
  );
}

const asBox = (v: VisibleBox): Box => ({ x: v.x, y: v.y, width: v.w, height: v.h });
const asFullBox = (v: { x: number; y: number; w: number; h: number }): Box => ({
  x: v.x,
  y: v.y,
  width: v.w,
  height: v.h,
});

describe('plate accuracy on rendered plates', () => {
  let tmp: TempDir | undefined;
  let detector: PlateDetector | undefined;
  beforeAll(async () => {
    tmp = makeTempDir('plate-accuracy');
    detector = await createPlateDetector();
  });
  afterAll(async () => {
    await detector?.close();
    tmp?.remove();
  });

  it(
    'reads ≥ 95% of plates ≥ 80 px exactly, in every colour, under each variation',
    { timeout: 600_000 },
    async () => {
      if (detector === undefined || tmp === undefined) throw new Error('setup failed');
      const tally = new Tally();
      const colourTally = new Tally();
      const misses: string[] = [];
      const ms: number[] = [];
      for (const [ti, type] of TYPES.entries()) {
        for (const width of WIDTHS) {
          for (const [k, text] of plateStrings(type, PLATES_PER_CELL, 9000 + ti * 1000 + width).entries()) {
            const png = await plateImagePath(tmp.path, text, type, width);
            for (const [vi, variation] of PLATE_VARIATIONS.entries()) {
              const v = await makeVariant(
                png,
                { text, type, widthPx: width },
                variation,
                (ti * 1000 + width) * 100 + k * 10 + vi,
              );
              const t0 = performance.now();
              const found = await detector.detect(v.image);
              ms.push(performance.now() - t0);
              const hit = found.find((d) => d.text === text && intersects(d.box, v.box));
              const band = width >= 80 ? '>=80' : '<80';
              const scope = variation === 'combined' ? 'combined' : 'single';
              tally.add(`${band} ${scope}`, hit !== undefined);
              tally.add(`${band} ${variation}`, hit !== undefined);
              tally.add(`${band} ${type} ${scope}`, hit !== undefined);
              tally.add(`w${String(width).padStart(3, '0')} ${scope}`, hit !== undefined);
              if (hit !== undefined) colourTally.add(type, hit.colour === type);
              if (hit === undefined) {
                misses.push(
                  `${text} ${type} ${width}px ${variation}: ${found.map((d) => `${d.text}/${d.colour}`).join(',') || '-'}`,
                );
              }
            }
          }
        }
      }
      console.log(
        JSON.stringify(
          {
            plate_exact_read: tally.table(),
            colour_when_read: colourTally.table(),
            median_ms_640x360: Number(median(ms).toFixed(1)),
            misses,
          },
          null,
          1,
        ),
      );
      expect(tally.rate('>=80 single')).toBeGreaterThanOrEqual(0.95);
      for (const type of TYPES) expect(tally.rate(`>=80 ${type} single`), type).toBeGreaterThanOrEqual(0.9);
      for (const variation of SINGLE)
        expect(tally.rate(`>=80 ${variation}`), variation).toBeGreaterThanOrEqual(0.9);
      for (const type of TYPES)
        expect(colourTally.rate(type), `colour of ${type}`).toBeGreaterThanOrEqual(0.95);
    },
  );
});

describe('plate accuracy on the bench scenes (720p)', () => {
  let detector: PlateDetector | undefined;
  beforeAll(async () => {
    detector = await createPlateDetector();
  });
  afterAll(async () => {
    await detector?.close();
  });

  /** Every `step`-th frame of a preset's 720p loop with the plates readable in it. */
  async function sceneFrames(name: (typeof PRESET_NAMES)[number], step: number) {
    const { videoPath, truth } = await generateScene(presetScene(name));
    const numbers: number[] = [];
    for (let n = 0; n < truth.video.frame_count; n += step) numbers.push(n);
    const frames = await readFrames(videoPath, truth.video, 'rgb24', numbers);
    return {
      truth,
      frames: frames.frames.map((data, i) => ({ n: numbers[i] ?? 0, data: new Uint8Array(data) })),
    };
  }

  function plateTruth(truth: SceneTruth, n: number) {
    const t = n / truth.video.fps;
    const plates = truth.objects.filter((o) => o.kind === 'plate');
    const readable = plates.flatMap((o) => {
      const b = boxAt(o, t, truth.video);
      return b === undefined || b.clipped ? [] : [{ text: o.text ?? '', box: asBox(b), width: b.full.w }];
    });
    const distractors = truth.objects.flatMap((o) => {
      if (o.kind !== 'text') return [];
      const b = boxAt(o, t, truth.video);
      return b === undefined ? [] : [{ id: o.id, box: asBox(b) }];
    });
    // Where any plate is drawn, readable or not (partly off-frame, occluded): a read there is a
    // plate read, right or wrong, never a false plate.
    const drawn = plates.flatMap((o) =>
      t < o.appear_s - 1e-6 || t > o.disappear_s + 1e-6
        ? []
        : [{ text: o.text ?? '', box: asFullBox(interpolateBox(o, t)) }],
    );
    return { readable, distractors, drawn };
  }

  it(
    'reads the truth plates, whole frame and vehicle regions, and no distractor is a plate',
    { timeout: 600_000 },
    async () => {
      if (detector === undefined) throw new Error('setup failed');
      const tally = new Tally();
      const ms: Record<string, number[]> = { full: [], regions: [] };
      const falsePlates: string[] = [];
      const misreads: string[] = [];
      const misses: string[] = [];
      for (const name of PRESET_NAMES) {
        const { truth, frames } = await sceneFrames(name, 5);
        for (const { n, data } of frames) {
          const image = { data, width: truth.video.width, height: truth.video.height };
          const { readable, distractors, drawn } = plateTruth(truth, n);
          // The vehicle around a plate: what a motion region would give.
          const vehicles = readable.map(({ box }) => ({
            x: box.x - box.width * 1.5,
            y: box.y - box.height * 3,
            width: box.width * 4,
            height: box.height * 4.5,
          }));
          for (const mode of ['full', 'regions'] as const) {
            const t0 = performance.now();
            const found: PlateDetection[] = await detector.detect(
              image,
              mode === 'full' ? undefined : vehicles,
            );
            ms[mode]?.push(performance.now() - t0);
            for (const p of readable) {
              const hit = found.some((d) => d.text === p.text && intersects(d.box, p.box));
              const band = p.width >= 80 ? '>=80' : '<80';
              tally.add(`${mode} ${band}`, hit);
              tally.add(`${mode} ${name} ${band}`, hit);
              if (!hit && p.width >= 80) misses.push(`${mode} ${name} frame ${n} ${p.text}`);
            }
            for (const d of found) {
              const onDistractor = distractors.find((x) => intersects(d.box, x.box, 0));
              const under = drawn.filter((p) => intersects(d.box, p.box));
              if (onDistractor !== undefined || under.length === 0) {
                falsePlates.push(
                  `${mode} ${name} frame ${n}: ${d.text} on ${onDistractor?.id ?? 'no plate'}`,
                );
              } else if (!under.some((p) => p.text === d.text)) {
                misreads.push(
                  `${mode} ${name} frame ${n}: ${d.text} on ${under.map((p) => p.text).join('/')}`,
                );
              }
            }
          }
        }
      }
      console.log(
        JSON.stringify(
          {
            scene_exact_read: tally.table(),
            false_plates: falsePlates,
            misreads,
            misses,
            median_ms_720p: { full: median(ms.full ?? []), regions: median(ms.regions ?? []) },
          },
          null,
          1,
        ),
      );
      expect(falsePlates).toEqual([]);
      expect(tally.rate('full >=80')).toBeGreaterThanOrEqual(0.9);
      expect(tally.rate('regions >=80')).toBeGreaterThanOrEqual(0.9);
    },
  );
});
