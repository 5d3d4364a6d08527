package edgecmd

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway"
)

func gatewayCmd(g *cli.Globals) *cobra.Command {
	var path, gwName, adminListen string
	var check, controlPlane bool
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the edge gateway: public TLS in, mutual TLS into the mesh (SIGHUP renews its certificate and re-reads certificate files)",
		Long: `gateway serves the listeners and routes of its configuration file, or, with
--control-plane (on Kubernetes), those the controller translates from a
Gateway API Gateway of hopseal's GatewayClass: its identity then comes from
the pod's environment and volumes, as an injected proxy's does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg *config.Gateway
			var cp *gateway.ControlPlane
			var err error
			if controlPlane {
				cfg, cp, err = gatewayFromKubernetes(gwName, adminListen)
			} else {
				cfg, err = loadGatewayConfig(path)
			}
			if err != nil {
				return err
			}
			if check && controlPlane {
				fmt.Fprintln(cmd.OutOrStdout(), "environment: valid")
				return nil
			}
			if check {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", path)
				return nil
			}
			log, err := g.Logger("json")
			if err != nil {
				return err
			}
			gw, err := gateway.New(cfg, gateway.Options{Log: log, ControlPlane: cp})
			if err != nil {
				return err
			}
			defer cli.OnSIGHUP(log, "renewing the SVID and re-reading certificate files now", gw.Reload)()
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
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration file (with --control-plane: the environment) and exit")
	cmd.Flags().BoolVar(&controlPlane, "control-plane", false, "take listeners and routes from the controller (Kubernetes Gateway API) instead of --config; identity from the pod's environment")
	cmd.Flags().StringVar(&gwName, "gateway", "", "with --control-plane: the Gateway to serve, NAMESPACE/NAME (the pod's namespace); default: the pod's label gateway.networking.k8s.io/gateway-name")
	cmd.Flags().StringVar(&adminListen, "admin-listen", ":9090", "with --control-plane: address of /metrics, /ready, /live and /status")
	cmd.MarkFlagsMutuallyExclusive("control-plane", "config")
	return cmd
}

// gatewayFromKubernetes is a gateway configured by the controller: the
// identity and controller address from the environment the chart sets.
func gatewayFromKubernetes(gwName, adminListen string) (*config.Gateway, *gateway.ControlPlane, error) {
	cp, err := config.GatewayFromKubernetesEnv(os.Getenv, gwName, adminListen)
	if err != nil {
		return nil, nil, err
	}
	_, name, _ := strings.Cut(cp.Gateway, "/")
	return &config.Gateway{Identity: cp.Identity, AdminListen: cp.AdminListen},
		&gateway.ControlPlane{Address: cp.Controller, Namespace: cp.Namespace, Gateway: name, Pod: cp.Pod}, nil
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
