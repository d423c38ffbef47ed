/**
 * Plate background colour from the crop's pixels: each pixel is put in an HSV class (blue,
 * yellow, green, white, black or none), and the background is the class that covers the plate
 * once the characters (the minority, in the contrasting colour) are set aside.
 */
import type { PlateColourName, RgbImage } from './types.ts';

/** Pixel classes counted by {@link colourFractions}. */
export type PixelClass = 'blue' | 'yellow' | 'green' | 'white' | 'black' | 'other';

/** HSV of an 8-bit RGB pixel: h in degrees [0, 360), s and v in [0, 1]. */
export function rgbToHsv(r: number, g: number, b: number): { h: number; s: number; v: number } {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  const v = max / 255;
  const s = max === 0 ? 0 : d / max;
  let h = 0;
  if (d > 0) {
    if (max === r) h = ((g - b) / d) * 60;
    else if (max === g) h = ((b - r) / d) * 60 + 120;
    else h = ((r - g) / d) * 60 + 240;
    if (h < 0) h += 360;
  }
  return { h, s, v };
}

/** The class of one pixel. */
export function classifyPixel(r: number, g: number, b: number): PixelClass {
  const { h, s, v } = rgbToHsv(r, g, b);
  if (v < 0.22) return 'black';
  if (s < 0.18) return v > 0.55 ? 'white' : v < 0.35 ? 'black' : 'other';
  if (s >= 0.3 && h >= 185 && h <= 255) return 'blue';
  if (s >= 0.35 && v >= 0.35 && h >= 32 && h <= 68) return 'yellow';
  if (h >= 75 && h <= 170) return 'green';
  return 'other';
}

/** Share of each pixel class in `image` (optionally only the inner part, margins cut by `inset`). */
export function colourFractions(image: RgbImage, inset = 0): Record<PixelClass, number> {
  const counts: Record<PixelClass, number> = { blue: 0, yellow: 0, green: 0, white: 0, black: 0, other: 0 };
  const x0 = Math.floor(image.width * inset);
  const x1 = Math.ceil(image.width * (1 - inset));
  const y0 = Math.floor(image.height * inset);
  const y1 = Math.ceil(image.height * (1 - inset));
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * image.width + x) * 3;
      counts[classifyPixel(image.data[i] ?? 0, image.data[i + 1] ?? 0, image.data[i + 2] ?? 0)]++;
      n++;
    }
  }
  const out = { ...counts };
  if (n > 0) for (const k of Object.keys(out) as PixelClass[]) out[k] = counts[k] / n;
  return out;
}

/**
 * The plate's background colour. A chromatic class covering a good share wins (the characters
 * are white or black, so they never compete with it); green plates shade from near-white to
 * green, so green needs less. Otherwise white-on-black or black-on-white decides.
 */
export function classifyPlateColour(image: RgbImage): PlateColourName {
  if (image.width === 0 || image.height === 0) return 'unknown';
  // The outer rows/columns of a text box often catch the plate rim or the car body.
  const f = colourFractions(image, 0.08);
  const chroma: ['blue' | 'yellow' | 'green', number][] = [
    ['blue', f.blue],
    ['yellow', f.yellow],
    ['green', f.green],
  ];
  chroma.sort((a, b) => b[1] - a[1]);
  const [top] = chroma;
  if (top !== undefined) {
    const [name, share] = top;
    if (name === 'green' ? share >= 0.25 : share >= 0.3) return name;
  }
  if (f.white >= 0.4 && f.white > f.black) return 'white';
  if (f.black >= 0.4 && f.black > f.white) return 'black';
  return 'unknown';
}
