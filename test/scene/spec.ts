/**
 * Scene specs: what a simulated camera sees. Positions and sizes are given at the 1280×720
 * reference size and scaled to the requested resolution; times are fractions of the loop, so the
 * same spec works for a 6 s test clip and a 20 s demo loop.
 */
import { createHash } from 'node:crypto';
import type { FaceSourceName } from './assets.ts';
import { FACE_SOURCES } from './assets.ts';
import { SceneError } from './errors.ts';
import { PLATE_TYPES, assertValidPlate, colourFamily, randomPlate } from './plates.ts';
import type { PlateType } from './plates.ts';
import { makeRng, subSeed } from './rng.ts';

/** Reference frame size all spec coordinates are given in. */
export const REFERENCE_WIDTH = 1280;
export const REFERENCE_HEIGHT = 720;

/** Defaults for the video parameters. */
export const DEFAULT_WIDTH = 1280;
export const DEFAULT_HEIGHT = 720;
export const DEFAULT_FPS = 15;
export const DEFAULT_DURATION_S = 20;

/** Background drawing style. */
export type SceneTheme = 'village' | 'checkpoint' | 'street';

/** Vehicle body shape: a car (blue/green plates) or a truck/bus front (yellow plates). */
export type VehicleStyle = 'car' | 'truck';

/** A vehicle crossing the frame, seen from the front, carrying one plate. */
export interface VehicleSpec {
  /** Unique within the scene, e.g. `v1`; the plate's truth id is `plate-<id>`. */
  id: string;
  plate_type: PlateType;
  /** Plate string; a seeded random valid one of `plate_type` when absent. */
  plate_text?: string;
  /** Plate width in reference px (60 far lane … 400 close-up). */
  plate_width_px: number;
  /** Default: `truck` for yellow plates, `car` otherwise. */
  style?: VehicleStyle;
  /** Body colour `0xRRGGBB`; seeded pick when absent. */
  body_color?: string;
  /** Lane: y of the bottom of the wheels, reference px. */
  bottom_y: number;
  /** `ltr` enters at the left edge, `rtl` at the right. */
  direction: 'ltr' | 'rtl';
  /** Loop fraction at which the vehicle starts to enter the frame (fully off-frame then). */
  enter_at: number;
  /** Loop fraction at which it has fully left the frame. */
  exit_at: number;
  /** Optional halt (a checkpoint barrier): centre x in reference px, between two loop fractions. */
  stop?: { center_x: number; from: number; to: number };
}

/** Where a person's face is at one loop fraction; motion is linear between keyframes. */
export interface PersonKeyframe {
  /** Loop fraction. */
  at: number;
  /** Face centre, reference px (may be off-frame: walking in). */
  cx: number;
  cy: number;
  /** Face box width, reference px (30 far … 200 close). */
  face_px: number;
}

/** A person: a face photo cut-out on a simple torso, moving and scaling between keyframes. */
export interface PersonSpec {
  /** Unique within the scene, e.g. `p1`; the face's truth id is `face-<id>`. */
  id: string;
  source: FaceSourceName;
  /** Jacket colour `0xRRGGBB`; seeded pick when absent. */
  jacket_color?: string;
  /** At least two, increasing `at`; the person is drawn from the first to the last. */
  keyframes: PersonKeyframe[];
}

/** A static shop sign with Chinese text (text that is not a plate), drawn for the whole loop. */
export interface SignSpec {
  /** E.g. `便利店`; 1–12 characters, no control characters. */
  text: string;
  /** Top-left of the sign board, reference px. */
  x: number;
  y: number;
  /** Font size, reference px. */
  font_px: number;
  /** Board / text colours `0xRRGGBB`. */
  board_color?: string;
  text_color?: string;
}

/** Camera on-screen display: a timestamp top-left and an optional label bottom-left. */
export interface OsdSpec {
  /** Draw a running `YYYY-MM-DD HH:MM:SS` timestamp. */
  timestamp: boolean;
  /** UTC instant shown at t = 0, seconds since the epoch. */
  start_epoch_s: number;
  /** Camera name shown bottom-left, e.g. `村口东 CAM01`. */
  label?: string;
}

/** Everything that determines a scene; same spec → same truth (and the same video bytes here). */
export interface SceneSpec {
  /** Kebab-case name, used in file names. */
  name: string;
  /** Seed for everything not given explicitly (plate strings, colours, building layout). */
  seed: number;
  theme: SceneTheme;
  width?: number;
  height?: number;
  fps?: number;
  /** Loop length in seconds. */
  duration_s?: number;
  vehicles: VehicleSpec[];
  persons: PersonSpec[];
  sign: SignSpec;
  osd?: OsdSpec;
}

