/**
 * ffmpeg filtergraphs that draw the scene: background (theme + sign), vehicle and person sprites,
 * on-screen display, and the final composition. Pure string builders; generate.ts runs them.
 */
import { FONT_PATH } from './assets.ts';
import { filterSafePath } from './ffmpeg.ts';
import type {
  OsdPlan,
  PersonGeometry,
  ScenePlan,
  SignPlan,
  SpriteKeyframe,
  SpritePlan,
  VehicleGeometry,
} from './plan.ts';
import { plateFilter } from './plates.ts';
import type { Rng } from './rng.ts';
import type { ResolvedVehicle, SceneTheme } from './spec.ts';

/** A filled rectangle in some canvas's pixels. */
interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
  colour: string;
}

function drawbox(r: Rect, replace = false): string | undefined {
  const x = Math.round(r.x);
  const y = Math.round(r.y);
  const w = Math.round(r.x + r.w) - x;
  const h = Math.round(r.y + r.h) - y;
  if (w <= 0 || h <= 0) return undefined;
  return `drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=${r.colour}:t=fill${replace ? ':replace=1' : ''}`;
}

function boxes(rects: readonly Rect[], replace = false): string[] {
  return rects.map((r) => drawbox(r, replace)).filter((s): s is string => s !== undefined);
}

/** `0xRRGGBB` scaled towards black (f < 1) or white (f > 1). */
export function shade(colour: string, f: number): string {
  const v = Number.parseInt(colour.slice(2), 16);
  const ch = (c: number): number => {
    const out = f <= 1 ? c * f : c + (255 - c) * (f - 1);
    return Math.max(0, Math.min(255, Math.round(out)));
  };
  const r = ch((v >> 16) & 0xff);
  const g = ch((v >> 8) & 0xff);
  const b = ch(v & 0xff);
  return `0x${((r << 16) | (g << 8) | b).toString(16).padStart(6, '0')}`;
}

/** Horizontal strips approximating a trapezoid (rounded roofs, windscreens, shoulders). */
function trapezoid(
  top: { x0: number; x1: number },
  bottom: { x0: number; x1: number },
  y0: number,
  y1: number,
  colour: string,
  steps = 8,
): Rect[] {
  const out: Rect[] = [];
  for (let i = 0; i < steps; i++) {
    const f = (i + 0.5) / steps;
    const x0 = top.x0 + (bottom.x0 - top.x0) * f;
    const x1 = top.x1 + (bottom.x1 - top.x1) * f;
    const ya = y0 + ((y1 - y0) * i) / steps;
    const yb = y0 + ((y1 - y0) * (i + 1)) / steps;
    out.push({ x: x0, y: ya, w: x1 - x0, h: yb - ya, colour });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Background

const FONT = (): string => filterSafePath(FONT_PATH);

/** drawtext for the sign, centred on its board. `textFile` holds the text (no escaping issues). */
export function signDrawtext(sign: SignPlan, textFile: string, colour = sign.text_color): string {
  const b = sign.board;
  return (
    `drawtext=fontfile=${FONT()}:textfile=${filterSafePath(textFile)}:fontsize=${sign.font_px}:` +
    `fontcolor=${colour}:x=${b.x}+(${b.w}-text_w)/2:y=${b.y}+(${b.h}-text_h)/2`
  );
}

/** Rectangles of a building facade with a grid of windows. */
function building(
  x: number,
  y: number,
  w: number,
  h: number,
  wall: string,
  window: string,
  cell: { w: number; h: number },
  rng: Rng,
): Rect[] {
  const out: Rect[] = [{ x, y, w, h, colour: wall }];
  const cols = Math.max(1, Math.floor(w / cell.w));
  const rows = Math.max(1, Math.floor(h / cell.h));
  const mx = (w - cols * cell.w) / 2;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // Some windows lit / curtained, so facades are not a perfect grid.
      const lit = rng.next() < 0.15;
      out.push({
        x: x + mx + c * cell.w + cell.w * 0.2,
        y: y + r * cell.h + cell.h * 0.22,
        w: cell.w * 0.6,
        h: cell.h * 0.55,
        colour: lit ? shade(window, 1.6) : window,
      });
    }
  }
  return out;
}

