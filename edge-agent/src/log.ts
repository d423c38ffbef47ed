/**
 * The agent's one root logger (pino) and credential redaction. Modules log through
 * `logger.child({ module, camera_id })`. Credentials never reach a log line: RTSP/HTTP URLs go
 * through {@link redactUrl}, and pino's `redact` removes known secret fields as a backstop.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Create the root logger writing JSON lines to `destination` (default stdout). */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination(1),
): Logger {
  return pino(
    {
      name: 'edge-agent',
      level,
      redact: {
        paths: ['password', '*.password', '*.*.password', 'credentials', '*.credentials', 'pass', '*.pass'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A logger that drops everything (tests, libraries used without a logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

// scheme://userinfo@ — userinfo stops at the first `/`, whitespace or quote, so a URL quoted
// inside a longer text (an ffmpeg error line) is redacted too.
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]*@/gi;

/** `rtsp://user:pass@host/path` → `rtsp://***@host/path`, wherever URLs appear in `text`. */
export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@');
}
