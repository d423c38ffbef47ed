/**
 * Test events for the spool and the MQTT link, and a file system that runs out of space.
 */
import { createHash } from 'node:crypto';
import { Direction, Event, EventKind, PlateColour } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { encodeUlidRandom, encodeUlidTime } from '../../../edge-agent/src/track/ulid.ts';
import { nodeSpoolFs, type SpoolFile, type SpoolFs } from '../../../edge-agent/src/spool/index.ts';

const T0 = 1_750_000_000_000;

/** Deterministic bytes (not valid JPEG; the spool and the link never look inside). */
function bytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Options of {@link makeEvent}. */
export interface TestEventOptions {
  siteId?: string;
  cameraId?: string;
  /** Evidence crop size, bytes. Default 300. */
  jpegBytes?: number;
  /** Context JPEG size, bytes (0 = none). Default 200. */
  contextBytes?: number;
  revision?: number;
}

/** A plate event numbered `i`: its id is a ULID whose random part encodes `i`, so ids sort by `i`. */
export function makeEvent(i: number, opts: TestEventOptions = {}): Event {
  const jpeg = bytes(i + 1, opts.jpegBytes ?? 300);
  const context = bytes(i + 1_000_003, opts.contextBytes ?? 200);
  const rand = new Uint8Array(10);
  new DataView(rand.buffer).setUint32(6, i);
  const timeMs = T0 + i * 10;
  return Event.fromPartial({
    eventId: encodeUlidTime(timeMs) + encodeUlidRandom(rand),
    siteId: opts.siteId ?? 'village-7',
    cameraId: opts.cameraId ?? 'v7-gate-in',
    kind: EventKind.EVENT_KIND_PLATE,
    timeMs,
    firstSeenMs: timeMs - 500,
    lastSeenMs: timeMs + 500,
    box: { x: 100, y: 200, width: 120, height: 40 },
    frameWidth: 1280,
    frameHeight: 720,
    confidence: 0.875,
    trackId: `t${String(i).padStart(8, '0')}`,
    revision: opts.revision ?? 0,
    detail: {
      $case: 'plate',
      value: {
        text: '京A12345',
        colour: PlateColour.PLATE_COLOUR_BLUE,
        charConfidences: [0.5, 0.25, 0.75, 1, 0.5, 0.5, 0.5],
        agreeingReads: 3,
        totalReads: 4,
      },
    },
    evidence: {
      jpeg,
      sha256: sha256(jpeg),
      width: 120,
      height: 40,
      cropBox: { x: 90, y: 190, width: 140, height: 60 },
      contextJpeg: context,
      contextSha256: context.length > 0 ? sha256(context) : '',
    },
    modelIds: ['ppocrv4-det', 'ppocrv4-rec'],
    direction: Direction.DIRECTION_IN,
  });
}

/** The protobuf bytes of an event (what the spool stores). */
export function eventBytes(event: Event): Buffer {
  return Buffer.from(Event.encode(event).finish());
}

/**
 * A file system with a fixed amount of space: writes that would take the spool directory past
 * `capacityBytes` fail with ENOSPC, as on a full disk. A real full disk needs a size-limited
 * mount (a tmpfs), which an unprivileged test cannot make; this is the stand-in. Space is
 * counted from file sizes (writes, truncations, unlinks, renames), like a file system's blocks.
 * `failSyncs` makes the next fsyncs fail with EIO.
 */
export class FullDiskFs implements SpoolFs {
  readonly sizes = new Map<string, number>();
  failSyncs = 0;
  writes = 0;
  syncs = 0;

  constructor(public capacityBytes: number) {}

  used(): number {
    let total = 0;
    for (const s of this.sizes.values()) total += s;
    return total;
  }

  private enospc(): NodeJS.ErrnoException {
    const err: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device, write');
    err.code = 'ENOSPC';
    err.errno = -28;
    return err;
  }

  async open(path: string, flags: string): Promise<SpoolFile> {
    const inner = await nodeSpoolFs.open(path, flags);
    if (flags.startsWith('w')) this.sizes.set(path, 0);
    else if (!this.sizes.has(path)) this.sizes.set(path, await nodeSpoolFs.size(path));
    const append = flags.startsWith('a');
    return {
      write: async (buffer, offset, length, position) => {
        this.writes += 1;
        const size = this.sizes.get(path) ?? 0;
        const end = append || position === null ? size + length : Math.max(size, position + length);
        if (this.used() - size + end > this.capacityBytes) throw this.enospc();
        const r = await inner.write(buffer, offset, length, position);
        this.sizes.set(path, end);
        return r;
      },
      read: (buffer, offset, length, position) => inner.read(buffer, offset, length, position),
      sync: async () => {
        this.syncs += 1;
        if (this.failSyncs > 0) {
          this.failSyncs -= 1;
          const err: NodeJS.ErrnoException = new Error('EIO: i/o error, fsync');
          err.code = 'EIO';
          throw err;
        }
        await inner.sync();
      },
      truncate: async (length) => {
        await inner.truncate(length);
        this.sizes.set(path, length);
      },
      close: () => inner.close(),
    };
  }

  readFile(path: string): Promise<Buffer> {
    return nodeSpoolFs.readFile(path);
  }

  readdir(path: string): Promise<string[]> {
    return nodeSpoolFs.readdir(path);
  }

  mkdir(path: string): Promise<void> {
    return nodeSpoolFs.mkdir(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await nodeSpoolFs.rename(from, to);
    const size = this.sizes.get(from) ?? (await nodeSpoolFs.size(to));
    this.sizes.delete(from);
    this.sizes.set(to, size);
  }

  async unlink(path: string): Promise<void> {
    await nodeSpoolFs.unlink(path);
    this.sizes.delete(path);
  }

  size(path: string): Promise<number> {
    return nodeSpoolFs.size(path);
  }

  syncDir(path: string): Promise<void> {
    return nodeSpoolFs.syncDir(path);
  }

  /**
   * Report plenty of free space whatever is left, as when another program fills the disk
   * between two samples: only ENOSPC then tells the spool the disk is full.
   */
  hideFreeSpace = false;

  /** What is left of the capacity (a full disk reports 0). */
  freeBytes(): Promise<number> {
    if (this.hideFreeSpace) return Promise.resolve(1024 ** 4);
    return Promise.resolve(Math.max(0, this.capacityBytes - this.used()));
  }
}
