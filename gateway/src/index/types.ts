/**
 * The seams between gateway ingest and storage. Ingest decodes and validates an MQTT payload,
 * stores each event's evidence through {@link EvidenceStore}, then writes the events through
 * {@link EventIndex}, and only after both resolve acknowledges the message to the broker.
 */
import type { Event } from '../../../proto/gen/sharpeyes/v1/event.ts';

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
