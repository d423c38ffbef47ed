/**
 * WS-Discovery (2005/04, as ONVIF speaks it) messages: the Probe we send, and the ProbeMatches,
 * Hello and Bye we receive. Pure functions, table-tested.
 *
 * Every datagram comes from an untrusted peer, so parsing is defensive and never throws:
 * oversized datagrams are refused unread, any DTD is refused before parsing (no entity, internal
 * or external, is ever expanded; SOAP forbids DTDs anyway), nesting depth is bounded, the
 * document must be well-formed, and fast-xml-parser runs with entity processing off — the five
 * predefined XML entities and character references are decoded by us, nothing else.
 */
import { randomUUID } from 'node:crypto';

import { XMLParser, XMLValidator } from 'fast-xml-parser';

import { stripUrlCredentials } from './identity.ts';

/** Namespaces of WS-Discovery and ONVIF discovery. */
export const WSD_NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsd: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  dn: 'http://www.onvif.org/ver10/network/wsdl',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
} as const;

/** The multicast group and port of WS-Discovery. */
export const WSD_MULTICAST = { address: '239.255.255.250', port: 3702 } as const;

/** Datagrams larger than this are dropped unread (a UDP datagram cannot be much larger). */
export const MAX_DATAGRAM_BYTES = 64 * 1024;
/** Deepest element nesting accepted; real discovery messages nest 6 deep. */
export const MAX_XML_DEPTH = 32;

const LIMITS = { endpointReference: 256, uri: 512, listItems: 32 } as const;

/** The device types we probe for: ONVIF cameras answer one or both. */
export const PROBE_TYPES = ['dn:NetworkVideoTransmitter', 'tds:Device'] as const;
/** One of {@link PROBE_TYPES}. */
export type ProbeType = (typeof PROBE_TYPES)[number];

/** A new `urn:uuid:` message id. */
export function newMessageId(): string {
  return `urn:uuid:${randomUUID()}`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A Probe for `type`, with `messageId` (which ProbeMatches must carry as RelatesTo). */
export function buildProbe(messageId: string, type: ProbeType): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="${WSD_NS.soap}" xmlns:a="${WSD_NS.wsa}" xmlns:d="${WSD_NS.wsd}"` +
    ` xmlns:dn="${WSD_NS.dn}" xmlns:tds="${WSD_NS.tds}">` +
    `<s:Header><a:MessageID>${escapeXml(messageId)}</a:MessageID>` +
    `<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
    `<a:Action>${WSD_NS.wsd}/Probe</a:Action></s:Header>` +
    `<s:Body><d:Probe><d:Types>${type}</d:Types></d:Probe></s:Body></s:Envelope>`
  );
}

/** A device as a ProbeMatch or Hello describes it. */
export interface DiscoveredEndpoint {
  /** `wsa:EndpointReference/Address`, e.g. `urn:uuid:…` (not normalised). */
  endpointReference: string;
  types: string[];
  scopes: string[];
  /** Device service URLs (http/https only). */
  xaddrs: string[];
  metadataVersion: number;
}

/** A datagram, understood. */
export type DiscoveryMessage =
  | { kind: 'probe_matches'; relatesTo: string; matches: DiscoveredEndpoint[] }
  | { kind: 'hello'; endpoint: DiscoveredEndpoint }
  | { kind: 'bye'; endpointReference: string }
  /** Valid, but nothing for us (a Probe from another client, a Resolve, …). */
  | { kind: 'other'; action: string };

/** Why a datagram was refused. */
export type DiscoveryRejection = 'too_large' | 'doctype' | 'too_deep' | 'not_well_formed' | 'not_discovery';

/** Result of {@link parseDiscoveryDatagram}. */
export type DiscoveryParseResult =
  { ok: true; message: DiscoveryMessage } | { ok: false; reason: DiscoveryRejection; detail: string };

const parser = new XMLParser({
  ignoreAttributes: false,
  removeNSPrefix: true,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  maxNestedTags: MAX_XML_DEPTH,
  isArray: (name) => name === 'ProbeMatch',
});

/** Deepest element nesting of `xml`, stopping early once past `limit`. Linear, no recursion. */
export function xmlDepthExceeds(xml: string, limit: number): boolean {
  let depth = 0;
  const tags = /<(\/?)[A-Za-z_][^>]*?(\/?)>/g;
  for (let m = tags.exec(xml); m !== null; m = tags.exec(xml)) {
    if (m[1] === '/') depth -= 1;
    else if (m[2] !== '/') depth += 1;
    if (depth > limit) return true;
  }
  return false;
}

