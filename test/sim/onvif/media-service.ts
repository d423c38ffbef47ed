/** ONVIF media service (ver10/media/wsdl, "Media1", Profile S). Every operation needs a valid token. */
import { mediaServiceCapabilities } from './device-service.ts';
import { FAULTS } from './soap.ts';
import {
  VIDEO_SOURCE_CONFIG_TOKEN,
  VIDEO_SOURCE_TOKEN,
  snapshotUrl,
  videoSourceMode,
  type Operation,
  type ServiceContext,
} from './operation.ts';
import type { MediaProfileConfig } from './types.ts';
import { child, path, esc, type XmlElement } from './xml.ts';

/** Transport protocols GetStreamUri accepts; all map to the profile's RTSP URI. */
const STREAM_PROTOCOLS = new Set(['UDP', 'TCP', 'RTSP', 'HTTP']);

function tt(name: string, value: string | number | boolean): string {
  return `<tt:${name}>${esc(value)}</tt:${name}>`;
}

/** Default bit-rate: 4 Mbit/s for ≥1080 lines, 1 Mbit/s below. */
export function bitrateKbps(p: MediaProfileConfig): number {
  return p.bitrate_kbps ?? (p.height >= 1080 ? 4096 : 1024);
}

function videoSourceConfiguration(ctx: ServiceContext, element: string): string {
  const mode = videoSourceMode(ctx.profiles);
  return (
    `<${element} token="${VIDEO_SOURCE_CONFIG_TOKEN}">${tt('Name', 'VideoSourceConfig')}${tt('UseCount', ctx.profiles.length)}` +
    `${tt('SourceToken', VIDEO_SOURCE_TOKEN)}<tt:Bounds x="0" y="0" width="${mode.width}" height="${mode.height}"/>` +
    `</${element}>`
  );
}

function videoEncoderConfiguration(p: MediaProfileConfig, element: string): string {
  return (
    `<${element} token="VideoEncoder_${esc(p.token)}">${tt('Name', `${p.name}Encoder`)}${tt('UseCount', 1)}` +
    tt('Encoding', p.encoding ?? 'H264') +
    `<tt:Resolution>${tt('Width', p.width)}${tt('Height', p.height)}</tt:Resolution>${tt('Quality', 5)}` +
    `<tt:RateControl>${tt('FrameRateLimit', p.fps)}${tt('EncodingInterval', 1)}${tt('BitrateLimit', bitrateKbps(p))}</tt:RateControl>` +
    `<tt:H264>${tt('GovLength', Math.max(1, Math.round(p.fps * 2)))}${tt('H264Profile', 'Main')}</tt:H264>` +
    `<tt:Multicast><tt:Address>${tt('Type', 'IPv4')}${tt('IPv4Address', '0.0.0.0')}</tt:Address>` +
    `${tt('Port', 0)}${tt('TTL', 1)}${tt('AutoStart', false)}</tt:Multicast>` +
    `${tt('SessionTimeout', 'PT60S')}</${element}>`
  );
}

function profileXml(ctx: ServiceContext, p: MediaProfileConfig, element: string): string {
  return (
    `<${element} token="${esc(p.token)}" fixed="true">${tt('Name', p.name)}` +
    videoSourceConfiguration(ctx, 'tt:VideoSourceConfiguration') +
    videoEncoderConfiguration(p, 'tt:VideoEncoderConfiguration') +
    `</${element}>`
  );
}

function profileToken(req: XmlElement): string {
  return child(req, 'ProfileToken')?.text ?? '';
}

function mediaUri(uri: string): string {
  return (
    `<trt:MediaUri>${tt('Uri', uri)}${tt('InvalidAfterConnect', false)}${tt('InvalidAfterReboot', false)}` +
    `${tt('Timeout', 'PT0S')}</trt:MediaUri>`
  );
}

function findProfile(ctx: ServiceContext, token: string): MediaProfileConfig | undefined {
  return ctx.profiles.find((p) => p.token === token);
}

/** Media service operations by local name. */
export const MEDIA_OPERATIONS: Readonly<Record<string, Operation>> = {
  GetServiceCapabilities: {
    access: 'user',
    handle: (_req, ctx) => ({
      body: `<trt:GetServiceCapabilitiesResponse>${mediaServiceCapabilities(ctx.profiles.length)}</trt:GetServiceCapabilitiesResponse>`,
    }),
  },
  GetProfiles: {
    access: 'user',
    handle: (_req, ctx) => ({
      body: `<trt:GetProfilesResponse>${ctx.profiles.map((p) => profileXml(ctx, p, 'trt:Profiles')).join('')}</trt:GetProfilesResponse>`,
    }),
  },
  GetProfile: {
    access: 'user',
    handle: (req, ctx) => {
      const token = profileToken(req);
      const p = findProfile(ctx, token);
      if (p === undefined) return { fault: FAULTS.noProfile(token) };
      return {
        body: `<trt:GetProfileResponse>${profileXml(ctx, p, 'trt:Profile')}</trt:GetProfileResponse>`,
      };
    },
  },
  GetVideoSources: {
    access: 'user',
    handle: (_req, ctx) => {
      const mode = videoSourceMode(ctx.profiles);
      return {
        body:
          `<trt:GetVideoSourcesResponse><trt:VideoSources token="${VIDEO_SOURCE_TOKEN}">${tt('Framerate', mode.fps)}` +
          `<tt:Resolution>${tt('Width', mode.width)}${tt('Height', mode.height)}</tt:Resolution>` +
          `</trt:VideoSources></trt:GetVideoSourcesResponse>`,
      };
    },
  },
  GetVideoSourceConfigurations: {
    access: 'user',
    handle: (_req, ctx) => ({
      body: `<trt:GetVideoSourceConfigurationsResponse>${videoSourceConfiguration(ctx, 'trt:Configurations')}</trt:GetVideoSourceConfigurationsResponse>`,
    }),
  },
  GetVideoEncoderConfigurations: {
    access: 'user',
    handle: (_req, ctx) => ({
      body:
        `<trt:GetVideoEncoderConfigurationsResponse>` +
        ctx.profiles.map((p) => videoEncoderConfiguration(p, 'trt:Configurations')).join('') +
        `</trt:GetVideoEncoderConfigurationsResponse>`,
    }),
  },
  GetStreamUri: {
    access: 'user',
    handle: (req, ctx) => {
      const token = profileToken(req);
      const p = findProfile(ctx, token);
      if (p === undefined) return { fault: FAULTS.noProfile(token) };
      const stream = path(req, 'StreamSetup', 'Stream')?.text ?? 'RTP-Unicast';
      const protocol = path(req, 'StreamSetup', 'Transport', 'Protocol')?.text ?? 'RTSP';
      if (stream !== 'RTP-Unicast' || !STREAM_PROTOCOLS.has(protocol))
        return { fault: FAULTS.invalidStreamSetup() };
      return { body: `<trt:GetStreamUriResponse>${mediaUri(p.rtsp_uri)}</trt:GetStreamUriResponse>` };
    },
  },
  GetSnapshotUri: {
    access: 'user',
    handle: (req, ctx) => {
      const token = profileToken(req);
      if (findProfile(ctx, token) === undefined) return { fault: FAULTS.noProfile(token) };
      return {
        body: `<trt:GetSnapshotUriResponse>${mediaUri(snapshotUrl(ctx, token))}</trt:GetSnapshotUriResponse>`,
      };
    },
  },
};