function tree(cx: number, baseY: number, size: number, rng: Rng): Rect[] {
  const green = rng.pick(['0x3f6b35', '0x4a7a3a', '0x35602f']);
  const out: Rect[] = [
    { x: cx - size * 0.06, y: baseY - size * 0.45, w: size * 0.12, h: size * 0.45, colour: '0x5b4632' },
  ];
  out.push(
    ...trapezoid(
      { x0: cx - size * 0.2, x1: cx + size * 0.2 },
      { x0: cx - size * 0.45, x1: cx + size * 0.45 },
      baseY - size * 1.2,
      baseY - size * 0.75,
      green,
      6,
    ),
  );
  out.push(
    ...trapezoid(
      { x0: cx - size * 0.45, x1: cx + size * 0.45 },
      { x0: cx - size * 0.25, x1: cx + size * 0.25 },
      baseY - size * 0.75,
      baseY - size * 0.4,
      shade(green, 0.85),
      6,
    ),
  );
  return out;
}

/** Rectangles of the background in reference px (1280×720): sky is drawn separately. */
function themeRects(theme: SceneTheme, rng: Rng): Rect[] {
  const horizon = 300;
  const out: Rect[] = [];
  // Ground layers shared by all themes: far pavement, road with markings, near pavement.
  const farWalk: Rect = { x: 0, y: horizon, w: 1280, h: 36, colour: '0xa8a59c' };
  const road: Rect = { x: 0, y: horizon + 36, w: 1280, h: 274, colour: '0x55585c' };
  const nearWalk: Rect = { x: 0, y: 610, w: 1280, h: 110, colour: '0xb0aa9f' };
  const scenery: Rect[] = [];
  if (theme === 'village') {
    scenery.push(...trapezoid({ x0: 0, x1: 560 }, { x0: -200, x1: 760 }, 200, horizon, '0x7d9a72', 6));
    scenery.push(...trapezoid({ x0: 700, x1: 1100 }, { x0: 500, x1: 1380 }, 215, horizon, '0x86a37a', 6));
    let x = 20;
    while (x < 1260) {
      const w = rng.int(150, 230);
      const h = rng.int(60, 90);
      const wall = rng.pick(['0xe8e4da', '0xdcd6c8', '0xd2cab8']);
      scenery.push({ x, y: horizon - h, w, h, colour: wall });
      scenery.push(
        ...trapezoid(
          { x0: x + 12, x1: x + w - 12 },
          { x0: x - 8, x1: x + w + 8 },
          horizon - h - 30,
          horizon - h,
          '0x4a4d52',
          5,
        ),
      );
      scenery.push({ x: x + w * 0.42, y: horizon - h * 0.62, w: w * 0.16, h: h * 0.62, colour: '0x6b4a2f' });
      scenery.push({ x: x + w * 0.12, y: horizon - h * 0.75, w: w * 0.18, h: h * 0.3, colour: '0x4d6173' });
      scenery.push({ x: x + w * 0.7, y: horizon - h * 0.75, w: w * 0.18, h: h * 0.3, colour: '0x4d6173' });
      x += w + rng.int(40, 110);
    }
    for (let i = 0; i < 5; i++) scenery.push(...tree(rng.int(40, 1240), horizon + 8, rng.int(70, 110), rng));
  } else if (theme === 'checkpoint') {
    scenery.push(...building(60, 150, 260, 150, '0xc9c3b6', '0x52606e', { w: 40, h: 38 }, rng));
    scenery.push(...building(980, 120, 240, 180, '0xb9b6ae', '0x4b5968', { w: 40, h: 36 }, rng));
    // Inspection canopy: a deck on pillars spanning the road.
    scenery.push({ x: 330, y: 40, w: 640, h: 46, colour: '0xdedede' });
    scenery.push({ x: 330, y: 86, w: 640, h: 10, colour: '0x1f4fa0' });
    scenery.push({ x: 360, y: 96, w: 26, h: 240, colour: '0xa9a9a9' });
    scenery.push({ x: 914, y: 96, w: 26, h: 240, colour: '0xa9a9a9' });
    // Guard booth with window, and a raised red/white barrier arm beside it.
    scenery.push({ x: 1000, y: 230, w: 110, h: 100, colour: '0xe3e0d8' });
    scenery.push({ x: 1015, y: 250, w: 80, h: 40, colour: '0x3d5166' });
    scenery.push({ x: 990, y: 222, w: 130, h: 10, colour: '0x1f4fa0' });
    scenery.push({ x: 1140, y: 300, w: 24, h: 36, colour: '0x808080' });
    for (let i = 0; i < 8; i++)
      scenery.push({ x: 1146, y: 140 + i * 20, w: 12, h: 20, colour: i % 2 === 0 ? '0xd42a2a' : '0xf2f2f2' });
    for (let i = 0; i < 3; i++) scenery.push(...tree(rng.int(20, 300), horizon + 6, rng.int(60, 90), rng));
  } else {
    let x = -20;
    while (x < 1280) {
      const w = rng.int(170, 280);
      const h = rng.int(150, 270);
      const wall = rng.pick(['0xbfb7a8', '0xa9b0b8', '0xcfc8bb', '0x9c9a94', '0xd8d2c4']);
      scenery.push(
        ...building(
          x,
          horizon - h,
          w,
          h - 52,
          wall,
          rng.pick(['0x44536a', '0x3e4a57', '0x56677a']),
          { w: rng.int(34, 46), h: rng.int(30, 40) },
          rng,
        ),
      );
      // Shop front at street level with an awning.
      scenery.push({ x, y: horizon - 52, w, h: 52, colour: shade(wall, 0.8) });
      scenery.push({ x: x + 10, y: horizon - 44, w: w - 20, h: 44, colour: '0x2f3b45' });
      scenery.push({
        x: x + 4,
        y: horizon - 56,
        w: w - 8,
        h: 8,
        colour: rng.pick(['0x2e7d32', '0xc62828', '0x1565c0', '0xf9a825']),
      });
      x += w + rng.int(0, 12);
    }
    for (let i = 0; i < 4; i++) scenery.push({ x: 120 + i * 320, y: 120, w: 8, h: 216, colour: '0x6f6f6f' });
  }
  out.push(...scenery, farWalk, { x: 0, y: horizon + 32, w: 1280, h: 6, colour: '0x7f7d77' }, road, nearWalk);
  out.push({ x: 0, y: 606, w: 1280, h: 8, colour: '0x8b877f' });
  // Road edge lines and the dashed centre line.
  out.push({ x: 0, y: horizon + 44, w: 1280, h: 4, colour: '0xe6e6e6' });
  out.push({ x: 0, y: 598, w: 1280, h: 5, colour: '0xe6e6e6' });
  for (let x = 10; x < 1280; x += 120) out.push({ x, y: 470, w: 70, h: 5, colour: '0xe8e8e8' });
  if (theme === 'checkpoint') {
    // Stop line and hatched waiting box.
    out.push({ x: 620, y: 480, w: 8, h: 118, colour: '0xf0f0f0' });
    for (let i = 0; i < 6; i++) out.push({ x: 660 + i * 40, y: 540, w: 18, h: 6, colour: '0xd8c23a' });
  }
  for (let x = 0; x < 1280; x += 96) out.push({ x, y: 614, w: 2, h: 106, colour: '0x9c968b' });
  for (let y = 650; y < 720; y += 40) out.push({ x: 0, y, w: 1280, h: 2, colour: '0x9c968b' });
  return out;
}

