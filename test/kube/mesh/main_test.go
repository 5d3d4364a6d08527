// Package mesh_test runs the controller's mesh stream (internal/kube/mesh)
// against a real kube-apiserver, with proxies' clients (internal/meshwatch)
// on the other end over mTLS.
package mesh_test

import (
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }
