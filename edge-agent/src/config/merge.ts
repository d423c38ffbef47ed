/**
 * Which cameras the agent analyses, and how: the local file's `cameras` merged with the
 * SiteConfig the gateway pushes (retained MQTT, issue 5). The gateway is the registry, so its
 * entries win field by field; the local file fills what the gateway leaves out (typically the
 * credentials on a site that keeps them off the central server).
 */
import { ImageDirection, type SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import type { EdgeConfig } from './schema.ts';
import { defaultCredentials, resolveCredentials, type Credentials } from './load.ts';

/** One camera the agent should analyse, with everything resolved. */
export interface CameraPlan {
  cameraId: string;
  /** Identity to match a discovered device by (endpoint reference preferred, else serial). */
  endpointReference?: string;
  serialNumber?: string;
  /** Direct ONVIF address when the camera is not found by discovery. */
  xaddr?: string;
  credentials?: Credentials;
  /** ONVIF profile to analyse; undefined = the agent picks the sub-stream near 720p. */
  profileToken?: string;
  enabled: boolean;
  /** Analysis fps; undefined = the agent default (capture.fps). */
  fps?: number;
  /** Image direction that means entering; undefined = direction unknown. */
  inbound?: InboundName;
  /** Motion masks (ignored regions), normalised polygons. */
  masks?: { x: number; y: number }[][];
  /** Detectors to run; undefined = the agent's `detect` section. */
  detectors?: { face: boolean; plate: boolean };
}

/** Image directions, as the config file names them. */
export type InboundName = 'left_to_right' | 'right_to_left' | 'towards' | 'away';

const INBOUND_FROM_PROTO: Partial<Record<ImageDirection, InboundName>> = {
  [ImageDirection.IMAGE_DIRECTION_LEFT_TO_RIGHT]: 'left_to_right',
  [ImageDirection.IMAGE_DIRECTION_RIGHT_TO_LEFT]: 'right_to_left',
  [ImageDirection.IMAGE_DIRECTION_TOWARDS]: 'towards',
  [ImageDirection.IMAGE_DIRECTION_AWAY]: 'away',
};

/** The effective camera list and where it came from. */
export interface EffectivePlan {
  cameras: CameraPlan[];
  /** Revision of the SiteConfig applied, 0 when none. */
  revision: number;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

/**
 * Merge the local config with a SiteConfig from the gateway (if any). A SiteConfig for another
 * site is ignored (and reported by returning revision 0).
 */
export function effectiveCameras(
  config: EdgeConfig,
  site: SiteConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): EffectivePlan {
  const fallback = defaultCredentials(config, env);
  const byId = new Map<string, CameraPlan>();
  for (const [i, cam] of config.cameras.entries()) {
    byId.set(cam.camera_id, {
      cameraId: cam.camera_id,
      ...(cam.endpoint_reference !== undefined && { endpointReference: cam.endpoint_reference }),
      ...(cam.serial_number !== undefined && { serialNumber: cam.serial_number }),
      ...(cam.xaddr !== undefined && { xaddr: cam.xaddr }),
      ...(cam.profile_token !== undefined && { profileToken: cam.profile_token }),
      ...(cam.inbound !== undefined && { inbound: cam.inbound }),
      enabled: cam.enabled,
      credentials:
        cam.credentials === undefined
          ? fallback
          : resolveCredentials(cam.credentials, `/cameras/${i}/credentials`, env),
    });
  }
  if (site === undefined || site.siteId !== config.site_id) {
    return { cameras: finalise(byId, fallback), revision: 0 };
  }

  for (const remote of site.cameras) {
    const local = byId.get(remote.cameraId);
    const creds = remote.credentials;
    const remoteCreds =
      creds !== undefined && creds.username !== '' && creds.password !== ''
        ? { username: creds.username, password: creds.password }
        : undefined;
    const fps = remote.analysis?.fps ?? site.defaultAnalysis?.fps;
    const merged: CameraPlan = {
      cameraId: remote.cameraId,
      enabled: remote.enabled,
    };
    const endpointReference = nonEmpty(remote.identity?.endpointReference) ?? local?.endpointReference;
    const serialNumber = nonEmpty(remote.identity?.serialNumber) ?? local?.serialNumber;
    const xaddr = nonEmpty(remote.xaddr) ?? local?.xaddr;
    const profileToken = nonEmpty(remote.profileToken) ?? local?.profileToken;
    const credentials = remoteCreds ?? local?.credentials;
    if (endpointReference !== undefined) merged.endpointReference = endpointReference;
    if (serialNumber !== undefined) merged.serialNumber = serialNumber;
    if (xaddr !== undefined) merged.xaddr = xaddr;
    if (profileToken !== undefined) merged.profileToken = profileToken;
    if (credentials !== undefined) merged.credentials = credentials;
    if (fps !== undefined && fps > 0) merged.fps = fps;
    const analysis = remote.analysis;
    const inbound = (analysis && INBOUND_FROM_PROTO[analysis.inbound]) ?? local?.inbound;
    if (inbound !== undefined) merged.inbound = inbound;
    if (analysis !== undefined) {
      merged.detectors = { face: analysis.face, plate: analysis.plate };
      if (analysis.masks.length > 0)
        merged.masks = analysis.masks.map((m) => m.points.map((p) => ({ x: p.x, y: p.y })));
    }
    byId.set(remote.cameraId, merged);
  }
  return { cameras: finalise(byId, fallback), revision: site.revision };
}

function finalise(byId: Map<string, CameraPlan>, fallback: Credentials | undefined): CameraPlan[] {
  return [...byId.values()]
    .map((c) => (c.credentials === undefined && fallback !== undefined ? { ...c, credentials: fallback } : c))
    .sort((a, b) => a.cameraId.localeCompare(b.cameraId));
}