/**
 * The background still (sky, scenery, road, sign) as one ffmpeg `-filter_complex` chain from
 * source filters, `s` = scale from reference px. `signTextFile` holds the sign text.
 */
export function backgroundFilter(plan: ScenePlan, signTextFile: string, rng: Rng): string {
  const { width: W, height: H } = plan.spec;
  const s = plan.scale;
  const horizon = Math.round(300 * s);
  const chain: string[] = [`color=c=black:s=${W}x${H}:d=1,format=rgb24`];
  // Sky: vertical gradient, hazy towards the horizon.
  const lerp = (a: number, b: number): string => `${a}+(${b - a})*min(Y/${horizon}\\,1)`;
  chain.push(`geq=r='${lerp(110, 214)}':g='${lerp(160, 226)}':b='${lerp(214, 236)}'`, 'format=yuv444p');
  const scaled = themeRects(plan.spec.theme, rng).map((r) => ({
    ...r,
    x: r.x * s,
    y: r.y * s,
    w: r.w * s,
    h: r.h * s,
  }));
  chain.push(...boxes(scaled));
  // Sign board with a light rim, then its text.
  const b = plan.sign.board;
  const rim = Math.max(2, Math.round(b.h * 0.06));
  chain.push(
    ...boxes([
      { x: b.x - rim, y: b.y - rim, w: b.w + 2 * rim, h: b.h + 2 * rim, colour: '0xe0e0e0' },
      { x: b.x, y: b.y, w: b.w, h: b.h, colour: plan.sign.board_color },
    ]),
  );
  chain.push(signDrawtext(plan.sign, signTextFile));
  // Static sensor-like grain, so large areas are not flat colour (seeded: deterministic).
  chain.push(`noise=alls=5:allf=0:all_seed=${plan.spec.seed % 1000003}`, 'format=rgb24');
  return chain.join(',');
}