const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decode the five predefined entities and character references; leave anything else as is. */
export function decodeXmlText(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      const valid = cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
      return valid ? String.fromCodePoint(cp) : whole;
    }
    return PREDEFINED[ref] ?? whole;
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Text content of a parsed element (a string, or `#text` of an element with attributes). */
function text(v: unknown): string {
  if (typeof v === 'string') return decodeXmlText(v).trim();
  if (isRecord(v) && typeof v['#text'] === 'string') return decodeXmlText(v['#text']).trim();
  return '';
}

function get(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const key of path) {
    if (!isRecord(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

function list(v: unknown): string[] {
  return text(v)
    .split(/\s+/)
    .filter((s) => s !== '' && s.length <= LIMITS.uri)
    .slice(0, LIMITS.listItems);
}

function isHttpUrl(s: string): boolean {
  if (!/^https?:\/\//i.test(s)) return false;
  try {
    return new URL(s).hostname !== '';
  } catch {
    // Not a URL: refused below.
    return false;
  }
}

function endpoint(v: unknown): DiscoveredEndpoint | undefined {
  const epr = text(get(v, 'EndpointReference', 'Address'));
  if (epr === '' || epr.length > LIMITS.endpointReference) return undefined;
  const mv = Number.parseInt(text(get(v, 'MetadataVersion')), 10);
  return {
    endpointReference: epr,
    types: list(get(v, 'Types')),
    scopes: list(get(v, 'Scopes')),
    xaddrs: list(get(v, 'XAddrs')).filter(isHttpUrl).map(stripUrlCredentials),
    metadataVersion: Number.isSafeInteger(mv) && mv >= 0 ? mv : 0,
  };
}

function reject(reason: DiscoveryRejection, detail: string): DiscoveryParseResult {
  return { ok: false, reason, detail };
}

/** Parse one datagram. Never throws. */
export function parseDiscoveryDatagram(data: Buffer | string): DiscoveryParseResult {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > MAX_DATAGRAM_BYTES) return reject('too_large', `${size} bytes`);
  const xml = typeof data === 'string' ? data : data.toString('utf8');
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return reject('doctype', 'a DTD is not allowed');
  if (xmlDepthExceeds(xml, MAX_XML_DEPTH)) return reject('too_deep', `nesting deeper than ${MAX_XML_DEPTH}`);
  let doc: unknown;
  try {
    // The parser alone accepts unclosed and mismatched tags. XMLValidator is deprecated in favour
    // of the separate fast-xml-validator package, which is not a dependency here.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    const valid = XMLValidator.validate(xml);
    if (valid !== true) return reject('not_well_formed', `${valid.err.code}: ${valid.err.msg}`);
    doc = parser.parse(xml);
  } catch (err) {
    return reject('not_well_formed', err instanceof Error ? err.message : String(err));
  }
  const envelope = get(doc, 'Envelope');
  const body = get(envelope, 'Body');
  if (!isRecord(body)) return reject('not_discovery', 'no SOAP envelope with a body');
  const action = text(get(envelope, 'Header', 'Action'));

  const probeMatches = body.ProbeMatches;
  if (probeMatches !== undefined) {
    const relatesTo = text(get(envelope, 'Header', 'RelatesTo'));
    if (relatesTo === '') return reject('not_discovery', 'ProbeMatches without RelatesTo');
    const raw = get(probeMatches, 'ProbeMatch');
    const matches = (Array.isArray(raw) ? raw : [])
      .slice(0, LIMITS.listItems)
      .map(endpoint)
      .filter((m): m is DiscoveredEndpoint => m !== undefined);
    return { ok: true, message: { kind: 'probe_matches', relatesTo, matches } };
  }
  if (body.Hello !== undefined) {
    const ep = endpoint(body.Hello);
    if (ep === undefined) return reject('not_discovery', 'Hello without an endpoint reference');
    return { ok: true, message: { kind: 'hello', endpoint: ep } };
  }
  if (body.Bye !== undefined) {
    const ep = text(get(body.Bye, 'EndpointReference', 'Address'));
    if (ep === '' || ep.length > LIMITS.endpointReference) {
      return reject('not_discovery', 'Bye without an endpoint reference');
    }
    return { ok: true, message: { kind: 'bye', endpointReference: ep } };
  }
  return { ok: true, message: { kind: 'other', action: action.slice(0, LIMITS.uri) } };
}
