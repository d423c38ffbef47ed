/** The plate filter (normalisation, formats, aspect, colour consistency) and the colour classifier. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFile } from '../../edge-agent/src/detect/image.ts';
import { classifyPixel, classifyPlateColour, rgbToHsv } from '../../edge-agent/src/detect/plate-colour.ts';
import type { PixelClass } from '../../edge-agent/src/detect/plate-colour.ts';
import {
  colourMatchesFormat,
  isPlateAspect,
  judgePlate,
  normalisePlateRead,
  plateFormatOf,
} from '../../edge-agent/src/detect/plate-filter.ts';
import type { PlateFormat, PlateRejection, ScoredChar } from '../../edge-agent/src/detect/plate-filter.ts';
import type { PlateColourName, RgbImage } from '../../edge-agent/src/detect/types.ts';
import { makeTempDir } from '../bench/lifetime.ts';
import type { TempDir } from '../bench/lifetime.ts';
import { ENV_PLATE_RE, NEW_ENERGY_PLATE_RE, randomPlate } from '../scene/plates.ts';
import type { PlateType } from '../scene/plates.ts';
import { makeRng } from '../scene/rng.ts';
import { makeVariant, plateImagePath } from './fixtures/plate-variants.ts';

const scored = (text: string, confidence = 0.9): ScoredChar[] =>
  Array.from(text, (ch) => ({ ch, confidence }));
const norm = (text: string): string =>
  normalisePlateRead(scored(text))
    .map((c) => c.ch)
    .join('');

describe('plateFormatOf', () => {
  it.each<[string, PlateFormat | undefined]>([
    ['京A12345', 'standard'],
    ['粤B6Q8C3', 'standard'],
    ['沪AD1234', 'standard'],
    ['冀FAB123', 'standard'],
    ['粤BD12345', 'new-energy-small'],
    ['粤BF12345', 'new-energy-small'],
    ['皖ADA2051', 'new-energy-small'],
    ['粤B12345D', 'new-energy-large'],
    ['粤B12345F', 'new-energy-large'],
    ['粤B1234挂', 'suffix'],
    ['京A1234警', 'suffix'],
    ['京A1234学', 'suffix'],
    ['粤Z1234港', 'suffix'],
    ['粤Z1234澳', 'suffix'],
    ['', undefined],
    ['京A1234', undefined],
    ['京A123456', undefined],
    ['京I12345', undefined],
    ['京O12345', undefined],
    ['京112345', undefined],
    ['A京12345', undefined],
    ['京AB1234挂', undefined],
    ['京AI2345', undefined],
    ['京ABCDEF', undefined],
    ['京AABCD1', undefined],
    ['粤BD1234A', undefined],
    ['粤BA12345', undefined],
    ['港A12345', undefined],
    ['便利店', undefined],
    ['平安超市', undefined],
    ['公安检查站', undefined],
    ['检查站入口CAM02', undefined],
    ['解放路CAM03', undefined],
    ['20240101120000', undefined],
    ['CAM02', undefined],
    ['京A12345京', undefined],
  ])('%s → %s', (text, format) => {
    expect(plateFormatOf(text)).toBe(format);
  });

  it('accepts every plate the scene generator makes, and agrees with its regexes', () => {
    const rng = makeRng(4242);
    for (let i = 0; i < 300; i++) {
      for (const type of ['blue', 'yellow', 'green'] as const) {
        const text = randomPlate(rng, type);
        expect(plateFormatOf(text), text).toBe(type === 'green' ? 'new-energy-small' : 'standard');
        expect(type === 'green' ? NEW_ENERGY_PLATE_RE.test(text) : ENV_PLATE_RE.test(text)).toBe(true);
      }
    }
  });
});

describe('normalisePlateRead', () => {
  it.each<[string, string, string]>([
    ['the plate dot', '京A·12345', '京A12345'],
    ['a full stop for the dot', '京A.12345', '京A12345'],
    ['a dash', '京A-12345', '京A12345'],
    ['spaces', ' 京A 123 45 ', '京A12345'],
    ['full-width letters and digits', '京Ａ１２３４５', '京A12345'],
    ['ideographic space', '京A\u300012345', '京A12345'],
    ['lower case', '粤b6q8c3', '粤B6Q8C3'],
    ['O in the serial is 0', '京AO12O5', '京A01205'],
    ['I in the serial is 1', '京AI23I5', '京A12315'],
    ['O as the authority letter is left alone (D? Q? 0?)', '京O12345', '京O12345'],
    ['new energy: 0 in the D/F slot', '粤B012345', '粤BD12345'],
    ['new energy: 0 in the D/F slot needs a digit tail', '粤B0123A5', '粤B0123A5'],
    ['a split province glyph: junk after the province', '鄂部V49U12', '鄂V49U12'],
    ['a split province glyph: junk before the province', '部鄂V49U12', '鄂V49U12'],
    ['two CJK neither a province: unchanged', '便利店', '便利店'],
    ['a clock', '2024-01-01 12:00:00', '20240101120000'],
  ])('%s: %s → %s', (_name, input, expected) => {
    expect(norm(input)).toBe(expected);
  });

  it('of two provinces keeps the more confident one', () => {
    const chars = [{ ch: '皖', confidence: 0.4 }, { ch: '沪', confidence: 0.9 }, ...scored('S31Z03')];
    expect(
      normalisePlateRead(chars)
        .map((c) => c.ch)
        .join(''),
    ).toBe('沪S31Z03');
  });

  it('keeps each character with its own confidence and drops the separators', () => {
    const chars = [0.9, 0.8, 0.3, 0.7, 0.6, 0.5, 0.4, 0.95].map((confidence, i) => ({
      ch: Array.from('京A·12345')[i] ?? '',
      confidence,
    }));
    expect(normalisePlateRead(chars).map((c) => c.confidence)).toEqual([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.95]);
  });
});

describe('isPlateAspect', () => {
  it.each<[number, boolean]>([
    [1, false],
    [2.1, false],
    [2.2, true],
    [3.1, true],
    [3.4, true],
    [4.6, true],
    [6.5, true],
    [7, false],
    [12, false],
  ])('%d → %s', (aspect, ok) => {
    expect(isPlateAspect(aspect)).toBe(ok);
  });
});

describe('colourMatchesFormat', () => {
  it.each<[PlateFormat, string, PlateColourName, boolean]>([
    ['standard', '京A12345', 'blue', true],
    ['standard', '京A12345', 'yellow', true],
    ['standard', '京A12345', 'black', true],
    ['standard', '京A12345', 'white', true],
    ['standard', '京A12345', 'green', false],
    ['standard', '京A12345', 'unknown', true],
    ['new-energy-small', '粤BD12345', 'green', true],
    ['new-energy-small', '粤BD12345', 'blue', false],
    ['new-energy-small', '粤BD12345', 'yellow', false],
    ['new-energy-small', '粤BD12345', 'unknown', true],
    ['new-energy-large', '粤B12345D', 'yellow', true],
    ['new-energy-large', '粤B12345D', 'green', true],
    ['new-energy-large', '粤B12345D', 'blue', false],
    ['suffix', '京A1234警', 'white', true],
    ['suffix', '京A1234警', 'blue', false],
    ['suffix', '粤Z1234港', 'black', true],
    ['suffix', '粤Z1234港', 'blue', false],
    ['suffix', '粤B1234挂', 'yellow', true],
    ['suffix', '粤B1234学', 'blue', false],
    ['suffix', '粤B1234学', 'unknown', true],
  ])('%s %s on %s → %s', (format, text, colour, ok) => {
    expect(colourMatchesFormat(format, text, colour)).toBe(ok);
  });
});

describe('judgePlate', () => {
  it.each<[string, number, PlateColourName, true | PlateRejection]>([
    ['京A·12345', 3.2, 'blue', true],
    ['粤B·D12345', 3.5, 'green', true],
    ['粤B·D12345', 3.5, 'unknown', true],
    ['京A1234警', 3.1, 'white', true],
    ['京A12345', 3.2, 'green', 'colour'],
    ['粤BD12345', 3.4, 'blue', 'colour'],
    ['京A12345', 1.2, 'blue', 'aspect'],
    ['京A12345', 8, 'blue', 'aspect'],
    ['便利店', 3, 'unknown', 'format'],
    ['12:00:00', 5, 'unknown', 'format'],
    ['京A1234', 3, 'blue', 'format'],
  ])('%s aspect %d %s → %s', (text, aspect, colour, expected) => {
    const verdict = judgePlate({ chars: scored(text), aspect, colour });
    if (expected === true) {
      expect(verdict.ok).toBe(true);
    } else {
      expect(verdict).toMatchObject({ ok: false, reason: expected });
    }
  });

  it('reports the read text, per-character confidences and their mean', () => {
    const chars = [0.9, 0.8, 0.1, 0.7, 0.6, 0.5, 0.4, 1].map((confidence, i) => ({
      ch: Array.from('京A·12345')[i] ?? '',
      confidence,
    }));
    const verdict = judgePlate({ chars, aspect: 3, colour: 'blue' });
    expect(verdict).toMatchObject({ ok: true, text: '京A12345', format: 'standard' });
    if (!verdict.ok) return;
    expect(verdict.charConfidences).toEqual([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 1]);
    expect(verdict.confidence).toBeCloseTo(4.9 / 7, 9);
  });

  it('drops reads below minConfidence', () => {
    expect(judgePlate({ chars: scored('京A12345', 0.4), aspect: 3, colour: 'blue' }, 0.5)).toMatchObject({
      ok: false,
      reason: 'confidence',
    });
  });
});

describe('pixel colours', () => {
  it.each<[string, [number, number, number], PixelClass]>([
    ['plate blue', [0x0a, 0x4a, 0xa8], 'blue'],
    ['plate yellow', [0xf2, 0xc0, 0x00], 'yellow'],
    ['new-energy green (bottom)', [0x1a, 0xa8, 0x52], 'green'],
    ['new-energy green (top, pale)', [0xe6, 0xf6, 0xea], 'white'],
    ['white text', [0xf4, 0xf4, 0xf4], 'white'],
    ['black text', [0x10, 0x10, 0x10], 'black'],
    ['dark grey', [0x40, 0x40, 0x40], 'black'],
    ['mid grey', [0x80, 0x80, 0x80], 'other'],
    ['red car', [150, 20, 24], 'other'],
  ])('%s', (_name, [r, g, b], cls) => {
    expect(classifyPixel(r, g, b)).toBe(cls);
  });

  it('rgbToHsv', () => {
    expect(rgbToHsv(255, 0, 0)).toEqual({ h: 0, s: 1, v: 1 });
    expect(rgbToHsv(0, 0, 255)).toEqual({ h: 240, s: 1, v: 1 });
    expect(rgbToHsv(0, 0, 0)).toEqual({ h: 0, s: 0, v: 0 });
  });
});

/** A synthetic plate crop: `bg` background with vertical strokes of `fg` over ~30% of it. */
function strokes(bg: [number, number, number], fg: [number, number, number], w = 150, h = 48): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const ink = y > 6 && y < h - 6 && x % 20 < 6;
      data.set(ink ? fg : bg, (y * w + x) * 3);
    }
  }
  return { data, width: w, height: h };
}

