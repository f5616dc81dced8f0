#!/usr/bin/env bash
# Runs every cmocka unit test binary given; prints each one's summary and a final tally line.
set -uo pipefail
passed=0 failed=0 failed_names=()
for t in "$@"; do
  if "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$(basename "$t")"); fi
done
echo "unit test binaries: $passed passed, $failed failed"
((failed == 0)) || { echo "failed: ${failed_names[*]}"; exit 1; }
