/** The eval's scoring rules, on hand-made truth and results. */
import { describe, expect, it } from 'vitest';
import type { SceneTruth } from '../scene/truth.ts';
import { emptyTally, metrics, scoreRun, type RunResult } from './score.ts';

const truth: SceneTruth = {
  version: 1,
  video: { file: 'x.mp4', width: 1280, height: 720, fps: 10, duration_s: 10, frame_count: 100 },
  objects: [
    {
      id: 'plate-v1',
      kind: 'plate',
      text: '京A12345',
      plate_type: 'blue',
      appear_s: 0,
      disappear_s: 4,
      keyframes: [
        { t_s: 0, x: 100, y: 400, w: 120, h: 38 },
        { t_s: 4, x: 900, y: 400, w: 120, h: 38 },
      ],
    },
    {
      id: 'face-p1',
      kind: 'face',
      appear_s: 5,
      disappear_s: 9,
      keyframes: [
        { t_s: 5, x: 600, y: 200, w: 60, h: 60 },
        { t_s: 9, x: 600, y: 200, w: 60, h: 60 },
      ],
    },
    {
      id: 'sign',
      kind: 'text',
      text: '便利店',
      appear_s: 0,
      disappear_s: 10,
      keyframes: [{ t_s: 0, x: 10, y: 10, w: 100, h: 30 }],
    },
  ],
};

function run(over: Partial<RunResult>): RunResult {
  return { truth, width: 1280, height: 720, rotateDeg: 0, frames: [], events: [], ...over };
}

describe('scoreRun', () => {
  it('counts an exact read, a single event per pass, and face recall', () => {
    const tally = emptyTally();
    scoreRun(
      run({
        frames: [
          { t_s: 6, detections: [{ kind: 'face', box: { x: 602, y: 198, width: 58, height: 62 } }] },
          { t_s: 7, detections: [] },
          { t_s: 8, detections: [{ kind: 'face', box: { x: 20, y: 600, width: 40, height: 40 } }] },
        ],
        events: [
          { kind: 'plate', t_s: 2, box: { x: 505, y: 402, width: 110, height: 34 }, text: '京A12345' },
          { kind: 'face', t_s: 6, box: { x: 600, y: 200, width: 60, height: 60 } },
        ],
      }),
      tally,
    );
    expect(metrics(tally)).toEqual({
      plate_exact_read: 1,
      plate_false_events: 0,
      face_recall: 0.333,
      face_false_per_100_frames: 33.33,
      events_per_pass_exact: 1,
    });
  });

  it('counts a misread, a duplicate event and an event on the shop sign as false', () => {
    const tally = emptyTally();
    scoreRun(
      run({
        events: [
          { kind: 'plate', t_s: 1, box: { x: 300, y: 400, width: 120, height: 38 }, text: '京A12346' },
          { kind: 'plate', t_s: 3, box: { x: 700, y: 400, width: 120, height: 38 }, text: '京A12346' },
          { kind: 'plate', t_s: 3, box: { x: 10, y: 10, width: 100, height: 30 }, text: '京B88888' },
        ],
      }),
      tally,
    );
    const m = metrics(tally);
    expect(m.plate_exact_read).toBe(0);
    expect(m.plate_false_events).toBe(1);
    expect(m.events_per_pass_exact).toBe(0);
    expect(tally.misreads).toEqual([{ truth: '京A12345', read: ['京A12346', '京A12346'] }]);
  });
});
