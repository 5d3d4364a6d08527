// Package install_test checks `hopseal install` and `hopseal check` against
// a real kube-apiserver: the rendered manifests pass server-side dry-run and
// server-side apply, a second apply changes nothing, the controller's RBAC
// allows what it does and no more, and `hopseal check` reports an empty
// cluster, a fresh install, a healthy one, pods missing their proxy,
// permissive workloads and expired roots, with the exit codes and JSON
// promised.
package install_test

import (
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }
