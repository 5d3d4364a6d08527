package edgecmd

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/trace"
)

func traceCmd(*cli.Globals) *cobra.Command {
	var o trace.Options
	var resolve []string
	cmd := &cobra.Command{
		Use:   "trace URL",
		Short: "Make one request and show its path hop by hop: protocol, TLS version, identities, encrypted or not",
		Long: `trace makes one GET request to URL, then asks the gateway and the proxies it
passed through (their admin endpoints: /status and /connections) what each saw
of it, and prints the chain: every hop with its protocol, TLS version,
identities, and whether it was encrypted. What no hopseal component saw is
reported as not traced, never guessed. It exits 1 when a hop crosses a
network in plaintext.

  hopseal trace https://shop.example.com/ --resolve shop.example.com:443:10.0.0.5 \
    --cacert public-ca.pem --gateway-admin 10.0.0.6:19190 --proxy-admin 10.0.0.7:14090`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.URL = args[0]
			o.Resolve = map[string]string{}
			for _, r := range resolve {
				from, to, err := trace.ParseResolve(r)
				if err != nil {
					return err
				}
				o.Resolve[from] = to
			}
			obs, err := trace.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			ch := trace.Build(obs)
			trace.Print(cmd.OutOrStdout(), ch)
			if len(ch.Problems) > 0 {
				return &cli.ExitError{Code: 1, Err: errors.New("trace: a hop crosses a network in plaintext")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&resolve, "resolve", nil, "HOST:PORT:ADDRESS: connect to ADDRESS for HOST:PORT (repeatable)")
	f.StringVar(&o.CAFile, "cacert", "", "PEM roots that verify the server (default: the system's)")
	f.StringVar(&o.GatewayAdmin, "gateway-admin", "", "the gateway's admin endpoint, HOST:PORT")
	f.StringArrayVar(&o.ProxyAdmins, "proxy-admin", nil, "a proxy's admin endpoint, HOST:PORT (repeatable)")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "for the request and each admin endpoint")
	return cmd
}
