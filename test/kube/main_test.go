// Package kube_test checks the test Kubernetes API server harness
// (testenv.KubeAPI) against the real thing: kube-apiserver and etcd built
// from upstream modules, with RBAC on and service-account tokens for hopseal.
//
// The first run builds the binaries (minutes; scripts/build-kube.sh does it
// ahead of time), later runs reuse them from the user cache directory.
package kube_test

import (
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }
