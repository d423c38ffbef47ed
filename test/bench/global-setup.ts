/**
 * vitest global setup: fail fast, with the fix, when a system tool the bench needs is missing.
 * `npm test` runs scripts/setup.sh first, so this only fires when vitest is run directly.
 */
import { accessSync, constants } from 'node:fs';

/** Executables the bench starts, by absolute path (the default python3 may be a pyenv build). */
export const REQUIRED_TOOLS = [
  '/usr/bin/influxd',
  '/usr/sbin/mosquitto',
  '/usr/bin/ffmpeg',
  '/usr/bin/ffprobe',
  '/usr/bin/python3',
  '/usr/bin/chromium',
] as const;

export default function setup(): void {
  const missing = REQUIRED_TOOLS.filter((tool) => {
    try {
      accessSync(tool, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `missing system tools: ${missing.join(', ')} — run \`npm run setup\` (installs them with apt)`,
    );
  }
}
