#!/usr/bin/env bash
# Runs every fuzz target for a while (default 30s each): ./scripts/fuzz.sh 5m
set -euo pipefail
cd "$(dirname "$0")/.."
time="${1:-30s}"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $target ($time)"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$time" >/dev/null
  done
done
