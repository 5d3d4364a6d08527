// Package mesh_test runs hopseal's transparent mesh end to end: pods as
// network namespaces on a bridge, each with `hopseal init-net` rules and a
// `hopseal proxy` running as UID 1443, a CA in the root namespace, and apps
// that know nothing of the mesh. It proves what the issue promises with
// real sockets, real processes and packet captures on the bridge.
//
// Every test needs root and ip, nft, setpriv, tcpdump and openssl: without
// them the tests skip in a plain `go test`, and fail under
// HOPSEAL_TEST_STRICT=1 (scripts/test.sh).
package mesh_test

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
