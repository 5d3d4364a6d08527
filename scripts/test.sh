#!/usr/bin/env bash
# Installs what the tests need, then runs every test: unit, integration with
# real processes and peers, packet-capture proofs, a real kube-apiserver, FIPS
# mode, and short fuzz runs.
# HOPSEAL_TEST_STRICT=1 turns every "prerequisite missing" skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
export HOPSEAL_TEST_STRICT=1

echo "== kube-apiserver and etcd (cached after the first build)"
./scripts/build-kube.sh

echo "== vet"
go vet ./...

echo "== tests (race detector on)"
go test -race -count=1 -timeout 40m ./...

echo "== fuzz (short runs of every target)"
./scripts/fuzz.sh 10s

echo "== all tests passed"
