/**
 * Motion gate on synthetic frames: still, moving, masked, lighting changes, sensor noise; the
 * mask rasteriser and box merging (table-driven); input and option errors; speed at 720p.
 */
import { describe, expect, it } from 'vitest';
import type { Box } from '../../edge-agent/src/detect/types.ts';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { createMotionGate, mergeBoxes, rasteriseMasks } from '../../edge-agent/src/motion/index.ts';
import type { MotionResult, NormPolygon } from '../../edge-agent/src/motion/index.ts';
import { downscaleGrey, planDownscale } from '../../edge-agent/src/motion/grey.ts';

const W = 640;
const H = 360;

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A textured static scene: smooth gradients plus blocks of random grey, like a street. */
function scene(width = W, height = H, seed = 1): Uint8Array {
  const r = rng(seed);
  const blocks = Array.from({ length: 40 }, () => ({
    x: Math.floor(r() * width),
    y: Math.floor(r() * height),
    w: 10 + Math.floor(r() * 80),
    h: 10 + Math.floor(r() * 60),
    v: Math.floor(r() * 200) + 20,
  }));
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 60 + (x / width) * 80 + (y / height) * 40;
      for (const b of blocks) if (x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h) v = b.v;
      const i = (y * width + x) * 3;
      data[i] = v;
      data[i + 1] = v * 0.9 + 10;
      data[i + 2] = v * 0.8 + 20;
    }
  }
  return data;
}

function paintRect(data: Uint8Array, width: number, box: Box, rgb: [number, number, number]): void {
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++) {
      const i = (y * width + x) * 3;
      data[i] = rgb[0];
      data[i + 1] = rgb[1];
      data[i + 2] = rgb[2];
    }
  }
}

/** A rectangle with vertical stripes (period 16 px), like the panels and wheels of a vehicle. */
function paintVehicle(data: Uint8Array, width: number, box: Box): void {
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++) {
      const v = (x - box.x) % 16 < 8 ? 240 : 25;
      data.set([v, v * 0.5, 40], (y * width + x) * 3);
    }
  }
}

function mapPixels(data: Uint8Array, f: (v: number, i: number) => number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(f(data[i] ?? 0, i))));
  return out;
}

/** Approximately Gaussian noise of standard deviation `sigma` per channel. */
function noisy(data: Uint8Array, sigma: number, seed: number): Uint8Array {
  const r = rng(seed);
  // Sum of 4 uniforms: variance 4/12; scale to sigma.
  const k = sigma / Math.sqrt(4 / 12);
  return mapPixels(data, (v) => v + (r() + r() + r() + r() - 2) * k);
}

function frame(data: Uint8Array, width = W, height = H): { data: Uint8Array; width: number; height: number } {
  return { data, width, height };
}

function contains(outer: Box, inner: Box, tolerance = 0): boolean {
  return (
    outer.x <= inner.x + tolerance &&
    outer.y <= inner.y + tolerance &&
    outer.x + outer.width >= inner.x + inner.width - tolerance &&
    outer.y + outer.height >= inner.y + inner.height - tolerance
  );
}

