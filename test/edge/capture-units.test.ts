/** The capture stage's pure parts: ffmpeg arguments, URLs and redaction, frame reassembly, backoff, stderr. */
import { describe, expect, it } from 'vitest';
import {
  AUTH_HEAD_START,
  DEFAULT_BACKOFF,
  backoffCapMs,
  backoffDelayMs,
  backoffPolicy,
  type BackoffPolicy,
} from '../../edge-agent/src/capture/backoff.ts';
import { createCapture } from '../../edge-agent/src/capture/capture.ts';
import {
  buildFfmpegArgs,
  buildSpawnCommand,
  encodeUserinfo,
  formatFps,
  isRtspUrl,
  makeRedactor,
  rtspUrlWithCredentials,
} from '../../edge-agent/src/capture/ffmpeg-args.ts';
import { FrameAssembler } from '../../edge-agent/src/capture/frame-assembler.ts';
import { RateWindow } from '../../edge-agent/src/capture/rate.ts';
import { LineSplitter, parseStderrLine, type StderrKind } from '../../edge-agent/src/capture/stderr.ts';
import type { CaptureOptions } from '../../edge-agent/src/capture/types.ts';
import { isEdgeError } from '../../edge-agent/src/errors.ts';
import { silentLogger } from '../../edge-agent/src/log.ts';

describe('buildFfmpegArgs', () => {
  const base = {
    url: 'rtsp://u:p@127.0.0.1:8554/cam',
    width: 640,
    height: 360,
    fps: 2,
    socketTimeoutMs: 10_000,
  };

  it('builds the whole command line for a typical camera', () => {
    expect(buildFfmpegArgs(base)).toEqual([
      ...['-hide_banner', '-nostats', '-loglevel', 'repeat+level+warning'],
      ...['-threads', '1'],
      ...['-rtsp_transport', 'tcp', '-timeout', '10000000'],
      ...['-fflags', 'nobuffer', '-allowed_media_types', 'video'],
      ...['-i', 'rtsp://u:p@127.0.0.1:8554/cam'],
      ...['-map', '0:v:0', '-an', '-sn', '-dn'],
      ...['-vf', 'fps=2,scale=640:360'],
      ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    ]);
  });

  it.each([
    // [input overrides, flag, expected value]
    [{ socketTimeoutMs: 3000 }, '-timeout', '3000000'],
    [{ socketTimeoutMs: 2500.4 }, '-timeout', '2500400'],
    [{ fps: 0.5 }, '-vf', 'fps=0.5,scale=640:360'],
    [{ fps: 1 / 3 }, '-vf', 'fps=0.333333,scale=640:360'],
    [{ width: 333, height: 187 }, '-vf', 'fps=2,scale=333:187'],
    [{ decodeThreads: 2 }, '-threads', '2'],
  ] as const)('%o sets %s to %s', (over, flag, value) => {
    const args = buildFfmpegArgs({ ...base, ...over });
    expect(args[args.indexOf(flag) + 1]).toBe(value);
  });

  it.each([
    // ffmpeg 5.1's RTSP demuxer rejects -rw_timeout ("Option rw_timeout not found");
    // -nostdin would disable the graceful `q`; -stimeout no longer exists.
    ['-rw_timeout'],
    ['-nostdin'],
    ['-stimeout'],
    ['-flags'],
  ])('never passes %s', (flag) => {
    expect(buildFfmpegArgs(base)).not.toContain(flag);
  });

  it('puts input options before -i and output options after it', () => {
    const args = buildFfmpegArgs(base);
    const input = args.indexOf('-i');
    for (const flag of ['-rtsp_transport', '-timeout', '-fflags', '-threads']) {
      expect(args.indexOf(flag)).toBeLessThan(input);
    }
    for (const flag of ['-vf', '-f', '-pix_fmt', '-map']) expect(args.indexOf(flag)).toBeGreaterThan(input);
    expect(args.at(-1)).toBe('pipe:1');
  });

  it.each([
    [2, '2'],
    [15, '15'],
    [0.25, '0.25'],
    [2 / 3, '0.666667'],
  ])('formats fps %d as %s', (fps, text) => {
    expect(formatFps(fps)).toBe(text);
  });
});

describe('buildSpawnCommand', () => {
  it('wraps ffmpeg in setpriv --pdeathsig SIGKILL when setpriv is there', () => {
    expect(buildSpawnCommand('/usr/bin/ffmpeg', ['-i', 'x'], '/usr/bin/setpriv')).toEqual({
      command: '/usr/bin/setpriv',
      args: ['--pdeathsig', 'SIGKILL', '--', '/usr/bin/ffmpeg', '-i', 'x'],
    });
  });

  it('spawns ffmpeg directly without setpriv', () => {
    expect(buildSpawnCommand('ffmpeg', ['-i', 'x'], null)).toEqual({ command: 'ffmpeg', args: ['-i', 'x'] });
  });
});

describe('RTSP URLs and credentials', () => {
  it.each([
    [
      'rtsp://10.0.0.5:554/Streaming/101',
      { username: 'admin', password: 'secret' },
      'rtsp://admin:secret@10.0.0.5:554/Streaming/101',
    ],
    // userinfo already in the URL is replaced, not doubled
    [
      'rtsp://old:creds@10.0.0.5/cam',
      { username: 'admin', password: 'new' },
      'rtsp://admin:new@10.0.0.5/cam',
    ],
    // reserved characters are percent-encoded, including the ones encodeURIComponent leaves
    [
      'rtsp://h/cam',
      { username: 'a@b', password: "p@ss:w/rd it's(1)*!" },
      'rtsp://a%40b:p%40ss%3Aw%2Frd%20it%27s%281%29%2A%21@h/cam',
    ],
    ['rtsp://h/cam', { username: 'u', password: '密码#?&' }, 'rtsp://u:%E5%AF%86%E7%A0%81%23%3F%26@h/cam'],
    [
      'rtsps://[::1]:322/x?channel=1&subtype=1',
      { username: 'u', password: 'p' },
      'rtsps://u:p@[::1]:322/x?channel=1&subtype=1',
    ],
    ['RTSP://h', { username: 'u', password: 'p' }, 'RTSP://u:p@h'],
    // no credentials: the URL as given (it may carry its own)
    ['rtsp://own:pw@h/cam', undefined, 'rtsp://own:pw@h/cam'],
  ])('%s + %o → %s', (url, creds, expected) => {
    expect(rtspUrlWithCredentials(url, creds)).toBe(expected);
  });

  it.each([
    ['rtsp://127.0.0.1:554/cam', true],
    ['rtsps://cam.local/x', true],
    ['rtsp://u:p@h', true],
    ['http://127.0.0.1/cam', false],
    ['rtsp://', false],
    ['rtsp:///path', false],
    ['rtsp://host /x', false],
    ['127.0.0.1:554', false],
  ])('isRtspUrl(%s) = %s', (url, ok) => {
    expect(isRtspUrl(url)).toBe(ok);
  });

  it('encodes every character the URL redaction would stop at', () => {
    expect(encodeUserinfo(`a'b"c d/e@f`)).toBe('a%27b%22c%20d%2Fe%40f');
  });

  it.each([
    // [credentials, text ffmpeg might print]
    [
      { username: 'admin', password: 'hunter22' },
      '[error] rtsp://admin:hunter22@127.0.0.1:8554/cam: Server returned 401',
    ],
    [{ username: 'admin', password: "it's a secret" }, '[error] rtsp://admin:it%27s%20a%20secret@h/cam: 401'],
    [{ username: 'admin', password: "it's a secret" }, "raw text mentioning it's a secret somewhere"],
    [{ username: 'admin', password: 'p@ss:w/rd' }, 'Connection to rtsp://admin:p%40ss%3Aw%2Frd@h failed'],
  ])('redacts %o from %s', (creds, line) => {
    const url = rtspUrlWithCredentials('rtsp://127.0.0.1:8554/cam', creds);
    const out = makeRedactor(url, creds)(line);
    expect(out).not.toContain(creds.password);
    expect(out).not.toContain(encodeUserinfo(creds.password));
    expect(out).toContain('***');
  });

  it('redacts a password that came inside the URL', () => {
    const redact = makeRedactor('rtsp://admin:inurl%40pw@h/cam');
    expect(redact('rtsp://admin:inurl%40pw@h/cam: 401 and inurl@pw')).toBe('rtsp://***@h/cam: 401 and ***');
  });
});

