// Package e2e_test runs hopseal on Kubernetes end to end without a kubelet:
// a real kube-apiserver, `hopseal install` applied with kubectl,
// `hopseal controller` as a process with the installed service account's
// rights, pods admitted through its webhook, and each pod's injected
// containers run in network namespaces with their volumes and environment,
// as a kubelet would (testenv.Kubelet).
package e2e_test

import (
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }
