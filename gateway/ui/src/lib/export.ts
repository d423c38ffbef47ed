/**
 * Export of search results as a zip: `events.csv`, every evidence file (crop and context frame)
 * under `evidence/`, `SHA256SUMS` (checkable with `sha256sum -c`) and `manifest.json` (who, when,
 * why, filters, every file with its sha256 and whether it matched the hash the index recorded
 * at ingest). Built in the browser from evidence fetched through the API — each fetch carries
 * the reason and is audited by the gateway.
 */
import { zipSync, strToU8 } from 'fflate';
import { fetchEvidence } from '../api/client.ts';
import type { CameraView, EventView, Me, SearchFilters } from '../api/types.ts';
import { sha256Hex } from './sha256.ts';

/** One file of the manifest. */
export interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
  event_id: string;
  /** crop or context. */
  role: 'crop' | 'context';
  /** Hash the index recorded at ingest (from the event). */
  recorded_sha256: string;
  /** Whether the file's hash equals the recorded one. */
  matches_record: boolean;
}

/** The manifest. */
export interface ExportManifest {
  format: 'sharpeyes-export/1';
  generated_ms: number;
  generated_by: string;
  reason: string;
  filters: SearchFilters;
  events: number;
  /** The gateway's export limit cut the results short. */
  truncated: boolean;
  files: ManifestFile[];
  csv: { path: string; sha256: string };
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_COLUMNS = [
  'event_id',
  'time_utc',
  'time_ms',
  'kind',
  'plate',
  'plate_colour',
  'direction',
  'confidence',
  'camera_id',
  'camera_name',
  'site_id',
  'district',
  'street',
  'community',
  'grid',
  'evidence_file',
  'evidence_sha256',
  'context_file',
  'context_sha256',
] as const;

/** Build the zip. `onProgress(done, total)` is called as evidence arrives. */
export async function buildExportZip(opts: {
  events: readonly EventView[];
  cameras: ReadonlyMap<string, CameraView>;
  filters: SearchFilters;
  reason: string;
  me: Me;
  truncated?: boolean;
  onProgress?: (done: number, total: number) => void;
  nowMs?: number;
}): Promise<{ zip: Uint8Array; manifest: ExportManifest }> {
  const files: Record<string, Uint8Array> = {};
  const manifestFiles: ManifestFile[] = [];
  const rows: string[] = [CSV_COLUMNS.join(',')];
  let done = 0;
  for (const e of opts.events) {
    const names: Record<'crop' | 'context', string> = { crop: '', context: '' };
    for (const role of ['crop', 'context'] as const) {
      const recorded = role === 'crop' ? e.evidenceSha256 : e.contextSha256;
      if (recorded === '') continue;
      const { bytes } = await fetchEvidence(e.eventId, role, opts.reason);
      const sha = await sha256Hex(bytes);
      const path = `evidence/${e.eventId}-${role}.jpg`;
      files[path] = bytes;
      names[role] = path;
      manifestFiles.push({
        path,
        sha256: sha,
        bytes: bytes.length,
        event_id: e.eventId,
        role,
        recorded_sha256: recorded,
        matches_record: sha === recorded,
      });
    }
    const cam = opts.cameras.get(e.cameraId);
    const cropFile = manifestFiles.find((f) => f.event_id === e.eventId && f.role === 'crop');
    const ctxFile = manifestFiles.find((f) => f.event_id === e.eventId && f.role === 'context');
    rows.push(
      [
        e.eventId,
        new Date(e.timeMs).toISOString(),
        e.timeMs,
        e.kind,
        e.plate?.text ?? '',
        e.plate?.colour ?? '',
        e.direction,
        e.confidence.toFixed(3),
        e.cameraId,
        cam?.name ?? '',
        e.siteId,
        cam?.place.district ?? '',
        cam?.place.street ?? '',
        cam?.place.community ?? '',
        cam?.place.grid ?? '',
        names.crop,
        cropFile?.sha256 ?? '',
        names.context,
        ctxFile?.sha256 ?? '',
      ]
        .map(csvCell)
        .join(','),
    );
    done += 1;
    opts.onProgress?.(done, opts.events.length);
  }
  // A BOM so spreadsheet programs read the Chinese plate text as UTF-8.
  const csv = strToU8(`\ufeff${rows.join('\r\n')}\r\n`);
  files['events.csv'] = csv;
  const csvSha = await sha256Hex(csv);
  const sums = [`${csvSha}  events.csv`, ...manifestFiles.map((f) => `${f.sha256}  ${f.path}`)].join('\n');
  files.SHA256SUMS = strToU8(`${sums}\n`);
  const manifest: ExportManifest = {
    format: 'sharpeyes-export/1',
    generated_ms: opts.nowMs ?? Date.now(),
    generated_by: opts.me.username,
    reason: opts.reason,
    filters: opts.filters,
    events: opts.events.length,
    truncated: opts.truncated === true,
    files: manifestFiles,
    csv: { path: 'events.csv', sha256: csvSha },
  };
  files['manifest.json'] = strToU8(`${JSON.stringify(manifest, null, 2)}\n`);
  // JPEGs do not compress further: store them, deflate the text.
  const zip = zipSync(
    Object.fromEntries(
      Object.entries(files).map(([k, v]) => [k, [v, { level: k.endsWith('.jpg') ? 0 : 6 }]]),
    ),
  );
  return { zip, manifest };
}

/** Offer bytes to the user as a download. */
export function download(bytes: Uint8Array, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => {
    URL.revokeObjectURL(url);
  }, 60_000);
}
