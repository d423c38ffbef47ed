#!/usr/bin/env bash
# Build the web UI (gateway/ui) with Vite into gateway/ui/dist (gitignored), which the gateway
# serves under /ui/ (gateway/src/http/ui.ts). Prints each output file with its gzipped size and
# the total the browser loads at start (the lazily loaded map and export chunks excluded).
#   scripts/build-ui.sh [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

out=""
if [[ "${1:-}" == "--out" ]]; then
  out="${2:?--out needs a directory}"
fi

if [[ -n "$out" ]]; then
  vite build --config gateway/ui/vite.config.ts --outDir "$out" --emptyOutDir
  dist="$out"
else
  vite build --config gateway/ui/vite.config.ts
  dist="gateway/ui/dist"
fi

node -e '
  const fs = require("fs"), path = require("path"), zlib = require("zlib");
  const dist = process.argv[1];
  const html = fs.readFileSync(path.join(dist, "index.html"), "utf8");
  const initial = new Set([...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]));
  let total = 0;
  for (const f of fs.readdirSync(path.join(dist, "assets")).sort()) {
    const rel = "assets/" + f;
    const buf = fs.readFileSync(path.join(dist, rel));
    const gz = zlib.gzipSync(buf, { level: 9 }).length;
    if (initial.has(rel)) total += gz;
    console.log(`${rel.padEnd(40)} ${String(buf.length).padStart(8)} B  ${String(gz).padStart(7)} B gzip${initial.has(rel) ? "  (initial)" : ""}`);
  }
  console.log(`initial load: ${(total / 1024).toFixed(1)} KiB gzipped`);
' "$dist"
