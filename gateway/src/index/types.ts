/**
 * The seams between gateway ingest and storage. Ingest decodes and validates an MQTT payload,
 * stores each event's evidence through {@link EvidenceStore}, then writes the events through
 * {@link EventIndex}, and only after both resolve acknowledges the message to the broker.
 */
import type { Direction, Event, EventKind } from '../../../proto/gen/sharpeyes/v1/event.ts';

/**
 * An event as the index stores it: the decoded proto with the evidence bytes removed
 * (`evidence.jpeg` and `evidence.context_jpeg` empty) and their sha256 kept, the bytes being
 * already in the {@link EvidenceStore}.
 */
export type IndexedEvent = Event;

/** Durable, idempotent event storage (InfluxDB through its v1 API). */
export interface EventIndex {
  /**
   * Write `events` durably. Resolves only after the database has acknowledged every point;
   * rejects (GatewayError) when it cannot, so the caller does not acknowledge the message.
   * Idempotent: writing the same (event_id, revision) again stores nothing new.
   */
  write(events: readonly IndexedEvent[]): Promise<void>;
}

/**
 * Where cameras are, for the index's per-district copies of events (`area_events`, decision 10).
 * The registry implements it; an index without one writes no copies and never reads them.
 */
export interface AreaDirectory {
  /** The district a camera's events are filed under when written now; undefined = none. */
  districtOf(cameraId: string): string | undefined;
  /** How many cameras are in `district` now, any lifecycle. */
  cameraCountOf(district: string): number;
  /**
   * Since when (ms) every event of every camera now in a district has its copy in that
   * district's series: the last time this index's only writer began writing copies, or a camera
   * was registered or changed district, whichever is later. Undefined: copies are not complete
   * (another kind of writer — ingest workers — may be storing events).
   */
  areaCopiesSinceMs(): number | undefined;
}

/** Content-addressed evidence files (JPEG crops), named by their sha256. */
export interface EvidenceStore {
  /**
   * Store `bytes` durably (fsynced) under their sha256 and return it (lowercase hex). When
   * `expectedSha256` is given and differs, reject with GatewayError GATEWAY_ERR_EVIDENCE_HASH and
   * store nothing. Storing bytes already present is a no-op.
   */
  put(bytes: Uint8Array, expectedSha256?: string): Promise<string>;
  /** The bytes stored under `sha256`, or undefined. Any string that is not 64 hex chars is refused. */
  get(sha256: string): Promise<Uint8Array | undefined>;
}

/**
 * A search of indexed events, newest first. Every field is validated (a bad one is a
 * QueryValidationError, GATEWAY_ERR_QUERY_INVALID, naming the field in snake_case). List filters:
 * `undefined` does not filter; an EMPTY list matches nothing (so an empty area scope can never
 * widen to "everything").
 */
export interface EventSearchQuery {
  /** Start of the range of first-seen times, epoch ms, inclusive. Required. */
  fromMs: number;
  /** End of the range, epoch ms, exclusive. Required; the range is bounded (config). */
  toMs: number;
  /** Only these sites. */
  siteIds?: readonly string[];
  /** Only these cameras. */
  cameraIds?: readonly string[];
  /** Only these kinds (FACE, PLATE). */
  kinds?: readonly EventKind[];
  /** Only this direction of travel. */
  direction?: Direction;
  /** Exact plate (normalised: case, full-width and separators do not matter), e.g. `京A12345`. */
  plate?: string;
  /** Plate wildcard: `?` one character, `*` any run, e.g. `京A1?3*`. Bounded window (config). */
  platePattern?: string;
  /** Only events with at least this detector confidence, 0..1. */
  minConfidence?: number;
  /** Page size; default and maximum from config. */
  limit?: number;
  /** `nextCursor` of the previous page of the same search. */
  cursor?: string;
}

/** One page of a search. */
export interface EventSearchPage {
  /** Newest first (by first-seen time, then event id); one per event, its highest revision. */
  events: IndexedEvent[];
  /**
   * Opaque position after the last event, for the next page of the same search; absent on the
   * last page. Stable under concurrent inserts: a page never repeats or skips an event that
   * existed when the previous page was read.
   */
  nextCursor?: string;
}

/** Pass statistics: counts per camera per interval, by kind and direction. No plate text. */
export interface PassStatsQuery {
  /** Start, epoch ms, inclusive. */
  fromMs: number;
  /** End, epoch ms, exclusive. */
  toMs: number;
  /** Interval length in ms, a whole number of minutes. */
  intervalMs: number;
  siteIds?: readonly string[];
  cameraIds?: readonly string[];
  kinds?: readonly EventKind[];
  /** IANA time zone the intervals align to (e.g. `Asia/Shanghai` for local days); default UTC. */
  timeZone?: string;
}

/** Passes of one camera, kind and interval. */
export interface PassStatsRow {
  siteId: string;
  cameraId: string;
  kind: EventKind;
  /** Start of the interval, epoch ms. */
  startMs: number;
  /** All passes. */
  total: number;
  /** Passes going in. */
  in: number;
  /** Passes going out. */
  out: number;
  /** Passes with an unknown or unspecified direction (`total − in − out`). */
  other: number;
}

/** A kind's retention as the database has it. */
export interface RetentionInfo {
  kind: EventKind;
  /** The retention policy holding this kind's events. */
  retentionPolicy: string;
  /** How long events are kept; influxd drops whole shard groups once they end before now − this. */
  durationMs: number;
  /** Shard group length: events live up to durationMs + shardGroupDurationMs. */
  shardGroupDurationMs: number;
}

/** How an API call reaches the index. */
export interface CallOptions {
  /**
   * The caller's cancellation (a gRPC deadline, a closed HTTP connection): the call's index
   * queries still waiting for a slot are dropped and those running aborted; the call rejects
   * with GATEWAY_ERR_UNAVAILABLE.
   */
  signal?: AbortSignal;
}

/** Searching the index (REST and gRPC APIs use this). */
export interface EventSearch {
  /** One page of events matching `query`. */
  search(query: EventSearchQuery, opts?: CallOptions): Promise<EventSearchPage>;
  /** The event with this id (its highest revision), or undefined. */
  getEvent(eventId: string, opts?: CallOptions): Promise<IndexedEvent | undefined>;
  /** Counts per camera per interval by kind and direction. */
  passStats(query: PassStatsQuery, opts?: CallOptions): Promise<PassStatsRow[]>;
  /** The retention in force per kind. */
  retention(): Promise<RetentionInfo[]>;
}
