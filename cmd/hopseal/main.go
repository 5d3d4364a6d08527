// Command hopseal encrypts every hop of service traffic and proves it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hopseal/hopseal/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process at once
	}()
	if err := cli.Run(ctx, os.Args[1:]); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "hopseal:", msg)
		}
		os.Exit(cli.ExitCode(err))
	}
}
