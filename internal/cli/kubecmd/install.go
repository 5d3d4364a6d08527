package kubecmd

import (
	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/kube/install"
)

type installOptions struct {
	valueFiles, sets          []string
	trustDomain, rootCASecret string
}

func installCmd(_ *cli.Globals) *cobra.Command {
	o := &installOptions{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Print the Kubernetes manifests of hopseal's control plane, for kubectl apply",
		Long: `install prints every object of hopseal's control plane: the hopseal.io
CRDs, the hopseal-system namespace, the controller's ServiceAccount and RBAC,
its Deployment, Service and PodDisruptionBudget, and the sidecar injection
webhook configuration. CRDs and the namespace come first, so one
kubectl apply creates them all.

The objects are the Helm chart deploy/chart/hopseal, rendered by Helm's own
engine: --set and --values take the chart's keys (see its values.yaml), and
'helm install' of that chart with the same values makes the same objects.
Values are checked against the chart's schema; an unknown key is an error.

Apply server-side so that fields set by the controller (the webhook's
caBundle) survive a re-apply. Then run 'hopseal check'.`,
		Example: `  hopseal install | kubectl apply --server-side --field-manager hopseal -f -
  hopseal install --trust-domain prod.example.com --set controller.replicas=3 > hopseal.yaml
  hopseal install --values my-values.yaml --root-ca-secret my-root-ca | kubectl apply --server-side -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			values, err := o.values(cmd)
			if err != nil {
				return err
			}
			out, err := install.Render(cli.Version, values)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.valueFiles, "values", "f", nil, "a YAML file of chart values (repeat: later files win)")
	f.StringArrayVar(&o.sets, "set", nil, "a chart value, key=value (repeat, or key1=v1,key2=v2); wins over --values")
	f.StringVar(&o.trustDomain, "trust-domain", "cluster.local", "the mesh's SPIFFE trust domain (value trustDomain)")
	f.StringVar(&o.rootCASecret, "root-ca-secret", "", "a Secret in hopseal-system with tls.crt and tls.key of your own CA, which signs hopseal's (value ca.rootSecretName)")
	return cmd
}

// values merges --values files, then --set, then the flags that were given.
func (o *installOptions) values(cmd *cobra.Command) (map[string]any, error) {
	values := map[string]any{}
	for _, path := range o.valueFiles {
		v, err := install.ReadValuesFile(path)
		if err != nil {
			return nil, err
		}
		values = install.Merge(values, v)
	}
	for _, s := range o.sets {
		if err := install.Set(values, s); err != nil {
			return nil, err
		}
	}
	if cmd.Flags().Changed("trust-domain") {
		values["trustDomain"] = o.trustDomain
	}
	if cmd.Flags().Changed("root-ca-secret") {
		values = install.Merge(values, map[string]any{"ca": map[string]any{"rootSecretName": o.rootCASecret}})
	}
	return values, nil
}
