/** Case-bound plate alerts: entries (request, approve, revoke, expire) and the alerts they raise. */
export { AlertService } from './alerts.ts';
export type { Alert, AlertChange, AlertQuery } from './alerts.ts';
export { AlertsConfigSchema, alertRulesFromConfig } from './config.ts';
export type { AlertsConfig } from './config.ts';
export { AlertEntryStore, DEFAULT_ALERT_RULES, entryStatus, matchEntries } from './entries.ts';
export type {
  AlertEntry,
  AlertEntryChange,
  AlertEntryRequest,
  AlertEntryStatus,
  AlertRules,
  CompiledEntry,
} from './entries.ts';
export {
  DEFAULT_MIN_SPECIFIC_CHARS,
  PLATE_RE,
  PROVINCE_CHARS,
  SUFFIX_CHARS,
  compilePlateKey,
  normalisePlate,
  parsePlateKey,
  specificChars,
} from './pattern.ts';
export type { PlateKey } from './pattern.ts';
