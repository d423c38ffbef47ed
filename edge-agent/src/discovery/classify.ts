/**
 * What went wrong talking to a camera, from node-onvif's error texts (it has no error codes) and
 * what the worker saw. Pure, table-tested.
 */
import type { EdgeErrorCode } from '../errors.ts';
import { redactUrl } from '../log.ts';
import type { DeviceAccess } from './types.ts';

/** How an ONVIF call in the worker ended badly. */
export type OnvifFailure =
  /** node-onvif rejected (or threw) with `message`; `timedOut`: a socket idled out first. */
  | { kind: 'error'; message: string; timedOut: boolean }
  /** A reply went over the byte cap. */
  | { kind: 'too_large' }
  /** The worker went over its heap limit. */
  | { kind: 'out_of_memory' }
  /** The hard time limit passed; the worker was terminated. */
  | { kind: 'deadline' };

const AUTH = /not ?authori[sz]ed|\b401\b|\b403\b|unauthori[sz]ed|authentication|ter:NotAuthorized/i;
const UNREACHABLE =
  /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENOTFOUND|EAI_AGAIN|EADDRNOTAVAIL|ECONNRESET/;
const TIMEOUT = /ETIMEDOUT|ESOCKETTIMEDOUT|\btimeout\b|timed out/i;

/** The error code for a failure. */
export function classifyOnvifFailure(f: OnvifFailure): EdgeErrorCode {
  switch (f.kind) {
    case 'too_large':
    case 'out_of_memory':
      return 'EDGE_ERR_ONVIF_TOO_LARGE';
    case 'deadline':
      return 'EDGE_ERR_ONVIF_TIMEOUT';
    case 'error':
      if (AUTH.test(f.message)) return 'EDGE_ERR_ONVIF_AUTH';
      // node-onvif aborts an idle request and then reports "socket hang up".
      if (f.timedOut || TIMEOUT.test(f.message)) return 'EDGE_ERR_ONVIF_TIMEOUT';
      if (UNREACHABLE.test(f.message) || /socket hang up/i.test(f.message))
        return 'EDGE_ERR_ONVIF_UNREACHABLE';
      return 'EDGE_ERR_ONVIF_PROTOCOL';
  }
}

/** The access state a describe failure puts a device in. */
export function accessForError(code: EdgeErrorCode): DeviceAccess {
  switch (code) {
    case 'EDGE_ERR_ONVIF_AUTH':
      return 'auth_failed';
    case 'EDGE_ERR_ONVIF_UNREACHABLE':
    case 'EDGE_ERR_ONVIF_TIMEOUT':
      return 'unreachable';
    default:
      return 'protocol_error';
  }
}

/**
 * A camera-provided text made safe for a log line or a status message: credentials in URLs
 * redacted, control characters removed, length capped (a hostile fault reason can be megabytes).
 */
export function sanitizeDetail(text: string, maxChars = 200): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  const redacted = redactUrl(clean);
  return redacted.length > maxChars ? `${redacted.slice(0, maxChars)}…` : redacted;
}
