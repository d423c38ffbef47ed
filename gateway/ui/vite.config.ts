/**
 * Vite build of the web UI (Preact through Vite's built-in JSX transform; no plugin). Output
 * goes to gateway/ui/dist (gitignored), served by the gateway (gateway/src/http/ui.ts). Paths
 * are relative so the UI works under whatever prefix the gateway mounts it.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: {
    alias: { react: 'preact/compat', 'react-dom': 'preact/compat' },
  },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: true,
    sourcemap: false,
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  clearScreen: false,
  logLevel: 'warn',
});
