/**
 * Track report → proto Event: ids, times, box, detail, direction, model ids and evidence.
 *
 * Guardrail: a face event carries the box, the detector confidence and the BlazeFace keypoints
 * (geometry) and nothing else: no identity, no embedding, no attribute of a person.
 */
import { Event, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';
import type { Box } from '../detect/types.ts';
import { EdgeError } from '../errors.ts';
import type { TrackReport } from '../track/types.ts';
import { makeEvidence } from './evidence.ts';
import { directionToProto, plateColourToProto } from './proto-map.ts';

/** Who made the event: the site and camera, and the models behind each kind. */
export interface EventContext {
  /** Site id (no `/ + #`). */
  siteId: string;
  /** Camera id (no `/ + #`). */
  cameraId: string;
  /** Model ids (models/manifest) of the detectors, per kind: `Detector.modelIds`. */
  modelIds: { face: readonly string[]; plate: readonly string[] };
}

/** Evidence settings; every field has a default. */
export interface EventEvidenceOptions {
  /** Margin around a plate box, fraction of its size. Default 0.2. */
  plateMargin?: number;
  /** Margin around a face box, fraction of its size. Default 0.3. */
  faceMargin?: number;
  /** Bound of the crop JPEG, bytes. Default 65536. */
  maxBytes?: number;
  /** Width of the context JPEG, px. Default 320. */
  contextWidth?: number;
  /** Bound of the context JPEG, bytes. Default 24576. */
  contextMaxBytes?: number;
}

const ID_RE = /^[^/+#\s]+$/;

/** The box snapped outward to whole pixels and clipped to the frame (proto Box is int32). */
function frameBox(b: Box, width: number, height: number): Box {
  const x0 = Math.min(width, Math.max(0, Math.floor(b.x)));
  const y0 = Math.min(height, Math.max(0, Math.floor(b.y)));
  const x1 = Math.min(width, Math.max(0, Math.ceil(b.x + b.width)));
  const y1 = Math.min(height, Math.max(0, Math.ceil(b.y + b.height)));
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}

/**
 * Clamp to 0..1 and round to float32 (the proto `float`), so an event decodes to exactly what was
 * built and a replay of the same pass encodes to the same bytes.
 */
function unit(v: number): number {
  return Math.fround(Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);
}

/**
 * Build the Event for `report` (final or update: the same event id, its revision). Makes the
 * crop and context JPEGs from the report's best frame. EDGE_ERR_EVENT_INPUT for bad ids or a box
 * outside the frame; EDGE_ERR_EVENT_EVIDENCE when a JPEG cannot be made within its bound.
 */
export async function buildEvent(
  report: TrackReport,
  ctx: EventContext,
  opts: EventEvidenceOptions = {},
): Promise<Event> {
  for (const [name, id] of [
    ['siteId', ctx.siteId],
    ['cameraId', ctx.cameraId],
  ] as const) {
    if (!ID_RE.test(id)) {
      throw new EdgeError(
        'EDGE_ERR_EVENT_INPUT',
        `${name} ${JSON.stringify(id)} is empty or has / + # or spaces`,
      );
    }
  }
  const { frame } = report.best;
  const detection = report.best.detection;
  const evidence = await makeEvidence(frame, detection.box, {
    margin: report.kind === 'plate' ? (opts.plateMargin ?? 0.2) : (opts.faceMargin ?? 0.3),
    maxBytes: opts.maxBytes ?? 64 * 1024,
    contextWidth: opts.contextWidth ?? 320,
    contextMaxBytes: opts.contextMaxBytes ?? 24 * 1024,
  });
  const common = {
    eventId: report.eventId,
    siteId: ctx.siteId,
    cameraId: ctx.cameraId,
    timeMs: Math.round(report.best.timeMs),
    firstSeenMs: Math.round(report.firstSeenMs),
    lastSeenMs: Math.round(report.lastSeenMs),
    box: frameBox(detection.box, frame.width, frame.height),
    frameWidth: frame.width,
    frameHeight: frame.height,
    trackId: report.trackId,
    revision: report.revision,
    evidence: {
      jpeg: evidence.jpeg,
      sha256: evidence.sha256,
      width: evidence.width,
      height: evidence.height,
      cropBox: evidence.cropBox,
      contextJpeg: evidence.contextJpeg,
      contextSha256: evidence.contextSha256,
    },
    direction: directionToProto(report.direction),
  };
  if (report.kind === 'face') {
    const face = report.best.detection;
    return Event.fromPartial({
      ...common,
      kind: EventKind.EVENT_KIND_FACE,
      confidence: unit(face.confidence),
      detail: {
        $case: 'face',
        value: {
          keypoints: face.keypoints.map((p) => ({ x: unit(p.x / frame.width), y: unit(p.y / frame.height) })),
        },
      },
      modelIds: [...ctx.modelIds.face],
    });
  }
  const plate = report.plate;
  return Event.fromPartial({
    ...common,
    kind: EventKind.EVENT_KIND_PLATE,
    confidence: unit(report.best.detection.detConfidence),
    detail: {
      $case: 'plate',
      value: {
        text: plate.text,
        colour: plateColourToProto(plate.colour),
        charConfidences: plate.charConfidences.map(unit),
        agreeingReads: plate.agreeingReads,
        totalReads: plate.totalReads,
      },
    },
    modelIds: [...ctx.modelIds.plate],
  });
}
