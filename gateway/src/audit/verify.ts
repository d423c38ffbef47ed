/**
 * Verification of the audit hash chain: walks every record in seq order and recomputes each
 * hash. It pinpoints the first record that was altered, removed or moved:
 * - altered: a record's hash does not match its recomputed hash (any field, details included);
 * - removed: a gap in seq (the first missing seq is reported), or the first record is not seq 1;
 * - relinked: a record's prev_hash is not its predecessor's hash — the predecessor was rewritten
 *   with a recomputed hash, or the record replaced by a forgery; the predecessor's seq is
 *   reported. (Records swapped or renumbered show up as altered, since seq is hashed.)
 *
 * What the chain alone cannot show: the newest records cut off (the rest is still a valid
 * chain), or every record after some point rewritten with recomputed hashes. Both are caught
 * against an anchor kept outside the database — a head {seq, hash} printed by a previous
 * verification, or logged by the gateway — passed as `expectedHead`.
 */
import type { SqliteDb } from '../registry/sqlite.ts';
import { GENESIS_HASH, recordHash } from './canonical.ts';
import type { AuditHead, AuditRow } from './log.ts';

/** Why verification failed. */
export type AuditTamperKind = 'altered' | 'removed' | 'relinked' | 'truncated' | 'anchor_mismatch';

/** The outcome of {@link verifyAuditChain}. */
export type AuditVerifyResult =
  | {
      ok: true;
      /** Records checked. */
      records: number;
      /** The last record (anchor it somewhere else to catch truncation later). */
      head: AuditHead;
    }
  | {
      ok: false;
      /** The first seq found altered, missing or out of place. */
      seq: number;
      kind: AuditTamperKind;
      /** Human-readable explanation. */
      message: string;
      /** Records that verified before the failure. */
      records: number;
    };

/** Options for {@link verifyAuditChain}. */
export interface AuditVerifyOptions {
  /** A head recorded earlier: the log must still contain it unchanged. */
  expectedHead?: AuditHead;
}

/** Verify the whole audit chain in `db` (the `audit_log` table). */
export function verifyAuditChain(db: SqliteDb, options: AuditVerifyOptions = {}): AuditVerifyResult {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let records = 0;
  let anchorSeen = false;
  const anchor = options.expectedHead;
  for (const row of db.iterate<AuditRow>('SELECT * FROM audit_log ORDER BY seq')) {
    if (row.seq !== expectedSeq) {
      return {
        ok: false,
        seq: expectedSeq,
        kind: 'removed',
        message:
          row.seq > expectedSeq
            ? `record ${expectedSeq}${row.seq - expectedSeq > 1 ? `–${row.seq - 1}` : ''} is missing (next present: ${row.seq})`
            : `record ${row.seq} appears out of order after ${expectedSeq - 1}`,
        records,
      };
    }
    let details: unknown;
    try {
      details = JSON.parse(row.details);
    } catch {
      return {
        ok: false,
        seq: row.seq,
        kind: 'altered',
        message: `record ${row.seq}: details are not valid JSON`,
        records,
      };
    }
    let computed: string;
    try {
      computed = recordHash(
        {
          seq: row.seq,
          time_ms: row.time_ms,
          actor: row.actor,
          action: row.action,
          target: row.target,
          details,
        },
        row.prev_hash,
      );
    } catch (err) {
      return {
        ok: false,
        seq: row.seq,
        kind: 'altered',
        message: `record ${row.seq}: ${(err as Error).message}`,
        records,
      };
    }
    if (computed !== row.hash) {
      return {
        ok: false,
        seq: row.seq,
        kind: 'altered',
        message: `record ${row.seq} was altered: its content does not match its hash`,
        records,
      };
    }
    if (row.prev_hash !== prevHash) {
      // Each record is self-consistent but the link between them is broken: either the earlier
      // one was rewritten with a recomputed hash (the usual edit) or the later one was forged.
      // The earlier one is reported, the first that may not be genuine.
      const seq = Math.max(row.seq - 1, 1);
      return {
        ok: false,
        seq,
        kind: 'relinked',
        message:
          row.seq === 1
            ? 'record 1 does not start the chain: its prev_hash is not the genesis hash'
            : `record ${row.seq - 1} or ${row.seq} was replaced: record ${row.seq}'s prev_hash is not record ${row.seq - 1}'s hash`,
        records: Math.max(records - 1, 0),
      };
    }
    if (anchor !== undefined && row.seq === anchor.seq) {
      anchorSeen = true;
      if (row.hash !== anchor.hash) {
        return {
          ok: false,
          seq: row.seq,
          kind: 'anchor_mismatch',
          message: `record ${row.seq} differs from the anchored head: the log was rewritten from here or earlier`,
          records,
        };
      }
    }
    prevHash = row.hash;
    records++;
    expectedSeq++;
  }
  if (anchor !== undefined && anchor.seq > 0 && !anchorSeen) {
    return {
      ok: false,
      seq: expectedSeq,
      kind: 'truncated',
      message: `the log ends at record ${expectedSeq - 1} but the anchored head is record ${anchor.seq}: records ${expectedSeq}–${anchor.seq} were removed`,
      records,
    };
  }
  return { ok: true, records, head: { seq: expectedSeq - 1, hash: prevHash } };
}
