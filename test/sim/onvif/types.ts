/**
 * Public types of the simulated ONVIF camera. Config fields are snake_case because the same
 * shapes are read from the CLI's JSON file (see `config.ts`); only the non-serialisable extras
 * (a snapshot function, a logger) are TypeScript-only.
 */
import type { Logger } from 'pino';

/** Who the camera says it is: WS-Discovery identity and `GetDeviceInformation`. */
export interface CameraIdentity {
  /** WS-Discovery endpoint reference, `urn:uuid:<uuid>`. Stable across `move()` and restarts. */
  endpoint_reference: string;
  /** `GetDeviceInformation` Manufacturer. */
  manufacturer: string;
  /** `GetDeviceInformation` Model; also the `hardware` scope unless `scopes` is given. */
  model: string;
  /** `GetDeviceInformation` FirmwareVersion. */
  firmware_version: string;
  /** `GetDeviceInformation` SerialNumber. */
  serial_number: string;
  /** `GetDeviceInformation` HardwareId. */
  hardware_id: string;
  /** `GetHostname` name. Default `cam-<serial_number>`. */
  hostname?: string;
}

/** The one ONVIF user the camera knows. */
export interface CameraCredentials {
  /** User name expected in the WS-Security UsernameToken and in HTTP Digest. */
  username: string;
  /** Password; never logged. */
  password: string;
}

/** One media profile (`GetProfiles`), i.e. one encoded stream of the single video source. */
export interface MediaProfileConfig {
  /** Profile token, e.g. `profile_main`. Unique per camera; no whitespace. */
  token: string;
  /** Human-readable profile name, e.g. `MainStream`. */
  name: string;
  /** Encoded width in pixels. */
  width: number;
  /** Encoded height in pixels. */
  height: number;
  /** Frame-rate limit (frames per second). */
  fps: number;
  /** Bit-rate limit in kbit/s. Default 4096 for ≥1080 lines, 1024 otherwise. */
  bitrate_kbps?: number;
  /** Only `H264` is simulated. Default `H264`. */
  encoding?: 'H264';
  /** RTSP URI returned by `GetStreamUri` for this profile, e.g. `rtsp://127.0.0.1:8554/cam1`. */
  rtsp_uri: string;
}

/**
 * WS-Discovery behaviour.
 * - `off`: no UDP socket.
 * - `unicast` (default): a UDP socket on a loopback address answers Probes sent to it directly;
 *   Hello/Bye go only to `announce_to` if given. Never touches multicast.
 * - `multicast`: binds 0.0.0.0:3702 and joins 239.255.255.250 like a real camera. Refused unless
 *   the explicit acknowledgement is set AND the process's network namespace has no interface
 *   other than `lo` (checked from /proc/self/net/dev at start) — see `isolation.ts`.
 */
export type DiscoveryConfig =
  | { mode: 'off' }
  | {
      mode: 'unicast';
      /** Loopback address of the UDP socket. Default 127.0.0.1. Does not follow `move()`. */
      host?: string;
      /** UDP port; 0 (default) picks an ephemeral port, reported as `discoveryPort`. */
      port?: number;
      /** Loopback UDP listener that receives Hello (start, move) and Bye (stop). */
      announce_to?: { host: string; port: number };
    }
  | {
      mode: 'multicast';
      /** Must be literally `true`: multicast may only be used inside a namespace from `runInNetns`. */
      i_understand_this_must_run_in_a_netns: true;
    };

/** Variants of {@link FaultMode} `malformed_xml`. */
export type MalformedVariant = 'truncated' | 'garbled';
/** Variants of {@link FaultMode} `hostile_xml`. */
export type HostileVariant = 'billion_laughs' | 'xxe' | 'deep_nesting';

/**
 * A misbehaviour switched on at start (`fault` in the config) or at run time (`setFault`).
 * Applies to SOAP replies, snapshot replies and WS-Discovery ProbeMatches unless noted.
 */
export type FaultMode =
  /** Behave. */
  | { kind: 'none' }
  /** The camera's password changes (to `password`, default `<old>-rotated`): correct clients now fail. */
  | { kind: 'wrong_credentials'; password?: string }
  /** Every reply (HTTP and discovery) is delayed by `delay_ms`. */
  | { kind: 'slow'; delay_ms: number }
  /** Replies are not well-formed XML: cut short (`truncated`, default) or tag soup (`garbled`). */
  | { kind: 'malformed_xml'; variant?: MalformedVariant }
  /**
   * Replies carry an attack on the client's XML parser: an entity-expansion bomb
   * (`billion_laughs`), an external entity reading file:///etc/passwd (`xxe`), or a document
   * nested `depth` elements deep (`deep_nesting`, default 100 000 over HTTP; discovery datagrams
   * are capped to fit 64 KiB).
   */
  | { kind: 'hostile_xml'; variant: HostileVariant; depth?: number }
  /** Accept TCP connections and UDP probes, never answer. */
  | { kind: 'silent' };

