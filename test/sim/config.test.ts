/** Camera / CLI config validation: every problem reported as `path message`. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { SimConfigError, parseCliConfig } from './onvif/index.ts';
import { testCameraConfig } from './sim-fixtures.ts';

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), 'onvif', 'cameras.example.json');

function issuesOf(config: unknown): string[] {
  try {
    parseCliConfig(config);
    return [];
  } catch (err) {
    if (err instanceof SimConfigError) return [...err.issues];
    throw err;
  }
}

const cam = (overrides: Record<string, unknown>): unknown => ({
  cameras: [{ ...testCameraConfig(1), ...overrides }],
});

describe('parseCliConfig', () => {
  it('accepts the example config shipped next to the CLI', () => {
    const config = parseCliConfig(JSON.parse(readFileSync(EXAMPLE, 'utf8')) as unknown);
    expect(config.cameras.map((c) => c.name)).toEqual(['gate-north', 'gate-south']);
  });

  it.each([
    ['no cameras', { cameras: [] }, ['config.cameras must be a non-empty array']],
    [
      'unknown top-level field',
      { cameras: [testCameraConfig(1)], verbose: true },
      ['config.verbose is not a known field'],
    ],
    [
      'bad endpoint reference',
      cam({ identity: { ...testCameraConfig(1).identity, endpoint_reference: 'uuid:1' } }),
      ['config.cameras[0].identity.endpoint_reference must be urn:uuid:<uuid>'],
    ],
    [
      'duplicate profile token and bad RTSP URI',
      cam({
        profiles: [
          { token: 'p', name: 'A', width: 640, height: 480, fps: 10, rtsp_uri: 'rtsp://127.0.0.1/a' },
          { token: 'p', name: 'B', width: 640, height: 480, fps: 10, rtsp_uri: 'http://x' },
        ],
      }),
      [
        'config.cameras[0].profiles[1].token is a duplicate',
        'config.cameras[0].profiles[1].rtsp_uri must be an rtsp:// URI',
      ],
    ],
    [
      'multicast without the acknowledgement',
      cam({ discovery: { mode: 'multicast' } }),
      [
        'config.cameras[0].discovery.i_understand_this_must_run_in_a_netns must be true (multicast only runs inside runInNetns)',
      ],
    ],
    [
      'unknown fault',
      cam({ fault: { kind: 'flaky' } }),
      [expect.stringMatching(/^config\.cameras\[0\]\.fault\.kind must be one of/) as unknown],
    ],
    [
      'negative slow delay',
      cam({ fault: { kind: 'slow', delay_ms: -1 } }),
      ['config.cameras[0].fault.delay_ms must be an integer in [0, 600000]'],
    ],
    [
      'port out of range',
      cam({ http_port: 70000 }),
      ['config.cameras[0].http_port must be an integer in [0, 65535]'],
    ],
    [
      'duplicate endpoint references',
      { cameras: [testCameraConfig(1), testCameraConfig(1)] },
      ['config.cameras[1].identity.endpoint_reference is a duplicate'],
    ],
  ])('%s', (_name, config, expected) => {
    expect(issuesOf(config)).toEqual(expected);
  });
});
