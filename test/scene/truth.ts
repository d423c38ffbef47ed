/**
 * Ground truth of a generated scene: the on-disk format (snake_case JSON beside the video), a
 * validator, and `boxAt` to ask where an object is at a given time.
 */
import { readFile } from 'node:fs/promises';
import type { Box } from './assets.ts';
import { SceneError } from './errors.ts';
import { PLATE_TYPES, isValidPlate } from './plates.ts';
import type { PlateType } from './plates.ts';

/** Format version written by this generator. */
export const TRUTH_VERSION = 1;

/** What a ground-truth object is: a licence plate, a face, or text that is not a plate. */
export type TruthObjectKind = 'plate' | 'face' | 'text';

const KINDS: readonly TruthObjectKind[] = ['plate', 'face', 'text'];

/** Where an object is at one instant, in video pixels (top-left origin, may extend off-frame). */
export interface TruthKeyframe {
  /** Seconds from the start of the loop. */
  t_s: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One object in the scene. Between keyframes its box moves linearly; outside them it stays put. */
export interface TruthObject {
  /** Unique within the file, e.g. `plate-v1`, `face-p2`, `sign`. */
  id: string;
  kind: TruthObjectKind;
  /** Plate string (no dot, e.g. `京A12345`) or sign text; absent for faces and the timestamp. */
  text?: string;
  /** Plate colour family, plates only. */
  plate_type?: PlateType;
  /** Vehicle carrying the plate, plates only. */
  vehicle_id?: string;
  /** First and last instants (inclusive) the object is drawn; frame n is drawn iff appear ≤ n/fps ≤ disappear. */
  appear_s: number;
  disappear_s: number;
  /** At least one, strictly increasing `t_s`, all within [appear_s, disappear_s]. */
  keyframes: TruthKeyframe[];
  /**
   * Inclusive [from, to] intervals (frame times) in which something drawn in front (a nearer
   * vehicle or person, the OSD) touches the object's box: it is partly or wholly hidden, and
   * `boxAt` returns undefined. Sorted, disjoint, within [appear_s, disappear_s]. Absent: never hidden.
   */
  occluded_s?: [number, number][];
}

/** The video the truth describes. */
export interface TruthVideo {
  /** File name of the video, in the same directory as the truth file. */
  file: string;
  width: number;
  height: number;
  fps: number;
  /** frame_count / fps. */
  duration_s: number;
  frame_count: number;
}

/** Which spec produced the scene (informational). */
export interface TruthScene {
  name: string;
  spec_hash: string;
}

/** A ground-truth file. */
export interface SceneTruth {
  version: 1;
  scene?: TruthScene;
  video: TruthVideo;
  objects: TruthObject[];
}

/** Tolerance for comparing times that were computed as n / fps. */
export const TIME_EPS_S = 1e-6;

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function unknownKeys(v: Json, allowed: readonly string[], path: string, errors: string[]): void {
  for (const k of Object.keys(v)) if (!allowed.includes(k)) errors.push(`${path}.${k} unknown field`);
}

/** Check `value` against the format; returns `path message` lines, empty when valid. */
export function validateTruth(value: unknown): string[] {
  const errors: string[] = [];
  if (!isObj(value)) return ['$ must be an object'];
  unknownKeys(value, ['version', 'scene', 'video', 'objects'], '$', errors);
  if (value.version !== TRUTH_VERSION) errors.push(`$.version must be ${TRUTH_VERSION}`);
  if (value.scene !== undefined) {
    if (!isObj(value.scene)) errors.push('$.scene must be an object');
    else {
      unknownKeys(value.scene, ['name', 'spec_hash'], '$.scene', errors);
      if (typeof value.scene.name !== 'string') errors.push('$.scene.name must be a string');
      if (typeof value.scene.spec_hash !== 'string') errors.push('$.scene.spec_hash must be a string');
    }
  }
  const video = value.video;
  let duration = Number.POSITIVE_INFINITY;
  if (!isObj(video)) errors.push('$.video must be an object');
  else {
    unknownKeys(video, ['file', 'width', 'height', 'fps', 'duration_s', 'frame_count'], '$.video', errors);
    if (typeof video.file !== 'string' || video.file === '' || /[/\\]/.test(video.file)) {
      errors.push('$.video.file must be a file name without directories');
    }
    for (const k of ['width', 'height', 'frame_count'] as const) {
      const v = video[k];
      if (!finite(v) || !Number.isInteger(v) || v <= 0)
        errors.push(`$.video.${k} must be a positive integer`);
    }
    if (!finite(video.fps) || video.fps <= 0) errors.push('$.video.fps must be a positive number');
    if (!finite(video.duration_s) || video.duration_s <= 0) errors.push('$.video.duration_s must be > 0');
    else duration = video.duration_s;
    if (finite(video.fps) && finite(video.frame_count) && finite(video.duration_s)) {
      if (Math.abs(video.frame_count / video.fps - video.duration_s) > 1e-3) {
        errors.push('$.video.duration_s must equal frame_count / fps');
      }
    }
  }
  if (!Array.isArray(value.objects)) {
    errors.push('$.objects must be an array');
    return errors;
  }
  const ids = new Set<string>();
  value.objects.forEach((o: unknown, i) => {
    const p = `$.objects[${i}]`;
    if (!isObj(o)) {
      errors.push(`${p} must be an object`);
      return;
    }
    unknownKeys(
      o,
      [
        'id',
        'kind',
        'text',
        'plate_type',
        'vehicle_id',
        'appear_s',
        'disappear_s',
        'keyframes',
        'occluded_s',
      ],
      p,
      errors,
    );
    if (typeof o.id !== 'string' || o.id === '') errors.push(`${p}.id must be a non-empty string`);
    else if (ids.has(o.id)) errors.push(`${p}.id ${o.id} is not unique`);
    else ids.add(o.id);
    if (typeof o.kind !== 'string' || !(KINDS as readonly string[]).includes(o.kind)) {
      errors.push(`${p}.kind must be one of ${KINDS.join(', ')}`);
    }
    if (o.text !== undefined && (typeof o.text !== 'string' || o.text === '')) {
      errors.push(`${p}.text must be a non-empty string`);
    }
    if (o.vehicle_id !== undefined && typeof o.vehicle_id !== 'string') {
      errors.push(`${p}.vehicle_id must be a string`);
    }
    if (o.kind === 'plate') {
      const type = o.plate_type;
      if (typeof type !== 'string' || !(PLATE_TYPES as readonly string[]).includes(type)) {
        errors.push(`${p}.plate_type must be one of ${PLATE_TYPES.join(', ')}`);
      } else if (typeof o.text !== 'string' || !isValidPlate(o.text, type as PlateType)) {
        errors.push(`${p}.text must be a valid ${type} plate`);
      }
    } else {
      if (o.plate_type !== undefined) errors.push(`${p}.plate_type is only for plates`);
      if (o.vehicle_id !== undefined) errors.push(`${p}.vehicle_id is only for plates`);
      if (o.kind === 'face' && o.text !== undefined) errors.push(`${p}.text is not for faces`);
    }
    const a = o.appear_s;
    const d = o.disappear_s;
    if (!finite(a) || !finite(d) || a < -TIME_EPS_S || d < a || d > duration + TIME_EPS_S) {
      errors.push(`${p} needs 0 ≤ appear_s ≤ disappear_s ≤ video.duration_s`);
    }
    if (o.occluded_s !== undefined) {
      if (!Array.isArray(o.occluded_s)) errors.push(`${p}.occluded_s must be an array`);
      else {
        let prevEnd = Number.NEGATIVE_INFINITY;
        o.occluded_s.forEach((iv: unknown, j) => {
          const ok =
            Array.isArray(iv) &&
            iv.length === 2 &&
            finite(iv[0]) &&
            finite(iv[1]) &&
            iv[0] <= iv[1] &&
            iv[0] > prevEnd &&
            (!finite(a) || iv[0] >= a - TIME_EPS_S) &&
            (!finite(d) || iv[1] <= d + TIME_EPS_S);
          if (!ok)
            errors.push(
              `${p}.occluded_s[${j}] must be [from, to], sorted, disjoint, within appear..disappear`,
            );
          else prevEnd = iv[1] as number;
        });
      }
    }
    if (!Array.isArray(o.keyframes) || o.keyframes.length === 0) {
      errors.push(`${p}.keyframes must be a non-empty array`);
      return;
    }
    let prevT = Number.NEGATIVE_INFINITY;
    o.keyframes.forEach((k: unknown, j) => {
      const kp = `${p}.keyframes[${j}]`;
      if (!isObj(k)) {
        errors.push(`${kp} must be an object`);
        return;
      }
      unknownKeys(k, ['t_s', 'x', 'y', 'w', 'h'], kp, errors);
      if (!finite(k.t_s) || !finite(k.x) || !finite(k.y) || !finite(k.w) || !finite(k.h)) {
        errors.push(`${kp} needs finite t_s, x, y, w, h`);
        return;
      }
      if (k.w <= 0 || k.h <= 0) errors.push(`${kp} w and h must be > 0`);
      if (k.t_s <= prevT) errors.push(`${kp}.t_s must be greater than the previous keyframe's`);
      prevT = k.t_s;
      if (finite(a) && finite(d) && (k.t_s < a - TIME_EPS_S || k.t_s > d + TIME_EPS_S)) {
        errors.push(`${kp}.t_s must lie within [appear_s, disappear_s]`);
      }
    });
  });
  return errors;
}

/** Validate and return `value` as truth; throws `SCENE_BAD_TRUTH` listing every problem. */
export function parseTruth(value: unknown, source = 'truth'): SceneTruth {
  const errors = validateTruth(value);
  if (errors.length > 0) throw new SceneError('SCENE_BAD_TRUTH', `${source}:\n  ${errors.join('\n  ')}`);
  return value as SceneTruth;
}

/** Read and validate a truth file. */
export async function readTruth(path: string): Promise<SceneTruth> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new SceneError('SCENE_BAD_TRUTH', `${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseTruth(parsed, path);
}

/** A frame size to clip against. */
export interface FrameSize {
  width: number;
  height: number;
}

/** The visible part of an object's box at one instant. */
export interface VisibleBox extends Box {
  /** The whole box before clipping (may extend off-frame). */
  full: Box;
  /** Visible area / full area, in (0, 1]. */
  visibleFraction: number;
  /** Whether part of the box is off-frame (`visibleFraction < 1`). */
  clipped: boolean;
}

/** The unclipped box of `object` at `t_s` (linear between keyframes, held before the first / after the last). */
export function interpolateBox(object: TruthObject, t_s: number): Box {
  const kfs = object.keyframes;
  const first = kfs[0];
  if (first === undefined) throw new SceneError('SCENE_BAD_TRUTH', `${object.id} has no keyframes`);
  if (t_s <= first.t_s) return { x: first.x, y: first.y, w: first.w, h: first.h };
  for (let i = 1; i < kfs.length; i++) {
    const b = kfs[i];
    const a = kfs[i - 1];
    if (a === undefined || b === undefined) break;
    if (t_s <= b.t_s) {
      const f = (t_s - a.t_s) / (b.t_s - a.t_s);
      return {
        x: a.x + (b.x - a.x) * f,
        y: a.y + (b.y - a.y) * f,
        w: a.w + (b.w - a.w) * f,
        h: a.h + (b.h - a.h) * f,
      };
    }
  }
  const last = kfs[kfs.length - 1] ?? first;
  return { x: last.x, y: last.y, w: last.w, h: last.h };
}

/** Whether `object` is (partly) hidden behind something at `t_s`. */
export function isOccluded(object: TruthObject, t_s: number): boolean {
  return (object.occluded_s ?? []).some(([a, b]) => t_s >= a - TIME_EPS_S && t_s <= b + TIME_EPS_S);
}

/**
 * Where `object` is at `t_s`, clipped to the frame. Returns `undefined` when the object is not drawn
 * at `t_s` (outside [appear_s, disappear_s]), is occluded (`occluded_s`), or lies wholly off-frame.
 * A partly off-frame object IS returned, clipped, with `clipped: true` and its `visibleFraction`;
 * scoring code should treat such objects (a half plate cannot be read) as optional, and likewise
 * detections of an object during its `occluded_s` intervals.
 */
export function boxAt(object: TruthObject, t_s: number, frame: FrameSize): VisibleBox | undefined {
  if (t_s < object.appear_s - TIME_EPS_S || t_s > object.disappear_s + TIME_EPS_S) return undefined;
  if (isOccluded(object, t_s)) return undefined;
  const full = interpolateBox(object, t_s);
  const x0 = Math.max(0, full.x);
  const y0 = Math.max(0, full.y);
  const x1 = Math.min(frame.width, full.x + full.w);
  const y1 = Math.min(frame.height, full.y + full.h);
  if (x1 <= x0 || y1 <= y0) return undefined;
  const visibleFraction = Math.min(1, ((x1 - x0) * (y1 - y0)) / (full.w * full.h));
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0, full, visibleFraction, clipped: visibleFraction < 1 };
}

/** An object together with its box at some instant. */
export interface VisibleObject {
  object: TruthObject;
  box: VisibleBox;
}

/** Objects visible in frame `n` (at t = n / fps), with their boxes. */
export function objectsInFrame(truth: SceneTruth, n: number): VisibleObject[] {
  const t = n / truth.video.fps;
  const out: VisibleObject[] = [];
  for (const object of truth.objects) {
    const box = boxAt(object, t, truth.video);
    if (box !== undefined) out.push({ object, box });
  }
  return out;
}
