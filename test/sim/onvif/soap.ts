/** SOAP 1.2 envelopes and faults as ONVIF devices send them. */
import { NS, esc } from './xml.ts';

/** Namespace declarations every response envelope carries. */
const ENVELOPE_NS =
  `xmlns:s="${NS.soap}" xmlns:tds="${NS.tds}" xmlns:trt="${NS.trt}" ` +
  `xmlns:tt="${NS.tt}" xmlns:ter="${NS.ter}"`;

/** Wrap body content in a SOAP 1.2 envelope with the ONVIF prefixes (s, tds, trt, tt, ter) declared. */
export function envelope(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${ENVELOPE_NS}><s:Header/><s:Body>${body}</s:Body></s:Envelope>`;
}

/**
 * A SOAP fault. `code` is the SOAP 1.2 code (`Sender` → HTTP 400, `Receiver` → HTTP 500,
 * `VersionMismatch` → 500); `subcodes` are ONVIF `ter:` QNames, outermost first.
 */
export interface SoapFault {
  code: 'Sender' | 'Receiver' | 'VersionMismatch';
  subcodes: readonly string[];
  reason: string;
}

/** HTTP status for a fault, per the SOAP 1.2 HTTP binding (what ONVIF devices use). */
export function faultStatus(fault: SoapFault): number {
  return fault.code === 'Sender' ? 400 : 500;
}

/** Serialise a fault as a complete envelope. `xml:lang` on Text is what clients read the reason from. */
export function faultEnvelope(fault: SoapFault): string {
  let code = '';
  for (let i = fault.subcodes.length - 1; i >= 0; i--) {
    const sub = fault.subcodes[i] ?? '';
    code = `<s:Subcode><s:Value>${esc(sub)}</s:Value>${code}</s:Subcode>`;
  }
  return envelope(
    `<s:Fault><s:Code><s:Value>s:${fault.code}</s:Value>${code}</s:Code>` +
      `<s:Reason><s:Text xml:lang="en">${esc(fault.reason)}</s:Text></s:Reason></s:Fault>`,
  );
}

/** The ONVIF faults the simulator sends (ONVIF Core spec, section "Error handling"). */
export const FAULTS = {
  notAuthorized: (): SoapFault => ({
    code: 'Sender',
    subcodes: ['ter:NotAuthorized'],
    reason: 'Sender not Authorized',
  }),
  wellFormed: (): SoapFault => ({
    code: 'Sender',
    subcodes: ['ter:WellFormed'],
    reason: 'XML Well-formed violation',
  }),
  dtdNotAllowed: (): SoapFault => ({
    code: 'Sender',
    subcodes: ['ter:WellFormed'],
    reason: 'A SOAP message must not contain a document type declaration',
  }),
  versionMismatch: (): SoapFault => ({
    code: 'VersionMismatch',
    subcodes: [],
    reason: 'SOAP version mismatch: expected a SOAP 1.2 envelope',
  }),
  actionNotSupported: (action: string): SoapFault => ({
    code: 'Receiver',
    subcodes: ['ter:ActionNotSupported'],
    reason: `Optional Action Not Implemented: ${action}`,
  }),
  noProfile: (token: string): SoapFault => ({
    code: 'Sender',
    subcodes: ['ter:InvalidArgVal', 'ter:NoProfile'],
    reason: `The requested profile token ${token} does not exist`,
  }),
  invalidStreamSetup: (): SoapFault => ({
    code: 'Sender',
    subcodes: ['ter:InvalidArgVal', 'ter:InvalidStreamSetup'],
    reason: 'Specification of StreamType or Transport part in StreamSetup is not supported',
  }),
  noSuchService: (category: string): SoapFault => ({
    code: 'Receiver',
    subcodes: ['ter:ActionNotSupported', 'ter:NoSuchService'],
    reason: `The requested capability category ${category} is not supported`,
  }),
  noSource: (token: string): SoapFault => ({
    code: 'Sender',
    subcodes: ['ter:InvalidArgVal', 'ter:NoSource'],
    reason: `The requested video source ${token} does not exist`,
  }),
} as const;
