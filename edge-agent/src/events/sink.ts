/**
 * Where finished events go. The real transport (durable spool → MQTT) comes with issue 5 and
 * implements {@link EventSink}; here are a JSON-lines file sink (for `edge-agent detect VIDEO`,
 * evaluation and debugging) and an in-memory sink (tests).
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';
import { EdgeError } from '../errors.ts';

/** Takes finished events (and updates: same event id, higher revision). */
export interface EventSink {
  /**
   * Accept `event`. Resolves once the sink has taken responsibility for it (written, queued
   * durably, …); rejects with EDGE_ERR_EVENT_SINK when it cannot. Publishing the same event id
   * and revision twice must be harmless (replays are idempotent by id).
   */
  publish(event: Event): Promise<void>;
  /** Flush and release resources; later publishes reject. Optional for sinks that hold none. */
  close?(): Promise<void>;
}

/** Keeps every published event in memory (a decoded copy, so the wire encoding is exercised). */
export class MemoryEventSink implements EventSink {
  /** Events in publish order. */
  readonly events: Event[] = [];

  publish(event: Event): Promise<void> {
    this.events.push(Event.decode(Event.encode(event).finish()));
    return Promise.resolve();
  }

  /** The highest revision of each event id, in first-publish order (what the gateway keeps). */
  latest(): Event[] {
    const byId = new Map<string, Event>();
    for (const e of this.events) {
      const prev = byId.get(e.eventId);
      if (prev === undefined || e.revision >= prev.revision) byId.set(e.eventId, e);
    }
    return [...byId.values()];
  }
}

/** Options of {@link JsonLinesEventSink}. */
export interface JsonLinesSinkOptions {
  /** File the events are appended to, one JSON object per line. */
  path: string;
  /**
   * Write the evidence JPEGs here as `<sha256>.jpg` (content-addressed, written once) and leave
   * the bytes out of the lines. Default: the bytes stay in the line, base64 (proto JSON).
   */
  evidenceDir?: string;
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Proto JSON with snake_case field names (the on-disk convention; `Event.fromJSON` reads it back). */
function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snakeCase(k), snakeKeys(v)]));
  }
  return value;
}

/** The JSON line for `event` (no newline). */
export function eventToJsonLine(event: Event): string {
  return JSON.stringify(snakeKeys(Event.toJSON(event)));
}

/** Parse one line written by {@link JsonLinesEventSink}. */
export function eventFromJsonLine(line: string): Event {
  return Event.fromJSON(JSON.parse(line));
}

/**
 * Appends events as JSON lines (proto JSON mapping, snake_case names, bytes base64). Publishes
 * are written in order, one at a time; no fsync (durability is the spool's job, issue 5).
 */
export class JsonLinesEventSink implements EventSink {
  /** Opened by the first write (writes are serialised, so no two opens race). */
  private handle: FileHandle | undefined;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: JsonLinesSinkOptions) {}

  publish(event: Event): Promise<void> {
    if (this.closed)
      return Promise.reject(new EdgeError('EDGE_ERR_EVENT_SINK', `${this.opts.path} is closed`));
    const run = this.tail.then(() => this.write(event));
    // The chain goes on after a failed write; the failure is reported to that publish's caller.
    this.tail = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    await this.handle?.close();
    this.handle = undefined;
  }

  private async write(event: Event): Promise<void> {
    try {
      let line: string;
      const ev = event.evidence;
      if (this.opts.evidenceDir !== undefined && ev !== undefined) {
        await mkdir(this.opts.evidenceDir, { recursive: true });
        await this.writeBlob(ev.sha256, ev.jpeg);
        await this.writeBlob(ev.contextSha256, ev.contextJpeg);
        line = eventToJsonLine({
          ...event,
          evidence: { ...ev, jpeg: Buffer.alloc(0), contextJpeg: Buffer.alloc(0) },
        });
      } else {
        line = eventToJsonLine(event);
      }
      // A failed open leaves no handle, so a later publish tries again (the directory may appear).
      this.handle ??= await open(this.opts.path, 'a');
      await this.handle.appendFile(`${line}\n`, 'utf8');
    } catch (err) {
      if (err instanceof EdgeError) throw err;
      throw new EdgeError('EDGE_ERR_EVENT_SINK', `${this.opts.path}: ${String(err)}`, { cause: err });
    }
  }

  private async writeBlob(sha256: string, bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      throw new EdgeError(
        'EDGE_ERR_EVENT_SINK',
        `evidence sha256 ${JSON.stringify(sha256)} is not lower-case hex`,
      );
    }
    const dir = this.opts.evidenceDir ?? '.';
    try {
      await writeFile(join(dir, `${sha256}.jpg`), bytes, { flag: 'wx' });
    } catch (err) {
      // Content-addressed: an existing file with this name already holds these bytes.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
