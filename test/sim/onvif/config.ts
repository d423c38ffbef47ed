/**
 * Camera and CLI configuration: validation (every problem listed as `path message`, unknown
 * fields refused) and defaults. The same validator checks the CLI's JSON file and the options
 * passed to `startOnvifCamera`.
 */
import { SimConfigError } from './errors.ts';
import { normalizeFault } from './faults.ts';
import { isLoopbackV4 } from './isolation.ts';
import type {
  AuthPolicy,
  CameraCredentials,
  CameraIdentity,
  DiscoveryConfig,
  FaultMode,
  MediaProfileConfig,
  OnvifCameraConfig,
} from './types.ts';

/** The CLI's JSON file: `tsx test/sim/onvif/cli.ts --config FILE.json`. */
export interface SimCliConfig {
  /** One entry per simulated camera; at least one. */
  cameras: OnvifCameraConfig[];
  /** pino level for the log on stderr. Default `info`. */
  log_level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** Defaults of {@link AuthPolicy}. */
export const DEFAULT_AUTH: Required<AuthPolicy> = { max_clock_skew_ms: 300_000, reject_replayed_nonce: true };

const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN = /^[A-Za-z0-9_.-]{1,64}$/;
const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

type Obj = Record<string, unknown>;

/** Collects `path message` issues while walking untrusted input. */
class Checker {
  readonly issues: string[] = [];

  fail(path: string, message: string): void {
    this.issues.push(`${path} ${message}`);
  }

  object(v: unknown, path: string, allowed: readonly string[]): Obj | undefined {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail(path, 'must be an object');
      return undefined;
    }
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(`${path}.${k}`, 'is not a known field');
    }
    return o;
  }

  string(
    v: unknown,
    path: string,
    opts: { optional?: boolean; pattern?: RegExp; what?: string } = {},
  ): string | undefined {
    if (v === undefined && opts.optional === true) return undefined;
    if (typeof v !== 'string' || v === '') {
      this.fail(path, 'must be a non-empty string');
      return undefined;
    }
    if (opts.pattern !== undefined && !opts.pattern.test(v)) {
      this.fail(path, `must be ${opts.what ?? opts.pattern.source}`);
      return undefined;
    }
    return v;
  }

  int(v: unknown, path: string, min: number, max: number, optional = false): number | undefined {
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      {
        this.fail(path, `must be an integer in [${min}, ${max}]`);
        return undefined;
      }
    }
    return v;
  }

  number(v: unknown, path: string, min: number, max: number, optional = false): number | undefined {
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      {
        this.fail(path, `must be a number in [${min}, ${max}]`);
        return undefined;
      }
    }
    return v;
  }

  loopback(v: unknown, path: string, optional = false): string | undefined {
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || !isLoopbackV4(v)) {
      this.fail(path, 'must be an IPv4 address in 127.0.0.0/8');
      return undefined;
    }
    return v;
  }
}

function checkIdentity(c: Checker, v: unknown, p: string): void {
  const o = c.object(v, p, [
    'endpoint_reference',
    'manufacturer',
    'model',
    'firmware_version',
    'serial_number',
    'hardware_id',
    'hostname',
  ]);
  if (o === undefined) return;
  c.string(o.endpoint_reference, `${p}.endpoint_reference`, { pattern: UUID_URN, what: 'urn:uuid:<uuid>' });
  for (const k of ['manufacturer', 'model', 'firmware_version', 'serial_number', 'hardware_id'] as const) {
    c.string(o[k], `${p}.${k}`);
  }
  c.string(o.hostname, `${p}.hostname`, {
    optional: true,
    pattern: /^[A-Za-z0-9-]{1,63}$/,
    what: 'a host name label',
  });
}

function checkProfiles(c: Checker, v: unknown, p: string): void {
  if (!Array.isArray(v) || v.length === 0) {
    c.fail(p, 'must be a non-empty array');
    return;
  }
  const tokens = new Set<string>();
  v.forEach((item, i) => {
    const pp = `${p}[${i}]`;
    const o = c.object(item, pp, [
      'token',
      'name',
      'width',
      'height',
      'fps',
      'bitrate_kbps',
      'encoding',
      'rtsp_uri',
    ]);
    if (o === undefined) return;
    const token = c.string(o.token, `${pp}.token`, { pattern: TOKEN, what: '1-64 of [A-Za-z0-9_.-]' });
    if (token !== undefined) {
      if (tokens.has(token)) c.fail(`${pp}.token`, 'is a duplicate');
      tokens.add(token);
    }
    c.string(o.name, `${pp}.name`);
    c.int(o.width, `${pp}.width`, 16, 16384);
    c.int(o.height, `${pp}.height`, 16, 16384);
    c.number(o.fps, `${pp}.fps`, 0.1, 240);
    c.int(o.bitrate_kbps, `${pp}.bitrate_kbps`, 1, 1_000_000, true);
    if (o.encoding !== undefined && o.encoding !== 'H264') c.fail(`${pp}.encoding`, 'must be "H264"');
    c.string(o.rtsp_uri, `${pp}.rtsp_uri`, { pattern: /^rtsps?:\/\/\S+$/, what: 'an rtsp:// URI' });
  });
}

