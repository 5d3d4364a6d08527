package kubecmd

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/kube/castate"
	"github.com/hopseal/hopseal/internal/kube/controller"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

type controllerOptions struct {
	kubeconfig, trustDomain, namespace string
	listen, webhookListen, adminListen string
	caSecret, rootCASecret, dataDir    string
	proxy                              proxyFlags
	webhookNames                       []string
	svidTTL                            time.Duration
	leaderElect, gatewayAPI            bool
}

func controllerCmd(g *cli.Globals) *cobra.Command {
	o := &controllerOptions{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run hopseal's control plane in a cluster: CA, mesh stream to proxies, sidecar injector",
		Long: `controller runs in the hopseal-system namespace (hopseal install deploys it).
Every replica serves the CA (attesting workloads by their service-account
tokens), the stream of policy and discovery to proxies, and the sidecar
injection webhook; the elected leader also writes trust bundle ConfigMaps,
the webhook's caBundle and the status of hopseal's policies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config()
			if err != nil {
				return err
			}
			if cfg.Log, err = g.Logger("json"); err != nil {
				return err
			}
			return controller.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else the pod's service account)")
	f.StringVar(&o.trustDomain, "trust-domain", "cluster.local", "the mesh's trust domain")
	f.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "hopseal-system"), "the control plane's namespace (default $POD_NAMESPACE, else hopseal-system)")
	f.StringVar(&o.listen, "listen", ":8443", "CA and mesh stream address (gRPC over TLS)")
	f.StringVar(&o.webhookListen, "webhook-listen", ":9443", "sidecar injection webhook address (HTTPS)")
	f.StringVar(&o.adminListen, "admin-listen", ":9090", "address of /metrics, /ready and /live")
	f.StringVar(&o.caSecret, "ca-secret", castate.DefaultName, "Secret holding the CA's keys (created on first start)")
	f.StringVar(&o.rootCASecret, "root-ca-secret", "", "Secret with your own CA (tls.crt, tls.key, optional ca.crt) to issue from; empty: hopseal makes a root")
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/hopseal", "writable directory for the CA's audit store")
	o.proxy.register(f, "proxy-image", inject.Defaults(cli.Version))
	o.proxy.version = cli.Version
	f.DurationVar(&o.svidTTL, "svid-ttl", ca.DefaultSVIDTTL, "lifetime of workload certificates")
	f.StringSliceVar(&o.webhookNames, "webhook-names", nil, "DNS names of the webhook's certificate (default: the hopseal-controller Service's), for a webhook reached another way")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "elect one replica to write to the cluster (Lease hopseal-controller)")
	f.BoolVar(&o.gatewayAPI, "gateway-api", false, "follow Gateway API resources of GatewayClasses with controllerName hopseal.io/gateway-controller and configure hopseal gateways from them")
	return cmd
}

func (o *controllerOptions) config() (controller.Config, error) {
	cfg := controller.Config{Namespace: o.namespace, CASecret: o.caSecret, RootCASecret: o.rootCASecret, SVIDTTL: o.svidTTL,
		DataDir: o.dataDir, LeaderElect: o.leaderElect, GatewayAPI: o.gatewayAPI, Identity: envOr("POD_NAME", hostname()), WebhookNames: o.webhookNames}
	var err error
	if cfg.TrustDomain, err = spiffeid.TrustDomainFromString(o.trustDomain); err != nil {
		return cfg, fmt.Errorf("--trust-domain %q: %w", o.trustDomain, err)
	}
	if cfg.REST, err = restConfig(o.kubeconfig, ""); err != nil {
		return cfg, err
	}
	cfg.Inject = inject.Defaults(cli.Version)
	cfg.Inject.TrustDomain = cfg.TrustDomain.Name()
	cfg.Inject.Controller = fmt.Sprintf("hopseal-controller.%s.svc:8443", o.namespace)
	if err := o.proxy.apply(&cfg.Inject); err != nil {
		return cfg, err
	}
	if err := cfg.Inject.Validate(); err != nil {
		return cfg, fmt.Errorf("check the proxy flags (each problem names its flag):\n%w", err)
	}
	for _, l := range []struct {
		flag, addr string
		dst        *net.Listener
	}{{"--listen", o.listen, &cfg.Listen}, {"--webhook-listen", o.webhookListen, &cfg.WebhookListen}, {"--admin-listen", o.adminListen, &cfg.AdminListen}} {
		if *l.dst, err = net.Listen("tcp", l.addr); err != nil {
			return cfg, fmt.Errorf("%s: %w", l.flag, err)
		}
	}
	return cfg, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
