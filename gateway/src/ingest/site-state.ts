/**
 * The latest agent status, camera statuses and discovered devices of each site, from their
 * retained MQTT topics, kept in memory for the modules that show them (registry, API, UI). A
 * payload that does not decode, or names another site or camera than its topic, is rejected
 * and counted; an empty payload (a cleared retained message) removes the entry.
 */
import type { AgentStatus, CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import type { DiscoveredDevices } from '../../../proto/gen/sharpeyes/v1/discovery.ts';
import { decodePayload, type ParsedTopic } from '../../../proto/topics.ts';

/** Why a status payload was rejected. */
export type StatusRejectReason =
  'decode' | 'site_mismatch' | 'camera_mismatch' | 'too_many_cameras' | 'too_large';

/** A value and when the gateway received it. */
export interface Received<T> {
  readonly value: T;
  readonly receivedMs: number;
}

/** What the gateway knows of one site. */
export interface SiteSnapshot {
  readonly siteId: string;
  readonly agent: Received<AgentStatus> | undefined;
  readonly cameras: ReadonlyMap<string, Received<CameraStatus>>;
  readonly discovered: Received<DiscoveredDevices> | undefined;
}

/** A change, for listeners. */
export type SiteStateChange =
  | { kind: 'agent'; siteId: string }
  | { kind: 'cameraStatus'; siteId: string; cameraId: string }
  | { kind: 'discovered'; siteId: string };

/** Read side of the store, for other modules. */
export interface SiteStateReader {
  sites(): string[];
  site(siteId: string): SiteSnapshot | undefined;
  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: (change: SiteStateChange) => void): () => void;
}

/** Bounds, so a misbehaving site cannot grow the gateway's memory without limit. */
export interface SiteStateLimits {
  maxCamerasPerSite: number;
  maxPayloadBytes: number;
}

const DEFAULT_LIMITS: SiteStateLimits = { maxCamerasPerSite: 4096, maxPayloadBytes: 4 * 1024 * 1024 };

interface MutableSite {
  siteId: string;
  agent: Received<AgentStatus> | undefined;
  cameras: Map<string, Received<CameraStatus>>;
  discovered: Received<DiscoveredDevices> | undefined;
}

/** The in-memory store. */
export class SiteState implements SiteStateReader {
  readonly #sites = new Map<string, MutableSite>();
  readonly #listeners = new Set<(change: SiteStateChange) => void>();
  readonly #limits: SiteStateLimits;

  constructor(limits: Partial<SiteStateLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  sites(): string[] {
    return [...this.#sites.keys()].sort();
  }

  site(siteId: string): SiteSnapshot | undefined {
    const s = this.#sites.get(siteId);
    return s === undefined ? undefined : { ...s, cameras: new Map(s.cameras) };
  }

  onChange(listener: (change: SiteStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Apply a payload from a status topic (agent, camera status or discovered). Returns the
   * reason when it is rejected, undefined when applied.
   */
  apply(parsed: ParsedTopic, payload: Uint8Array, nowMs = Date.now()): StatusRejectReason | undefined {
    if (parsed.kind === 'events' || parsed.kind === 'config') return undefined;
    if (payload.length > this.#limits.maxPayloadBytes) return 'too_large';
    const reason = this.#apply(parsed, payload, nowMs);
    if (reason === undefined) {
      this.#emit(
        parsed.kind === 'cameraStatus'
          ? { kind: 'cameraStatus', siteId: parsed.site, cameraId: parsed.camera }
          : { kind: parsed.kind, siteId: parsed.site },
      );
    }
    return reason;
  }

  #apply(
    parsed: Exclude<ParsedTopic, { kind: 'events' | 'config' }>,
    payload: Uint8Array,
    nowMs: number,
  ): StatusRejectReason | undefined {
    const site = this.#siteFor(parsed.site);
    const empty = payload.length === 0;
    try {
      switch (parsed.kind) {
        case 'agent': {
          if (empty) site.agent = undefined;
          else {
            const value = decodePayload('agent', payload);
            if (value.siteId !== parsed.site) return 'site_mismatch';
            site.agent = { value, receivedMs: nowMs };
          }
          return undefined;
        }
        case 'cameraStatus': {
          if (empty) site.cameras.delete(parsed.camera);
          else {
            const value = decodePayload('cameraStatus', payload);
            if (value.siteId !== parsed.site) return 'site_mismatch';
            if (value.cameraId !== parsed.camera) return 'camera_mismatch';
            if (!site.cameras.has(parsed.camera) && site.cameras.size >= this.#limits.maxCamerasPerSite) {
              return 'too_many_cameras';
            }
            site.cameras.set(parsed.camera, { value, receivedMs: nowMs });
          }
          return undefined;
        }
        case 'discovered': {
          if (empty) site.discovered = undefined;
          else {
            const value = decodePayload('discovered', payload);
            if (value.siteId !== parsed.site) return 'site_mismatch';
            site.discovered = { value, receivedMs: nowMs };
          }
          return undefined;
        }
      }
    } catch {
      // protobuf's own decode error: the caller counts the reason and logs the topic.
      return 'decode';
    } finally {
      if (site.agent === undefined && site.cameras.size === 0 && site.discovered === undefined) {
        this.#sites.delete(parsed.site);
      }
    }
  }

  #siteFor(siteId: string): MutableSite {
    let s = this.#sites.get(siteId);
    if (s === undefined) {
      s = { siteId, agent: undefined, cameras: new Map(), discovered: undefined };
      this.#sites.set(siteId, s);
    }
    return s;
  }

  #emit(change: SiteStateChange): void {
    for (const l of this.#listeners) l(change);
  }
}
