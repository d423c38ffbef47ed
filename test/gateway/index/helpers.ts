/**
 * Test helpers for the event index: valid events with ULID ids, an index on a real influxd
 * (started by the bench harness on loopback, reaped even if the test process dies).
 */
import { createHash } from 'node:crypto';
import { Direction, Event, EventKind, PlateColour } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { createUlidFactory } from '../../../edge-agent/src/track/ulid.ts';
import { InfluxEventIndex, type InfluxEventIndexOptions } from '../../../gateway/src/index/influx-index.ts';
import { startInfluxd, type InfluxdHandle } from '../../bench/services/index.ts';

/** A deterministic, monotonic ULID factory (as one edge agent's). */
export function ulidFactory(seed = 1): (timeMs?: number) => string {
  let n = seed;
  return createUlidFactory((bytes) => {
    for (let i = 0; i < bytes.length; i++) {
      n = (Math.imul(n, 1103515245) + 12345) >>> 0;
      bytes[i] = n >>> 24;
    }
  });
}

const defaultIds = ulidFactory(7);

/** What {@link makeEvent} varies. */
export interface EventSpec {
  eventId?: string;
  siteId?: string;
  cameraId?: string;
  kind?: 'plate' | 'face';
  firstSeenMs?: number;
  plate?: string;
  colour?: PlateColour;
  confidence?: number;
  revision?: number;
  direction?: Direction;
  /** Give the event evidence with these bytes' hashes (default: a hash of the event id). */
  evidence?: boolean;
}

/** A valid event as ingest would hand it to the index (evidence bytes already stripped). */
export function makeEvent(spec: EventSpec = {}): Event {
  const firstSeenMs = spec.firstSeenMs ?? Date.now() - 60_000;
  const eventId = spec.eventId ?? defaultIds(firstSeenMs);
  const kind = spec.kind ?? 'plate';
  const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
  const plate = spec.plate ?? '京A12345';
  return Event.fromPartial({
    eventId,
    siteId: spec.siteId ?? 'site-1',
    cameraId: spec.cameraId ?? 'cam-1',
    kind: kind === 'plate' ? EventKind.EVENT_KIND_PLATE : EventKind.EVENT_KIND_FACE,
    timeMs: firstSeenMs + 400,
    firstSeenMs,
    lastSeenMs: firstSeenMs + 900,
    box: { x: 100, y: 200, width: 180, height: 60 },
    frameWidth: 1280,
    frameHeight: 720,
    // As decoded from the wire: a protobuf float (32-bit).
    confidence: Math.fround(spec.confidence ?? 0.9),
    trackId: 'p17',
    revision: spec.revision ?? 0,
    detail:
      kind === 'plate'
        ? {
            $case: 'plate',
            value: {
              text: plate,
              colour: spec.colour ?? PlateColour.PLATE_COLOUR_BLUE,
              charConfidences: Array.from(plate, () => 0.75),
              agreeingReads: 3,
              totalReads: 4,
            },
          }
        : { $case: 'face', value: { keypoints: [{ x: 0.25, y: 0.5 }] } },
    ...(spec.evidence === false
      ? {}
      : {
          evidence: {
            sha256: hash(`crop-${eventId}`),
            width: 180,
            height: 60,
            cropBox: { x: 90, y: 190, width: 200, height: 80 },
            contextSha256: hash(`ctx-${eventId}`),
          },
        }),
    modelIds: kind === 'plate' ? ['ppocr-v4-det', 'ppocr-v4-rec'] : ['blazeface-back-256'],
    direction: spec.direction ?? Direction.DIRECTION_IN,
  });
}

/** A real influxd plus an index on it. */
export interface TestIndex {
  influxd: InfluxdHandle;
  index: InfluxEventIndex;
  /** Another index on the same influxd with other options. */
  open(opts?: Partial<InfluxEventIndexOptions>): Promise<InfluxEventIndex>;
  stop(): Promise<void>;
}

/** Start influxd and open an index with `opts` (database `sharpeyes_test`). */
export async function startTestIndex(opts: Partial<InfluxEventIndexOptions> = {}): Promise<TestIndex> {
  const influxd = await startInfluxd({ indexVersion: 'tsi1' });
  const open = (more: Partial<InfluxEventIndexOptions> = {}): Promise<InfluxEventIndex> =>
    InfluxEventIndex.open({
      url: influxd.url,
      database: 'sharpeyes_test',
      retentionDays: { face: 30, plate: 30 },
      ...opts,
      ...more,
    });
  try {
    const index = await open();
    return { influxd, index, open, stop: () => influxd.stop() };
  } catch (err) {
    await influxd.stop();
    throw err;
  }
}

/** Points in `measurement` of retention policy `rp` (every series, all time). */
export async function countPoints(influxd: InfluxdHandle, rp: string, measurement: string): Promise<number> {
  const series = await influxd.query(
    `SELECT COUNT("event_id") FROM "sharpeyes_test"."${rp}"."${measurement}"`,
    'sharpeyes_test',
  );
  const v = series[0]?.values[0]?.[1];
  return typeof v === 'number' ? v : 0;
}

/** The event as the index returns it: evidence bytes empty (they live in the evidence store). */
export function asIndexed(e: Event): Event {
  return Event.fromPartial({
    ...e,
    ...(e.evidence === undefined
      ? {}
      : { evidence: { ...e.evidence, jpeg: Buffer.alloc(0), contextJpeg: Buffer.alloc(0) } }),
  });
}
