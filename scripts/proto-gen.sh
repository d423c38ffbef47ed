#!/usr/bin/env bash
# Generate TypeScript from proto/ (ts-proto via buf, both from node_modules), or check it.
#
#   scripts/proto-gen.sh          lint, refuse breaking changes, regenerate proto/gen and the lock
#   scripts/proto-gen.sh --check  fail if proto/gen or the lock is stale, the .proto files are
#                                 not buf-formatted or lint-clean, or a change breaks v1's wire
#                                 or JSON compatibility (renumbered, retyped or removed fields)
#
# proto/v1.lock.binpb is the compiled schema as last generated; `buf breaking` compares against
# it, so a field number can never be silently reused. v1 is never broken: a breaking change is a
# new package (sharpeyes.v2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# PROTO_DIR lets the staleness test run this script against an edited copy of proto/.
cd "${PROTO_DIR:-$root/proto}"
export PATH="$root/node_modules/.bin:$PATH"
buf=buf
mode=${1:-generate}

"$buf" lint
"$buf" format --diff --exit-code
if [[ -f v1.lock.binpb ]]; then
  "$buf" breaking --against v1.lock.binpb
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sharpeyes-proto-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Generate into a scratch dir, so --check never touches the tree.
"$buf" generate --template buf.gen.yaml -o "$tmp"
"$buf" build -o "$tmp/v1.lock.binpb"
# Generated files are formatted with the project's prettier, so they read like the rest.
prettier --config "$root/.prettierrc.json" --log-level warn --write "$tmp/gen"

if [[ $mode == --check ]]; then
  stale=0
  if ! diff -r -q "$tmp/gen" gen >/dev/null 2>&1; then
    echo "proto: proto/gen is stale; run \`npm run proto:gen\` and commit the result:" >&2
    diff -r -q "$tmp/gen" gen >&2 || true
    stale=1
  fi
  if ! cmp -s "$tmp/v1.lock.binpb" v1.lock.binpb; then
    echo "proto: proto/v1.lock.binpb is stale; run \`npm run proto:gen\` and commit the result" >&2
    stale=1
  fi
  [[ $stale == 0 ]] && echo "proto: generated code and lock are current"
  exit $stale
fi

rm -rf gen
cp -r "$tmp/gen" gen
cp "$tmp/v1.lock.binpb" v1.lock.binpb
echo "proto: regenerated proto/gen and proto/v1.lock.binpb"
