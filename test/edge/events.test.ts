/**
 * Events: a track report becomes a proto Event (round-trips through encode/decode), its evidence
 * crop stays inside the frame, respects its size bound and is hashed correctly; faces carry
 * geometry only; the sinks.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDirection } from '../../proto/gen/sharpeyes/v1/config.ts';
import { Direction, Event, EventKind, PlateColour } from '../../proto/gen/sharpeyes/v1/event.ts';
import type { RgbImage } from '../../edge-agent/src/detect/types.ts';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import {
  JsonLinesEventSink,
  MemoryEventSink,
  buildEvent,
  cropBoxWithMargin,
  directionToProto,
  encodeBoundedJpeg,
  eventFromJsonLine,
  inboundFromProto,
  plateColourToProto,
  sha256Hex,
} from '../../edge-agent/src/events/index.ts';
import type { EventContext } from '../../edge-agent/src/events/index.ts';
import { createTracker } from '../../edge-agent/src/track/index.ts';
import type { FaceTrackReport, PlateTrackReport, TrackFrame } from '../../edge-agent/src/track/index.ts';
import { makeTempDir } from '../bench/lifetime.ts';
import type { TempDir } from '../bench/lifetime.ts';
import { box, face, plate, rng } from './fixtures/track-detections.ts';

const W = 1280;
const H = 720;
const T0 = 1_750_000_000_000;
const CTX: EventContext = {
  siteId: 'village-01',
  cameraId: 'cam1-village-entrance',
  modelIds: { face: ['blazeface-back-256'], plate: ['ppocrv4-det', 'ppocrv4-rec'] },
};

/** A road-grey frame with a blue plate (white characters as bars) at `plateBox`, plus mild noise. */
function sceneFrame(
  plateBox: { x: number; y: number; width: number; height: number },
  seed = 1,
  t = T0,
): TrackFrame {
  const r = rng(seed);
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const n = (r() - 0.5) * 12;
      let px: [number, number, number] = [110 + n, 112 + n, 115 + n];
      if (
        x >= plateBox.x &&
        x < plateBox.x + plateBox.width &&
        y >= plateBox.y &&
        y < plateBox.y + plateBox.height
      ) {
        const u = (x - plateBox.x) / plateBox.width;
        const v = (y - plateBox.y) / plateBox.height;
        const ink = v > 0.2 && v < 0.8 && Math.floor(u * 16) % 2 === 1;
        px = ink ? [240, 240, 240] : [20, 60, 200];
      }
      data.set(px, i);
    }
  }
  return { data, width: W, height: H, capturedAtMs: t };
}

function noise(width: number, height: number, seed: number): RgbImage {
  const r = rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { data, width, height };
}

/** A finished plate report from the real tracker (5 frames, blue plate moving right). */
function plateReport(frames: TrackFrame[]): PlateTrackReport {
  const tracker = createTracker({ inbound: 'left_to_right' });
  frames.forEach((f, i) => {
    tracker.update(f, [
      plate('京A12345', box(200 + i * 150, 400, 130, 41), {
        confidence: 0.9 + i * 0.01,
        detConfidence: 0.88,
      }),
    ]);
  });
  const [r] = tracker.flush();
  if (r?.kind !== 'plate') throw new Error('expected a plate report');
  return r;
}

let plateFrames: TrackFrame[];
let report: PlateTrackReport;
let event: Event;

beforeAll(async () => {
  plateFrames = Array.from({ length: 5 }, (_, i) =>
    sceneFrame(box(200 + i * 150, 400, 130, 41), i + 1, T0 + i * 500),
  );
  report = plateReport(plateFrames);
  event = await buildEvent(report, CTX);
});

