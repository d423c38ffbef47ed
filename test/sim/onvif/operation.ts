/** What an ONVIF operation handler sees and returns. */
import type { SoapFault } from './soap.ts';
import type { CameraIdentity, MediaProfileConfig } from './types.ts';
import type { XmlElement } from './xml.ts';

/** Paths of the HTTP endpoints. */
export const PATHS = {
  device: '/onvif/device_service',
  media: '/onvif/media_service',
  snapshotPrefix: '/onvif/snapshot/',
} as const;

/** Read-only view of the camera that handlers build responses from. */
export interface ServiceContext {
  readonly identity: CameraIdentity;
  readonly hostname: string;
  readonly scopes: readonly string[];
  readonly profiles: readonly MediaProfileConfig[];
  readonly host: string;
  readonly httpPort: number;
  /** Camera clock, ms since epoch. */
  nowMs(): number;
}

/**
 * Access class of an operation (ONVIF Core "Default access policy"):
 * - `always`: answered whatever the credentials (GetSystemDateAndTime — clients need the clock
 *   before they can build a valid token);
 * - `pre_auth`: answered without a token; a token that is present must be valid;
 * - `user`: a valid token is required.
 */
export type AccessClass = 'always' | 'pre_auth' | 'user';

/** Response body content (inside s:Body) or a fault. */
export type OperationResult = { body: string } | { fault: SoapFault };

/** One SOAP operation. */
export interface Operation {
  access: AccessClass;
  handle(request: XmlElement, ctx: ServiceContext): OperationResult;
}

/** Base URL of the camera's HTTP server. */
export function baseUrl(ctx: Pick<ServiceContext, 'host' | 'httpPort'>): string {
  return `http://${ctx.host}:${ctx.httpPort}`;
}

/** Snapshot URL of a profile. */
export function snapshotUrl(ctx: Pick<ServiceContext, 'host' | 'httpPort'>, token: string): string {
  return `${baseUrl(ctx)}${PATHS.snapshotPrefix}${encodeURIComponent(token)}`;
}

/** Token of the single video source every profile draws from. */
export const VIDEO_SOURCE_TOKEN = 'VideoSource_1';
/** Token of the shared video source configuration. */
export const VIDEO_SOURCE_CONFIG_TOKEN = 'VideoSourceConfig_1';

/** The video source's resolution and rate: the largest profile's. */
export function videoSourceMode(profiles: readonly MediaProfileConfig[]): {
  width: number;
  height: number;
  fps: number;
} {
  let best = { width: 0, height: 0, fps: 0 };
  for (const p of profiles) {
    if (p.width * p.height > best.width * best.height)
      best = { width: p.width, height: p.height, fps: best.fps };
    best.fps = Math.max(best.fps, p.fps);
  }
  return best;
}
