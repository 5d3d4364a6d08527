package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/sidecar"
)

func proxyCmd(g *globals) *cobra.Command {
	var path string
	var check, kube bool
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run a workload's mutual-TLS proxy (SIGHUP renews its certificate and re-reads policy and discovery)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load := func() (*config.Proxy, error) { return loadProxyConfig(path) }
			if kube {
				load = func() (*config.Proxy, error) { return config.FromKubernetesEnv(os.Getenv) }
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			if check {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", path)
				return nil
			}
			log, err := g.logger("json")
			if err != nil {
				return err
			}
			sc, err := sidecar.New(cfg, sidecar.Options{Log: log})
			if err != nil {
				return err
			}
			defer OnSIGHUP(log, "renewing the SVID and re-reading policy and discovery now", sc.Reload)()
			attrs := []any{}
			for _, in := range cfg.Inbound {
				attrs = append(attrs, "inbound."+in.Name, sc.Addr(in.Name).String())
			}
			for _, out := range cfg.Outbound {
				attrs = append(attrs, "outbound."+out.Name, sc.Addr(out.Name).String())
			}
			if cfg.Transparent != nil {
				attrs = append(attrs, "transparent.inbound", sc.Addr(sidecar.TransparentInbound).String(),
					"transparent.outbound", sc.Addr(sidecar.TransparentOutbound).String(), "mode", cfg.Transparent.Mode, "egress", cfg.Transparent.Egress)
			}
			if a := sc.AdminAddr(); a != nil {
				attrs = append(attrs, "admin", a.String())
			}
			log.Info("proxy listening", attrs...)
			return sc.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/hopseal/proxy.yaml", "proxy configuration file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration file and exit")
	cmd.Flags().BoolVar(&kube, "kubernetes", false, "run as an injected Kubernetes sidecar: configuration from the environment and volumes the injector sets (no --config)")
	cmd.MarkFlagsMutuallyExclusive("kubernetes", "config")
	return cmd
}

func loadProxyConfig(path string) (*config.Proxy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	cfg, err := config.ParseProxy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
