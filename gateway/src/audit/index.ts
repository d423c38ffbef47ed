/** The audit trail: append-only, hash-chained, verifiable. */
export { auditAccess } from './access.ts';
export type { AccessAction, DataAccess } from './access.ts';
export { GENESIS_HASH, canonicalJson, recordHash, sha256Hex } from './canonical.ts';
export type { HashedFields } from './canonical.ts';
export { AUDIT_MIGRATIONS, AuditLog, SYSTEM_ACTOR } from './log.ts';
export type {
  AuditAction,
  AuditActor,
  AuditEntry,
  AuditHead,
  AuditLogOptions,
  AuditQuery,
  AuditRecord,
} from './log.ts';
export { verifyAuditChain } from './verify.ts';
export type { AuditTamperKind, AuditVerifyOptions, AuditVerifyResult } from './verify.ts';
