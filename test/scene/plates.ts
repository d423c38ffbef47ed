/**
 * Synthetic Chinese licence plates in the style of GA 36-2018: valid plate strings and a PNG
 * renderer (ffmpeg drawtext with WenQuanYi Zen Hei). Also used by OCR unit tests.
 */
import { FONT_PATH, checkAssets } from './assets.ts';
import { SceneError } from './errors.ts';
import { filterSafePath, runFfmpeg } from './ffmpeg.ts';
import type { Rng } from './rng.ts';

/** Plate families drawn by the generator. */
export type PlateType = 'blue' | 'yellow' | 'green';

/** All plate types, in a fixed order. */
export const PLATE_TYPES: readonly PlateType[] = ['blue', 'yellow', 'green'];

/** Province abbreviations that start a plate. */
export const PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼';

/** Letters allowed on plates: A–Z without I and O. */
export const PLATE_LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';

const PROVINCE_CHARS = Array.from(PROVINCES);
const LETTER_CHARS = Array.from(PLATE_LETTERS);

/**
 * The edge agent's plate filter from ENVIRONMENT.md (after dropping `· . -` and spaces). It
 * accepts 7-character blue/yellow plates but NOT 8-character new-energy plates: the tail after the
 * issuing-authority letter is `{4,5}` characters, a new-energy plate has 6.
 */
export const ENV_PLATE_RE =
  /^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][A-HJ-NP-Z0-9]{4,5}[挂学警港澳]?$/;

/** Small new-energy plate: province, letter, D (electric) or F (hybrid), a letter or digit, 4 digits. */
export const NEW_ENERGY_PLATE_RE =
  /^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][DF][A-HJ-NP-Z0-9][0-9]{4}$/;

/** Whether `text` is a valid plate string for `type` (blue/yellow: 7 characters, green: 8). */
export function isValidPlate(text: string, type: PlateType): boolean {
  if (type === 'green') return NEW_ENERGY_PLATE_RE.test(text);
  return Array.from(text).length === 7 && ENV_PLATE_RE.test(text);
}

/** A random valid plate of `type`, drawn from `rng` (at most two letters in the serial, like real ones). */
export function randomPlate(rng: Rng, type: PlateType): string {
  const province = rng.pick(PROVINCE_CHARS);
  const authority = rng.pick(LETTER_CHARS);
  const digit = (): string => String(rng.int(0, 9));
  if (type === 'green') {
    const kind = rng.pick(['D', 'F']);
    const fourth = rng.next() < 0.3 ? rng.pick(LETTER_CHARS) : digit();
    return `${province}${authority}${kind}${fourth}${digit()}${digit()}${digit()}${digit()}`;
  }
  const letterSlots = new Set<number>();
  const nLetters = rng.pick([0, 0, 1, 1, 2]);
  while (letterSlots.size < nLetters) letterSlots.add(rng.int(0, 4));
  let serial = '';
  for (let i = 0; i < 5; i++) serial += letterSlots.has(i) ? rng.pick(LETTER_CHARS) : digit();
  return `${province}${authority}${serial}`;
}

/** Throw unless `text` is a valid plate of `type`. */
export function assertValidPlate(text: string, type: PlateType): void {
  if (!isValidPlate(text, type)) {
    throw new SceneError('SCENE_BAD_PLATE', `${JSON.stringify(text)} is not a valid ${type} plate`);
  }
}

/** Character layout of a plate face, in millimetres (GA 36-2018 proportions). */
export interface PlateLayout {
  width_mm: number;
  height_mm: number;
  /** Left edge of each character cell. */
  char_x_mm: readonly number[];
  char_w_mm: number;
  char_h_mm: number;
  /** Top of the character cells. */
  char_top_mm: number;
  /** Centre of the separator dot between the 2nd and 3rd characters. */
  dot_cx_mm: number;
}

/** 440×140 mm, 7 cells of 45×90 mm, 12 mm gaps, 34 mm gap holding the dot after the 2nd. */
const STANDARD_LAYOUT: PlateLayout = {
  width_mm: 440,
  height_mm: 140,
  char_x_mm: [15.5, 72.5, 151.5, 208.5, 265.5, 322.5, 379.5],
  char_w_mm: 45,
  char_h_mm: 90,
  char_top_mm: 25,
  dot_cx_mm: 134.5,
};

/** 480×140 mm, 8 cells of 43×90 mm, 9 mm gaps, 49 mm gap holding the dot after the 2nd. */
const NEW_ENERGY_LAYOUT: PlateLayout = {
  width_mm: 480,
  height_mm: 140,
  char_x_mm: [16.5, 68.5, 160.5, 212.5, 264.5, 316.5, 368.5, 420.5],
  char_w_mm: 43,
  char_h_mm: 90,
  char_top_mm: 25,
  dot_cx_mm: 136,
};

/** The layout used for `type`. */
export function plateLayout(type: PlateType): PlateLayout {
  return type === 'green' ? NEW_ENERGY_LAYOUT : STANDARD_LAYOUT;
}

/** Pixel height of a plate `widthPx` wide (aspect 440:140 or 480:140), at least 1. */
export function plateHeightPx(type: PlateType, widthPx: number): number {
  const l = plateLayout(type);
  return Math.max(1, Math.round((widthPx * l.height_mm) / l.width_mm));
}

/** Colours of a plate family (ffmpeg colour syntax `0xRRGGBB`). */
export interface PlateColours {
  /** Background; green plates shade from `background` (top) to `background_bottom`. */
  background: string;
  background_bottom?: string;
  text: string;
  border: string;
}

