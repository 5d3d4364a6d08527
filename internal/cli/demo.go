package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/demo"
)

func demoCmd(g *globals) *cobra.Command {
	var o struct {
		once, verbose  bool
		frontendListen string
	}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the demo (frontend → orders → payments over mutual TLS) and prove every hop is encrypted",
		Long: `Starts a CA and three services (frontend → orders → payments), each behind its own
proxy, all on loopback and without root. It places orders, prints each hop's identities,
TLS version, cipher suite, key exchange and bytes, shows callers that are not allowed being
refused, and proves from captured bytes that no plaintext crosses any proxy-to-proxy hop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			frontend, err := net.Listen("tcp", o.frontendListen)
			if err != nil {
				return fmt.Errorf("--frontend-listen %s: %w; choose a free port, or 127.0.0.1:0 for any", o.frontendListen, err)
			}
			log := slog.New(slog.DiscardHandler)
			if o.verbose {
				if log, err = g.logger("text"); err != nil {
					frontend.Close()
					return err
				}
			}
			err = demo.Run(cmd.Context(), demo.Options{
				Out: cmd.OutOrStdout(), Log: log, Once: o.once, Frontend: frontend,
				Header: []string{
					fmt.Sprintf("hopseal %s (%s, %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH),
					"fips140: " + FIPSMode(),
				},
			})
			if errors.Is(err, demo.ErrChecksFailed) {
				return &ExitError{Code: 1, Err: err}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&o.once, "once", false, "run the checks, print the report and exit 0 (all passed) or 1")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "also print the CA's and the proxies' logs (text; see --log-format, --log-level)")
	cmd.Flags().StringVar(&o.frontendListen, "frontend-listen", "127.0.0.1:0", "address of the frontend app, the URL to curl; port 0 picks a free one")
	return cmd
}
