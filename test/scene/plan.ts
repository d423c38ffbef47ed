/**
 * Scene geometry, pure: where every sprite is at every keyframe, and the ground truth that follows
 * from it. The ffmpeg expressions are generated from the same keyframes, so truth and pixels agree.
 */
import type { Box, FaceSource } from './assets.ts';
import { FACE_SOURCES } from './assets.ts';
import { SceneError } from './errors.ts';
import { plateHeightPx } from './plates.ts';
import type { PlateType } from './plates.ts';
import { REFERENCE_WIDTH } from './spec.ts';
import type { ResolvedPerson, ResolvedSceneSpec, ResolvedVehicle, VehicleStyle } from './spec.ts';
import { interpolateBox } from './truth.ts';
import type { TruthKeyframe, TruthObject } from './truth.ts';

/** Top-left position and scale of a sprite at one instant (video px). */
export interface SpriteKeyframe {
  t_s: number;
  x: number;
  y: number;
  /** Multiplies the sprite's base size; 1 for vehicles. */
  scale: number;
}

/** Size and plate placement of a vehicle sprite. */
export interface VehicleGeometry {
  style: VehicleStyle;
  width: number;
  height: number;
  plate: Box;
}

/** Size and face placement of a person sprite at base scale. */
export interface PersonGeometry {
  width: number;
  height: number;
  /** Where the elliptical head cut-out goes. */
  head: Box;
  /** The face box (truth) inside the sprite, fractional px. */
  face: Box;
  /** Face width the sprite is drawn for (the largest the person reaches). */
  base_face_px: number;
}

/** One moving image in the video. */
export type SpritePlan =
  | {
      kind: 'vehicle';
      id: string;
      vehicle: ResolvedVehicle;
      geometry: VehicleGeometry;
      appear_s: number;
      disappear_s: number;
      keyframes: SpriteKeyframe[];
    }
  | {
      kind: 'person';
      id: string;
      person: ResolvedPerson;
      source: FaceSource;
      geometry: PersonGeometry;
      appear_s: number;
      disappear_s: number;
      keyframes: SpriteKeyframe[];
      /** Whether the size changes (needs a per-frame scale filter). */
      scaling: boolean;
    };

/** Where the static sign board is and how its text is drawn. */
export interface SignPlan {
  board: Box;
  font_px: number;
  text: string;
  board_color: string;
  text_color: string;
}

/** On-screen display text placement. */
export interface OsdPlan {
  timestamp?: { x: number; y: number; font_px: number; start_epoch_s: number };
  label?: { text: string; x: number; bottom_margin: number; font_px: number };
}