function checkDiscovery(c: Checker, v: unknown, p: string): void {
  if (v === undefined) return;
  const o = c.object(v, p, ['mode', 'host', 'port', 'announce_to', 'i_understand_this_must_run_in_a_netns']);
  if (o === undefined) return;
  if (o.mode === 'off') {
    c.object(o, p, ['mode']);
  } else if (o.mode === 'unicast') {
    c.object(o, p, ['mode', 'host', 'port', 'announce_to']);
    c.loopback(o.host, `${p}.host`, true);
    c.int(o.port, `${p}.port`, 0, 65535, true);
    if (o.announce_to !== undefined) {
      const a = c.object(o.announce_to, `${p}.announce_to`, ['host', 'port']);
      if (a !== undefined) {
        c.loopback(a.host, `${p}.announce_to.host`);
        c.int(a.port, `${p}.announce_to.port`, 1, 65535);
      }
    }
  } else if (o.mode === 'multicast') {
    c.object(o, p, ['mode', 'i_understand_this_must_run_in_a_netns']);
    if (o.i_understand_this_must_run_in_a_netns !== true) {
      c.fail(
        `${p}.i_understand_this_must_run_in_a_netns`,
        'must be true (multicast only runs inside runInNetns)',
      );
    }
  } else {
    c.fail(`${p}.mode`, 'must be "off", "unicast" or "multicast"');
  }
}

function checkFault(c: Checker, v: unknown, p: string): void {
  if (v === undefined) return;
  const o = c.object(v, p, ['kind', 'password', 'delay_ms', 'variant', 'depth']);
  if (o === undefined) return;
  switch (o.kind) {
    case 'none':
    case 'silent':
      c.object(o, p, ['kind']);
      return;
    case 'wrong_credentials':
      c.object(o, p, ['kind', 'password']);
      c.string(o.password, `${p}.password`, { optional: true });
      return;
    case 'slow':
      c.object(o, p, ['kind', 'delay_ms']);
      c.int(o.delay_ms, `${p}.delay_ms`, 0, 600_000);
      return;
    case 'malformed_xml':
      c.object(o, p, ['kind', 'variant']);
      if (o.variant !== undefined && o.variant !== 'truncated' && o.variant !== 'garbled') {
        c.fail(`${p}.variant`, 'must be "truncated" or "garbled"');
      }
      return;
    case 'hostile_xml':
      c.object(o, p, ['kind', 'variant', 'depth']);
      if (o.variant !== 'billion_laughs' && o.variant !== 'xxe' && o.variant !== 'deep_nesting') {
        c.fail(`${p}.variant`, 'must be "billion_laughs", "xxe" or "deep_nesting"');
      }
      c.int(o.depth, `${p}.depth`, 1, 10_000_000, true);
      return;
    default:
      c.fail(`${p}.kind`, 'must be one of none, wrong_credentials, slow, malformed_xml, hostile_xml, silent');
  }
}

const CAMERA_FIELDS = [
  'name',
  'identity',
  'credentials',
  'scopes',
  'profiles',
  'snapshot',
  'host',
  'http_port',
  'discovery',
  'fault',
  'auth',
  'clock_offset_ms',
] as const;

function checkCamera(c: Checker, v: unknown, p: string, extraFields: readonly string[] = []): void {
  const o = c.object(v, p, [...CAMERA_FIELDS, ...extraFields]);
  if (o === undefined) return;
  c.string(o.name, `${p}.name`, { optional: true });
  checkIdentity(c, o.identity, `${p}.identity`);
  const cred = c.object(o.credentials, `${p}.credentials`, ['username', 'password']);
  if (cred !== undefined) {
    c.string(cred.username, `${p}.credentials.username`, {
      pattern: /^[\x21-\x7e]+$/,
      what: 'printable ASCII',
    });
    if (typeof cred.password !== 'string') c.fail(`${p}.credentials.password`, 'must be a string');
  }
  if (o.scopes !== undefined) {
    if (!Array.isArray(o.scopes)) c.fail(`${p}.scopes`, 'must be an array of URIs');
    else
      o.scopes.forEach((s, i) =>
        c.string(s, `${p}.scopes[${i}]`, { pattern: /^\S+:\S+$/, what: 'a URI without spaces' }),
      );
  }
  checkProfiles(c, o.profiles, `${p}.profiles`);
  if (o.snapshot !== undefined && typeof o.snapshot !== 'function') c.string(o.snapshot, `${p}.snapshot`);
  c.loopback(o.host, `${p}.host`, true);
  c.int(o.http_port, `${p}.http_port`, 0, 65535, true);
  checkDiscovery(c, o.discovery, `${p}.discovery`);
  checkFault(c, o.fault, `${p}.fault`);
  if (o.auth !== undefined) {
    const a = c.object(o.auth, `${p}.auth`, ['max_clock_skew_ms', 'reject_replayed_nonce']);
    if (a !== undefined) {
      c.int(a.max_clock_skew_ms, `${p}.auth.max_clock_skew_ms`, 0, 86_400_000, true);
      if (a.reject_replayed_nonce !== undefined && typeof a.reject_replayed_nonce !== 'boolean') {
        c.fail(`${p}.auth.reject_replayed_nonce`, 'must be a boolean');
      }
    }
  }
  c.int(o.clock_offset_ms, `${p}.clock_offset_ms`, -10 * 365 * 86_400_000, 10 * 365 * 86_400_000, true);
}

