/**
 * Typed, promise-based access to the two real ONVIF client libraries the simulator is tested
 * against: node-onvif (the product's client; untyped, so narrowed here rather than with a global
 * `declare module` that would clash with the edge agent's own adapter) and agsh onvif.
 */
import { createRequire } from 'node:module';

import onvif from 'onvif';
import type { Cam, CamOptions, DeviceInformation, DiscoveryProbeOptions } from 'onvif';

const require = createRequire(import.meta.url);

/** A media profile as node-onvif's `init()` lists it. */
export interface NodeOnvifProfile {
  token: string;
  name: string;
  /** Snapshot URL, '' when GetSnapshotUri failed. */
  snapshot: string;
  stream: { udp: string; http: string; rtsp: string };
  video: {
    source: {
      token: string;
      name: string;
      bounds: { width: number; height: number; x: number; y: number };
    } | null;
    encoder: {
      token: string;
      name: string;
      resolution: { width: number; height: number };
      quality: number;
      framerate: number;
      bitrate: number;
      encoding: string;
    } | null;
  };
}

/** GetDeviceInformationResponse fields as node-onvif returns them. */
export interface NodeOnvifInformation {
  Manufacturer: string;
  Model: string;
  FirmwareVersion: string;
  SerialNumber: string;
  HardwareId: string;
}

/** The part of node-onvif's OnvifDevice the tests use. */
export interface NodeOnvifDevice {
  init(): Promise<NodeOnvifInformation>;
  getInformation(): NodeOnvifInformation | null;
  getProfileList(): NodeOnvifProfile[];
  getCurrentProfile(): NodeOnvifProfile | null;
  changeProfile(tokenOrIndex: string | number): NodeOnvifProfile | null;
  fetchSnapshot(): Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }>;
}

/** One device found by node-onvif's `startProbe()`. */
export interface NodeOnvifProbeMatch {
  urn: string;
  name: string;
  hardware: string;
  location: string;
  types: string[] | '';
  xaddrs: string[];
  scopes: string[];
}

interface NodeOnvifModule {
  OnvifDevice: new (params: { xaddr: string; user?: string; pass?: string }) => NodeOnvifDevice;
  /** Multicast WS-Discovery: only ever call inside a namespace from runInNetns. */
  startProbe(): Promise<NodeOnvifProbeMatch[]>;
}

const nodeOnvif = require('node-onvif') as NodeOnvifModule;

/** node-onvif's OnvifDevice for a device service URL. */
export function nodeOnvifDevice(xaddr: string, user: string, pass: string): NodeOnvifDevice {
  return new nodeOnvif.OnvifDevice({ xaddr, user, pass });
}

/** node-onvif multicast probe (waits ~3 s). Multicast: call only inside runInNetns. */
export async function nodeOnvifProbe(): Promise<NodeOnvifProbeMatch[]> {
  return nodeOnvif.startProbe();
}

/** agsh onvif Cam, connected (GetSystemDateAndTime, GetServices, GetProfiles, GetVideoSources). */
export async function agshConnect(options: Omit<CamOptions, 'autoconnect'>): Promise<Cam> {
  const cam = new onvif.Cam({ ...options, autoconnect: false });
  await new Promise<void>((resolve, reject) => {
    cam.connect((err) => {
      if (err) reject(err);
      else resolve();
    });
  });
  return cam;
}

function call<T>(fn: (cb: (err: Error | null, data?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, data) => {
      if (err) reject(err);
      else if (data === undefined) reject(new Error('no data in reply'));
      else resolve(data);
    });
  });
}

/** agsh `getStreamUri` (RTSP). */
export async function agshStreamUri(cam: Cam, profileToken?: string): Promise<{ uri: string }> {
  return call((cb) => {
    cam.getStreamUri({ protocol: 'RTSP', ...(profileToken !== undefined ? { profileToken } : {}) }, cb);
  });
}

/** agsh `getSnapshotUri`. */
export async function agshSnapshotUri(cam: Cam, profileToken?: string): Promise<{ uri: string }> {
  return call((cb) => {
    cam.getSnapshotUri(profileToken !== undefined ? { profileToken } : {}, cb);
  });
}

/** agsh `getDeviceInformation`. */
export async function agshDeviceInformation(cam: Cam): Promise<DeviceInformation> {
  return call((cb) => {
    cam.getDeviceInformation(cb);
  });
}

/** A raw (resolve: false) agsh discovery result. */
export interface AgshRawProbeMatch {
  probeMatches: { probeMatch: { endpointReference: { address: string }; XAddrs: string } };
}

/** agsh multicast `Discovery.probe` with `resolve: false`. Multicast: call only inside runInNetns. */
export async function agshProbe(options: DiscoveryProbeOptions): Promise<AgshRawProbeMatch[]> {
  return new Promise((resolve) => {
    onvif.Discovery.probe({ ...options, resolve: false }, (_err, devices) => {
      // _err collects unparseable datagrams from other senders; the matches are what count.
      resolve((devices ?? []) as AgshRawProbeMatch[]);
    });
  });
}
