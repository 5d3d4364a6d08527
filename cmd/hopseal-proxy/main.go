// Command hopseal-proxy is hopseal's data plane alone: the proxy and its
// interception rules, for sidecars and hosts. It links none of the control
// plane's Kubernetes libraries, which would cost every proxy megabytes of
// memory.
package main

import (
	"os"

	"github.com/hopseal/hopseal/internal/cli"
)

func main() { os.Exit(cli.Main(cli.RunDataPlane)) }
