// Command hopseal encrypts every hop of service traffic and proves it.
package main

import (
	"context"
	"os"

	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/cli/edgecmd"
	"github.com/hopseal/hopseal/internal/cli/kubecmd"
)

func main() {
	os.Exit(cli.Main(func(ctx context.Context, args []string) error {
		return cli.Run(ctx, args, append(edgecmd.Commands(), kubecmd.Commands()...)...)
	}))
}
