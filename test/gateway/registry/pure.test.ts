/**
 * The registry's pure logic, table-driven: camera input validation, lifecycle transitions,
 * site config building, online share and area quality.
 */
import { describe, expect, it } from 'vitest';
import { ImageDirection, SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { parseCameraInput, type CameraInput } from '../../../gateway/src/registry/camera-input.ts';
import {
  LIFECYCLE_TRANSITIONS,
  assertTransition,
  canTransition,
} from '../../../gateway/src/registry/lifecycle.ts';
import {
  aggregate,
  areaQuality,
  cameraQuality,
  onlineShare,
  type CameraQuality,
} from '../../../gateway/src/registry/quality.ts';
import {
  buildSiteConfig,
  cameraEnabled,
  nextTemporaryBoundary,
  siteConfigDigest,
} from '../../../gateway/src/registry/site-config.ts';
import { DEFAULT_ANALYSIS } from '../../../gateway/src/registry/camera-input.ts';
import { CAMERA_LIFECYCLES, type Camera, type CameraLifecycle } from '../../../gateway/src/registry/types.ts';

const BASE: CameraInput = {
  cameraId: 'v7-gate-in',
  siteId: 'village-7',
  code: 'V7-GATE-IN',
  name: 'Village 7 gate, inbound',
  place: { district: 'A', street: 'S1', community: 'V7' },
  category: 'village_entrance',
  identity: { endpointReference: 'urn:uuid:1' },
};

describe('parseCameraInput', () => {
  it('fills defaults', () => {
    const v = parseCameraInput(BASE);
    expect(v).toMatchObject({
      place: { district: 'A', street: 'S1', community: 'V7', grid: '' },
      owner: { kind: 'public' },
      capabilities: { face: true, plate: true },
      analysis: { fps: 2, face: true, plate: true, masks: [], minConfidence: 0.5, inbound: 'unspecified' },
      position: null,
      headingDeg: null,
      lanes: null,
      temporary: null,
      xaddr: '',
      coverage: '',
    });
  });

  it('accepts every field', () => {
    const v = parseCameraInput({
      ...BASE,
      position: { latitude: 23.1, longitude: 113.3 },
      headingDeg: 270,
      lanes: 2,
      coverage: 'inbound, 2 lanes',
      owner: {
        kind: 'organisation',
        organisation: 'No. 3 Middle School',
        sharingAgreementRef: 'SA-2025-014',
      },
      identity: { endpointReference: 'urn:uuid:1', serialNumber: 'SN1', manufacturer: 'M', model: 'X' },
      xaddr: 'http://192.0.2.10/onvif/device_service',
      profileToken: 'profile_sub',
      capabilities: { face: false, plate: true },
      analysis: {
        fps: 5,
        masks: [
          [
            { x: 0, y: 0 },
            { x: 1, y: 0 },
            { x: 1, y: 0.1 },
          ],
        ],
        minConfidence: 0.7,
        inbound: 'towards',
      },
      temporary: { startMs: Date.UTC(2025, 0, 1), endMs: Date.UTC(2025, 1, 1) },
      credentials: { username: 'admin', password: ' secret ' },
    });
    expect(v.analysis).toEqual({
      fps: 5,
      face: false,
      plate: true,
      masks: [
        [
          { x: 0, y: 0 },
          { x: 1, y: 0 },
          { x: 1, y: 0.1 },
        ],
      ],
      minConfidence: 0.7,
      inbound: 'towards',
    });
    expect(v.credentials).toEqual({ username: 'admin', password: ' secret ' });
  });

  const bad: [string, Partial<CameraInput> & Record<string, unknown>, RegExp][] = [
    ['a camera id with a slash', { cameraId: 'a/b' }, /camera_id must be/],
    ['a camera id with +', { cameraId: 'a+b' }, /camera_id must be/],
    ['no district', { place: { district: '' } }, /place\.district is required/],
    ['street without district', { place: { street: 'S1' } }, /place\.street is set but place\.district/],
    ['empty code', { code: '  ' }, /code must not be empty/],
    [
      'latitude out of range',
      { position: { latitude: 91, longitude: 0 } },
      /position\.latitude must be between -90 and 90/,
    ],
    [
      'longitude NaN',
      { position: { latitude: 0, longitude: Number.NaN } },
      /position\.longitude must be a finite number/,
    ],
    ['heading 361', { headingDeg: 361 }, /heading_deg must be between 0 and 360/],
    ['lanes 0', { lanes: 0 }, /lanes must be between 1 and 16/],
    ['lanes 1.5', { lanes: 1.5 }, /lanes must be an integer/],
    ['unknown category', { category: 'suspicious_people' as never }, /category must be one of/],
    [
      'organisation without agreement',
      { owner: { kind: 'organisation', organisation: 'X' } as never },
      /owner\.sharing_agreement_ref/,
    ],
    [
      'no identity at all',
      { identity: {} },
      /identity needs an endpoint_reference, a serial_number or an xaddr/,
    ],
    ['xaddr not a URL', { xaddr: 'camera.local' }, /xaddr must be an http\(s\) URL/],
    ['xaddr rtsp', { xaddr: 'rtsp://192.0.2.1/stream' }, /xaddr must be an http\(s\) URL/],
    ['xaddr with credentials', { xaddr: 'http://u:p@192.0.2.1/onvif' }, /must not contain credentials/],
    ['fps 0', { analysis: { fps: 0 } }, /analysis\.fps must be between 0\.1 and 30/],
    ['fps 60', { analysis: { fps: 60 } }, /analysis\.fps/],
    ['min confidence 2', { analysis: { minConfidence: 2 } }, /analysis\.min_confidence/],
    [
      'mask of two points',
      {
        analysis: {
          masks: [
            [
              { x: 0, y: 0 },
              { x: 1, y: 1 },
            ],
          ],
        },
      },
      /analysis\.masks\[0\] must be a polygon/,
    ],
    [
      'mask point outside',
      {
        analysis: {
          masks: [
            [
              { x: 0, y: 0 },
              { x: 1.5, y: 0 },
              { x: 0, y: 1 },
            ],
          ],
        },
      },
      /analysis\.masks\[0\]\[1\]\.x/,
    ],
    ['unknown inbound', { analysis: { inbound: 'north' as never } }, /analysis\.inbound must be one of/],
    [
      'face detector without capability',
      { capabilities: { face: false }, analysis: { face: true } },
      /analysis\.face cannot be enabled/,
    ],
    [
      'temporary end before start',
      { temporary: { startMs: Date.UTC(2025, 1, 1), endMs: Date.UTC(2025, 0, 1) } },
      /temporary\.end_ms must be after/,
    ],
    [
      'temporary start not a time',
      { temporary: { startMs: 5, endMs: Date.UTC(2025, 0, 1) } },
      /temporary\.start_ms must be between/,
    ],
    [
      'empty camera password',
      { credentials: { username: 'admin', password: '' } },
      /credentials\.password must be 1–256/,
    ],
    ['name with a newline', { name: 'gate\nforged log line' }, /name must not contain control characters/],
  ];
  it.each(bad)('refuses %s', (_n, patch, message) => {
    let caught: unknown;
    try {
      parseCameraInput({ ...BASE, ...patch });
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'GATEWAY_ERR_INVALID_INPUT')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });
});

describe('lifecycle', () => {
  const allowed = new Set([
    'discovered>registered',
    'discovered>retired',
    'registered>active',
    'registered>retired',
    'active>registered',
    'active>retired',
  ]);
  const table: [CameraLifecycle, CameraLifecycle, boolean][] = [];
  for (const from of CAMERA_LIFECYCLES)
    for (const to of CAMERA_LIFECYCLES) table.push([from, to, allowed.has(`${from}>${to}`)]);
  it.each(table)('%s → %s: %s', (from, to, ok) => {
    expect(canTransition(from, to)).toBe(ok);
    if (ok) {
      expect(() => {
        assertTransition(from, to);
      }).not.toThrow();
    } else {
      let caught: unknown;
      try {
        assertTransition(from, to);
      } catch (err) {
        caught = err;
      }
      expect(isGatewayError(caught, 'GATEWAY_ERR_LIFECYCLE')).toBe(true);
    }
  });
  it('retired is final', () => {
    expect(LIFECYCLE_TRANSITIONS.retired).toEqual([]);
  });
});

function camera(id: string, over: Partial<Camera> = {}): Camera {
  const v = parseCameraInput({ ...BASE, cameraId: id, code: id.toUpperCase() });
  return {
    ...v,
    lifecycle: 'active',
    hasCredentials: false,
    createdMs: 0,
    updatedMs: 0,
    lifecycleChangedMs: 0,
    ...over,
  };
}

describe('site config', () => {
  const now = Date.UTC(2025, 5, 1);
  const day = 86_400_000;
  const enabledCases: [string, Partial<Camera>, boolean][] = [
    ['active', {}, true],
    ['registered (not yet active)', { lifecycle: 'registered' }, false],
    ['temporary, inside its window', { temporary: { startMs: now - day, endMs: now + day } }, true],
    ['temporary, before its window', { temporary: { startMs: now + 1, endMs: now + day } }, false],
    ['temporary, at its end', { temporary: { startMs: now - day, endMs: now } }, false],
    ['no detector on', { analysis: { ...DEFAULT_ANALYSIS, face: false, plate: false } }, false],
    ['plate only', { analysis: { ...DEFAULT_ANALYSIS, face: false } }, true],
  ];
  it.each(enabledCases)('enabled when %s: %s', (_n, over, want) => {
    expect(cameraEnabled(camera('c1', over), now)).toBe(want);
  });

  it('builds a config of the site’s registered and active cameras, sorted, with credentials', () => {
    const cams = [
      {
        camera: camera('c3', { analysis: { ...DEFAULT_ANALYSIS, inbound: 'right_to_left' } }),
        credentials: { username: 'u', password: 'p' },
      },
      { camera: camera('c1', { lifecycle: 'registered' }), credentials: null },
      { camera: camera('c2', { lifecycle: 'retired' }), credentials: null },
      { camera: camera('c4', { lifecycle: 'discovered' }), credentials: null },
      { camera: camera('c5', { siteId: 'other' }), credentials: null },
    ];
    const config = buildSiteConfig('village-7', cams, DEFAULT_ANALYSIS, now);
    expect(config.cameras.map((c) => [c.cameraId, c.enabled])).toEqual([
      ['c1', false],
      ['c3', true],
    ]);
    const c3 = config.cameras[1];
    expect(c3?.credentials).toEqual({ username: 'u', password: 'p' });
    expect(c3?.analysis?.inbound).toBe(ImageDirection.IMAGE_DIRECTION_RIGHT_TO_LEFT);
    expect(c3?.identity?.endpointReference).toBe('urn:uuid:1');
    expect(config.defaultAnalysis?.fps).toBe(2);
    // It encodes, and the digest ignores revision and time.
    expect(SiteConfig.decode(SiteConfig.encode(config).finish()).cameras).toHaveLength(2);
    const d = siteConfigDigest(config);
    expect(siteConfigDigest({ ...config, revision: 9, updatedMs: 5 })).toBe(d);
    expect(siteConfigDigest(buildSiteConfig('village-7', [...cams].reverse(), DEFAULT_ANALYSIS, now))).toBe(
      d,
    );
    expect(siteConfigDigest(buildSiteConfig('village-7', cams.slice(1), DEFAULT_ANALYSIS, now))).not.toBe(d);
  });

  it('finds the next temporary boundary', () => {
    const cams = [
      camera('a', { temporary: { startMs: now + 5 * day, endMs: now + 9 * day } }),
      camera('b', { temporary: { startMs: now - day, endMs: now + 2 * day } }),
      camera('c', { lifecycle: 'registered', temporary: { startMs: now + day, endMs: now + 3 * day } }),
      camera('d'),
    ];
    expect(nextTemporaryBoundary(cams, now)).toBe(now + 2 * day);
    expect(nextTemporaryBoundary(cams, now + 2 * day)).toBe(now + 5 * day);
    expect(nextTemporaryBoundary(cams, now + 9 * day)).toBeUndefined();
  });
});

describe('online share', () => {
  const H = 3_600_000;
  const cases: [
    string,
    { atMs: number; online: boolean | null }[],
    boolean | null | undefined,
    number | null,
  ][] = [
    ['online all along', [], true, 1],
    ['offline all along', [], false, 0],
    ['nothing known', [], undefined, null],
    ['disabled all along', [], null, null],
    ['half', [{ atMs: 12 * H, online: false }], true, 0.5],
    ['came online at 6h, unknown before', [{ atMs: 6 * H, online: true }], undefined, 1],
    ['online 6h then unknown', [{ atMs: 6 * H, online: null }], true, 1],
    [
      'flapping',
      [
        { atMs: 6 * H, online: false },
        { atMs: 12 * H, online: true },
        { atMs: 18 * H, online: false },
      ],
      true,
      0.5,
    ],
    ['changes before the window only set the start', [{ atMs: -5 * H, online: false }], true, 0],
    ['changes after the window ignored', [{ atMs: 25 * H, online: false }], true, 1],
  ];
  it.each(cases)('%s', (_n, changes, before, want) => {
    const got = onlineShare(changes, before, 0, 24 * H);
    if (want === null) expect(got).toBeNull();
    else expect(got).toBeCloseTo(want, 10);
  });
  it('an empty window is null', () => {
    expect(onlineShare([], true, 10, 10)).toBeNull();
  });
});

describe('area quality', () => {
  const place = (d: string, s: string) => ({ district: d, street: s, community: '', grid: '' });
  const q = (
    id: string,
    p: ReturnType<typeof place>,
    share: number | null,
    online: boolean | null,
    events: number,
    withEv: number,
    lag: number,
  ): CameraQuality =>
    cameraQuality({
      cameraId: id,
      siteId: 's',
      place: p,
      lastSeenMs: online === null ? null : 1000 + id.length,
      changes: online === null ? [] : [{ atMs: 0, online }],
      before: share === null ? undefined : share > 0,
      ingest: { events, eventsWithEvidence: withEv, lagMsMean: lag, lagMsMax: lag * 3 },
      fromMs: 0,
      toMs: 100,
    });

  it('a camera: evidence share, lag, online now', () => {
    const c = q('c1', place('A', 'S1'), 1, true, 10, 9, 200);
    expect(c).toMatchObject({
      onlineNow: true,
      onlineShare: 1,
      events: 10,
      evidenceShare: 0.9,
      ingestLagMs: 200,
      ingestLagMaxMs: 600,
    });
    const none = q('c2', place('A', 'S1'), null, null, 0, 0, 0);
    expect(none).toMatchObject({
      onlineNow: null,
      onlineShare: null,
      ingestLagMs: null,
      evidenceShare: null,
      lastSeenMs: null,
    });
  });

  it('groups by level and aggregates with event weights', () => {
    const cams = [
      q('a1', place('A', 'S1'), 1, true, 10, 10, 100),
      q('a2', place('A', 'S2'), 0, false, 30, 15, 300),
      q('b1', place('B', 'S1'), null, null, 0, 0, 0),
    ];
    const byDistrict = areaQuality(cams, 'district');
    expect(byDistrict.map((a) => a.area)).toEqual([{ district: 'A' }, { district: 'B' }]);
    expect(byDistrict[0]).toMatchObject({
      cameras: 2,
      camerasOnline: 1,
      camerasOffline: 1,
      onlineShare: 0.5,
      events: 40,
      ingestLagMs: 250,
      ingestLagMaxMs: 900,
      evidenceShare: 25 / 40,
    });
    expect(byDistrict[1]).toMatchObject({
      cameras: 1,
      onlineShare: null,
      events: 0,
      evidenceShare: null,
      ingestLagMs: null,
    });
    expect(areaQuality(cams, 'street').map((a) => a.area)).toEqual([
      { district: 'A', street: 'S1' },
      { district: 'A', street: 'S2' },
      { district: 'B', street: 'S1' },
    ]);
    expect(aggregate({}, []).cameras).toBe(0);
  });
});