/** The `kind` of a {@link FaultMode}. */
export type FaultKind = FaultMode['kind'];

/** WS-Security checks. */
export interface AuthPolicy {
  /** Largest accepted |camera clock − Created|, in ms. Default 300 000 (5 min). */
  max_clock_skew_ms?: number;
  /** Reject a UsernameToken nonce seen before (within the skew window). Default true. */
  reject_replayed_nonce?: boolean;
}

/** JPEG bytes for a snapshot, produced on demand (one call per authorised snapshot request). */
export type SnapshotFunction = (profileToken: string) => Buffer | Promise<Buffer>;

/** The serialisable part of a camera's configuration (what the CLI's JSON holds per camera). */
export interface OnvifCameraConfig {
  /** Label for logs and the CLI ready line. Default: the serial number. */
  name?: string;
  identity: CameraIdentity;
  credentials: CameraCredentials;
  /** Full scope URIs for GetScopes and discovery. Default: type, Profile/Streaming, hardware, name. */
  scopes?: string[];
  /** At least one profile; the first is the default (typically main 1080p, then sub 720p). */
  profiles: MediaProfileConfig[];
  /** JPEG file served as the snapshot (read on each request). Default: a built-in 16×16 JPEG. */
  snapshot?: string;
  /** Loopback address to serve HTTP on. Default 127.0.0.1. Anything outside 127.0.0.0/8 is refused. */
  host?: string;
  /** HTTP port; 0 (default) picks an ephemeral one. */
  http_port?: number;
  /** Default `{ mode: 'unicast' }` on an ephemeral port. */
  discovery?: DiscoveryConfig;
  /** Fault active from the start. Default `{ kind: 'none' }`. */
  fault?: FaultMode;
  auth?: AuthPolicy;
  /** The camera's clock runs this far ahead of the host's (negative: behind). Default 0. */
  clock_offset_ms?: number;
}

/** Options of {@link startOnvifCamera}: the config plus TypeScript-only extras. */
export interface OnvifCameraOptions extends Omit<OnvifCameraConfig, 'snapshot'> {
  /** A JPEG file path, or a function returning JPEG bytes. */
  snapshot?: string | SnapshotFunction;
  /** Parent logger; the camera logs through `child({ module: 'onvif-sim', camera })`. Default: silent. */
  logger?: Logger;
}

/** Counters for assertions ("the camera saw the probe but did not answer"). */
export interface CameraStats {
  /** HTTP requests received on the SOAP endpoints (answered or not). */
  soap_requests: number;
  /** SOAP requests refused with ter:NotAuthorized. */
  auth_failures: number;
  /** Snapshot requests received. */
  snapshot_requests: number;
  /** WS-Discovery Probe/Resolve messages received. */
  probes_received: number;
  /** ProbeMatches/ResolveMatches sent. */
  probes_answered: number;
  /** Hello messages sent. */
  hellos_sent: number;
}

/** A running simulated camera. */
export interface OnvifCamera {
  /** Label used in logs and the CLI output. */
  readonly name: string;
  /** `urn:uuid:…`; never changes. */
  readonly endpointReference: string;
  /** What GetDeviceInformation and discovery report. */
  readonly identity: Readonly<CameraIdentity>;
  /** Current HTTP bind address. */
  readonly host: string;
  /** Current HTTP port. */
  readonly httpPort: number;
  /** Device service URL, `http://host:port/onvif/device_service` (what ProbeMatches carry as XAddrs). */
  readonly xaddr: string;
  /** Media service URL. */
  readonly mediaXaddr: string;
  /** Local UDP port of the discovery socket (3702 in multicast mode), or undefined when off. */
  readonly discoveryPort: number | undefined;
  /** WS-Discovery MetadataVersion; bumped by `move()`. */
  readonly metadataVersion: number;
  /** The active fault. */
  fault(): FaultMode;
  /** Switch the fault mode; takes effect for the next request/probe. */
  setFault(fault: FaultMode): void;
  /**
   * Change address keeping identity: listen on `host:port` (port 0 = ephemeral), stop listening on
   * the old address (open connections are cut), bump MetadataVersion, send Hello with new XAddrs.
   * `streams` (profile token → RTSP URI) moves the profiles' streams along with it.
   */
  move(host: string, port?: number, streams?: Readonly<Record<string, string>>): Promise<void>;
  /** Counters since start. */
  stats(): Readonly<CameraStats>;
  /** Send Bye, close every socket and pending reply. Idempotent. */
  stop(): Promise<void>;
}