/** Background/text/border colours per type. */
export const PLATE_COLOURS: Readonly<Record<PlateType, PlateColours>> = {
  blue: { background: '0x0a4aa8', text: '0xf4f4f4', border: '0xf4f4f4' },
  yellow: { background: '0xf2c000', text: '0x101010', border: '0x101010' },
  green: { background: '0xe6f6ea', background_bottom: '0x1aa852', text: '0x101010', border: '0x101010' },
};

/**
 * Which plate family an average colour looks like (0–255 RGB), or undefined. Thresholds hold for
 * the mean over a whole plate, characters included, after H.264 (see scene.test.ts).
 */
export function classifyPlateColour(r: number, g: number, b: number): PlateType | undefined {
  if (b > r + 50 && b > g + 20) return 'blue';
  if (r > 150 && g > 110 && b < 90) return 'yellow';
  if (g > r + 25 && g > b + 15) return 'green';
  return undefined;
}

/** The family of a `0xRRGGBB` colour, see {@link classifyPlateColour}. */
export function colourFamily(colour: string): PlateType | undefined {
  const v = Number.parseInt(colour.slice(2), 16);
  return classifyPlateColour((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
}

// Glyphs of Zen Hei are about square (CJK) or 1:1.3 (Latin); plate glyphs are 1:2. Draw on a canvas
// stretched horizontally by this factor and squeeze it back, which condenses the glyphs.
const CONDENSE = 1.6;
// Font sizes (in mm) that make a glyph about 86 (Latin) / 84 (CJK) mm tall in a 90 mm cell.
const LATIN_FONT_MM = 125;
const CJK_FONT_MM = 86;

function hexChannels(colour: string): [number, number, number] {
  const v = Number.parseInt(colour.slice(2), 16);
  return [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
}

/**
 * The ffmpeg filter chain that draws `text` as a plate `widthPx` wide, starting from nothing (a
 * source filter). Exposed so sprites can embed plates without an extra PNG round trip.
 */
export function plateFilter(text: string, type: PlateType, widthPx: number): string {
  assertValidPlate(text, type);
  if (!Number.isInteger(widthPx) || widthPx < 16 || widthPx > 2000) {
    throw new SceneError('SCENE_BAD_SPEC', `plate width ${widthPx} px: need an integer in 16..2000`);
  }
  const layout = plateLayout(type);
  const colours = PLATE_COLOURS[type];
  const outH = plateHeightPx(type, widthPx);
  // Master resolution: at least twice the output height, so the area downscale anti-aliases.
  const unit = Math.max(1, Math.ceil((2 * outH) / layout.height_mm));
  const mx = (mm: number): number => Math.round(mm * unit * CONDENSE);
  const my = (mm: number): number => Math.round(mm * unit);
  const masterW = mx(layout.width_mm);
  const masterH = my(layout.height_mm);

  const chain: string[] = [];
  if (colours.background_bottom === undefined) {
    chain.push(`color=c=${colours.background}:s=${masterW}x${masterH}:d=1,format=rgb24`);
  } else {
    const [r0, g0, b0] = hexChannels(colours.background);
    const [r1, g1, b1] = hexChannels(colours.background_bottom);
    const lerp = (a: number, b: number): string => `${a}+(${b - a})*Y/H`;
    chain.push(
      `color=c=black:s=${masterW}x${masterH}:d=1,format=rgb24`,
      `geq=r='${lerp(r0, r1)}':g='${lerp(g0, g1)}':b='${lerp(b0, b1)}'`,
    );
  }
  // Border: a line inset 3 mm, 2.5 mm thick (real plates have a raised rim).
  chain.push(
    `drawbox=x=${mx(3)}:y=${my(3)}:w=${mx(layout.width_mm - 6)}:h=${my(layout.height_mm - 6)}:` +
      `color=${colours.border}:t=${Math.max(1, my(2.5))}`,
  );
  const font = filterSafePath(FONT_PATH);
  const chars = Array.from(text);
  chars.forEach((ch, i) => {
    const x0 = layout.char_x_mm[i];
    if (x0 === undefined) throw new SceneError('SCENE_BAD_PLATE', `${text}: too many characters for ${type}`);
    const cjk = (ch.codePointAt(0) ?? 0) > 0x2e80;
    const size = my(cjk ? CJK_FONT_MM : LATIN_FONT_MM);
    const cx = mx(x0 + layout.char_w_mm / 2);
    const cy = my(layout.char_top_mm + layout.char_h_mm / 2);
    // Plate characters are letters, digits and CJK only (validated above): safe inside quotes.
    chain.push(
      `drawtext=fontfile=${font}:text='${ch}':fontsize=${size}:fontcolor=${colours.text}:` +
        `x=${cx}-text_w/2:y=${cy}-text_h/2`,
    );
  });
  const dot = 10;
  chain.push(
    `drawbox=x=${mx(layout.dot_cx_mm - dot / 2)}:y=${my(70 - dot / 2)}:w=${mx(dot)}:h=${my(dot)}:` +
      `color=${colours.text}:t=fill`,
  );
  chain.push(`scale=${widthPx}:${outH}:flags=area`);
  return chain.join(',');
}

/**
 * Render `text` as a `type` plate `widthPx` wide (height from the plate aspect) to the PNG `outPath`.
 * Throws `SCENE_BAD_PLATE` for an invalid string, `SCENE_FFMPEG_FAILED` if ffmpeg fails.
 */
export async function renderPlate(
  text: string,
  type: PlateType,
  widthPx: number,
  outPath: string,
): Promise<void> {
  checkAssets();
  await runFfmpeg(
    [
      '-f',
      'lavfi',
      '-i',
      plateFilter(text, type, widthPx),
      '-frames:v',
      '1',
      '-pix_fmt',
      'rgb24',
      '-y',
      outPath,
    ],
    { name: `plate ${text}` },
  );
}