/** A vehicle with every default filled in. */
export type ResolvedVehicle = Required<Omit<VehicleSpec, 'stop'>> & Pick<VehicleSpec, 'stop'>;

/** A person with every default filled in. */
export type ResolvedPerson = Required<PersonSpec>;

/** A spec with every default filled in and validated. */
export interface ResolvedSceneSpec {
  name: string;
  seed: number;
  theme: SceneTheme;
  width: number;
  height: number;
  fps: number;
  duration_s: number;
  vehicles: ResolvedVehicle[];
  persons: ResolvedPerson[];
  sign: Required<SignSpec>;
  osd: OsdSpec | undefined;
}

const BODY_COLOURS = [
  '0xd8d8d8',
  '0x202020',
  '0xb01818',
  '0x1d3f8a',
  '0xe9e9e4',
  '0x6b6f75',
  '0x8a6a3a',
  '0x2f5d3a',
];
const TRUCK_COLOURS = ['0x2a62b8', '0xc23b22', '0x3c7a3c', '0xe0e0e0'];
const JACKET_COLOURS = ['0x2b2b35', '0x3a4f7a', '0x6d2f2f', '0x4f5a3a', '0x7a7a80', '0x1f1f1f'];
const DIRECTIONS: readonly string[] = ['ltr', 'rtl'];
const STYLES: readonly string[] = ['car', 'truck'];
const COLOUR_RE = /^0x[0-9a-fA-F]{6}$/;
const NAME_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const ID_RE = /^[A-Za-z0-9_-]{1,32}$/;

function fail(message: string): never {
  throw new SceneError('SCENE_BAD_SPEC', message);
}

function checkRange(path: string, v: number, min: number, max: number): void {
  if (!Number.isFinite(v) || v < min || v > max) fail(`${path} = ${v}: must be within ${min}..${max}`);
}

function checkColour(path: string, v: string): void {
  if (!COLOUR_RE.test(v)) fail(`${path} = ${JSON.stringify(v)}: must be 0xRRGGBB`);
}

function checkText(path: string, v: string, maxChars: number): void {
  const n = Array.from(v).length;
  // Control characters would corrupt the drawtext text file; '%' would start a drawtext expansion.
  if (n === 0 || n > maxChars || /[\p{Cc}%\\]/u.test(v)) {
    fail(`${path} = ${JSON.stringify(v)}: 1..${maxChars} characters, no control characters, % or \\`);
  }
}

