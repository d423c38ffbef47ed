/**
 * Preset scenes for the three simulated cameras of the demo site. Each shows different plates,
 * faces and text. Coordinates are 1280×720 reference px, times are fractions of the loop.
 *
 * Reference layout (all themes): horizon y=300, far pavement 300–336, road 336–610 (far lane wheels
 * at ~462, near lane at ~595), near pavement 610–720.
 */
import type { SceneSpec } from './spec.ts';

/** Names of the preset scenes. */
export type PresetName = 'village-entrance' | 'checkpoint' | 'street';

/** 2025-03-18 08:30:00 UTC, shown by the OSD clock at t = 0. */
const CLOCK_START_S = 1742286600;

/** The presets, by name. Plate strings are given so the demo is recognisable; faces come from two photos. */
export const PRESET_SCENES: Readonly<Record<PresetName, SceneSpec>> = {
  'village-entrance': {
    name: 'village-entrance',
    seed: 1101,
    theme: 'village',
    sign: { text: '平安超市', x: 840, y: 176, font_px: 30 },
    osd: { timestamp: true, start_epoch_s: CLOCK_START_S, label: '村口东 CAM01' },
    vehicles: [
      {
        id: 'v1',
        plate_type: 'blue',
        plate_text: '皖A7K351',
        plate_width_px: 62,
        bottom_y: 462,
        direction: 'ltr',
        enter_at: 0.02,
        exit_at: 0.4,
      },
      {
        id: 'v2',
        plate_type: 'green',
        plate_text: '皖AD20517',
        plate_width_px: 260,
        bottom_y: 596,
        direction: 'rtl',
        enter_at: 0.36,
        exit_at: 0.66,
      },
      {
        id: 'v3',
        plate_type: 'yellow',
        plate_text: '皖B61829',
        plate_width_px: 100,
        bottom_y: 466,
        direction: 'rtl',
        enter_at: 0.56,
        exit_at: 0.97,
      },
    ],
    persons: [
      {
        id: 'p1',
        source: 'astronaut',
        keyframes: [
          { at: 0.05, cx: -40, cy: 262, face_px: 32 },
          { at: 0.55, cx: 1320, cy: 262, face_px: 32 },
        ],
      },
      {
        id: 'p2',
        source: 'camera',
        keyframes: [
          { at: 0.7, cx: 1000, cy: 380, face_px: 60 },
          { at: 0.95, cx: 1120, cy: 560, face_px: 190 },
        ],
      },
    ],
  },
  checkpoint: {
    name: 'checkpoint',
    seed: 2202,
    theme: 'checkpoint',
    sign: { text: '公安检查站', x: 470, y: 46, font_px: 30, board_color: '0x1f4fa0', text_color: '0xffffff' },
    osd: { timestamp: true, start_epoch_s: CLOCK_START_S, label: '检查站入口 CAM02' },
    vehicles: [
      {
        id: 'v1',
        plate_type: 'blue',
        plate_text: '京N3B278',
        plate_width_px: 400,
        bottom_y: 712,
        direction: 'rtl',
        enter_at: 0.02,
        exit_at: 0.42,
        stop: { center_x: 640, from: 0.12, to: 0.3 },
      },
      {
        id: 'v2',
        plate_type: 'green',
        plate_text: '京AF09213',
        plate_width_px: 64,
        bottom_y: 462,
        direction: 'ltr',
        enter_at: 0.42,
        exit_at: 0.75,
      },
      {
        id: 'v3',
        plate_type: 'yellow',
        plate_text: '冀F35716',
        plate_width_px: 150,
        bottom_y: 596,
        direction: 'rtl',
        enter_at: 0.74,
        exit_at: 0.99,
      },
    ],
    persons: [
      {
        id: 'p1',
        source: 'camera',
        keyframes: [
          { at: 0.53, cx: -70, cy: 470, face_px: 120 },
          { at: 0.58, cx: 110, cy: 470, face_px: 120 },
          { at: 0.66, cx: 110, cy: 470, face_px: 120 },
          { at: 0.72, cx: -70, cy: 470, face_px: 120 },
        ],
      },
      {
        id: 'p2',
        source: 'astronaut',
        keyframes: [
          { at: 0.44, cx: 1330, cy: 590, face_px: 56 },
          { at: 0.5, cx: 1180, cy: 590, face_px: 56 },
          { at: 0.66, cx: 1180, cy: 590, face_px: 56 },
          { at: 0.72, cx: 1330, cy: 590, face_px: 56 },
        ],
      },
    ],
  },
  street: {
    name: 'street',
    seed: 3303,
    theme: 'street',
    sign: { text: '便利店', x: 80, y: 120, font_px: 34, board_color: '0x2e7d32', text_color: '0xffffff' },
    osd: { timestamp: true, start_epoch_s: CLOCK_START_S, label: '解放路 CAM03' },
    vehicles: [
      {
        id: 'v1',
        plate_type: 'green',
        plate_text: '粤BD12345',
        plate_width_px: 64,
        bottom_y: 462,
        direction: 'rtl',
        enter_at: 0.02,
        exit_at: 0.36,
      },
      {
        id: 'v2',
        plate_type: 'blue',
        plate_text: '粤B6Q8C3',
        plate_width_px: 130,
        bottom_y: 596,
        direction: 'ltr',
        enter_at: 0.1,
        exit_at: 0.36,
      },
      {
        id: 'v3',
        plate_type: 'blue',
        plate_text: '粤S29J07',
        plate_width_px: 340,
        bottom_y: 712,
        direction: 'rtl',
        enter_at: 0.4,
        exit_at: 0.68,
      },
      {
        id: 'v4',
        plate_type: 'yellow',
        plate_text: '粤B05213',
        plate_width_px: 80,
        bottom_y: 464,
        direction: 'ltr',
        enter_at: 0.62,
        exit_at: 0.98,
      },
    ],
    persons: [
      {
        id: 'p1',
        source: 'camera',
        keyframes: [
          { at: 0.4, cx: 1340, cy: 620, face_px: 80 },
          { at: 0.98, cx: -60, cy: 620, face_px: 80 },
        ],
      },
      {
        id: 'p2',
        source: 'camera',
        keyframes: [
          { at: 0.05, cx: 700, cy: 235, face_px: 30 },
          { at: 0.3, cx: 500, cy: 235, face_px: 30 },
        ],
      },
      {
        id: 'p3',
        source: 'astronaut',
        keyframes: [
          { at: 0.72, cx: 300, cy: 330, face_px: 70 },
          { at: 0.96, cx: 380, cy: 470, face_px: 200 },
        ],
      },
    ],
  },
};

/** Preset names, in demo camera order. */
export const PRESET_NAMES: readonly PresetName[] = ['village-entrance', 'checkpoint', 'street'];

/** Whether `name` is a preset. */
export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/** A preset with video parameters overridden (size, fps, loop length). */
export function presetScene(
  name: PresetName,
  overrides: Pick<SceneSpec, 'width' | 'height' | 'fps' | 'duration_s'> = {},
): SceneSpec {
  const spec: SceneSpec = { ...PRESET_SCENES[name] };
  if (overrides.width !== undefined) spec.width = overrides.width;
  if (overrides.height !== undefined) spec.height = overrides.height;
  if (overrides.fps !== undefined) spec.fps = overrides.fps;
  if (overrides.duration_s !== undefined) spec.duration_s = overrides.duration_s;
  return spec;
}