describe('FrameAssembler', () => {
  /** `count` frames of `size` bytes, frame i filled with byte (i + 1), as one stream. */
  function stream(size: number, count: number): Buffer {
    return Buffer.concat(Array.from({ length: count }, (_, i) => Buffer.alloc(size, i + 1)));
  }

  /** Feed `data` in chunks of the given sizes (cycling), collect frames. */
  function feed(asm: FrameAssembler, data: Buffer, sizes: readonly number[]): Buffer[] {
    const frames: Buffer[] = [];
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      const n = sizes[i % sizes.length] ?? 1;
      frames.push(...asm.push(data.subarray(off, off + n)));
      off += n;
    }
    return frames;
  }

  const SIZE = 333 * 187 * 3; // odd: never aligned with pipe reads
  it.each([
    ['1-byte chunks', [1], 30, 3],
    ['65536-byte pipe reads', [65_536], SIZE, 5],
    ['one frame minus a byte', [SIZE - 1], SIZE, 5],
    ['exactly one frame', [SIZE], SIZE, 5],
    ['one frame plus a byte', [SIZE + 1], SIZE, 5],
    ['several frames at once', [3 * SIZE + 2], SIZE, 7],
    ['mixed odd sizes', [7, 65_536, 1, SIZE * 2 - 9, 4093], SIZE, 6],
  ] as const)('%s', (_name, sizes, size, count) => {
    const asm = new FrameAssembler(size);
    const frames = feed(asm, stream(size, count), sizes);
    expect(frames).toHaveLength(count);
    frames.forEach((f, i) => {
      expect(f.length).toBe(size);
      // Each frame holds only its own bytes: no bleeding across a boundary.
      expect(f[0]).toBe(i + 1);
      expect(f[size - 1]).toBe(i + 1);
      expect(f.every((b) => b === i + 1)).toBe(true);
    });
    expect(asm.partialBytes).toBe(0);
  });

  it('keeps a partial frame until its last byte arrives', () => {
    const asm = new FrameAssembler(10);
    expect(asm.push(Buffer.alloc(25, 9))).toHaveLength(2);
    expect(asm.partialBytes).toBe(5);
    expect(asm.push(Buffer.alloc(4, 9))).toHaveLength(0);
    expect(asm.push(Buffer.alloc(1, 9))).toHaveLength(1);
  });

  it('hands out frames that later chunks do not overwrite', () => {
    const asm = new FrameAssembler(4);
    const chunk = Buffer.from([1, 1, 1, 1]);
    const [first] = asm.push(chunk);
    chunk.fill(2);
    asm.push(chunk);
    expect([...(first ?? [])]).toEqual([1, 1, 1, 1]);
  });

  it.each([0, -1, 1.5])('rejects frame size %d', (n) => {
    expect(() => new FrameAssembler(n)).toThrow(RangeError);
  });
});

describe('backoff', () => {
  const policy: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 30_000 };
  const fixed = (r: number) => () => r;

  it.each([
    [0, 1000],
    [1, 2000],
    [2, 4000],
    [5, 32_000],
    [6, 60_000],
    [50, 60_000],
    [5000, 60_000],
  ])('cap after %d failures is %d ms', (failures, cap) => {
    expect(backoffCapMs(policy, failures)).toBe(cap);
  });

  it.each([0, 1, 2, 3, 6, 10])('full jitter after %d failures stays within [0, cap]', (failures) => {
    const cap = backoffCapMs(policy, failures);
    expect(backoffDelayMs(policy, failures, 'normal', fixed(0))).toBe(0);
    expect(backoffDelayMs(policy, failures, 'normal', fixed(0.5))).toBe(cap / 2);
    expect(backoffDelayMs(policy, failures, 'normal', fixed(0.999_999))).toBeLessThanOrEqual(cap);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(policy, failures, 'normal');
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(cap);
    }
  });

  it('full jitter spreads delays over the whole range', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelayMs(policy, 3, 'normal'));
    expect(Math.min(...delays)).toBeLessThan(800);
    expect(Math.max(...delays)).toBeGreaterThan(7200);
  });

  it.each([0, 1, 2, 3, 4, 10])(
    'auth delay after %d failures is in the upper half of a head-started cap',
    (failures) => {
      const cap = backoffCapMs(policy, failures + AUTH_HEAD_START);
      for (const r of [0, 0.3, 0.999_999]) {
        const d = backoffDelayMs(policy, failures, 'auth', fixed(r));
        expect(d).toBeGreaterThanOrEqual(cap / 2);
        expect(d).toBeLessThanOrEqual(cap);
      }
    },
  );

  it('auth delays never shrink until the maximum: no retry storm', () => {
    // The worst case for growth: the largest draw, then the smallest.
    for (let n = 0; backoffCapMs(policy, n + 1 + AUTH_HEAD_START) < policy.maxMs; n++) {
      expect(backoffDelayMs(policy, n + 1, 'auth', fixed(0))).toBeGreaterThanOrEqual(
        backoffDelayMs(policy, n, 'auth', fixed(0.999_999)),
      );
    }
    // With the defaults the first retry after a 401 is 4–8 s away, and it reaches 30–60 s.
    expect(backoffDelayMs(DEFAULT_BACKOFF, 0, 'auth', fixed(0))).toBe(4000);
    expect(backoffDelayMs(DEFAULT_BACKOFF, 10, 'auth', fixed(0))).toBe(30_000);
  });

  it('fills defaults into options', () => {
    expect(backoffPolicy()).toEqual(DEFAULT_BACKOFF);
    expect(backoffPolicy({ initialMs: 5, maxMs: 50 })).toEqual({
      initialMs: 5,
      maxMs: 50,
      resetAfterMs: 30_000,
    });
  });
});

