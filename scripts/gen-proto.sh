#!/usr/bin/env bash
# Regenerates the Go code of hopseal's protobuf APIs (api/*/v1/*.proto).
# Needs protoc (Debian: protobuf-compiler); installs the Go plugins at the
# versions the committed code was generated with.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v protoc >/dev/null; then
  echo "protoc not found: installing protobuf-compiler" >&2
  apt-get install -y -q protobuf-compiler >&2
fi
bin="$(go env GOPATH)/bin"
GOFLAGS=-mod=mod go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOFLAGS=-mod=mod go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
for proto in api/*/v1/*.proto; do
  PATH="$bin:$PATH" protoc --go_out=. --go_opt=paths=source_relative \
    --go-grpc_out=. --go-grpc_opt=paths=source_relative "$proto"
done
