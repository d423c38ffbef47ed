/**
 * ONVIF device service (ver10/device/wsdl): the operations node-onvif's `init()` and agsh onvif's
 * `Cam.connect()` call, plus the common read-only ones.
 */
import { createHash } from 'node:crypto';

import { FAULTS } from './soap.ts';
import { PATHS, baseUrl, type Operation, type ServiceContext } from './operation.ts';
import { NS, esc, type XmlElement } from './xml.ts';

/** ONVIF version the simulator claims (Core 2.60 era, Profile S). */
const VERSION = { major: 2, minor: 60 };

const F = 'false';

function tt(name: string, value: string | number | boolean): string {
  return `<tt:${name}>${esc(value)}</tt:${name}>`;
}

function utcParts(ms: number): { date: string; time: string } {
  const d = new Date(ms);
  return {
    time: `<tt:Time>${tt('Hour', d.getUTCHours())}${tt('Minute', d.getUTCMinutes())}${tt('Second', d.getUTCSeconds())}</tt:Time>`,
    date: `<tt:Date>${tt('Year', d.getUTCFullYear())}${tt('Month', d.getUTCMonth() + 1)}${tt('Day', d.getUTCDate())}</tt:Date>`,
  };
}

function deviceCapabilities(ctx: ServiceContext): string {
  return (
    `<tt:Device>${tt('XAddr', baseUrl(ctx) + PATHS.device)}` +
    `<tt:Network>${tt('IPFilter', F)}${tt('ZeroConfiguration', F)}${tt('IPVersion6', F)}${tt('DynDNS', F)}</tt:Network>` +
    `<tt:System>${tt('DiscoveryResolve', true)}${tt('DiscoveryBye', true)}${tt('RemoteDiscovery', F)}` +
    `${tt('SystemBackup', F)}${tt('SystemLogging', F)}${tt('FirmwareUpgrade', F)}` +
    `<tt:SupportedVersions>${tt('Major', VERSION.major)}${tt('Minor', VERSION.minor)}</tt:SupportedVersions></tt:System>` +
    `<tt:IO>${tt('InputConnectors', 0)}${tt('RelayOutputs', 0)}</tt:IO>` +
    `<tt:Security>${tt('TLS1.1', F)}${tt('TLS1.2', F)}${tt('OnboardKeyGeneration', F)}${tt('AccessPolicyConfig', F)}` +
    `${tt('X.509Token', F)}${tt('SAMLToken', F)}${tt('KerberosToken', F)}${tt('RELToken', F)}</tt:Security>` +
    `</tt:Device>`
  );
}

function mediaCapabilities(ctx: ServiceContext): string {
  return (
    `<tt:Media>${tt('XAddr', baseUrl(ctx) + PATHS.media)}` +
    `<tt:StreamingCapabilities>${tt('RTPMulticast', F)}${tt('RTP_TCP', true)}${tt('RTP_RTSP_TCP', true)}</tt:StreamingCapabilities>` +
    `</tt:Media>`
  );
}

/** Attribute-form device service capabilities (GetServiceCapabilities, GetServices). */
function deviceServiceCapabilities(): string {
  return (
    `<tds:Capabilities>` +
    `<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" DynDNS="false" ` +
    `Dot11Configuration="false" HostnameFromDHCP="false" NTP="0"/>` +
    `<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false" ` +
    `AccessPolicyConfig="false" DefaultAccessPolicy="true" Dot1X="false" RemoteUserHandling="false" ` +
    `X.509Token="false" SAMLToken="false" KerberosToken="false" UsernameToken="true" HttpDigest="true" RELToken="false"/>` +
    `<tds:System DiscoveryResolve="true" DiscoveryBye="true" RemoteDiscovery="false" SystemBackup="false" ` +
    `SystemLogging="false" FirmwareUpgrade="false" HttpFirmwareUpgrade="false" HttpSystemBackup="false" ` +
    `HttpSystemLogging="false" HttpSupportInformation="false"/>` +
    `</tds:Capabilities>`
  );
}

/** Attribute-form media service capabilities, shared with the media service. */
export function mediaServiceCapabilities(profileCount: number): string {
  return (
    `<trt:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false">` +
    `<trt:ProfileCapabilities MaximumNumberOfProfiles="${profileCount}"/>` +
    `<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" ` +
    `NonAggregateControl="false" NoRTSPStreaming="false"/>` +
    `</trt:Capabilities>`
  );
}

const SUPPORTED_CATEGORIES = new Set(['All', 'Device', 'Media']);