describe('stderr classification', () => {
  // Real lines, captured from ffmpeg 5.1 with -loglevel repeat+level+warning (URLs redacted).
  it.each<[string, StderrKind]>([
    ['[rtsp @ 0x55edd428bbc0] [error] method DESCRIBE failed: 401 Unauthorized', 'auth'],
    [
      '[error] rtsp://***@127.0.0.1:36439/auth: Server returned 401 Unauthorized (authorization failed)',
      'auth',
    ],
    ['[error] rtsp://***@10.0.0.5/cam: Server returned 403 Forbidden (access denied)', 'auth'],
    ['[rtsp @ 0x55c4577c2c00] [error] method DESCRIBE failed: 404 Not Found', 'not_found'],
    ['[error] rtsp://127.0.0.1:36439/nope: Server returned 404 Not Found', 'not_found'],
    [
      '[tcp @ 0x55e441efd880] [error] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused',
      'unreachable',
    ],
    ['[error] rtsp://127.0.0.1:1/x: Connection refused', 'unreachable'],
    ['[error] rtsp://127.0.0.1:36439/open: Connection timed out', 'unreachable'],
    [
      '[tcp @ 0x1] [error] Connection to tcp://10.9.9.9:554?timeout=0 failed: No route to host',
      'unreachable',
    ],
    ['[tcp @ 0x1] [error] Failed to resolve hostname cam.invalid: Name or service not known', 'unreachable'],
    ['[error] rtsp://h/x: Network is unreachable', 'unreachable'],
    ['[h264 @ 0x5625253c1f00] [error] error while decoding MB 32 0, bytestream 4554', 'decode'],
    ['[h264 @ 0x5625253c1f00] [error] left block unavailable for requested intra mode', 'decode'],
    ['[h264 @ 0x5625253c1f00] [error] top block unavailable for requested intra mode -1', 'decode'],
    ['[h264 @ 0x5625253c1f00] [error] cabac decode of qscale diff failed at 35 15', 'decode'],
    ['[warning] rtsp://127.0.0.1:46145/bad: corrupt decoded frame in stream 0', 'decode'],
    ['[h264 @ 0x1] [error] concealing 1620 DC, AC, MV errors in P frame', 'decode'],
    ['[h264 @ 0x1] [error] Invalid NAL unit size (1234 > 567).', 'decode'],
    ['[h264 @ 0x1] [error] non-existing PPS 0 referenced', 'decode'],
    ['[h264 @ 0x1] [error] decode_slice_header error', 'decode'],
    ['[h264 @ 0x1] [error] no frame!', 'decode'],
    ['[rtsp @ 0x1] [warning] RTP: missed 12 packets', 'decode'],
    ['[error] Error while decoding stream #0:0: Invalid data found when processing input', 'decode'],
    ['setpriv: failed to execute /nope/ffmpeg: No such file or directory', 'spawn'],
    [
      '[swscaler @ 0x1] [warning] deprecated pixel format used, make sure you did set range correctly',
      'other',
    ],
    ['[rtsp @ 0x1] [warning] max delay reached. need to consume packet', 'other'],
    ['[error] rtsp://h/x: End of file', 'other'],
  ])('%s → %s', (line, kind) => {
    expect(parseStderrLine(line).kind).toBe(kind);
  });

  it('strips the level tag and the context pointer', () => {
    expect(
      parseStderrLine('[rtsp @ 0x55edd428bbc0] [error] method DESCRIBE failed: 401 Unauthorized'),
    ).toEqual({
      kind: 'auth',
      level: 'error',
      text: '[rtsp] method DESCRIBE failed: 401 Unauthorized',
    });
    expect(parseStderrLine('plain line').level).toBeNull();
  });

  it('splits stderr into lines across chunks and bounds a line without end', () => {
    const s = new LineSplitter(10);
    expect(s.push('ab')).toEqual([]);
    expect(s.push('c\nde\r\nf\rg')).toEqual(['abc', 'de', 'f']);
    expect(s.push('\n\n')).toEqual(['g']);
    expect(s.push('x'.repeat(25))).toEqual(['x'.repeat(10)]);
    expect(s.flush()).toEqual([]);
    expect(s.push('tail')).toEqual([]);
    expect(s.flush()).toEqual(['tail']);
  });
});