// ---------------------------------------------------------------------------------------------
// Sprites

function carRects(g: VehicleGeometry, body: string): { opaque: Rect[]; cut: Rect[] } {
  const W = g.width;
  const H = g.height;
  const X = (f: number): number => f * W;
  const Y = (f: number): number => f * H;
  const dark = shade(body, 0.72);
  const glass = '0x26313c';
  const tyre = '0x151515';
  const o: Rect[] = [];
  if (g.style === 'car') {
    o.push({ x: X(0.07), y: Y(0.8), w: X(0.16), h: Y(0.2), colour: tyre });
    o.push({ x: X(0.77), y: Y(0.8), w: X(0.16), h: Y(0.2), colour: tyre });
    o.push(
      ...trapezoid({ x0: X(0.2), x1: X(0.8) }, { x0: X(0.09), x1: X(0.91) }, Y(0.02), Y(0.42), body, 10),
    );
    o.push({ x: X(0.02), y: Y(0.4), w: X(0.96), h: Y(0.05), colour: body });
    o.push({ x: 0, y: Y(0.44), w: W, h: Y(0.42), colour: body });
    o.push({ x: X(0.015), y: Y(0.86), w: X(0.97), h: Y(0.04), colour: dark });
    o.push(
      ...trapezoid(
        { x0: X(0.245), x1: X(0.755) },
        { x0: X(0.145), x1: X(0.855) },
        Y(0.07),
        Y(0.38),
        glass,
        10,
      ),
    );
    o.push(
      ...trapezoid({ x0: X(0.3), x1: X(0.42) }, { x0: X(0.24), x1: X(0.34) }, Y(0.1), Y(0.2), '0x4d5d6c', 4),
    );
    o.push({ x: X(0.02), y: Y(0.33), w: X(0.07), h: Y(0.07), colour: dark });
    o.push({ x: X(0.91), y: Y(0.33), w: X(0.07), h: Y(0.07), colour: dark });
    o.push({ x: X(0.05), y: Y(0.47), w: X(0.2), h: Y(0.09), colour: '0xdfe6ea' });
    o.push({ x: X(0.75), y: Y(0.47), w: X(0.2), h: Y(0.09), colour: '0xdfe6ea' });
    o.push({ x: X(0.08), y: Y(0.49), w: X(0.07), h: Y(0.05), colour: '0xfff1b0' });
    o.push({ x: X(0.85), y: Y(0.49), w: X(0.07), h: Y(0.05), colour: '0xfff1b0' });
    o.push({ x: X(0.33), y: Y(0.47), w: X(0.34), h: Y(0.11), colour: '0x1c1c1c' });
    for (let i = 1; i < 4; i++)
      o.push({
        x: X(0.34),
        y: Y(0.47 + i * 0.0275),
        w: X(0.32),
        h: Math.max(1, Y(0.006)),
        colour: '0x3c3c3c',
      });
    o.push({ x: X(0.48), y: Y(0.5), w: X(0.04), h: Y(0.04), colour: '0xc8c8c8' });
    o.push({ x: X(0.2), y: Y(0.77), w: X(0.6), h: Y(0.07), colour: '0x2a2a2a' });
  } else {
    o.push({ x: X(0.06), y: Y(0.86), w: X(0.16), h: Y(0.14), colour: tyre });
    o.push({ x: X(0.78), y: Y(0.86), w: X(0.16), h: Y(0.14), colour: tyre });
    o.push({ x: X(0.03), y: Y(0.0), w: X(0.94), h: Y(0.03), colour: body });
    o.push({ x: X(0.01), y: Y(0.03), w: X(0.98), h: Y(0.89), colour: body });
    o.push({ x: X(0.06), y: Y(0.05), w: X(0.88), h: Y(0.04), colour: dark });
    o.push({ x: X(0.07), y: Y(0.11), w: X(0.86), h: Y(0.34), colour: glass });
    o.push({ x: X(0.495), y: Y(0.11), w: X(0.01), h: Y(0.34), colour: dark });
    o.push({ x: X(0.12), y: Y(0.14), w: X(0.12), h: Y(0.1), colour: '0x4d5d6c' });
    o.push({ x: X(0.25), y: Y(0.53), w: X(0.5), h: Y(0.2), colour: '0x1c1c1c' });
    for (let i = 1; i < 5; i++)
      o.push({ x: X(0.26), y: Y(0.53 + i * 0.04), w: X(0.48), h: Math.max(1, Y(0.008)), colour: '0x444444' });
    o.push({ x: X(0.05), y: Y(0.6), w: X(0.15), h: Y(0.08), colour: '0xdfe6ea' });
    o.push({ x: X(0.8), y: Y(0.6), w: X(0.15), h: Y(0.08), colour: '0xdfe6ea' });
    o.push({ x: X(0.01), y: Y(0.76), w: X(0.98), h: Y(0.16), colour: '0x3a3a3a' });
  }
  // Round the top corners of the body by cutting them back to transparent.
  const c = Math.max(1, Math.round(W * 0.012));
  const cut: Rect[] =
    g.style === 'car'
      ? [
          { x: 0, y: Y(0.44), w: c, h: c, colour: '0x000000@0' },
          { x: W - c, y: Y(0.44), w: c, h: c, colour: '0x000000@0' },
        ]
      : [
          { x: X(0.01), y: Y(0.03), w: c, h: c, colour: '0x000000@0' },
          { x: X(0.99) - c, y: Y(0.03), w: c, h: c, colour: '0x000000@0' },
        ];
  return { opaque: o, cut };
}

