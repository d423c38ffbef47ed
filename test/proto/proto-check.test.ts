/**
 * The proto contract: the committed generated code is current, the staleness check really
 * fails on an edited .proto, v1 refuses breaking changes, and the generated codec round-trips.
 */
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Direction, Event, EventKind, PlateColour } from '../../proto/gen/sharpeyes/v1/event.ts';
import { makeTempDir, type TempDir } from '../bench/lifetime.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'proto-gen.sh');
const run = promisify(execFile);

interface CheckResult {
  code: number;
  output: string;
}

async function check(protoDir: string): Promise<CheckResult> {
  try {
    const { stdout, stderr } = await run('bash', [SCRIPT, '--check'], {
      env: { ...process.env, PROTO_DIR: protoDir },
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

describe('proto staleness check', () => {
  let tmp: TempDir | undefined;
  afterEach(() => {
    tmp?.remove();
    tmp = undefined;
  });

  function copyOfProto(): string {
    tmp = makeTempDir('proto');
    const dir = join(tmp.path, 'proto');
    cpSync(join(ROOT, 'proto'), dir, { recursive: true });
    return dir;
  }

  it('passes on the committed tree', async () => {
    const r = await check(join(ROOT, 'proto'));
    expect(r.output).toContain('current');
    expect(r.code).toBe(0);
  });

  it('fails when a .proto is edited without regenerating', async () => {
    const dir = copyOfProto();
    const file = join(dir, 'sharpeyes', 'v1', 'common.proto');
    const src = readFileSync(file, 'utf8');
    writeFileSync(file, src.replace('  int32 height = 4;\n}', '  int32 height = 4;\n  int32 depth = 5;\n}'));
    const r = await check(dir);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/proto\/gen is stale/);
  });

  it('fails when a field number is changed (wire break), even if regenerated', async () => {
    const dir = copyOfProto();
    const file = join(dir, 'sharpeyes', 'v1', 'common.proto');
    const src = readFileSync(file, 'utf8');
    writeFileSync(file, src.replace('int32 height = 4;', 'int32 height = 7;'));
    const r = await check(dir);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/height/);
  });
});

describe('generated codec', () => {
  it('round-trips a plate event with evidence', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
    const context = Buffer.from([0xff, 0xd8, 0x00, 0xff, 0xd9]);
    const event: Event = {
      eventId: '01JD0000000000000000000000',
      siteId: 'site-1',
      cameraId: 'cam-1',
      kind: EventKind.EVENT_KIND_PLATE,
      timeMs: 1_763_800_000_123,
      firstSeenMs: 1_763_800_000_000,
      lastSeenMs: 1_763_800_002_000,
      box: { x: 10, y: 20, width: 120, height: 40 },
      frameWidth: 1280,
      frameHeight: 720,
      confidence: 0.875,
      trackId: 't-7',
      revision: 0,
      detail: {
        $case: 'plate',
        value: {
          text: '京A12345',
          colour: PlateColour.PLATE_COLOUR_BLUE,
          charConfidences: [1, 0.5, 0.25, 1, 1, 1, 1],
          agreeingReads: 5,
          totalReads: 6,
        },
      },
      evidence: {
        jpeg,
        sha256: 'ab'.repeat(32),
        width: 120,
        height: 40,
        cropBox: undefined,
        contextJpeg: context,
        contextSha256: 'cd'.repeat(32),
      },
      modelIds: ['ppocr-v4-det', 'ppocr-v4-rec'],
      direction: Direction.DIRECTION_IN,
    };
    const bytes = Event.encode(event).finish();
    const back = Event.decode(bytes);
    const { evidence, ...rest } = back;
    const { evidence: sentEvidence, ...sentRest } = event;
    expect(rest).toEqual(sentRest);
    expect(Buffer.from(evidence?.jpeg ?? [])).toEqual(jpeg);
    expect(Buffer.from(evidence?.contextJpeg ?? [])).toEqual(context);
    const noBytes = { jpeg: undefined, contextJpeg: undefined };
    expect({ ...evidence, ...noBytes }).toEqual({ ...sentEvidence, ...noBytes });
  });

  it('rejects a truncated payload instead of returning garbage', () => {
    const bytes = Event.encode(Event.fromPartial({ eventId: 'x'.repeat(50), siteId: 's' })).finish();
    expect(() => Event.decode(bytes.subarray(0, 20))).toThrow();
  });
});
