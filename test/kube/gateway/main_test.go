// Package gateway_test runs hopseal's gateway on Kubernetes end to end
// without a kubelet: a real kube-apiserver with the Gateway API CRDs (from
// the sigs.k8s.io/gateway-api module), `hopseal install` with the gateway
// applied with kubectl, `hopseal controller --gateway-api` as a process with
// the chart's service account, and the chart's gateway pod and meshed
// backend pods run in network namespaces as a kubelet would
// (testenv.Kubelet), with kube-proxy's Service translation played by nft.
package gateway_test

import (
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }
