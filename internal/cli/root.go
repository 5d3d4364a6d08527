// Package cli holds hopseal's subcommands: each file parses flags, loads
// configuration and calls an app package.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

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

// Globals are the flags every command shares; Command builds a subcommand
// with them.
type (
	Globals = globals
	Command = func(*Globals) *cobra.Command
)

// OnSIGHUP calls reload, after logging what, each time the process gets
// SIGHUP, until the returned stop is called.
func OnSIGHUP(log *slog.Logger, what string, reload func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: " + what)
				reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// NewGlobals returns the globals of a command run outside Run (in tests):
// logs go to w at level.
func NewGlobals(w io.Writer, level string) *Globals {
	return &globals{logLevel: level, logs: telemetry.NewLineBuffer(w, 0)}
}

// Flush writes out the logs still buffered.
func (g *globals) Flush() { g.logs.Flush() }

// Logger returns the logger the global flags ask for.
func (g *globals) Logger(defaultFormat string) (*slog.Logger, error) { return g.logger(defaultFormat) }

// Run executes hopseal's command line: the commands of this package and
// extra ones (the gateway's and those that need Kubernetes' libraries live
// elsewhere, so hopseal-proxy does not link them).
func Run(ctx context.Context, args []string, extra ...Command) error {
	core := []Command{
		func(*Globals) *cobra.Command { return versionCmd() }, caCmd, proxyCmd, demoCmd,
		func(*Globals) *cobra.Command { return initNetCmd() },
	}
	return run(ctx, "hopseal", "Encrypt every hop of service traffic with mutual TLS, and prove it", args, append(core, extra...))
}

// RunDataPlane executes hopseal-proxy: the proxy and its interception
// rules, all a sidecar or a host runs, without the control plane's
// dependencies (they would add megabytes to every proxy's memory).
func RunDataPlane(ctx context.Context, args []string) error {
	cmds := []Command{
		func(*Globals) *cobra.Command { return versionCmd() }, proxyCmd,
		func(*Globals) *cobra.Command { return initNetCmd() },
	}
	return run(ctx, "hopseal-proxy", "hopseal's data plane: the mutual-TLS proxy and its interception rules", args, cmds)
}

func run(ctx context.Context, name, short string, args []string, cmds []Command) error {
	g := &globals{logs: telemetry.NewLineBuffer(os.Stderr, telemetry.LogFlushDelay)}
	defer g.logs.Flush()
	root := &cobra.Command{
		Use:           name,
		Short:         short,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "log format: json or text (default json for services, text for the demo)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, c := range cmds {
		root.AddCommand(c(g))
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// Main runs a command line under a context that SIGINT and SIGTERM cancel
// (a second signal kills the process at once), prints its error and returns
// the exit code for main to exit with.
func Main(run func(ctx context.Context, args []string) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process at once
	}()
	err := run(ctx, os.Args[1:])
	if err == nil {
		return 0
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, filepath.Base(os.Args[0])+":", msg)
	}
	return ExitCode(err)
}