/** Filtergraph drawing a vehicle with its plate, output pad `[out]` (RGBA, transparent around). */
export function vehicleSpriteGraph(vehicle: ResolvedVehicle, g: VehicleGeometry): string {
  const { opaque, cut } = carRects(g, vehicle.body_color);
  const canvas = [
    `color=c=black@0:s=${g.width}x${g.height}:d=1`,
    'format=yuva444p',
    ...boxes(opaque, true),
    ...boxes(cut, true),
  ].join(',');
  return (
    `${canvas}[car];${plateFilter(vehicle.plate_text, vehicle.plate_type, g.plate.w)}[plate];` +
    `[car][plate]overlay=x=${g.plate.x}:y=${g.plate.y}:format=yuv444,format=rgba[out]`
  );
}

/**
 * Filtergraph drawing a person (face photo cut-out on a torso) from input 0 (the photo), output
 * pad `[out]` (RGBA).
 */
export function personSpriteGraph(sprite: Extract<SpritePlan, { kind: 'person' }>): string {
  const g: PersonGeometry = sprite.geometry;
  const c = sprite.source.crop;
  const F = g.base_face_px;
  const jacket = sprite.person.jacket_color;
  const W = g.width;
  const headBottom = g.head.h;
  const torsoTop = headBottom - 0.3 * F;
  const torso: Rect[] = [
    { x: W / 2 - 0.32 * F, y: headBottom - 0.6 * F, w: 0.64 * F, h: 0.5 * F, colour: '0xb98a6c' },
    ...trapezoid(
      { x0: W / 2 - 0.65 * F, x1: W / 2 + 0.65 * F },
      { x0: 0, x1: W },
      torsoTop,
      torsoTop + 0.5 * F,
      jacket,
      6,
    ),
    { x: 0, y: torsoTop + 0.5 * F, w: W, h: g.height - torsoTop, colour: jacket },
    { x: W / 2 - 0.04 * F, y: torsoTop + 0.2 * F, w: 0.08 * F, h: g.height, colour: shade(jacket, 0.6) },
  ];
  // Soft-edged ellipse inscribed in the crop: the face box lies well inside it (opaque there).
  const alpha = "a='255*clip((1-sqrt(pow((2*X+1)/W-1\\,2)+pow((2*Y+1)/H-1\\,2)))*12\\,0\\,1)'";
  const head =
    `[0:v]crop=${c.w}:${c.h}:${c.x}:${c.y},scale=${g.head.w}:${g.head.h}:flags=lanczos,format=rgba,` +
    `geq=r='r(X\\,Y)':g='g(X\\,Y)':b='b(X\\,Y)':${alpha}[head]`;
  const body = [`color=c=black@0:s=${W}x${g.height}:d=1`, 'format=yuva444p', ...boxes(torso, true)].join(',');
  return `${head};${body}[torso];[torso][head]overlay=x=${g.head.x}:y=${g.head.y}:format=yuv444,format=rgba[out]`;
}

// ---------------------------------------------------------------------------------------------
// Composition

function num(v: number): string {
  const r = Math.round(v * 1e6) / 1e6;
  return Object.is(r, -0) ? '0' : String(r);
}

/** ffmpeg expression of `t` that is piecewise linear through (t_s, value) points, held outside. */
export function piecewiseLinearExpr(points: readonly { t_s: number; v: number }[]): string {
  const first = points[0];
  if (first === undefined) return '0';
  if (points.length === 1) return num(first.v);
  let expr = num(points[points.length - 1]?.v ?? first.v);
  for (let i = points.length - 2; i >= 0; i--) {
    const a = points[i];
    const b = points[i + 1];
    if (a === undefined || b === undefined) continue;
    const slope = (b.v - a.v) / (b.t_s - a.t_s);
    expr = `if(lt(t\\,${num(b.t_s)})\\,${num(a.v)}+(t-${num(a.t_s)})*${num(slope)}\\,${expr})`;
  }
  return expr;
}

/** drawtext options of the OSD parts (same string for drawing and for measuring). */
export function osdDrawtexts(osd: OsdPlan, files: { timestamp?: string; label?: string }): string[] {
  const out: string[] = [];
  const style = 'fontcolor=white:borderw=2:bordercolor=black@0.85';
  if (osd.timestamp !== undefined && files.timestamp !== undefined) {
    const o = osd.timestamp;
    out.push(
      `drawtext=fontfile=${FONT()}:textfile=${filterSafePath(files.timestamp)}:fontsize=${o.font_px}:${style}:x=${o.x}:y=${o.y}`,
    );
  }
  if (osd.label !== undefined && files.label !== undefined) {
    const o = osd.label;
    out.push(
      `drawtext=fontfile=${FONT()}:textfile=${filterSafePath(files.label)}:fontsize=${o.font_px}:${style}:` +
        `x=${o.x}:y=h-${o.bottom_margin}-text_h`,
    );
  }
  return out;
}

/** drawtext `textfile` content for the running timestamp (expanded by drawtext per frame). */
export function timestampText(startEpochS: number): string {
  return `%{pts:gmtime:${startEpochS}:%Y-%m-%d %H\\:%M\\:%S}`;
}

/** Inputs of the composition: background first, then one per sprite in drawing order. */
export function compositionInputs(
  plan: ScenePlan,
  background: string,
  spriteFiles: readonly string[],
): string[] {
  const { fps } = plan.spec;
  const args = ['-framerate', String(fps), '-i', background];
  plan.sprites.forEach((sprite, i) => {
    const file = spriteFiles[i] ?? '';
    if (sprite.kind === 'person' && sprite.scaling) {
      args.push('-loop', '1', '-framerate', String(fps), '-t', num(plan.frame_count / fps), '-i', file);
    } else {
      args.push('-i', file);
    }
  });
  return args;
}

function overlayFor(
  sprite: SpritePlan,
  fps: number,
  inLabel: string,
  spriteLabel: string,
  outLabel: string,
): string {
  const kfs: readonly SpriteKeyframe[] = sprite.keyframes;
  const x = piecewiseLinearExpr(kfs.map((k) => ({ t_s: k.t_s, v: k.x })));
  const y = piecewiseLinearExpr(kfs.map((k) => ({ t_s: k.t_s, v: k.y })));
  // Frames are at t = n/fps; half a frame of slack makes `between` immune to float rounding.
  const a = num(sprite.appear_s - 0.5 / fps);
  const b = num(sprite.disappear_s + 0.5 / fps);
  // overlay truncates x/y to even numbers (yuv420 chroma); floor(v+1) makes that the even number
  // nearest to v, so pixels are within 1 px of the truth.
  return (
    `[${inLabel}][${spriteLabel}]overlay=x='floor(${x}+1)':y='floor(${y}+1)':eval=frame:` +
    `enable='between(t,${a},${b})'[${outLabel}]`
  );
}

/** The composition filtergraph (for `-filter_complex_script`), output pad `[out]`. */
export function compositionGraph(plan: ScenePlan, osdFiles: { timestamp?: string; label?: string }): string {
  const { fps } = plan.spec;
  const N = plan.frame_count;
  const lines: string[] = [
    // One decoded background, repeated N times with exact timestamps n/fps.
    `[0:v]loop=loop=${N - 1}:size=1:start=0,settb=expr=1/${fps},setpts=N,format=yuv420p[m0]`,
  ];
  plan.sprites.forEach((sprite, i) => {
    const input = i + 1;
    if (sprite.kind === 'person' && sprite.scaling) {
      const k = piecewiseLinearExpr(sprite.keyframes.map((kf) => ({ t_s: kf.t_s, v: kf.scale })));
      const g = sprite.geometry;
      lines.push(
        `[${input}:v]scale=w='max(2\\,floor(${g.width}*(${k})+0.5))':h='max(2\\,floor(${g.height}*(${k})+0.5))':` +
          // Nothing may follow the size-changing scale: a later filter keeps its first frame size.
          `eval=frame:flags=bilinear[s${i}]`,
      );
    } else {
      lines.push(`[${input}:v]format=rgba[s${i}]`);
    }
    lines.push(overlayFor(sprite, fps, `m${i}`, `s${i}`, `m${i + 1}`));
  });
  const last = `m${plan.sprites.length}`;
  const osd = osdDrawtexts(plan.osd, osdFiles);
  lines.push(`[${last}]${[...osd, 'format=yuv420p'].join(',')}[out]`);
  return lines.join(';\n');
}
