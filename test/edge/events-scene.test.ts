/**
 * The motion → track → event chain on a generated scene's real frames, with a simulated detector
 * (the ground truth, where the gate says to look): one plate event per vehicle, each with a crop
 * that shows its plate (its colour) and a context frame, all within their size bounds.
 */
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { Event, EventKind } from '../../proto/gen/sharpeyes/v1/event.ts';
import type { Box } from '../../edge-agent/src/detect/types.ts';
import { MemoryEventSink, buildEvent, sha256Hex } from '../../edge-agent/src/events/index.ts';
import { createMotionGate } from '../../edge-agent/src/motion/index.ts';
import { createTracker } from '../../edge-agent/src/track/index.ts';
import { iou } from '../../edge-agent/src/track/geometry.ts';
import { readFrames } from '../scene/ffmpeg.ts';
import { generateScene } from '../scene/generate.ts';
import { presetScene } from '../scene/presets.ts';
import type { SceneTruth } from '../scene/truth.ts';
import { simulateDetections } from './fixtures/track-detections.ts';

const START_MS = 1_750_000_000_000;
let truth: SceneTruth;
let frames: Buffer[];
let times: number[];

beforeAll(async () => {
  const scene = await generateScene(presetScene('street'));
  truth = scene.truth;
  const v = truth.video;
  times = [];
  for (let t = 0; t <= v.duration_s - 1 / v.fps + 1e-9; t += 0.5) times.push(t);
  frames = (
    await readFrames(
      scene.videoPath,
      v,
      'rgb24',
      times.map((t) => Math.round(t * v.fps)),
    )
  ).frames;
}, 240_000);

function intersects(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

describe('motion → tracker → events on the street scene', () => {
  it('makes one plate event per vehicle with a crop of its plate', async () => {
    const { width, height } = truth.video;
    const osd = truth.objects.filter((o) => o.id.startsWith('osd-')).map((o) => o.keyframes[0]);
    const masks = osd.map((k) => {
      const b = k ?? { x: 0, y: 0, w: 0, h: 0 };
      const x0 = (b.x - 8) / width;
      const y0 = (b.y - 8) / height;
      const x1 = (b.x + b.w + 8) / width;
      const y1 = (b.y + b.h + 8) / height;
      return {
        points: [
          { x: x0, y: y0 },
          { x: x1, y: y0 },
          { x: x1, y: y1 },
          { x: x0, y: y1 },
        ],
      };
    });
    const gate = createMotionGate({ masks });
    const tracker = createTracker({ inbound: 'left_to_right' });
    const sink = new MemoryEventSink();
    const sim = simulateDetections(truth, 2, { seed: 11, missRate: 0.05, misreadRate: 0.1, jitterPx: 1 });
    const ctx = {
      siteId: 'site-1',
      cameraId: 'cam3-street',
      modelIds: { face: ['blazeface-back-256'], plate: ['ppocrv4'] },
    };
    for (let i = 0; i < frames.length; i++) {
      const data = frames[i];
      if (data === undefined) continue;
      const frame = { data, width, height, capturedAtMs: START_MS + i * 500 };
      const motion = gate.update(frame);
      // The detector looks where there is motion and where tracks are; elsewhere it is not run.
      const look = [...motion.regions, ...tracker.activeRegions(frame.capturedAtMs)];
      const found = (sim[i]?.detections ?? []).filter((d) => look.some((g) => intersects(g, d.box)));
      for (const report of tracker.update(frame, found)) await sink.publish(await buildEvent(report, ctx));
    }
    for (const report of tracker.flush()) await sink.publish(await buildEvent(report, ctx));

    const plates = sink.events.filter((e) => e.kind === EventKind.EVENT_KIND_PLATE);
    const truthPlates = truth.objects.filter((o) => o.kind === 'plate');
    expect(plates.map((e) => (e.detail?.$case === 'plate' ? e.detail.value.text : '')).sort()).toEqual(
      truthPlates.map((o) => o.text).sort(),
    );
    if (process.env.SHARPEYES_DUMP_EVIDENCE !== undefined) {
      for (const e of sink.events) {
        await writeFile(
          `${process.env.SHARPEYES_DUMP_EVIDENCE}/${e.trackId}.jpg`,
          e.evidence?.jpeg ?? Buffer.alloc(0),
        );
        await writeFile(
          `${process.env.SHARPEYES_DUMP_EVIDENCE}/${e.trackId}-context.jpg`,
          e.evidence?.contextJpeg ?? Buffer.alloc(0),
        );
      }
    }
    for (const e of sink.events) {
      const ev = e.evidence;
      if (ev === undefined) throw new Error('event without evidence');
      expect(ev.jpeg.length).toBeLessThanOrEqual(64 * 1024);
      expect(ev.contextJpeg.length).toBeLessThanOrEqual(24 * 1024);
      expect(sha256Hex(ev.jpeg)).toBe(ev.sha256);
      expect(Event.decode(Event.encode(e).finish())).toEqual(e);
    }
    // Each crop shows its plate: the event box is the plate's true box at that time, and the
    // crop's centre has the plate's colour.
    for (const e of plates) {
      if (e.detail?.$case !== 'plate') continue;
      const text = e.detail.value.text;
      const o = truthPlates.find((p) => p.text === text);
      const t = (e.timeMs - START_MS) / 1000;
      const k0 = o?.keyframes[0];
      const k1 = o?.keyframes.at(-1);
      if (o === undefined || k0 === undefined || k1 === undefined || e.box === undefined)
        throw new Error('bad event');
      const f = (t - k0.t_s) / (k1.t_s - k0.t_s);
      const truthBox = { x: k0.x + (k1.x - k0.x) * f, y: k0.y, width: k0.w, height: k0.h };
      expect(iou(truthBox, e.box), text).toBeGreaterThan(0.7);
      const { data, info } = await sharp(e.evidence?.jpeg).raw().toBuffer({ resolveWithObject: true });
      let [r, g, b] = [0, 0, 0];
      let n = 0;
      for (let y = Math.floor(info.height * 0.35); y < info.height * 0.65; y++) {
        for (let x = Math.floor(info.width * 0.2); x < info.width * 0.8; x++) {
          const i = (y * info.width + x) * info.channels;
          r += data[i] ?? 0;
          g += data[i + 1] ?? 0;
          b += data[i + 2] ?? 0;
          n++;
        }
      }
      [r, g, b] = [r / n, g / n, b / n];
      const colour = o.plate_type;
      if (colour === 'blue') expect(b, `${text} rgb ${r},${g},${b}`).toBeGreaterThan(r + 30);
      if (colour === 'yellow') expect(Math.min(r, g), `${text} rgb ${r},${g},${b}`).toBeGreaterThan(b + 30);
      if (colour === 'green') expect(g, `${text} rgb ${r},${g},${b}`).toBeGreaterThan(r + 15);
    }
  });
});
