#!/usr/bin/env bash
# Runs every fuzz target for a while (default 30s each): ./scripts/fuzz.sh 5m
#
# A target fails when it writes a failing input (printed with its path under
# testdata/fuzz). Go's fuzzer can also exit non-zero with a bare "context
# deadline exceeded" when -fuzztime ends mid-execution on a busy machine
# (golang/go#75804); such a run found nothing, so it is run once more.
set -euo pipefail
cd "$(dirname "$0")/.."
time="${1:-30s}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

fuzz() { go test "$1" -run '^$' -fuzz "^$2\$" -fuzztime "$time" >"$log" 2>&1; }

boundary_flake() {
  grep -q 'context deadline exceeded' "$log" &&
    ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"
}

for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $target ($time)"
    if fuzz "$pkg" "$target"; then continue; fi
    if boundary_flake; then
      echo "  fuzz time ran out mid-execution without a finding; running again"
      if fuzz "$pkg" "$target"; then continue; fi
    fi
    tail -n 60 "$log"
    exit 1
  done
done
