/**
 * The `evidence` section of the gateway configuration (TypeBox; the TS type derived from it).
 * On disk: JSON, snake_case.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { DirEvidenceStoreOptions } from './dir-store.ts';

export const EvidenceConfigSchema = Type.Object(
  {
    dir: Type.String({
      minLength: 1,
      default: '/var/lib/sharpeyes-gateway/evidence',
      description:
        'Directory of the content-addressed evidence store (<dir>/<aa>/<bb>/<sha256>.jpg); created if missing.',
    }),
  },
  { additionalProperties: false, description: 'Evidence crops, stored by sha256.' },
);

/** The `evidence` section, defaults applied. */
export type EvidenceConfig = Static<typeof EvidenceConfigSchema>;

/** Options of the store from its configuration section (logger and metrics added by the app). */
export function evidenceOptionsFromConfig(c: EvidenceConfig): DirEvidenceStoreOptions {
  return { dir: c.dir };
}
