#!/usr/bin/env bash
# Measures hopseal's data path side by side with plaintext and a stunnel pair
# and prints a table of ratios (about 2 minutes with the defaults):
#
#   scripts/bench.sh                  # print the table
#   scripts/bench.sh --update-doc     # also write it into docs/benchmarks.md
#   scripts/bench.sh -- -rounds 5     # pass flags to the benchmark (go run ./test/bench -h)
#
# It installs stunnel (scripts/install-test-deps.sh), builds hopseal, then
# runs the CA, hopseal proxies and stunnel pairs on loopback and in pods
# (network namespaces; root).
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --update-doc) args+=(-doc docs/benchmarks.md) ;;
    --) shift; args+=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

./scripts/install-test-deps.sh

# The bench builds hopseal itself, somewhere the proxies' UID can reach.
go run ./test/bench "${args[@]+"${args[@]}"}"
