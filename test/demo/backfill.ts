/**
 * A week of synthetic history for the demo, so search, maps and statistics have content from the
 * first minute: plate and face passes at the registered cameras with a day/night rhythm (morning
 * and evening peaks), vehicles that come back (a pool of plates, some passing both villages within
 * the hour), directions in and out. Published as the site over MQTT (client id
 * `edge-<site>:backfill`, batches of 200 events) so it takes the real path: broker, ingest,
 * evidence store, index, alerts. Each plate's crop is drawn once and shared by its passes
 * (content-addressed: stored once); faces carry a drawn placeholder crop, not a person.
 */
import { createHash } from 'node:crypto';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { createUlidFactory } from '../../edge-agent/src/track/ulid.ts';
import { Direction, EventKind, PlateColour, type Event } from '../../proto/gen/sharpeyes/v1/event.ts';
import { encodePayload, topic } from '../../proto/topics.ts';
import { evidenceJpegs } from './stack.ts';

/** Options of {@link backfillHistory}. */
export interface BackfillOptions {
  brokerUrl: string;
  siteId: string;
  sitePassword: string;
  cameraIds: readonly string[];
  /** Days back from now (default 7). */
  days?: number;
  /** Mean plate passes per camera per hour (default 12). */
  platesPerHour?: number;
  /** Deterministic output (default 1). */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

const HOUR_MS = 3_600_000;
const PROVINCES = '鄂湘豫皖赣京沪粤川渝';
const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '0123456789';

/** Day/night rhythm: share of the mean in each hour of the (local) day. */
const RHYTHM = [
  0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.9, 2.0, 2.2, 1.4, 1.0, 1.0, 1.2, 1.0, 0.9, 1.0, 1.3, 2.1, 2.3, 1.5, 1.0,
  0.7, 0.4, 0.2,
];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(mean: number, rnd: () => number): number {
  const l = Math.exp(-mean);
  let k = 0;
  for (let p = rnd(); p > l; p *= rnd()) k += 1;
  return k;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Pass {
  cameraId: string;
  kind: 'plate' | 'face';
  plate: string;
  firstSeenMs: number;
  direction: Direction;
}

/** Publish the history; resolves with the number of events once the broker has acknowledged them all. */
export async function backfillHistory(opts: BackfillOptions): Promise<number> {
  const rnd = mulberry32(opts.seed ?? 1);
  const pick = (s: string): string => s[Math.floor(rnd() * s.length)] ?? s[0] ?? '';
  const pool = Array.from({ length: 400 }, () => {
    let serial = '';
    for (let i = 0; i < 5; i += 1) serial += pick(i < 1 ? LETTERS : i < 3 ? DIGITS + LETTERS : DIGITS);
    return `${pick(PROVINCES)}${pick(LETTERS)}${serial}`;
  });
  const now = Date.now();
  const start = Math.floor((now - (opts.days ?? 7) * 24 * HOUR_MS) / HOUR_MS) * HOUR_MS;
  const perHour = opts.platesPerHour ?? 12;
  const passes: Pass[] = [];
  for (let hour = start; hour + HOUR_MS <= now; hour += HOUR_MS) {
    // Local time of the command centre (China Standard Time, UTC+8).
    const local = new Date(hour + 8 * HOUR_MS).getUTCHours();
    for (const cameraId of opts.cameraIds) {
      const plates = poisson(perHour * (RHYTHM[local] ?? 1), rnd);
      for (let i = 0; i < plates; i += 1) {
        // Regulars: a fifth of the pool makes most of the traffic.
        const plate = pool[Math.floor(rnd() < 0.6 ? rnd() * 80 : rnd() * pool.length)] ?? 'X';
        const t = hour + Math.floor(rnd() * HOUR_MS);
        const direction = rnd() < 0.5 ? Direction.DIRECTION_IN : Direction.DIRECTION_OUT;
        passes.push({ cameraId, kind: 'plate', plate, firstSeenMs: t, direction });
        // Some drive on to the other village within the hour.
        const other = opts.cameraIds.find((c) => c !== cameraId);
        if (other !== undefined && rnd() < 0.15) {
          const later = t + 5 * 60_000 + Math.floor(rnd() * 40 * 60_000);
          if (later < now)
            passes.push({ cameraId: other, kind: 'plate', plate, firstSeenMs: later, direction });
        }
      }
      const faces = poisson((perHour / 3) * (RHYTHM[local] ?? 1), rnd);
      for (let i = 0; i < faces; i += 1) {
        passes.push({
          cameraId,
          kind: 'face',
          plate: '',
          firstSeenMs: hour + Math.floor(rnd() * HOUR_MS),
          direction: rnd() < 0.5 ? Direction.DIRECTION_IN : Direction.DIRECTION_OUT,
        });
      }
    }
  }
  passes.sort((a, b) => a.firstSeenMs - b.firstSeenMs);

  const crops = new Map<string, { crop: Buffer; context: Buffer }>();
  const faceCrop = await sharp({
    create: { width: 96, height: 96, channels: 3, background: { r: 90, g: 96, b: 110 } },
  })
    .composite([
      {
        input: Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96"><circle cx="48" cy="40" r="22" fill="#c9ced8"/><rect x="18" y="66" width="60" height="30" rx="14" fill="#c9ced8"/></svg>',
        ),
      },
    ])
    .jpeg({ quality: 70 })
    .toBuffer();
  const ulid = createUlidFactory();
  const toEvent = async (p: Pass, n: number): Promise<Event> => {
    let crop: Buffer = faceCrop;
    let context: Buffer | undefined;
    if (p.kind === 'plate') {
      let pics = crops.get(p.plate);
      if (pics === undefined) crops.set(p.plate, (pics = await evidenceJpegs(p.plate, p.cameraId)));
      crop = pics.crop;
      context = pics.context;
    }
    return {
      eventId: ulid(p.firstSeenMs),
      siteId: opts.siteId,
      cameraId: p.cameraId,
      kind: p.kind === 'plate' ? EventKind.EVENT_KIND_PLATE : EventKind.EVENT_KIND_FACE,
      timeMs: p.firstSeenMs + 400,
      firstSeenMs: p.firstSeenMs,
      lastSeenMs: p.firstSeenMs + 1800,
      box: { x: 400, y: 300, width: p.kind === 'plate' ? 240 : 96, height: p.kind === 'plate' ? 80 : 96 },
      frameWidth: 1280,
      frameHeight: 720,
      confidence: 0.8 + rnd() * 0.19,
      trackId: `bf-${n}`,
      revision: 0,
      detail:
        p.kind === 'plate'
          ? {
              $case: 'plate',
              value: {
                text: p.plate,
                colour: PlateColour.PLATE_COLOUR_BLUE,
                charConfidences: Array.from(p.plate, () => 0.85 + rnd() * 0.14),
                agreeingReads: 4,
                totalReads: 5,
              },
            }
          : { $case: 'face', value: { keypoints: [] } },
      evidence: {
        jpeg: crop,
        sha256: sha256(crop),
        width: p.kind === 'plate' ? 240 : 96,
        height: p.kind === 'plate' ? 80 : 96,
        cropBox: { x: 400, y: 300, width: 240, height: 80 },
        contextJpeg: context ?? Buffer.alloc(0),
        contextSha256: context === undefined ? '' : sha256(context),
      },
      modelIds: p.kind === 'plate' ? ['ppocr-v4-det', 'ppocr-v4-rec'] : ['blazeface-back-256'],
      direction: p.direction,
    };
  };

  const client = await mqtt.connectAsync(opts.brokerUrl, {
    clientId: `edge-${opts.siteId}:backfill`,
    username: opts.siteId,
    password: opts.sitePassword,
    clean: true,
    reconnectPeriod: 0,
  });
  try {
    const BATCH = 200;
    for (let i = 0; i < passes.length; i += BATCH) {
      const events = await Promise.all(passes.slice(i, i + BATCH).map((p, j) => toEvent(p, i + j)));
      await client.publishAsync(topic.events(opts.siteId), encodePayload('events', { events }), { qos: 1 });
      opts.onProgress?.(Math.min(i + BATCH, passes.length), passes.length);
    }
  } finally {
    await client.endAsync();
  }
  return passes.length;
}
