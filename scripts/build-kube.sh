#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the pinned modules in tools/kube (the
# binaries test/kube and the Kubernetes tests run) and prints their directory.
# The first build takes about 6 minutes on 2 cores; afterwards the binaries
# come from the user cache directory (hopseal-test/kube/<key>) until
# tools/kube, the build flags or the Go version change.
# The tests build on demand too; running this first keeps that long build out
# of `go test`, where it would compete with timing-sensitive tests.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./scripts/build-kube.go