/** Validate camera options (the `logger` field is allowed and not inspected); throws {@link SimConfigError}. */
export function validateCameraOptions(v: unknown, p = 'camera'): void {
  const c = new Checker();
  checkCamera(c, v, p, ['logger']);
  if (c.issues.length > 0) throw new SimConfigError(c.issues);
}

/** Validate the CLI file's parsed JSON; throws {@link SimConfigError} listing every problem. */
export function parseCliConfig(v: unknown): SimCliConfig {
  const c = new Checker();
  const o = c.object(v, 'config', ['cameras', 'log_level']);
  if (o !== undefined) {
    if (!Array.isArray(o.cameras) || o.cameras.length === 0)
      c.fail('config.cameras', 'must be a non-empty array');
    else {
      o.cameras.forEach((cam, i) => {
        checkCamera(c, cam, `config.cameras[${i}]`);
      });
      const refs = o.cameras.map(
        (cam) => (cam as { identity?: { endpoint_reference?: unknown } }).identity?.endpoint_reference,
      );
      refs.forEach((r, i) => {
        if (r !== undefined && refs.indexOf(r) !== i)
          c.fail(`config.cameras[${i}].identity.endpoint_reference`, 'is a duplicate');
      });
    }
    if (o.log_level !== undefined && (typeof o.log_level !== 'string' || !LOG_LEVELS.has(o.log_level))) {
      c.fail('config.log_level', `must be one of ${[...LOG_LEVELS].join(', ')}`);
    }
  }
  if (c.issues.length > 0) throw new SimConfigError(c.issues);
  return v as SimCliConfig;
}

/** Scopes a camera advertises when none are configured. */
export function defaultScopes(identity: CameraIdentity): string[] {
  const seg = (s: string): string => encodeURIComponent(s.replace(/\s+/g, '_'));
  return [
    'onvif://www.onvif.org/type/video_encoder',
    'onvif://www.onvif.org/type/Network_Video_Transmitter',
    'onvif://www.onvif.org/Profile/Streaming',
    `onvif://www.onvif.org/hardware/${seg(identity.model)}`,
    `onvif://www.onvif.org/name/${seg(`${identity.manufacturer} ${identity.model}`)}`,
  ];
}

/** Camera settings after validation and defaults. */
export interface ResolvedCamera {
  name: string;
  identity: CameraIdentity;
  hostname: string;
  credentials: CameraCredentials;
  scopes: string[];
  profiles: MediaProfileConfig[];
  host: string;
  httpPort: number;
  discovery: DiscoveryConfig;
  fault: FaultMode;
  auth: Required<AuthPolicy>;
  clockOffsetMs: number;
}

/** Fill defaults into validated options. */
export function resolveCamera(o: Omit<OnvifCameraConfig, 'snapshot'>): ResolvedCamera {
  return {
    name: o.name ?? o.identity.serial_number,
    identity: { ...o.identity },
    hostname:
      o.identity.hostname ?? `cam-${o.identity.serial_number.replace(/[^A-Za-z0-9-]/g, '-')}`.slice(0, 63),
    credentials: { ...o.credentials },
    scopes: o.scopes !== undefined ? [...o.scopes] : defaultScopes(o.identity),
    profiles: o.profiles.map((p) => ({ ...p })),
    host: o.host ?? '127.0.0.1',
    httpPort: o.http_port ?? 0,
    discovery: o.discovery ?? { mode: 'unicast' },
    fault: normalizeFault(o.fault ?? { kind: 'none' }),
    auth: { ...DEFAULT_AUTH, ...o.auth },
    clockOffsetMs: o.clock_offset_ms ?? 0,
  };
}
