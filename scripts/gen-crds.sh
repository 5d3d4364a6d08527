#!/usr/bin/env bash
# Regenerates the deepcopy code of api/hopseal/v1alpha1 and the
# CustomResourceDefinitions in deploy/crds from the Go types, with
# controller-gen (run at a pinned version, outside hopseal's go.mod).
#
#   scripts/gen-crds.sh          rewrite the files in the tree
#   scripts/gen-crds.sh DIR      write DIR/zz_generated.deepcopy.go and
#                                DIR/crds/*.yaml instead (the freshness test
#                                compares them with the committed files)
#
# CONTROLLER_GEN may name a controller-gen v0.23.0 binary to use instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n ${CONTROLLER_GEN:-} ]]; then
	controller_gen=("$CONTROLLER_GEN")
else
	controller_gen=(go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0)
fi
api=./api/hopseal/v1alpha1

if [[ $# -gt 1 ]]; then
	echo "usage: $0 [DIR]" >&2
	exit 2
fi
if [[ $# -eq 1 ]]; then
	mkdir -p "$1/crds"
	object_out=("output:object:dir=$1")
	crd_dir=$1/crds
else
	object_out=()
	crd_dir=deploy/crds
	rm -f deploy/crds/*.yaml # a kind that was removed must not linger
fi

"${controller_gen[@]}" object paths="$api" "${object_out[@]}"
"${controller_gen[@]}" crd paths="$api" output:crd:dir="$crd_dir"
if [[ $# -eq 0 ]]; then
	# The Helm chart ships the same files (a test compares them).
	rm -f deploy/chart/hopseal/crds/*.yaml
	cp deploy/crds/*.yaml deploy/chart/hopseal/crds/
fi