/** A stable, locally administered MAC derived from the endpoint reference. */
function hwAddress(endpointReference: string): string {
  const h = createHash('sha1').update(endpointReference).digest();
  h[0] = ((h[0] ?? 0) & 0xfc) | 0x02;
  return [...h.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function categories(request: XmlElement): string[] {
  const cats = request.children.filter((c) => c.local === 'Category').flatMap((c) => c.text.split(/\s+/));
  return cats.filter((c) => c !== '');
}

/** Device service operations by local name. */
export const DEVICE_OPERATIONS: Readonly<Record<string, Operation>> = {
  GetSystemDateAndTime: {
    access: 'always',
    handle: (_req, ctx) => {
      const now = ctx.nowMs();
      const utc = utcParts(now);
      return {
        body:
          `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>` +
          `${tt('DateTimeType', 'NTP')}${tt('DaylightSavings', F)}<tt:TimeZone>${tt('TZ', 'UTC0')}</tt:TimeZone>` +
          `<tt:UTCDateTime>${utc.time}${utc.date}</tt:UTCDateTime>` +
          `<tt:LocalDateTime>${utc.time}${utc.date}</tt:LocalDateTime>` +
          `</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
      };
    },
  },
  GetCapabilities: {
    access: 'pre_auth',
    handle: (req, ctx) => {
      const cats = categories(req);
      const unsupported = cats.find((c) => !SUPPORTED_CATEGORIES.has(c));
      if (unsupported !== undefined) return { fault: FAULTS.noSuchService(unsupported) };
      const all = cats.length === 0 || cats.includes('All');
      const parts = [
        all || cats.includes('Device') ? deviceCapabilities(ctx) : '',
        all || cats.includes('Media') ? mediaCapabilities(ctx) : '',
      ];
      return {
        body: `<tds:GetCapabilitiesResponse><tds:Capabilities>${parts.join('')}</tds:Capabilities></tds:GetCapabilitiesResponse>`,
      };
    },
  },
  GetServices: {
    access: 'pre_auth',
    handle: (req, ctx) => {
      const include = req.children.find((c) => c.local === 'IncludeCapability')?.text === 'true';
      const service = (ns: string, path: string, caps: string): string =>
        `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>${esc(baseUrl(ctx) + path)}</tds:XAddr>` +
        (include ? `<tds:Capabilities>${caps}</tds:Capabilities>` : '') +
        `<tds:Version>${tt('Major', VERSION.major)}${tt('Minor', VERSION.minor)}</tds:Version></tds:Service>`;
      return {
        body:
          `<tds:GetServicesResponse>` +
          service(NS.tds, PATHS.device, deviceServiceCapabilities()) +
          service(NS.trt, PATHS.media, mediaServiceCapabilities(ctx.profiles.length)) +
          `</tds:GetServicesResponse>`,
      };
    },
  },
  GetServiceCapabilities: {
    access: 'pre_auth',
    handle: () => ({
      body: `<tds:GetServiceCapabilitiesResponse>${deviceServiceCapabilities()}</tds:GetServiceCapabilitiesResponse>`,
    }),
  },
  GetWsdlUrl: {
    access: 'pre_auth',
    handle: () => ({
      body: `<tds:GetWsdlUrlResponse><tds:WsdlUrl>http://www.onvif.org/</tds:WsdlUrl></tds:GetWsdlUrlResponse>`,
    }),
  },
  GetHostname: {
    access: 'pre_auth',
    handle: (_req, ctx) => ({
      body:
        `<tds:GetHostnameResponse><tds:HostnameInformation>${tt('FromDHCP', F)}${tt('Name', ctx.hostname)}` +
        `</tds:HostnameInformation></tds:GetHostnameResponse>`,
    }),
  },
  GetEndpointReference: {
    access: 'pre_auth',
    handle: (_req, ctx) => ({
      body: `<tds:GetEndpointReferenceResponse><tds:GUID>${esc(ctx.identity.endpoint_reference)}</tds:GUID></tds:GetEndpointReferenceResponse>`,
    }),
  },
  GetDeviceInformation: {
    access: 'user',
    handle: (_req, ctx) => {
      const id = ctx.identity;
      return {
        body:
          `<tds:GetDeviceInformationResponse>` +
          `<tds:Manufacturer>${esc(id.manufacturer)}</tds:Manufacturer>` +
          `<tds:Model>${esc(id.model)}</tds:Model>` +
          `<tds:FirmwareVersion>${esc(id.firmware_version)}</tds:FirmwareVersion>` +
          `<tds:SerialNumber>${esc(id.serial_number)}</tds:SerialNumber>` +
          `<tds:HardwareId>${esc(id.hardware_id)}</tds:HardwareId>` +
          `</tds:GetDeviceInformationResponse>`,
      };
    },
  },
  GetScopes: {
    access: 'user',
    handle: (_req, ctx) => ({
      body:
        `<tds:GetScopesResponse>` +
        ctx.scopes
          .map((s) => `<tds:Scopes>${tt('ScopeDef', 'Fixed')}${tt('ScopeItem', s)}</tds:Scopes>`)
          .join('') +
        `</tds:GetScopesResponse>`,
    }),
  },
  GetDiscoveryMode: {
    access: 'user',
    handle: () => ({
      body: `<tds:GetDiscoveryModeResponse><tds:DiscoveryMode>Discoverable</tds:DiscoveryMode></tds:GetDiscoveryModeResponse>`,
    }),
  },
  GetNetworkInterfaces: {
    access: 'user',
    handle: (_req, ctx) => ({
      body:
        `<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">${tt('Enabled', true)}` +
        `<tt:Info>${tt('Name', 'eth0')}${tt('HwAddress', hwAddress(ctx.identity.endpoint_reference))}${tt('MTU', 1500)}</tt:Info>` +
        `<tt:IPv4>${tt('Enabled', true)}<tt:Config><tt:Manual>${tt('Address', ctx.host)}${tt('PrefixLength', 8)}</tt:Manual>` +
        `${tt('DHCP', F)}</tt:Config></tt:IPv4>` +
        `</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>`,
    }),
  },
};
