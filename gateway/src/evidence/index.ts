/** Evidence crops stored by sha256. */
export {
  checkEvidenceId,
  DirEvidenceStore,
  EVIDENCE_ID,
  sha256Hex,
  type DirEvidenceStoreOptions,
} from './dir-store.ts';
export { EvidenceConfigSchema, evidenceOptionsFromConfig, type EvidenceConfig } from './config.ts';
