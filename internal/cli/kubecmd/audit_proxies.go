package kubecmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/audit/proxies"
	"github.com/hopseal/hopseal/internal/cli"
)

func auditProxiesCmd(_ *cli.Globals) *cobra.Command {
	var admins []string
	var output string
	cmd := &cobra.Command{
		Use:   "proxies --admin HOST:PORT...",
		Short: "Record what proxies and gateways saw: their recent connections, encrypted or not",
		Long: `Reads the recent connections of hopseal proxies and gateways from their admin
endpoints (/status and /connections) and writes them as evidence (JSON, kind
"telemetry") for 'hopseal audit report': hops between workloads by SPIFFE ID, and
a finding for every plaintext connection a proxy let through (permissive mode,
allowed plaintext egress). On Kubernetes, reach a pod's admin port with
kubectl port-forward.`,
		Example: `  hopseal audit proxies --admin 127.0.0.1:14090 --admin 127.0.0.1:19190 -o proxies.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(admins) == 0 {
				return errors.New("--admin: give at least one proxy's or gateway's admin address, HOST:PORT")
			}
			ev := proxies.Collect(cmd.Context(), nil, admins, time.Now())
			if err := writeEvidence(cmd.OutOrStdout(), output, ev); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d hops, %d findings from %d admin endpoints\n", len(ev.Hops), len(ev.Findings), len(admins))
			if ev.Partial != "" {
				return &cli.ExitError{Code: 1, Err: fmt.Errorf("evidence is partial: %s", ev.Partial)}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&admins, "admin", nil, "admin address (HOST:PORT) of a proxy or gateway; repeat for each")
	cmd.Flags().StringVarP(&output, "output", "o", "-", "evidence file to write (- for stdout)")
	return cmd
}
