#!/usr/bin/env bash
# The whole test suite: system deps, the real llama-server (built once, cached), types, lint, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-system-deps.sh
# Build (or find the cached) llama-server and the tiny model up front, so test hooks never wait on a compile.
export LLAMA_SERVER_BIN="${LLAMA_SERVER_BIN:-$(bash scripts/build-llama-server.sh)}"
node --import tsx scripts/make-tiny-model.ts >/dev/null

echo "[test] typecheck" >&2
npx tsc -p tsconfig.json
npx tsc -p src/dashboard/public
echo "[test] dead code and unused dependencies" >&2
npx knip --no-progress
echo "[test] lint and format" >&2
npx biome check --error-on-warnings .
echo "[test] vitest" >&2
mkdir -p test-output
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=test-output/vitest.json "$@" || status=$?
# One plain closing line with the counts, whatever the reporter printed above.
node -e '
const r = JSON.parse(require("fs").readFileSync("test-output/vitest.json", "utf8"));
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$status"
