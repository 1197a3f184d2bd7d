#!/usr/bin/env bash
# The test suite: sets up what is missing, then runs every test with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export REFINERY_NUM_THREADS=${REFINERY_NUM_THREADS:-2}
files=$(find dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency=1 $files