function intersects(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

describe('motion gate', () => {
  it('the first frame seeds the background and asks for one look at the whole frame; still frames then show no motion', () => {
    const gate = createMotionGate();
    const base = scene();
    const first = gate.update(frame(base));
    expect(first).toEqual({
      moving: true,
      regions: [{ x: 0, y: 0, width: W, height: H }],
      changedFraction: 0,
      reset: true,
    });
    for (let i = 0; i < 20; i++) {
      expect(gate.update(frame(base))).toEqual({
        moving: false,
        regions: [],
        changedFraction: 0,
        reset: false,
      });
    }
  });

  it('a moving rectangle gives a region covering it, and nothing elsewhere', () => {
    const gate = createMotionGate();
    const base = scene();
    gate.update(frame(base));
    for (let k = 0; k < 8; k++) {
      const rect = { x: 40 + k * 60, y: 150, width: 90, height: 60 };
      const f = base.slice();
      paintVehicle(f, W, rect);
      const r = gate.update(frame(f));
      if (k === 0) continue;
      expect(r.moving).toBe(true);
      expect(r.reset).toBe(false);
      // One grid cell (4 px here) of tolerance: the grid quantises the edges.
      expect(
        r.regions.some((g) => contains(g, rect, 4)),
        JSON.stringify({ k, rect, regions: r.regions }),
      ).toBe(true);
      // Every region touches where the rectangle is or was (the vacated area differs too).
      const prev = { x: rect.x - 60, y: rect.y, width: rect.width + 60, height: rect.height };
      for (const g of r.regions)
        expect(intersects(g, prev), JSON.stringify({ k, g, regions: r.regions })).toBe(true);
      expect(r.changedFraction).toBeGreaterThan(0);
      expect(r.changedFraction).toBeLessThan(0.2);
    }
  });

  it('a small object (24 px) moving is found', () => {
    const gate = createMotionGate();
    const base = scene();
    gate.update(frame(base));
    let found = 0;
    for (let k = 0; k < 6; k++) {
      const rect = { x: 300 + k * 20, y: 60, width: 24, height: 24 };
      const f = base.slice();
      paintRect(f, W, rect, [250, 250, 250]);
      const r = gate.update(frame(f));
      if (k > 0 && r.regions.some((g) => contains(g, rect, 4))) found++;
    }
    expect(found).toBe(5);
  });

  it('motion inside a mask is ignored; motion outside it is still found', () => {
    // Left third masked (a swaying tree), and a thin strip at the top (the timestamp overlay).
    const masks: NormPolygon[] = [
      {
        points: [
          { x: 0, y: 0 },
          { x: 0.33, y: 0 },
          { x: 0.33, y: 1 },
          { x: 0, y: 1 },
        ],
      },
      {
        points: [
          { x: 0.4, y: 0 },
          { x: 0.9, y: 0 },
          { x: 0.9, y: 0.04 },
          { x: 0.4, y: 0.04 },
        ],
      },
    ];
    const gate = createMotionGate({ masks });
    const unmasked = createMotionGate();
    const base = scene();
    gate.update(frame(base));
    unmasked.update(frame(base));
    for (let k = 0; k < 6; k++) {
      const f = base.slice();
      // The "tree": flickers in place inside the masked third.
      paintRect(
        f,
        W,
        { x: 30, y: 100, width: 120, height: 150 },
        k % 2 === 0 ? [20, 120, 20] : [200, 240, 200],
      );
      // The "clock": digits change in the top strip.
      paintRect(f, W, { x: 280 + (k % 3) * 30, y: 2, width: 20, height: 10 }, [255, 255, 255]);
      const r = gate.update(frame(f));
      expect(r.moving, JSON.stringify(r)).toBe(false);
      // Without the masks the same frames are motion (the test can fail).
      expect(unmasked.update(frame(f)).moving).toBe(true);
    }
    // A vehicle outside the mask: found, and its region does not reach into the masked third.
    const f = base.slice();
    paintVehicle(f, W, { x: 400, y: 200, width: 100, height: 60 });
    const r = gate.update(frame(f));
    expect(r.moving).toBe(true);
    for (const g of r.regions) expect(g.x).toBeGreaterThan(0.33 * W - 20);
  });

  it.each([
    ['darker ×0.5 (a cloud)', (v: number) => v * 0.5],
    ['brighter ×1.3 (auto-exposure)', (v: number) => Math.min(v, 190) * 1.3],
    ['+40 levels', (v: number) => v + 40],
  ])('a global brightness jump (%s) is not motion, then or later', (_name, change) => {
    const gate = createMotionGate();
    // Highlights capped so that no channel clips after the change: a pure exposure change.
    const base = mapPixels(scene(), (v) => Math.min(v, 190));
    gate.update(frame(base));
    gate.update(frame(base));
    const lit = mapPixels(base, change);
    for (let i = 0; i < 10; i++) expect(gate.update(frame(lit)).moving, `frame ${i}`).toBe(false);
    // And motion is still seen afterwards.
    const f = lit.slice();
    paintVehicle(f, W, { x: 200, y: 100, width: 80, height: 80 });
    expect(gate.update(frame(f)).moving).toBe(true);
  });

  it('an exposure jump that clips highlights (×1.5) leaves only small, short-lived regions', () => {
    const gate = createMotionGate();
    const base = scene();
    gate.update(frame(base));
    gate.update(frame(base));
    const lit = mapPixels(base, (v) => v * 1.5);
    const results: MotionResult[] = [];
    for (let i = 0; i < 12; i++) results.push(gate.update(frame(lit)));
    // Never "motion everywhere"; still again within a few frames (at 2 fps: seconds) and after.
    for (const r of results) expect(r.changedFraction).toBeLessThan(0.02);
    expect(
      results.slice(8).every((r) => !r.moving),
      JSON.stringify(results.map((r) => r.moving)),
    ).toBe(true);
  });

  it('a gradual exposure ramp is never motion everywhere, and is still soon after it ends', () => {
    const gate = createMotionGate();
    const base = scene();
    gate.update(frame(base));
    let last = base;
    for (let i = 1; i <= 10; i++) {
      last = mapPixels(base, (v) => v * (1 + 0.08 * i));
      expect(gate.update(frame(last)).changedFraction, `step ${i}`).toBeLessThan(0.02);
    }
    const after = Array.from({ length: 12 }, () => gate.update(frame(last)).moving);
    expect(
      after.slice(8).every((m) => !m),
      JSON.stringify(after),
    ).toBe(true);
  });

  it('lights switching on unevenly (no single gain explains it) re-seeds once instead of motion everywhere', () => {
    const gate = createMotionGate();
    const dark = mapPixels(scene(), (v) => v * 0.15);
    gate.update(frame(dark));
    gate.update(frame(dark));
    // A lamp at the left: gain falls off across the frame, brightest on the left.
    const lit = mapPixels(scene(), (v, i) => {
      const x = Math.floor(i / 3) % W;
      return v * (1.4 - x / W) + 30;
    });
    const results: MotionResult[] = [];
    for (let i = 0; i < 12; i++) results.push(gate.update(frame(lit)));
    const moving = results.map((r) => r.moving);
    // Transient: within a few frames (at 2 fps ≈ 2 s) the picture is still again, and stays so.
    expect(
      moving.slice(4).every((m) => !m),
      JSON.stringify(moving),
    ).toBe(true);
    expect(results.some((r) => r.reset)).toBe(true);
  });

  it.each([
    [8, 2],
    [15, 3],
    [30, 4],
  ])('a static scene with sensor noise σ=%i shows no motion', (sigma, seed) => {
    const gate = createMotionGate();
    const base = scene(W, H, seed);
    gate.update(frame(noisy(base, sigma, 1000)));
    for (let i = 0; i < 30; i++) {
      const r = gate.update(frame(noisy(base, sigma, 2000 + i)));
      expect(r.moving, `frame ${i} σ=${sigma}: ${JSON.stringify(r.regions)}`).toBe(false);
    }
  });

  it('a moving object in a noisy scene (σ=20) is still found', () => {
    const gate = createMotionGate();
    const base = scene(W, H, 9);
    gate.update(frame(noisy(base, 20, 1)));
    for (let k = 0; k < 6; k++) {
      const rect = { x: 100 + k * 50, y: 120, width: 80, height: 80 };
      const f = base.slice();
      paintVehicle(f, W, rect);
      const r = gate.update(frame(noisy(f, 20, 100 + k)));
      if (k === 0) continue;
      expect(
        r.regions.some((g) => contains(g, rect, 4)),
        JSON.stringify(r.regions),
      ).toBe(true);
    }
  });

  it('a parked object fades into the background', () => {
    const gate = createMotionGate();
    const base = scene();
    gate.update(frame(base));
    const parked = base.slice();
    paintRect(parked, W, { x: 200, y: 100, width: 120, height: 80 }, [10, 200, 240]);
    let stillFrom = -1;
    for (let i = 0; i < 120; i++) {
      const r = gate.update(frame(parked));
      if (!r.moving && stillFrom < 0) stillFrom = i;
      if (r.moving) stillFrom = -1;
    }
    // At 2 fps: parked for under a minute of frames, then still.
    expect(stillFrom).toBeGreaterThan(0);
    expect(stillFrom).toBeLessThan(100);
  });

  it('a new frame size re-seeds; reset() forgets the background', () => {
    const gate = createMotionGate();
    gate.update(frame(scene()));
    expect(gate.update(frame(scene())).reset).toBe(false);
    const small = scene(320, 180);
    expect(gate.update(frame(small, 320, 180)).reset).toBe(true);
    expect(gate.update(frame(small, 320, 180)).reset).toBe(false);
    gate.reset();
    expect(gate.update(frame(small, 320, 180)).reset).toBe(true);
  });

  it.each([
    ['short data', { data: new Uint8Array(10), width: W, height: H }],
    ['zero size', { data: new Uint8Array(0), width: 0, height: 0 }],
    ['fractional size', { data: new Uint8Array(30), width: 2.5, height: 4 }],
  ])('a malformed frame (%s) is EDGE_ERR_MOTION_INPUT', (_name, bad) => {
    const gate = createMotionGate();
    expect(() => gate.update(bad)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MOTION_INPUT' }));
  });

  it.each([
    ['gridWidth 0', { gridWidth: 0 }],
    ['threshold NaN', { threshold: Number.NaN }],
    ['learningRate 2', { learningRate: 2 }],
    [
      'mask of two points',
      {
        masks: [
          {
            points: [
              { x: 0, y: 0 },
              { x: 1, y: 1 },
            ],
          },
        ],
      },
    ],
    [
      'mask with NaN',
      {
        masks: [
          {
            points: [
              { x: 0, y: 0 },
              { x: 1, y: Number.NaN },
              { x: 1, y: 0 },
            ],
          },
        ],
      },
    ],
  ])('invalid options (%s) are EDGE_ERR_MOTION_OPTIONS', (_name, opts) => {
    let err: unknown;
    try {
      createMotionGate(opts);
    } catch (e) {
      err = e;
    }
    expect(isEdgeError(err, 'EDGE_ERR_MOTION_OPTIONS')).toBe(true);
  });
});

describe('grey downscale', () => {
  it('averages each cell (luma of a uniform colour, and a half/half split)', () => {
    const plan = planDownscale(64, 32, 8);
    expect([plan.outWidth, plan.outHeight, plan.step]).toEqual([8, 4, 3]);
    const data = new Uint8Array(64 * 32 * 3);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 64; x++) {
        const v = x < 32 ? 200 : 0;
        data.set([v, v, v], (y * 64 + x) * 3);
      }
    }
    const out = new Float32Array(32);
    downscaleGrey(plan, data, out);
    expect(out[0]).toBeCloseTo(200, 3);
    expect(out[3]).toBeCloseTo(200, 3);
    expect(out[4]).toBeCloseTo(0, 3);
    expect(out[31]).toBeCloseTo(0, 3);
  });

  it.each([
    [1280, 720, 160, 160, 90],
    [1920, 1080, 160, 160, 90],
    [704, 576, 160, 160, 131],
    [100, 50, 160, 100, 50],
  ])('%ix%i at grid width %i → %ix%i', (w, h, grid, ow, oh) => {
    const plan = planDownscale(w, h, grid);
    expect([plan.outWidth, plan.outHeight]).toEqual([ow, oh]);
  });
});