/** Fill defaults (seeded) and validate; throws `SCENE_BAD_SPEC` naming the bad field. */
export function resolveSpec(spec: SceneSpec): ResolvedSceneSpec {
  if (!NAME_RE.test(spec.name)) fail(`name ${JSON.stringify(spec.name)}: must be kebab-case`);
  if (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff) {
    fail(`seed ${spec.seed}: must be an integer in 0..2^32-1`);
  }
  const width = spec.width ?? DEFAULT_WIDTH;
  const height = spec.height ?? DEFAULT_HEIGHT;
  const fps = spec.fps ?? DEFAULT_FPS;
  const duration = spec.duration_s ?? DEFAULT_DURATION_S;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width % 2 !== 0 || height % 2 !== 0) {
    fail(`size ${width}x${height}: width and height must be even integers`);
  }
  checkRange('width', width, 320, 3840);
  if (Math.abs(width * 9 - height * 16) > 16)
    fail(`size ${width}x${height}: must be 16:9 (e.g. 1280x720, 1920x1080)`);
  checkRange('fps', fps, 1, 60);
  checkRange('duration_s', duration, 1, 600);
  if (Math.round(duration * fps) < 2) fail(`duration_s × fps must give at least 2 frames`);
  if (!['village', 'checkpoint', 'street'].includes(spec.theme)) fail(`theme ${spec.theme}: unknown`);

  const ids = new Set<string>();
  const checkId = (path: string, id: string): void => {
    if (!ID_RE.test(id)) fail(`${path} ${JSON.stringify(id)}: 1-32 of [A-Za-z0-9_-]`);
    if (ids.has(id)) fail(`${path} ${id}: duplicate id`);
    ids.add(id);
  };

  const vehicles = spec.vehicles.map((v, i): ResolvedVehicle => {
    const p = `vehicles[${i}]`;
    checkId(`${p}.id`, v.id);
    if (!PLATE_TYPES.includes(v.plate_type)) fail(`${p}.plate_type ${v.plate_type}: unknown`);
    const rng = makeRng(subSeed(spec.seed, `vehicle:${v.id}`));
    const plateText = v.plate_text ?? randomPlate(rng, v.plate_type);
    assertValidPlate(plateText, v.plate_type);
    checkRange(`${p}.plate_width_px`, v.plate_width_px, 40, 480);
    checkRange(`${p}.bottom_y`, v.bottom_y, 0, 2 * REFERENCE_HEIGHT);
    checkRange(`${p}.enter_at`, v.enter_at, 0, 1);
    checkRange(`${p}.exit_at`, v.exit_at, 0, 1);
    if (v.exit_at <= v.enter_at) fail(`${p}: exit_at must be after enter_at`);
    // Specs may come from JSON: check the unions at run time too.
    if (!DIRECTIONS.includes(v.direction)) fail(`${p}.direction: ltr or rtl`);
    if (v.stop !== undefined) {
      const s = v.stop;
      if (!(v.enter_at < s.from && s.from <= s.to && s.to < v.exit_at)) {
        fail(`${p}.stop: need enter_at < from ≤ to < exit_at`);
      }
      checkRange(`${p}.stop.center_x`, s.center_x, 0, REFERENCE_WIDTH);
    }
    const style = v.style ?? (v.plate_type === 'yellow' ? 'truck' : 'car');
    if (!STYLES.includes(style)) fail(`${p}.style ${style}: car or truck`);
    // A body the colour of its own plate would make the plate indistinguishable from the car.
    const palette = (style === 'truck' ? TRUCK_COLOURS : BODY_COLOURS).filter(
      (c) => colourFamily(c) !== v.plate_type,
    );
    const bodyColor = v.body_color ?? rng.pick(palette);
    checkColour(`${p}.body_color`, bodyColor);
    return { ...v, plate_text: plateText, style, body_color: bodyColor };
  });

  const persons = spec.persons.map((person, i): ResolvedPerson => {
    const p = `persons[${i}]`;
    checkId(`${p}.id`, person.id);
    if (!(person.source in FACE_SOURCES)) fail(`${p}.source ${person.source}: unknown`);
    if (person.keyframes.length < 2) fail(`${p}.keyframes: need at least two`);
    let prev = -1;
    person.keyframes.forEach((k, j) => {
      const kp = `${p}.keyframes[${j}]`;
      checkRange(`${kp}.at`, k.at, 0, 1);
      if (k.at <= prev) fail(`${kp}.at must increase`);
      prev = k.at;
      checkRange(`${kp}.face_px`, k.face_px, 12, 400);
      checkRange(`${kp}.cx`, k.cx, -REFERENCE_WIDTH, 2 * REFERENCE_WIDTH);
      checkRange(`${kp}.cy`, k.cy, -REFERENCE_HEIGHT, 2 * REFERENCE_HEIGHT);
    });
    const rng = makeRng(subSeed(spec.seed, `person:${person.id}`));
    const jacket = person.jacket_color ?? rng.pick(JACKET_COLOURS);
    checkColour(`${p}.jacket_color`, jacket);
    return { ...person, jacket_color: jacket };
  });

  checkText('sign.text', spec.sign.text, 12);
  checkRange('sign.font_px', spec.sign.font_px, 10, 200);
  checkRange('sign.x', spec.sign.x, 0, REFERENCE_WIDTH);
  checkRange('sign.y', spec.sign.y, 0, REFERENCE_HEIGHT);
  const sign: Required<SignSpec> = {
    board_color: '0xb81d1d',
    text_color: '0xffe27a',
    ...spec.sign,
  };
  checkColour('sign.board_color', sign.board_color);
  checkColour('sign.text_color', sign.text_color);

  if (spec.osd !== undefined) {
    if (spec.osd.label !== undefined) checkText('osd.label', spec.osd.label, 24);
    checkRange('osd.start_epoch_s', spec.osd.start_epoch_s, 0, 4102444800);
  }

  return {
    name: spec.name,
    seed: spec.seed,
    theme: spec.theme,
    width,
    height,
    fps,
    duration_s: duration,
    vehicles,
    persons,
    sign,
    osd: spec.osd,
  };
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

/**
 * Hash of a resolved spec plus everything else the output depends on: `environment` names the
 * generator sources, assets and ffmpeg build (see generate.ts).
 */
export function specHash(spec: ResolvedSceneSpec, environment: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ spec: canonical(spec), environment }))
    .digest('hex');
}
