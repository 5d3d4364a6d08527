package cli

import (
	"fmt"
	"reflect"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/netfilter"
)

type initNetOptions struct {
	rules                        netfilter.Rules
	excludeIn, excludeOut, cidrs string
	dryRun, remove               bool
}

func initNetCmd() *cobra.Command {
	o := &initNetOptions{rules: netfilter.Default()}
	cmd := &cobra.Command{
		Use:   "init-net",
		Short: "Send this network namespace's TCP through the hopseal proxy (a pod's init container runs it)",
		Long: `init-net installs nftables rules (table inet hopseal) in the current network
namespace: TCP arriving from other hosts goes to the proxy's inbound port, TCP
the pod's processes open goes to its outbound port. The proxy's own UID,
loopback and the excluded ports and networks are left alone. Running it again
replaces the rules atomically; --remove takes them out. It needs root or
CAP_NET_ADMIN, except with --dry-run, which only prints the rules.`,
		Example: `  hopseal init-net --exclude-inbound-ports 14090 --exclude-outbound-cidrs 169.254.169.254
  hopseal init-net --dry-run | nft -c -f -
  hopseal init-net --remove`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.Uint16Var(&o.rules.InboundPort, "inbound-port", netfilter.DefaultInboundPort, "port of the proxy's inbound listener (on 0.0.0.0)")
	f.Uint16Var(&o.rules.OutboundPort, "outbound-port", netfilter.DefaultOutboundPort, "port of the proxy's outbound listener (on 127.0.0.1)")
	f.Uint32Var(&o.rules.ProxyUID, "proxy-uid", netfilter.DefaultProxyUID, "UID the proxy runs as; its connections are never redirected")
	f.StringVar(&o.excludeIn, "exclude-inbound-ports", "", "comma-separated ports peers reach directly, e.g. 14090,22")
	f.StringVar(&o.excludeOut, "exclude-outbound-ports", "", "comma-separated destination ports the pod reaches directly")
	f.StringVar(&o.cidrs, "exclude-outbound-cidrs", "", "comma-separated addresses and networks the pod reaches directly, e.g. 169.254.169.254,10.0.0.0/8")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the rules in nft syntax and change nothing")
	f.BoolVar(&o.remove, "remove", false, "remove hopseal's rules from this network namespace")
	return cmd
}

func (o *initNetOptions) run(cmd *cobra.Command) error {
	table := netfilter.TableFamily + " " + netfilter.TableName
	if o.remove {
		if o.dryRun {
			fmt.Fprintf(cmd.OutOrStdout(), "delete table %s\n", table)
			return nil
		}
		if err := netfilter.Remove(); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "removed table %s\n", table)
		return nil
	}
	r, err := o.parse()
	if err != nil {
		return err
	}
	plan := netfilter.Plan(r)
	if o.dryRun {
		fmt.Fprint(cmd.OutOrStdout(), plan)
		return nil
	}
	if err := netfilter.Apply(r); err != nil {
		return err
	}
	got, err := netfilter.Installed()
	if err != nil {
		return fmt.Errorf("check the installed rules: %w", err)
	}
	if !reflect.DeepEqual(got, plan) {
		return fmt.Errorf("table %s holds other rules than were just installed (another process changed it?):\n%v", table, got)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "installed table %s: inbound TCP → :%d, outbound TCP → :%d, UID %d exempt\n",
		table, r.InboundPort, r.OutboundPort, r.ProxyUID)
	return nil
}

// parse reads the list flags into Rules and validates the result.
func (o *initNetOptions) parse() (netfilter.Rules, error) {
	r := o.rules
	var err error
	if r.ExcludeInboundPorts, err = netfilter.ParsePorts(o.excludeIn); err != nil {
		return r, fmt.Errorf("--exclude-inbound-ports: %w", err)
	}
	if r.ExcludeOutboundPorts, err = netfilter.ParsePorts(o.excludeOut); err != nil {
		return r, fmt.Errorf("--exclude-outbound-ports: %w", err)
	}
	if r.ExcludeOutboundCIDRs, err = netfilter.ParsePrefixes(o.cidrs); err != nil {
		return r, fmt.Errorf("--exclude-outbound-cidrs: %w", err)
	}
	return r, r.Validate()
}