describe('rasteriseMasks', () => {
  const rect = (x0: number, y0: number, x1: number, y1: number): NormPolygon => ({
    points: [
      { x: x0, y: y0 },
      { x: x1, y: y0 },
      { x: x1, y: y1 },
      { x: x0, y: y1 },
    ],
  });
  it.each<[string, NormPolygon[], number, number[]]>([
    ['none', [], 0, []],
    ['left half', [rect(0, 0, 0.5, 1)], 8, [0, 1, 4, 5, 8, 9, 12, 13]],
    ['a thin strip at the top still masks its row', [rect(0, 0, 1, 0.05)], 4, [0, 1, 2, 3]],
    [
      'triangle, top-left corner',
      [
        {
          points: [
            { x: 0, y: 0 },
            { x: 0.5, y: 0 },
            { x: 0, y: 0.5 },
          ],
        },
      ],
      3,
      [0, 1, 4],
    ],
    ['outside the frame', [rect(1.2, 1.2, 2, 2)], 0, []],
  ])('%s on a 4×4 grid', (_name, masks, count, cells) => {
    const m = rasteriseMasks(masks, 4, 4);
    expect(m.reduce((s, v) => s + v, 0)).toBe(count);
    for (const c of cells) expect(m[c]).toBe(1);
  });
});

