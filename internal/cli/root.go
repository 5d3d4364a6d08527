// Package cli holds hopseal's subcommands: each file parses flags, loads
// configuration and calls an app package.
package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/telemetry"
)

// Version is set at build time with -ldflags "-X .../cli.Version=v1.2.3".
var Version = "dev"

// ExitError carries an exit code other than 1, with or without a message.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// ExitCode maps an error from Run to a process exit code.
func ExitCode(err error) int {
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return 1
}

type globals struct {
	logFormat, logLevel string
	logs                *telemetry.LineBuffer // stderr, flushed when Run returns
}

func (g *globals) logger(defaultFormat string) (*slog.Logger, error) {
	format := g.logFormat
	if format == "" {
		format = defaultFormat
	}
	return telemetry.NewLogger(g.logs, format, g.logLevel)
}

// Run executes the command line args.
func Run(ctx context.Context, args []string) error {
	g := &globals{logs: telemetry.NewLineBuffer(os.Stderr, telemetry.LogFlushDelay)}
	defer g.logs.Flush()
	root := &cobra.Command{
		Use:           "hopseal",
		Short:         "Encrypt every hop of service traffic with mutual TLS, and prove it",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "log format: json or text (default json for services, text for the demo)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(versionCmd(), caCmd(g), proxyCmd(g), demoCmd(g), initNetCmd())
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
