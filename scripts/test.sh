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
echo "[test] lint and format" >&2
npx biome check --error-on-warnings .
echo "[test] vitest" >&2
npx vitest run "$@"
