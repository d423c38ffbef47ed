#!/usr/bin/env bash
# Every check and every test, in order of cost. `npm test` and .ci/run run this after setup.
# Any failing step fails the run; the last line is the summary "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "proto: generated code current, lint, no breaking change"
bash scripts/proto-gen.sh --check

step "typecheck"
tsc -p tsconfig.json --noEmit
tsc -p gateway/ui/tsconfig.json --noEmit

step "lint"
eslint . --max-warnings 0

step "format"
prettier --check --log-level warn .

step "tests"
report=$(mktemp "${TMPDIR:-/tmp}/sharpeyes-vitest-XXXXXX.json")
trap 'rm -f "$report"' EXIT
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  // A file can fail outside its tests (a hook, an import) and fail no test: name the files.
  const files = r.testResults.filter((f) => f.status === "failed").map((f) => f.name);
  const where = files.length > 0 ? `; failed files: ${files.join(", ")}` : "";
  console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped${where}`);
' "$report" || echo "vitest wrote no report"
exit "$status"
