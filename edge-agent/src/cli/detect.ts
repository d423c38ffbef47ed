/**
 * `edge-agent detect IMAGE…` prints one JSON line of detections per image;
 * `edge-agent detect VIDEO` prints the events the pipeline would emit, one JSON line each.
 * How an installer checks a camera's view, and how anyone evaluates accuracy on their images.
 * Exit codes: 0 all inputs read, 1 some input could not be read, 2 bad arguments.
 */
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { readVideoFrames } from '../capture/file-source.ts';
import { decodeImageFile, startInferencePool } from '../detect/index.ts';
import type { Detection } from '../detect/types.ts';
import { isEdgeError } from '../errors.ts';
import { MemoryEventSink } from '../events/index.ts';
import { silentLogger } from '../log.ts';
import type { InboundDirection } from '../track/index.ts';
import { createCameraPipeline, MODEL_IDS, poolDetect } from '../pipeline/pipeline.ts';

export const DETECT_HELP = `usage: edge-agent detect [options] IMAGE...
       edge-agent detect [options] VIDEO

Images: one JSON line per image with its face and plate detections (the whole image is searched).
Video: the video is analysed like a camera (motion gate, detection, tracking) and each event the
agent would emit is printed as one JSON line (evidence bytes left out, their sha256 kept).

  --fps N            video analysis rate (default 2)
  --width W --height H  video analysis size (default 1280x720)
  --inbound DIR      left_to_right | right_to_left | towards | away (direction of travel)
  --no-face, --no-plate  skip a detector
`;

const VIDEO_EXT = new Set(['.mp4', '.mkv', '.avi', '.mov', '.ts', '.webm', '.h264', '.flv']);

function round(d: Detection): Record<string, unknown> {
  const box = {
    x: Math.round(d.box.x),
    y: Math.round(d.box.y),
    width: Math.round(d.box.width),
    height: Math.round(d.box.height),
  };
  if (d.kind === 'face') return { kind: 'face', box, confidence: Number(d.confidence.toFixed(3)) };
  return {
    kind: 'plate',
    text: d.text,
    colour: d.colour,
    box,
    confidence: Number(d.confidence.toFixed(3)),
    char_confidences: d.charConfidences.map((c) => Number(c.toFixed(3))),
  };
}

/** Run the detect command; returns the exit code. */
export async function runDetect(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        fps: { type: 'string', default: '2' },
        width: { type: 'string', default: '1280' },
        height: { type: 'string', default: '720' },
        inbound: { type: 'string' },
        'no-face': { type: 'boolean', default: false },
        'no-plate': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    err(`edge-agent detect: ${(e as Error).message}\n\n${DETECT_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(DETECT_HELP);
    return 0;
  }
  const fps = Number(values.fps);
  const width = Number(values.width);
  const height = Number(values.height);
  const inbound = values.inbound;
  const problems: string[] = [];
  if (positionals.length === 0) problems.push('give at least one image or one video');
  if (!(fps > 0 && fps <= 30)) problems.push('--fps must be in (0, 30]');
  if (!(Number.isInteger(width) && width >= 64 && width <= 3840))
    problems.push('--width must be an integer 64..3840');
  if (!(Number.isInteger(height) && height >= 64 && height <= 2160))
    problems.push('--height must be an integer 64..2160');
  const isVideo = positionals.some((p) => VIDEO_EXT.has(extname(p).toLowerCase()));
  if (isVideo && positionals.length > 1) problems.push('give one video at a time');
  if (inbound !== undefined && !['left_to_right', 'right_to_left', 'towards', 'away'].includes(inbound)) {
    problems.push('--inbound must be left_to_right, right_to_left, towards or away');
  }
  if (problems.length > 0) {
    err(`edge-agent detect: ${problems.join('; ')}\n\n${DETECT_HELP}`);
    return 2;
  }
  const kinds = { face: !values['no-face'], plate: !values['no-plate'] };
  const detectors = (['face', 'plate'] as const).filter((k) => kinds[k]);
  const pool = await startInferencePool({ detectors, logger: silentLogger() });
  try {
    if (!isVideo) {
      let failed = 0;
      for (const file of positionals) {
        try {
          const image = await decodeImageFile(file);
          const { detections } = await pool.detect({ image, detectors });
          out(
            JSON.stringify({
              file,
              width: image.width,
              height: image.height,
              detections: detections.map(round),
            }),
          );
        } catch (e) {
          failed += 1;
          const code = isEdgeError(e) ? e.code : 'EDGE_ERR_DETECT_INPUT';
          out(JSON.stringify({ file, error: { code, message: (e as Error).message } }));
        }
      }
      return failed === 0 ? 0 : 1;
    }

    const file = positionals[0] ?? '';
    const sink = new MemoryEventSink();
    const pipeline = createCameraPipeline({
      siteId: 'cli',
      cameraId: 'video',
      detect: poolDetect(pool),
      kinds,
      modelIds: MODEL_IDS,
      sink,
      // Validated above against the four names.
      tracker: { inbound: (inbound ?? 'unspecified') as InboundDirection },
      logger: silentLogger(),
      onFrame: (o) => {
        for (const ev of o.events) out(JSON.stringify(eventJson(ev)));
      },
    });
    try {
      for await (const frame of readVideoFrames(file, { width, height, fps })) await pipeline.process(frame);
      for (const ev of await pipeline.flush()) out(JSON.stringify(eventJson(ev)));
      return 0;
    } catch (e) {
      out(
        JSON.stringify({
          file,
          error: { code: isEdgeError(e) ? e.code : 'EDGE_ERR_DETECT_INPUT', message: (e as Error).message },
        }),
      );
      return 1;
    }
  } finally {
    await pool.close();
  }
}

/** An event as JSON for people: proto JSON with the evidence bytes left out (their sha256 stays). */
function eventJson(ev: Event): unknown {
  const evidence =
    ev.evidence === undefined
      ? undefined
      : { ...ev.evidence, jpeg: Buffer.alloc(0), contextJpeg: Buffer.alloc(0) };
  return Event.toJSON({ ...ev, evidence });
}