describe('mergeBoxes', () => {
  const b = (x: number, y: number, width: number, height: number): Box => ({ x, y, width, height });
  it.each([
    ['disjoint stay apart', [b(0, 0, 10, 10), b(50, 50, 10, 10)], 8, [b(0, 0, 10, 10), b(50, 50, 10, 10)]],
    ['overlapping merge', [b(0, 0, 10, 10), b(5, 5, 10, 10)], 0, [b(0, 0, 15, 15)]],
    ['within the gap merge', [b(0, 0, 10, 10), b(15, 0, 10, 10)], 8, [b(0, 0, 25, 10)]],
    [
      'a chain merges transitively',
      [b(0, 0, 10, 10), b(40, 0, 10, 10), b(20, 0, 10, 10)],
      12,
      [b(0, 0, 50, 10)],
    ],
    ['empty', [], 8, []],
  ])('%s', (_name, input, gap, expected) => {
    expect(mergeBoxes(input, gap)).toEqual(expected);
  });
});

describe('motion gate speed', () => {
  it('costs a few ms per 720p frame at most (typically ~1–2 ms)', () => {
    const w = 1280;
    const h = 720;
    const base = scene(w, h, 5);
    const frames = Array.from({ length: 8 }, (_, k) => {
      const f = noisy(base, 4, k);
      paintVehicle(f, w, { x: 100 + k * 80, y: 300, width: 200, height: 120 });
      return f;
    });
    const gate = createMotionGate();
    for (let i = 0; i < 40; i++) gate.update(frame(frames[i % 8] ?? base, w, h));
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      gate.update(frame(frames[i % 8] ?? base, w, h));
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] ?? Number.POSITIVE_INFINITY;
    console.log(`motion gate: median ${median.toFixed(2)} ms per 720p frame`);
    // Generous bound so a loaded CI machine does not fail; the design target is ~1–2 ms.
    expect(median).toBeLessThan(8);
  });
});
