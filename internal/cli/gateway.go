package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway"
)

func gatewayCmd(g *globals) *cobra.Command {
	var path string
	var check bool
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the edge gateway: public TLS in, mutual TLS into the mesh (SIGHUP renews its certificate and re-reads certificate files)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadGatewayConfig(path)
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
			gw, err := gateway.New(cfg, gateway.Options{Log: log})
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					log.Info("SIGHUP: renewing the SVID and re-reading certificate files now")
					gw.Reload()
				}
			}()
			attrs := []any{}
			for _, l := range cfg.Listeners {
				attrs = append(attrs, "listener."+l.Name, gw.Addr(l.Name).String())
			}
			if a := gw.AdminAddr(); a != nil {
				attrs = append(attrs, "admin", a.String())
			}
			log.Info("gateway listening", attrs...)
			return gw.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/hopseal/gateway.yaml", "gateway configuration file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration file and exit")
	return cmd
}

func loadGatewayConfig(path string) (*config.Gateway, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	cfg, err := config.ParseGateway(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
