/**
 * Public types of discovery: what the rest of the agent sees of the cameras on the site LAN.
 * `DiscoveredDevice` maps 1:1 onto the proto `sharpeyes.v1.DiscoveredDevice` (see `proto.ts`),
 * plus the bookkeeping the agent needs (key, current address, last error, retry schedule).
 */
import type { EdgeErrorCode } from '../errors.ts';

/** Credentials for a camera's ONVIF (and RTSP) services. Never logged. */
export interface OnvifCredentials {
  username: string;
  password: string;
}

/** What a credentials lookup knows about a device (identity fields may be unknown yet). */
export interface CredentialsQuery {
  /** Identity key when known (see `identityKey`). */
  key: string | undefined;
  /** WS-Discovery endpoint reference, '' when unknown (direct address). */
  endpointReference: string;
  /** Serial number, '' until the device was described once. */
  serialNumber: string;
  /** The device service address about to be used. */
  xaddr: string;
}

/** Lookup of credentials for one device: per camera, or a site default; undefined = none. */
export type CredentialsLookup = (device: CredentialsQuery) => OnvifCredentials | undefined;

/** Whether the agent could log in to a device (proto `DeviceAccess`). */
export type DeviceAccess = 'unknown' | 'ok' | 'auth_failed' | 'unreachable' | 'protocol_error';

/** Who a device says it is (proto `CameraIdentity`). Empty strings when unknown. */
export interface DeviceIdentity {
  endpointReference: string;
  serialNumber: string;
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  hardwareId: string;
}

/** One media profile (proto `MediaProfile`). */
export interface MediaProfile {
  token: string;
  name: string;
  /** e.g. `H264`; '' when the device did not say. */
  encoding: string;
  width: number;
  height: number;
  fps: number;
  /** RTSP URI with any credentials removed; '' when GetStreamUri failed for this profile. */
  streamUri: string;
}

/** Why the last attempt to describe a device failed. The message never carries credentials. */
export interface DeviceError {
  code: EdgeErrorCode;
  message: string;
  atMs: number;
}

/** How the agent learnt about a device. */
export type DeviceSource = 'probe' | 'hello' | 'direct';

/** A device the agent knows of, registered or not. A snapshot: mutating it changes nothing. */
export interface DiscoveredDevice {
  /**
   * Stable key: the WS-Discovery endpoint reference (`urn:uuid:…`) when the device was found by
   * discovery, else `serial:<serial number>`. Never an address. A device configured by address
   * whose identity cannot be read yet (wrong credentials, unreachable) is listed under the
   * placeholder `xaddr:<address>` until it can be described; it is then replaced (`removed`
   * for the placeholder, `added` for the real key).
   */
  key: string;
  /** False only for the `xaddr:` placeholder described above. */
  identified: boolean;
  identity: DeviceIdentity;
  /** Device service address in use (the first of `xaddrs`). */
  xaddr: string;
  /** Device service addresses as announced (or configured). */
  xaddrs: string[];
  /** WS-Discovery scopes as announced. */
  scopes: string[];
  /** WS-Discovery MetadataVersion as last announced (0 for direct addresses). */
  metadataVersion: number;
  profiles: MediaProfile[];
  /** Token of the profile chosen for analysis, '' when none. */
  analysisProfileToken: string;
  /** Snapshot URI of the analysis profile, credentials removed; '' when none. */
  snapshotUri: string;
  hasSnapshot: boolean;
  access: DeviceAccess;
  /** Last describe failure; undefined after a success. */
  lastError: DeviceError | undefined;
  /** Consecutive failed describe attempts (0 after a success). */
  failedAttempts: number;
  /** Describe attempts since the device was first seen (successes and failures). */
  describeAttempts: number;
  /** When a failed device will be described again (epoch ms); undefined when not scheduled. */
  nextRetryAtMs: number | undefined;
  /** Last successful describe (epoch ms); undefined when never. */
  describedAtMs: number | undefined;
  /** False after a Bye or too many missed probe rounds ("lost"); the record is kept. */
  seen: boolean;
  source: DeviceSource;
  firstSeenMs: number;
  lastSeenMs: number;
}

/** What happened to a device. */
export type DeviceChangeKind =
  /** First time seen (after its first describe, whatever the outcome). */
  | 'added'
  /** Described again (retry, new metadata): profiles, access or identity may have changed. */
  | 'updated'
  /**
   * Same identity at a new address, re-described: restart capture with the new stream URI. If
   * `access` is not `ok` the new address could not be described and the profiles are the old
   * ones. A device at the new address reporting another serial number is an impostor: no event.
   */
  | 'moved'
  /** Bye, or missed too many probe rounds. Still listed, `seen: false`. */
  | 'lost'
  /** Seen again after `lost`. */
  | 'found'
  /** Gone from the list (a placeholder replaced by the identified device, or merged into it). */
  | 'removed';

/** One change, delivered to `onChange` listeners. */
export interface DeviceChange {
  kind: DeviceChangeKind;
  device: DiscoveredDevice;
  /** For `moved`: the address before. */
  previousXaddr?: string;
  /** For `removed`: the key that now stands for the same device, if any. */
  replacedBy?: string;
}

/** Counters for /metrics. */
export interface DiscoveryStats {
  probeRounds: number;
  probesSent: number;
  probeMatches: number;
  hellos: number;
  byes: number;
  /** Datagrams that were not valid WS-Discovery (malformed, hostile, DTD, too deep). */
  malformedDatagrams: number;
  /** Datagrams over the size cap, dropped unread. */
  oversizedDatagrams: number;
  /** ProbeMatches relating to no probe of ours. */
  unmatchedDatagrams: number;
  describeAttempts: number;
  describeFailures: number;
}

/**
 * Discovery as the rest of the agent uses it (app.ts wires it; capture follows `onChange`).
 */
export interface DeviceDiscovery {
  /** Open sockets, run a first probe round, then re-probe periodically. */
  start(): Promise<void>;
  /** Stop timers, close sockets, wait for running describes to end. Idempotent. */
  stop(): Promise<void>;
  /** All known devices, sorted by key. */
  devices(): DiscoveredDevice[];
  /** One device by key. */
  device(key: string): DiscoveredDevice | undefined;
  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: (change: DeviceChange) => void): () => void;
  /** Run a probe round now; resolves when its matches are handled and describes settled. */
  probeNow(): Promise<void>;
  /** Describe a device again now (new credentials arrived): resets its backoff. */
  retryNow(key: string): Promise<void>;
  /** JPEG snapshot of the device's analysis profile. Throws EdgeError. */
  fetchSnapshot(key: string): Promise<Snapshot>;
  stats(): DiscoveryStats;
}

/** A snapshot image. */
export interface Snapshot {
  contentType: string;
  body: Buffer;
}
