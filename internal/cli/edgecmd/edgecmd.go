// Package edgecmd holds the commands of hopseal's edge: the gateway, and
// trace, which follows a request from the client through the gateway into
// the mesh. They live apart from package cli so that hopseal-proxy, which
// runs in every pod, links none of the gateway's libraries (ACME, HTTP
// reverse proxying).
package edgecmd

import "github.com/hopseal/hopseal/internal/cli"

// Commands are the subcommands `hopseal` adds to package cli's.
func Commands() []cli.Command { return []cli.Command{gatewayCmd, traceCmd} }
