/**
 * Reading ffmpeg's stderr: lines, and what each line says about the stream. ffmpeg runs with
 * `-loglevel repeat+level+warning`, so a line looks like
 * `[rtsp @ 0x55d0c0] [error] method DESCRIBE failed: 401 Unauthorized` or
 * `[error] rtsp://***@host/path: Connection refused`.
 */

/** What a stderr line tells the supervisor. */
export type StderrKind =
  /** 401/403: the camera refused the credentials. */
  | 'auth'
  /** 404: no stream at this path. */
  | 'not_found'
  /** Connection refused, no route, name resolution, socket timeout. */
  | 'unreachable'
  /** The decoder or the RTP depacketiser met broken data. */
  | 'decode'
  /** setpriv could not execute ffmpeg (missing binary). */
  | 'spawn'
  /** Anything else (logged, not counted). */
  | 'other';

/** One parsed stderr line. */
export interface StderrLine {
  kind: StderrKind;
  /** ffmpeg's level tag (`error`, `warning`, `fatal`…), or null if the line had none. */
  level: string | null;
  /** The line without the level tag and the context's pointer: `[rtsp] method DESCRIBE failed: …`. */
  text: string;
}

// Order matters: the first match wins. A 401 line also names the URL, which may mention a host
// that "timed out" in its path; auth and not-found are more specific than reachability.
const RULES: readonly (readonly [StderrKind, RegExp])[] = [
  ['spawn', /^setpriv: (failed to execute|.*not permitted)/i],
  ['auth', /\b40[13] (unauthori[sz]ed|forbidden)\b|authori[sz]ation failed|access denied/i],
  ['not_found', /\b404 not found\b/i],
  [
    'unreachable',
    /connection refused|no route to host|network is unreachable|host is unreachable|timed out|name or service not known|temporary failure in name resolution|failed to resolve hostname|cannot assign requested address/i,
  ],
  [
    'decode',
    new RegExp(
      [
        'error while decoding',
        'concealing \\d+ .*errors',
        'invalid nal unit',
        'decode_slice_header error',
        'non-existing [ps]ps',
        'no frame!',
        'missing picture in access unit',
        'corrupt (decoded )?(frame|packet|input)',
        'invalid data found when processing input',
        'rtp: missed \\d+ packets',
        '(top|left) block unavailable',
        'out of range intra chroma pred mode',
        'cabac decode of qscale diff failed',
        'sub_mb_type \\d+ out of range',
        'mb_type \\d+ in [ipb] slice too large',
        'reference (picture|frame)s? missing',
        'illegal short term buffer',
        'mmco: unref short failure',
        '[sp]ps_id \\d+ out of range',
        'ac-tex damaged',
        'overread',
        'invalid level prefix',
        'negative number of zero coeffs',
      ].join('|'),
      'i',
    ),
  ],
];

const LEVEL_TAG = /\[(panic|fatal|error|warning|info|verbose|debug|trace)\] /;
const CONTEXT_POINTER = / @ 0x[0-9a-f]+\]/gi;

/** Classify one stderr line (level tag and all). */
export function parseStderrLine(line: string): StderrLine {
  const level = LEVEL_TAG.exec(line)?.[1] ?? null;
  const text = line.replace(LEVEL_TAG, '').replace(CONTEXT_POINTER, ']').trim();
  for (const [kind, pattern] of RULES) {
    if (pattern.test(text)) return { kind, level, text };
  }
  return { kind: 'other', level, text };
}

/** Splits a byte stream into lines (`\n`, `\r\n` or `\r`), bounding the length of each line. */
export class LineSplitter {
  private pending = '';

  constructor(private readonly maxLineLength = 2000) {}

  /** Feed a chunk; returns the lines it completed. */
  push(chunk: string): string[] {
    const parts = (this.pending + chunk).split(/\r\n|\n|\r/);
    this.pending = parts.pop() ?? '';
    const lines = parts.map((l) => l.slice(0, this.maxLineLength));
    // A line without an end would otherwise grow without bound: cut it.
    if (this.pending.length > this.maxLineLength) {
      lines.push(this.pending.slice(0, this.maxLineLength));
      this.pending = '';
    }
    return lines.filter((l) => l.trim() !== '');
  }

  /** The unterminated last line, if any (call when the stream ends). */
  flush(): string[] {
    const last = this.pending;
    this.pending = '';
    return last.trim() === '' ? [] : [last];
  }
}
