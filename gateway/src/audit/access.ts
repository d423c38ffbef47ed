/**
 * One shape for the audit records of data access (searches, event and evidence fetches,
 * streams, exports, snapshots), so REST, gRPC and the UI record the same facts: who, why (the
 * reason, already checked by auth/reason.ts `requireReason`), what was asked (filters, ids) and
 * how much came back. Record the access after the data is fetched and before it is returned
 * (await it); if the record cannot be written (GATEWAY_ERR_AUDIT_WRITE), return an error, not
 * the data.
 */
import type { AuditActor, AuditEntry, AuditLog, AuditRecord } from './log.ts';

/** Kinds of data access. */
export type AccessAction =
  'event.search' | 'event.get' | 'event.stream' | 'event.export' | 'evidence.fetch' | 'snapshot.fetch';

/** What one access was. */
export interface DataAccess {
  action: AccessAction;
  /** The stated reason (validated). */
  reason: string;
  /** `events` for searches and streams, `event:<id>`, `evidence:<sha256>`, `camera:<id>`. */
  target: string;
  /** The filters as given (snake_case), e.g. `{kinds, camera_ids, area, plate, from_ms, to_ms}`. */
  filters?: Record<string, unknown>;
  /** Results returned (a page's size for a search; 1 for a fetch). */
  resultCount?: number;
  /** The area the caller's scope allowed (after narrowing). */
  effectiveArea?: Record<string, unknown>;
  /** Which API: `rest`, `grpc`, `ui`. */
  via?: string;
  sourceAddress?: string;
}

/** The audit entry of one data access. */
export function accessEntry(actor: AuditActor, access: DataAccess): AuditEntry {
  return {
    actor,
    action: access.action,
    target: access.target,
    details: {
      reason: access.reason,
      filters: access.filters,
      result_count: access.resultCount,
      effective_area: access.effectiveArea,
      via: access.via,
      source_address: access.sourceAddress,
    },
  };
}

/**
 * Append the audit record of one data access; resolves once it is durable. Grouped with the other
 * accesses of the same moment (one commit for all: see {@link AuditLog.appendGrouped}).
 */
export function auditAccess(audit: AuditLog, actor: AuditActor, access: DataAccess): Promise<AuditRecord> {
  return audit.appendGrouped(accessEntry(actor, access));
}
