/**
 * XML in and out. Incoming messages (SOAP requests, WS-Discovery probes) are parsed with
 * fast-xml-parser into a small namespace-resolved tree; documents with a DTD are refused before
 * parsing (SOAP forbids DTDs), so no entity — internal or external — is ever expanded.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** XML namespaces used on the wire. */
export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tt: 'http://www.onvif.org/ver10/schema',
  ter: 'http://www.onvif.org/ver10/error',
  dn: 'http://www.onvif.org/ver10/network/wsdl',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  /** WS-Addressing as used by WS-Discovery 2005/04 (what ONVIF discovery speaks). */
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsd: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const;

/** Largest request body the simulator parses. */
export const MAX_XML_BYTES = 1024 * 1024;

/** An element with its namespace resolved. */
export interface XmlElement {
  /** Namespace URI, or '' when unqualified or the prefix is undeclared. */
  readonly ns: string;
  readonly local: string;
  /** Attributes by their name as written (`Type`, `wsu:Id`, `xmlns:tds`). */
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Concatenated direct text content, trimmed. */
  readonly text: string;
  /** Prefix → namespace in scope at this element ('' is the default namespace). */
  readonly scope: ReadonlyMap<string, string>;
}

/** Why an incoming document was refused. */
export type XmlRejection = 'doctype' | 'too_large' | 'not_well_formed';

/** Result of {@link parseXml}. */
export type XmlParseResult =
  { ok: true; root: XmlElement } | { ok: false; reason: XmlRejection; detail: string };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Defence in depth only: documents with a DOCTYPE never reach the parser.
  processEntities: { enabled: true, maxEntityCount: 1, maxEntitySize: 1, maxTotalExpansions: 1000 },
  maxNestedTags: 64,
});

type OrderedNode = Record<string, unknown>;

/** Parse a document from an untrusted peer. Never throws. */
export function parseXml(xml: string): XmlParseResult {
  if (Buffer.byteLength(xml) > MAX_XML_BYTES) {
    return { ok: false, reason: 'too_large', detail: `document larger than ${MAX_XML_BYTES} bytes` };
  }
  if (/<!DOCTYPE/i.test(xml)) {
    return { ok: false, reason: 'doctype', detail: 'a document type declaration is not allowed in SOAP' };
  }
  // The parser alone accepts unclosed and mismatched tags. XMLValidator is deprecated in favour of
  // the separate fast-xml-validator package, which is not a dependency here.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    return { ok: false, reason: 'not_well_formed', detail: `${valid.err.code}: ${valid.err.msg}` };
  }
  let nodes: unknown;
  try {
    nodes = parser.parse(xml);
  } catch (err) {
    return { ok: false, reason: 'not_well_formed', detail: err instanceof Error ? err.message : String(err) };
  }
  const roots = Array.isArray(nodes) ? buildChildren(nodes as OrderedNode[], new Map([['xml', NS.xml]])) : [];
  const root = roots[0];
  if (root === undefined) return { ok: false, reason: 'not_well_formed', detail: 'no root element' };
  return { ok: true, root };
}

function buildChildren(
  nodes: readonly OrderedNode[],
  parentScope: ReadonlyMap<string, string>,
): XmlElement[] {
  const out: XmlElement[] = [];
  for (const node of nodes) {
    const name = Object.keys(node).find((k) => k !== ':@' && k !== '#text');
    if (name === undefined) continue;
    const rawAttrs = (node[':@'] ?? {}) as Record<string, unknown>;
    const attrs: Record<string, string> = {};
    let scope = parentScope;
    for (const [k, v] of Object.entries(rawAttrs)) {
      const value = String(v);
      attrs[k] = value;
      if (k === 'xmlns' || k.startsWith('xmlns:')) {
        if (scope === parentScope) scope = new Map(parentScope);
        (scope as Map<string, string>).set(k === 'xmlns' ? '' : k.slice(6), value);
      }
    }
    const content = node[name];
    const childNodes = Array.isArray(content) ? (content as OrderedNode[]) : [];
    const text = childNodes
      .filter((c) => '#text' in c)
      .map((c) => String(c['#text']))
      .join('')
      .trim();
    const colon = name.indexOf(':');
    const prefix = colon < 0 ? '' : name.slice(0, colon);
    out.push({
      ns: scope.get(prefix) ?? '',
      local: colon < 0 ? name : name.slice(colon + 1),
      attrs,
      children: buildChildren(childNodes, scope),
      text,
      scope,
    });
  }
  return out;
}

/** First child element with this local name (and namespace, when given). */
export function child(el: XmlElement | undefined, local: string, ns?: string): XmlElement | undefined {
  return el?.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

/** Follow a path of local names from `el`. */
export function path(el: XmlElement | undefined, ...locals: string[]): XmlElement | undefined {
  let cur = el;
  for (const l of locals) cur = child(cur, l);
  return cur;
}

/** Attribute by local name, ignoring any prefix. */
export function attr(el: XmlElement | undefined, local: string): string | undefined {
  if (el === undefined) return undefined;
  for (const [k, v] of Object.entries(el.attrs)) {
    if (k === local || k.endsWith(`:${local}`)) return v;
  }
  return undefined;
}

/** Resolve a QName written in content (`dn:NetworkVideoTransmitter`) against `el`'s scope. */
export function resolveQName(el: XmlElement, qname: string): { ns: string | undefined; local: string } {
  const colon = qname.indexOf(':');
  const prefix = colon < 0 ? '' : qname.slice(0, colon);
  return { ns: el.scope.get(prefix), local: colon < 0 ? qname : qname.slice(colon + 1) };
}

/** Escape text for element content or a double-quoted attribute. */
export function esc(value: string | number | boolean): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