describe('classifyPlateColour', () => {
  let tmp: TempDir | undefined;
  beforeAll(() => {
    tmp = makeTempDir('plate-colour');
  });
  afterAll(() => tmp?.remove());

  const rendered: [string, PlateType, number][] = [
    ['京A12345', 'blue', 80],
    ['京A12345', 'blue', 250],
    ['冀F35716', 'yellow', 80],
    ['冀F35716', 'yellow', 250],
    ['粤BD12345', 'green', 80],
    ['粤BD12345', 'green', 250],
  ];

  it.each(rendered)('a rendered %s %s plate %d px wide', async (text, type, width) => {
    const png = await plateImagePath(tmp?.path ?? '', text, type, width);
    expect(classifyPlateColour(await decodeImageFile(png))).toBe(type);
  });

  it.each(rendered)(
    'the same %s %s plate at %d px, darkened and noisy (night)',
    async (text, type, width) => {
      const png = await plateImagePath(tmp?.path ?? '', text, type, width);
      const v = await makeVariant(png, { text, type, widthPx: width }, 'night', 7);
      const crop = cropBox(v.image, v.box);
      // At night a colour may fade to unknown, but never turn into another plate colour.
      expect([type, 'unknown']).toContain(classifyPlateColour(crop));
    },
  );

  it.each<[string, [number, number, number], [number, number, number], PlateColourName]>([
    ['white plate, black text', [235, 235, 235], [20, 20, 20], 'white'],
    ['black plate, white text', [15, 15, 18], [240, 240, 240], 'black'],
    ['blue plate, white text', [10, 74, 168], [244, 244, 244], 'blue'],
    ['yellow plate, black text', [242, 192, 0], [16, 16, 16], 'yellow'],
    ['grey sign, dark text', [128, 128, 128], [40, 40, 40], 'unknown'],
    ['red shop sign, white text', [170, 20, 30], [240, 240, 240], 'unknown'],
  ])('%s', (_name, bg, fg, colour) => {
    expect(classifyPlateColour(strokes(bg, fg))).toBe(colour);
  });

  it('an empty crop is unknown', () => {
    expect(classifyPlateColour({ data: new Uint8Array(0), width: 0, height: 0 })).toBe('unknown');
  });
});

function cropBox(image: RgbImage, box: { x: number; y: number; width: number; height: number }): RgbImage {
  const data = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++) {
    const src = ((box.y + y) * image.width + box.x) * 3;
    data.set(image.data.subarray(src, src + box.width * 3), y * box.width * 3);
  }
  return { data, width: box.width, height: box.height };
}