describe('buildEvent (plate)', () => {
  it('fills every field from the report', () => {
    expect(event).toMatchObject({
      eventId: report.eventId,
      siteId: 'village-01',
      cameraId: 'cam1-village-entrance',
      kind: EventKind.EVENT_KIND_PLATE,
      timeMs: T0 + 4 * 500,
      firstSeenMs: T0,
      lastSeenMs: T0 + 4 * 500,
      box: { x: 800, y: 400, width: 130, height: 41 },
      frameWidth: W,
      frameHeight: H,
      confidence: Math.fround(0.88),
      trackId: report.trackId,
      revision: 0,
      modelIds: ['ppocrv4-det', 'ppocrv4-rec'],
      direction: Direction.DIRECTION_IN,
    });
    expect(event.detail?.$case).toBe('plate');
    if (event.detail?.$case !== 'plate') return;
    expect(event.detail.value).toEqual({
      text: '京A12345',
      colour: PlateColour.PLATE_COLOUR_BLUE,
      charConfidences: Array.from({ length: 7 }, () => Math.fround(0.94)),
      agreeingReads: 5,
      totalReads: 5,
    });
  });

  it('round-trips exactly through Event.encode / Event.decode', () => {
    const bytes = Event.encode(event).finish();
    const back = Event.decode(bytes);
    expect(back).toEqual(event);
    // And encodes to the same bytes again (a replay writes the same point).
    expect(Buffer.from(Event.encode(back).finish()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('carries the crop with margin and a small context frame, each hashed', async () => {
    const ev = event.evidence;
    expect(ev).toBeDefined();
    if (ev === undefined) return;
    expect(ev.sha256).toBe(sha256Hex(ev.jpeg));
    expect(ev.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ev.contextSha256).toBe(sha256Hex(ev.contextJpeg));
    expect(ev.jpeg.length).toBeLessThanOrEqual(64 * 1024);
    expect(ev.contextJpeg.length).toBeLessThanOrEqual(24 * 1024);
    // 20% margin around 130×41 at (800, 400): 26 px and 8.2 px each side.
    expect(ev.cropBox).toEqual({ x: 774, y: 391, width: 182, height: 59 });
    const meta = await sharp(ev.jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', ev.width, ev.height]);
    expect([ev.width, ev.height]).toEqual([182, 59]);
    const ctx = await sharp(ev.contextJpeg).metadata();
    expect([ctx.format, ctx.width, ctx.height]).toEqual(['jpeg', 320, 180]);
    // The crop shows the plate: decode it and find the plate's blue in the middle.
    const { data, info } = await sharp(ev.jpeg).raw().toBuffer({ resolveWithObject: true });
    const mid = (Math.floor(info.height / 2) * info.width + 30) * info.channels;
    expect((data[mid + 2] ?? 0) - (data[mid] ?? 0)).toBeGreaterThan(80);
  });

  it('uses the frame the best detection came from, not the last frame', async () => {
    // Make the second frame's read the best: the evidence must come from that frame.
    const tracker = createTracker();
    plateFrames.forEach((f, i) => {
      tracker.update(f, [
        plate('京A12345', box(200 + i * 150, 400, 130, 41), { confidence: i === 1 ? 0.99 : 0.8 }),
      ]);
    });
    const [r] = tracker.flush();
    if (r === undefined) throw new Error('no report');
    const e = await buildEvent(r, CTX);
    expect(e.timeMs).toBe(T0 + 500);
    expect(e.box).toEqual({ x: 350, y: 400, width: 130, height: 41 });
    expect(e.evidence?.cropBox?.x).toBe(324);
  });
});

describe('buildEvent (face)', () => {
  it('carries normalised keypoints and nothing about the person', async () => {
    const f = sceneFrame(box(0, 0, 1, 1), 7);
    const tracker = createTracker();
    tracker.update(f, [face(box(600, 300, 80, 88), 0.93)]);
    const [r] = tracker.flush() as FaceTrackReport[];
    if (r === undefined) throw new Error('no report');
    const e = await buildEvent(r, CTX);
    expect(e.kind).toBe(EventKind.EVENT_KIND_FACE);
    expect(e.modelIds).toEqual(['blazeface-back-256']);
    expect(e.confidence).toBe(Math.fround(0.93));
    expect(e.detail?.$case).toBe('face');
    if (e.detail?.$case !== 'face') return;
    expect(e.detail.value.keypoints).toHaveLength(6);
    for (const p of e.detail.value.keypoints) {
      expect(p.x).toBeGreaterThanOrEqual(0);
      expect(p.x).toBeLessThanOrEqual(1);
      expect(p.y).toBeGreaterThanOrEqual(0);
      expect(p.y).toBeLessThanOrEqual(1);
    }
    expect(e.detail.value.keypoints[0]?.x).toBeCloseTo((600 + 80 * 0.3) / W, 5);
    // 30% margin around the face.
    expect(e.evidence?.cropBox).toEqual({ x: 576, y: 273, width: 128, height: 142 });
    // Guardrail: geometry, confidence, times, ids and evidence only. No attribute of a person.
    const json = Event.toJSON(e) as Record<string, unknown>;
    const allowed = [
      'eventId',
      'siteId',
      'cameraId',
      'kind',
      'timeMs',
      'firstSeenMs',
      'lastSeenMs',
      'box',
      'frameWidth',
      'frameHeight',
      'confidence',
      'trackId',
      'revision',
      'face',
      'evidence',
      'modelIds',
      'direction',
    ];
    for (const k of Object.keys(json)) expect(allowed).toContain(k);
    expect(Object.keys(json.face as object)).toEqual(['keypoints']);
  });
});

describe('evidence', () => {
  it.each([
    ['inside', box(100, 100, 100, 40), 0.2, box(80, 92, 140, 56)],
    ['top-left corner', box(0, 0, 50, 20), 0.2, box(0, 0, 60, 24)],
    ['bottom-right corner', box(1250, 700, 30, 20), 0.3, box(1241, 694, 39, 26)],
    ['partly outside', box(-20, 690, 60, 60), 0.2, box(0, 678, 52, 42)],
    ['fractional', box(10.5, 10.5, 20.2, 10.1), 0, box(10, 10, 21, 11)],
  ])('cropBoxWithMargin, %s', (_name, b, margin, expected) => {
    const c = cropBoxWithMargin(b, margin, W, H);
    expect(c).toEqual(expected);
    expect(c.x).toBeGreaterThanOrEqual(0);
    expect(c.y).toBeGreaterThanOrEqual(0);
    expect(c.x + c.width).toBeLessThanOrEqual(W);
    expect(c.y + c.height).toBeLessThanOrEqual(H);
  });

  it('a box wholly outside the frame is EDGE_ERR_EVENT_INPUT', () => {
    expect(() => cropBoxWithMargin(box(2000, 10, 10, 10), 0.2, W, H)).toThrow(
      expect.objectContaining({ code: 'EDGE_ERR_EVENT_INPUT' }),
    );
  });

  it('evidence at the edge of the frame is cropped inside it', async () => {
    const f = sceneFrame(box(1200, 690, 80, 30), 3);
    const tracker = createTracker();
    tracker.update(f, [plate('京A12345', box(1200, 690, 80, 30))]);
    const [r] = tracker.flush();
    if (r === undefined) throw new Error('no report');
    const e = await buildEvent(r, CTX);
    expect(e.evidence?.cropBox).toEqual({ x: 1184, y: 684, width: 96, height: 36 });
    const meta = await sharp(e.evidence?.jpeg).metadata();
    expect([meta.width, meta.height]).toEqual([96, 36]);
  });

  it('a big noisy crop is brought under its bound (lower quality, then smaller)', async () => {
    const img = noise(1000, 800, 5);
    const out = await encodeBoundedJpeg(img, { maxBytes: 64 * 1024 });
    expect(out.jpeg.length).toBeLessThanOrEqual(64 * 1024);
    // Pure noise does not fit at full size even at the lowest quality.
    expect(out.width).toBeLessThan(1000);
    expect(out.width / out.height).toBeCloseTo(1000 / 800, 1);
    const meta = await sharp(out.jpeg).metadata();
    expect([meta.width, meta.height]).toEqual([out.width, out.height]);
    // Not shrunk more than needed: at least a quarter of the bound is used.
    expect(out.jpeg.length).toBeGreaterThan(16 * 1024);
  });

  it('a bound that cannot be met is EDGE_ERR_EVENT_EVIDENCE', async () => {
    let err: unknown;
    try {
      await encodeBoundedJpeg(noise(200, 200, 6), { maxBytes: 200 });
    } catch (e) {
      err = e;
    }
    expect(isEdgeError(err, 'EDGE_ERR_EVENT_EVIDENCE')).toBe(true);
  });

  it('sha256Hex is lower-case hex of the bytes', () => {
    expect(sha256Hex(Buffer.from('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('bad site or camera ids are EDGE_ERR_EVENT_INPUT', async () => {
    for (const bad of ['', 'a/b', 'a+b', 'a#b', 'a b']) {
      let err: unknown;
      try {
        await buildEvent(report, { ...CTX, cameraId: bad });
      } catch (e) {
        err = e;
      }
      expect(isEdgeError(err, 'EDGE_ERR_EVENT_INPUT'), bad).toBe(true);
    }
  });
});

describe('proto mappings', () => {
  it.each([
    [ImageDirection.IMAGE_DIRECTION_LEFT_TO_RIGHT, 'left_to_right'],
    [ImageDirection.IMAGE_DIRECTION_RIGHT_TO_LEFT, 'right_to_left'],
    [ImageDirection.IMAGE_DIRECTION_TOWARDS, 'towards'],
    [ImageDirection.IMAGE_DIRECTION_AWAY, 'away'],
    [ImageDirection.IMAGE_DIRECTION_UNSPECIFIED, 'unspecified'],
    [ImageDirection.UNRECOGNIZED, 'unspecified'],
  ])('inbound %i → %s', (d, expected) => {
    expect(inboundFromProto(d)).toBe(expected);
  });
  it.each([
    ['in', Direction.DIRECTION_IN],
    ['out', Direction.DIRECTION_OUT],
    ['unknown', Direction.DIRECTION_UNKNOWN],
  ] as const)('direction %s → %i', (d, expected) => {
    expect(directionToProto(d)).toBe(expected);
  });
  it.each([
    ['blue', PlateColour.PLATE_COLOUR_BLUE],
    ['yellow', PlateColour.PLATE_COLOUR_YELLOW],
    ['green', PlateColour.PLATE_COLOUR_GREEN],
    ['white', PlateColour.PLATE_COLOUR_WHITE],
    ['black', PlateColour.PLATE_COLOUR_BLACK],
    ['unknown', PlateColour.PLATE_COLOUR_UNSPECIFIED],
  ] as const)('colour %s → %i', (c, expected) => {
    expect(plateColourToProto(c)).toBe(expected);
  });
});

describe('sinks', () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = makeTempDir('events-sink');
  });
  afterAll(() => {
    dir.remove();
  });

  it('the memory sink keeps decoded copies and the highest revision per event id', async () => {
    const sink = new MemoryEventSink();
    await sink.publish(event);
    await sink.publish({ ...event, revision: 2 });
    await sink.publish({ ...event, revision: 1 });
    await sink.publish({ ...event, eventId: '01ARYZ6S41TSV4RRFFQ69G5FAV' });
    expect(sink.events).toHaveLength(4);
    expect(sink.events[0]).toEqual(event);
    expect(sink.events[0]).not.toBe(event);
    expect(sink.latest().map((e) => [e.eventId, e.revision])).toEqual([
      [event.eventId, 2],
      ['01ARYZ6S41TSV4RRFFQ69G5FAV', 0],
    ]);
  });

  it('the JSON-lines sink writes one snake_case line per event that reads back to the same event', async () => {
    const path = join(dir.path, 'events.jsonl');
    const sink = new JsonLinesEventSink({ path });
    await Promise.all([sink.publish(event), sink.publish({ ...event, revision: 1 })]);
    await sink.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('"event_id":');
    expect(lines[0]).toContain('"char_confidences":');
    expect(lines[0]).not.toContain('"eventId"');
    expect(eventFromJsonLine(lines[0] ?? '')).toEqual(event);
    expect(eventFromJsonLine(lines[1] ?? '').revision).toBe(1);
    let err: unknown;
    try {
      await sink.publish(event);
    } catch (e) {
      err = e;
    }
    expect(isEdgeError(err, 'EDGE_ERR_EVENT_SINK')).toBe(true);
  });

  it('with an evidence directory, JPEGs are written beside by sha256 and left out of the lines', async () => {
    const path = join(dir.path, 'events-slim.jsonl');
    const evidenceDir = join(dir.path, 'evidence');
    const sink = new JsonLinesEventSink({ path, evidenceDir });
    await sink.publish(event);
    await sink.publish(event);
    await sink.close();
    const ev = event.evidence;
    if (ev === undefined) throw new Error('no evidence');
    expect((await readdir(evidenceDir)).sort()).toEqual(
      [`${ev.contextSha256}.jpg`, `${ev.sha256}.jpg`].sort(),
    );
    const crop = await readFile(join(evidenceDir, `${ev.sha256}.jpg`));
    expect(sha256Hex(crop)).toBe(ev.sha256);
    const back = eventFromJsonLine((await readFile(path, 'utf8')).split('\n')[0] ?? '');
    expect(back.evidence?.jpeg.length).toBe(0);
    expect(back.evidence?.sha256).toBe(ev.sha256);
    expect({ ...back, evidence: undefined }).toEqual({ ...event, evidence: undefined });
  });

  it('a sink that cannot write rejects with EDGE_ERR_EVENT_SINK', async () => {
    const sink = new JsonLinesEventSink({ path: join(dir.path, 'no-such-dir', 'events.jsonl') });
    let err: unknown;
    try {
      await sink.publish(event);
    } catch (e) {
      err = e;
    }
    expect(isEdgeError(err, 'EDGE_ERR_EVENT_SINK')).toBe(true);
    await sink.close();
  });
});
