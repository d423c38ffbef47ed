/** Evidence crops stored by sha256. */
export {
  checkEvidenceId,
  DirEvidenceStore,
  EVIDENCE_ID,
  isBatchEvidenceStore,
  sha256Hex,
  type BatchEvidenceStore,
  type DirEvidenceStoreOptions,
  type EvidenceDurability,
  type EvidencePut,
  type PutManyOptions,
  type PutManyResult,
} from './dir-store.ts';
export { EvidenceConfigSchema, evidenceOptionsFromConfig, type EvidenceConfig } from './config.ts';
