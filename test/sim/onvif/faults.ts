/**
 * Fault modes: validation, and the malformed / hostile documents that replace a good reply.
 * The hostile documents are real attacks on an XML parser; they are what the edge agent's
 * discovery and ONVIF code must survive (refuse, not expand).
 */
import type { FaultMode, HostileVariant, MalformedVariant } from './types.ts';

/** Depth of the `deep_nesting` document when none is configured. */
export const DEFAULT_NESTING_DEPTH = 100_000;
/** Largest datagram the discovery responder sends. */
export const MAX_DATAGRAM_BYTES = 60_000;

/** A copy of `fault` with defaults filled in; throws on nonsense values. */
export function normalizeFault(fault: FaultMode): FaultMode {
  switch (fault.kind) {
    case 'slow':
      if (!Number.isFinite(fault.delay_ms) || fault.delay_ms < 0)
        throw new RangeError('slow.delay_ms must be ≥ 0');
      return { ...fault };
    case 'malformed_xml':
      return { kind: 'malformed_xml', variant: fault.variant ?? 'truncated' };
    case 'hostile_xml':
      if (fault.depth !== undefined && (!Number.isInteger(fault.depth) || fault.depth < 1)) {
        throw new RangeError('hostile_xml.depth must be a positive integer');
      }
      return { ...fault };
    case 'none':
    case 'wrong_credentials':
    case 'silent':
      return { ...fault };
  }
}

/** Where entity references go: just inside the first element of the body. */
function insertionPoint(xml: string): number {
  const body = xml.indexOf('<s:Body>');
  const start = body < 0 ? 0 : body + '<s:Body>'.length;
  const end = xml.indexOf('>', start);
  return end < 0 ? xml.length : end + 1;
}

function withDoctype(xml: string, internalSubset: string, reference: string): string {
  const declEnd = xml.startsWith('<?xml') ? xml.indexOf('?>') + 2 : 0;
  const at = insertionPoint(xml);
  return (
    xml.slice(0, declEnd) +
    `<!DOCTYPE s:Envelope [${internalSubset}]>` +
    xml.slice(declEnd, at) +
    reference +
    xml.slice(at)
  );
}

/** A reply that is not well-formed XML. */
export function malformedXml(goodReply: string, variant: MalformedVariant): string {
  if (variant === 'truncated') {
    // Cut inside the body so the envelope can never close.
    return goodReply.slice(0, Math.max(insertionPoint(goodReply), Math.floor(goodReply.length * 0.6)));
  }
  const at = insertionPoint(goodReply);
  return (
    goodReply.slice(0, at) +
    '<tt:Broken attr="1" attr="2">& <<\u0001' +
    goodReply.slice(at).replace('</s:Body>', '</s:Bdoy>') +
    '</unopened>'
  );
}

/** The classic billion-laughs bomb: 10 levels, each 10× the one below (10⁹ "lol"s if expanded). */
export function billionLaughsSubset(): string {
  let subset = '<!ENTITY lol0 "lol">';
  for (let i = 1; i <= 9; i++) subset += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`;
  return subset;
}

/**
 * A reply carrying an attack on the client's XML parser. `maxBytes` caps the `deep_nesting`
 * document (used for UDP datagrams); the other variants are small anyway.
 */
export function hostileXml(
  goodReply: string,
  variant: HostileVariant,
  depth?: number,
  maxBytes?: number,
): string {
  switch (variant) {
    case 'billion_laughs':
      return withDoctype(goodReply, billionLaughsSubset(), '&lol9;');
    case 'xxe':
      return withDoctype(goodReply, '<!ENTITY xxe SYSTEM "file:///etc/passwd">', '&xxe;');
    case 'deep_nesting': {
      const at = insertionPoint(goodReply);
      const head = goodReply.slice(0, at);
      const tail = goodReply.slice(at);
      let n = depth ?? DEFAULT_NESTING_DEPTH;
      if (maxBytes !== undefined) n = Math.min(n, Math.floor((maxBytes - head.length - tail.length) / 7));
      return head + '<a>'.repeat(n) + '</a>'.repeat(n) + tail;
    }
  }
}

/** The document a faulty camera sends instead of `goodReply`, or `goodReply` when the fault leaves replies alone. */
export function applyReplyFault(goodReply: string, fault: FaultMode, maxBytes?: number): string {
  if (fault.kind === 'malformed_xml') return malformedXml(goodReply, fault.variant ?? 'truncated');
  if (fault.kind === 'hostile_xml') return hostileXml(goodReply, fault.variant, fault.depth, maxBytes);
  return goodReply;
}
