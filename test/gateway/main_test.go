// Package gateway_test proves hop by hop that traffic entering the mesh
// through `hopseal gateway` is encrypted on every link, end to end with
// real processes in network namespaces on a bridge:
//
//	client ──► haproxy (load balancer) ──► hopseal gateway ══ mesh mTLS ══► pod: hopseal proxy ──► app
//
// The pods run `hopseal init-net` and transparent proxies; the gateway
// runs in a namespace of its own with its own SPIFFE identity; haproxy
// plays a network load balancer (TCP passthrough, PROXY protocol v2) or an
// application load balancer (its own public certificate, TLS again to the
// gateway). A capture of the bridge holds every link; `hopseal trace`
// prints the chain the test checks.
//
// The tests need root and ip, nft, setpriv, tcpdump and haproxy: without
// them they skip in a plain `go test`, and fail under
// HOPSEAL_TEST_STRICT=1 (scripts/test.sh).
package gateway_test

import (
	"os"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}