/** Everything needed to draw the scene and write its truth. */
export interface ScenePlan {
  spec: ResolvedSceneSpec;
  /** Size factor from the 1280×720 reference. */
  scale: number;
  frame_count: number;
  /** Sprites in drawing order (far first). */
  sprites: SpritePlan[];
  sign: SignPlan;
  osd: OsdPlan;
  /** Truth for the sprites (plates, faces), in drawing order. */
  sprite_truth: { sprite_index: number; object: TruthObject }[];
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
const even = (v: number): number => 2 * Math.round(v / 2);

/** Vehicle sprite size and plate placement for a plate `plateW` px wide in a `frameW`-wide video. */
export function vehicleGeometry(
  style: VehicleStyle,
  plateType: PlateType,
  plateW: number,
  frameW: number,
): VehicleGeometry {
  // Plate width / vehicle width: 440 mm on a ~1.8 m car, ~2.3 m truck; capped so close-ups fit.
  const ratio = style === 'truck' ? 0.21 : 0.25;
  const width = Math.max(Math.min(even(plateW / ratio), even(0.92 * frameW)), even(plateW + 8));
  const height = even(width * (style === 'truck' ? 0.9 : 0.78));
  const plateH = plateHeightPx(plateType, plateW);
  const plateCy = height * (style === 'truck' ? 0.83 : 0.685);
  return {
    style,
    width,
    height,
    plate: { x: Math.round((width - plateW) / 2), y: Math.round(plateCy - plateH / 2), w: plateW, h: plateH },
  };
}

/** Person sprite layout for a face `faceW` px wide from `source`. */
export function personGeometry(source: FaceSource, faceW: number): PersonGeometry {
  const k0 = faceW / source.face.w;
  const headW = Math.max(2, Math.round(source.crop.w * k0));
  const headH = Math.max(2, Math.round(source.crop.h * k0));
  // The head is scaled to an integer size, so use the real factors for the face box.
  const kx = headW / source.crop.w;
  const ky = headH / source.crop.h;
  const width = Math.max(headW, Math.round(2.2 * faceW));
  const height = headH + Math.round(2.1 * faceW);
  const headX = Math.round((width - headW) / 2);
  return {
    width,
    height,
    head: { x: headX, y: 0, w: headW, h: headH },
    face: {
      x: headX + (source.face.x - source.crop.x) * kx,
      y: (source.face.y - source.crop.y) * ky,
      w: source.face.w * kx,
      h: source.face.h * ky,
    },
    base_face_px: faceW,
  };
}

function fail(message: string): never {
  throw new SceneError('SCENE_BAD_SPEC', message);
}

/** Lay out a resolved spec. Pure: no files, no ffmpeg. */
export function planScene(spec: ResolvedSceneSpec): ScenePlan {
  const s = spec.width / REFERENCE_WIDTH;
  const frameCount = Math.round(spec.duration_s * spec.fps);
  // Every keyframe sits on a frame, so appear/disappear are exact frame times.
  const frameOf = (at: number): number => Math.min(frameCount - 1, Math.max(0, Math.round(at * frameCount)));
  const timeOf = (frame: number): number => frame / spec.fps;
  const increasing = (path: string, frames: number[]): void => {
    for (let i = 1; i < frames.length; i++) {
      if ((frames[i] ?? 0) <= (frames[i - 1] ?? 0)) {
        fail(
          `${path}: keyframes fall on the same frame at ${spec.fps} fps × ${spec.duration_s} s; lengthen the loop`,
        );
      }
    }
  };

  type Unsorted = { sprite: SpritePlan; depth: number; order: number; truth: TruthObject };
  const items: Unsorted[] = [];

  spec.vehicles.forEach((v, order) => {
    const plateW = even(v.plate_width_px * s);
    const g = vehicleGeometry(v.style, v.plate_type, plateW, spec.width);
    const y = round2(v.bottom_y * s - g.height);
    const startX = v.direction === 'ltr' ? -g.width : spec.width;
    const endX = v.direction === 'ltr' ? spec.width : -g.width;
    const frames = [frameOf(v.enter_at)];
    const xs = [startX];
    if (v.stop !== undefined) {
      const stopX = round2(v.stop.center_x * s - g.width / 2);
      frames.push(frameOf(v.stop.from));
      xs.push(stopX);
      if (v.stop.to > v.stop.from) {
        frames.push(frameOf(v.stop.to));
        xs.push(stopX);
      }
    }
    frames.push(frameOf(v.exit_at));
    xs.push(endX);
    increasing(`vehicles ${v.id}`, frames);
    const keyframes = frames.map((f, i) => ({ t_s: timeOf(f), x: xs[i] ?? 0, y, scale: 1 }));
    const appear = timeOf(frames[0] ?? 0);
    const disappear = timeOf(frames[frames.length - 1] ?? 0);
    items.push({
      sprite: {
        kind: 'vehicle',
        id: v.id,
        vehicle: v,
        geometry: g,
        appear_s: appear,
        disappear_s: disappear,
        keyframes,
      },
      depth: v.bottom_y,
      order,
      truth: {
        id: `plate-${v.id}`,
        kind: 'plate',
        text: v.plate_text,
        plate_type: v.plate_type,
        vehicle_id: v.id,
        appear_s: appear,
        disappear_s: disappear,
        keyframes: keyframes.map((k): TruthKeyframe => ({
          t_s: k.t_s,
          x: round2(k.x + g.plate.x),
          y: round2(k.y + g.plate.y),
          w: g.plate.w,
          h: g.plate.h,
        })),
      },
    });
  });

  spec.persons.forEach((p, order) => {
    const source = FACE_SOURCES[p.source];
    const frames = p.keyframes.map((k) => frameOf(k.at));
    increasing(`persons ${p.id}`, frames);
    const baseFace = Math.ceil(Math.max(...p.keyframes.map((k) => k.face_px * s)));
    const g = personGeometry(source, baseFace);
    const truthKfs: TruthKeyframe[] = [];
    const keyframes: SpriteKeyframe[] = p.keyframes.map((k, i) => {
      // Relative to the face width the sprite was drawn for, so a constant-size person is scale 1.
      const scale = (k.face_px * s) / baseFace;
      const fw = g.face.w * scale;
      const fh = g.face.h * scale;
      const fx = k.cx * s - fw / 2;
      const fy = k.cy * s - fh / 2;
      const t = timeOf(frames[i] ?? 0);
      truthKfs.push({ t_s: t, x: round2(fx), y: round2(fy), w: round2(fw), h: round2(fh) });
      return {
        t_s: t,
        x: round2(fx - g.face.x * scale),
        y: round2(fy - g.face.y * scale),
        scale: Math.round(scale * 1e6) / 1e6,
      };
    });
    const scaling = keyframes.some((k) => Math.abs(k.scale - 1) > 1e-6);
    const appear = timeOf(frames[0] ?? 0);
    const disappear = timeOf(frames[frames.length - 1] ?? 0);
    items.push({
      sprite: {
        kind: 'person',
        id: p.id,
        person: p,
        source,
        geometry: g,
        appear_s: appear,
        disappear_s: disappear,
        keyframes,
        scaling,
      },
      // Depth = lowest point the sprite's feet reach (reference px), so nearer people draw later.
      depth: Math.max(...keyframes.map((k) => (k.y + g.height * k.scale) / s)),
      order: spec.vehicles.length + order,
      truth: {
        id: `face-${p.id}`,
        kind: 'face',
        appear_s: appear,
        disappear_s: disappear,
        keyframes: truthKfs,
      },
    });
  });

  items.sort((a, b) => a.depth - b.depth || a.order - b.order);

  const signFont = Math.max(8, Math.round(spec.sign.font_px * s));
  const nChars = Array.from(spec.sign.text).length;
  const sign: SignPlan = {
    board: {
      x: Math.round(spec.sign.x * s),
      y: Math.round(spec.sign.y * s),
      w: Math.round(signFont * (nChars + 1.2)),
      h: Math.round(signFont * 1.7),
    },
    font_px: signFont,
    text: spec.sign.text,
    board_color: spec.sign.board_color,
    text_color: spec.sign.text_color,
  };

  const osd: OsdPlan = {};
  if (spec.osd?.timestamp === true) {
    osd.timestamp = {
      x: Math.round(18 * s),
      y: Math.round(16 * s),
      font_px: Math.round(26 * s),
      start_epoch_s: spec.osd.start_epoch_s,
    };
  }
  if (spec.osd?.label !== undefined) {
    osd.label = {
      text: spec.osd.label,
      x: Math.round(18 * s),
      bottom_margin: Math.round(18 * s),
      font_px: Math.round(24 * s),
    };
  }

  return {
    spec,
    scale: s,
    frame_count: frameCount,
    sprites: items.map((i) => i.sprite),
    sign,
    osd,
    sprite_truth: items.map((i, sprite_index) => ({ sprite_index, object: i.truth })),
  };
}

/** Linear interpolation of sprite keyframes at `t_s` (held outside). */
export function spriteAt(keyframes: readonly SpriteKeyframe[], t_s: number): SpriteKeyframe {
  const first = keyframes[0];
  if (first === undefined) throw new SceneError('SCENE_BAD_SPEC', 'sprite without keyframes');
  if (t_s <= first.t_s) return first;
  for (let i = 1; i < keyframes.length; i++) {
    const a = keyframes[i - 1];
    const b = keyframes[i];
    if (a === undefined || b === undefined) break;
    if (t_s <= b.t_s) {
      const f = (t_s - a.t_s) / (b.t_s - a.t_s);
      return {
        t_s,
        x: a.x + (b.x - a.x) * f,
        y: a.y + (b.y - a.y) * f,
        scale: a.scale + (b.scale - a.scale) * f,
      };
    }
  }
  return keyframes[keyframes.length - 1] ?? first;
}

/** A truth object with the layer it is drawn in (higher layers cover lower ones). */
export interface LayeredTruth {
  object: TruthObject;
  /** -1 background (sign), sprite index for sprite objects, +Infinity for the OSD (drawn last). */
  layer: number;
}

function intersects(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * For each truth object, the frames in which its box (grown by 2 px for rounding) touches the
 * bounding rectangle of a sprite drawn after it, or the OSD: returned as inclusive time intervals
 * (frame times). The object is then partly or wholly hidden, and the truth says so.
 */
export function occlusionIntervals(
  plan: ScenePlan,
  objects: readonly LayeredTruth[],
): Map<string, [number, number][]> {
  const { width, height, fps } = plan.spec;
  const frame = { x: 0, y: 0, w: width, h: height };
  const margin = 2;
  const osd = objects.filter((o) => o.layer === Number.POSITIVE_INFINITY);
  const covered = new Map<string, number[]>();
  for (let n = 0; n < plan.frame_count; n++) {
    const t = n / fps;
    const spriteRects = plan.sprites.map((sprite): Box | undefined => {
      if (t < sprite.appear_s - 1e-9 || t > sprite.disappear_s + 1e-9) return undefined;
      const k = spriteAt(sprite.keyframes, t);
      const r = { x: k.x, y: k.y, w: sprite.geometry.width * k.scale, h: sprite.geometry.height * k.scale };
      return intersects(r, frame) ? r : undefined;
    });
    for (const { object, layer } of objects) {
      if (layer === Number.POSITIVE_INFINITY) continue;
      if (t < object.appear_s - 1e-9 || t > object.disappear_s + 1e-9) continue;
      const b = interpolateBox(object, t);
      const grown = { x: b.x - margin, y: b.y - margin, w: b.w + 2 * margin, h: b.h + 2 * margin };
      if (!intersects(grown, frame)) continue;
      const bySprite = spriteRects.some((r, j) => r !== undefined && j > layer && intersects(grown, r));
      const byOsd = osd.some((o) => intersects(grown, interpolateBox(o.object, t)));
      if (bySprite || byOsd) {
        const list = covered.get(object.id) ?? [];
        list.push(n);
        covered.set(object.id, list);
      }
    }
  }
  const out = new Map<string, [number, number][]>();
  for (const [id, frames] of covered) {
    const intervals: [number, number][] = [];
    let start = frames[0] ?? 0;
    let prev = start;
    for (const n of frames.slice(1)) {
      if (n !== prev + 1) {
        intervals.push([start / fps, prev / fps]);
        start = n;
      }
      prev = n;
    }
    intervals.push([start / fps, prev / fps]);
    out.set(id, intervals);
  }
  return out;
}
