#!/usr/bin/env bash
# The whole test command with two CPU-bound processes beside it, as on a user's busy CI box: every wait in the
# suite polls for its condition with a deadline that must hold there too. Usage: npm run test:busy
set -euo pipefail
cd "$(dirname "$0")/.."
node -e 'for (;;);' &
first=$!
node -e 'for (;;);' &
second=$!
trap 'kill "$first" "$second" 2>/dev/null || true' EXIT
bash scripts/test.sh "$@"