describe('RateWindow', () => {
  it('measures a steady rate from the first event, then over the window', () => {
    const w = new RateWindow(10_000);
    expect(w.rate(0)).toBe(0);
    for (let t = 0; t <= 20_000; t += 500) w.add(t);
    // 2 per second, counted over the last 10 s.
    expect(w.rate(20_000)).toBeCloseTo(2, 1);
    // After 10 s of silence the window is empty.
    expect(w.rate(30_001)).toBe(0);
  });

  it('is not diluted right after the first event (lead of one interval)', () => {
    const w = new RateWindow(10_000);
    w.add(1000);
    expect(w.rate(1000, 500)).toBe(2);
    w.add(1500);
    w.add(2000);
    expect(w.rate(2000, 500)).toBe(2);
  });
});

describe('createCapture options', () => {
  const ok: CaptureOptions = {
    cameraId: 'cam1',
    url: 'rtsp://127.0.0.1:8554/cam',
    width: 640,
    height: 360,
    fps: 2,
    logger: silentLogger(),
  };

  it.each<[string, Partial<CaptureOptions>]>([
    ['http URL', { url: 'http://127.0.0.1/cam' }],
    ['empty camera id', { cameraId: '' }],
    ['zero width', { width: 0 }],
    ['fractional height', { height: 100.5 }],
    ['zero fps', { fps: 0 }],
    ['NaN fps', { fps: Number.NaN }],
    ['tiny stall timeout', { stallTimeoutMs: 10 }],
    ['max below initial backoff', { backoff: { initialMs: 1000, maxMs: 10 } }],
    ['empty user name', { credentials: { username: '', password: 'x' } }],
  ])('rejects %s with EDGE_ERR_CAPTURE_OPTIONS', (_name, over) => {
    let caught: unknown;
    try {
      createCapture({ ...ok, ...over });
    } catch (err) {
      caught = err;
    }
    expect(isEdgeError(caught, 'EDGE_ERR_CAPTURE_OPTIONS')).toBe(true);
  });

  it('allows one frame consumer at a time, and ends it on stop()', async () => {
    const c = createCapture(ok);
    const first = c.frames();
    const firstNext = first.next(); // waits: the capture was never started, no frame will come
    let caught: unknown;
    try {
      await c.frames().next();
    } catch (err) {
      caught = err;
    }
    expect(isEdgeError(caught, 'EDGE_ERR_CAPTURE_BUSY')).toBe(true);
    await c.stop();
    await expect(firstNext).resolves.toEqual({ done: true, value: undefined });
    expect(c.status().state).toBe('stopped');
  });

  it('accepts good options and starts in state "starting" without spawning anything', () => {
    const c = createCapture(ok);
    expect(c.status()).toMatchObject({ state: 'starting', ffmpegPid: null, restarts: 0, droppedFrames: 0 });
  });
});
