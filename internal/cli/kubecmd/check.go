package kubecmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/kube/check"
	"github.com/hopseal/hopseal/internal/kube/install"
)

type checkOptions struct {
	kubeconfig, context, output string
	pre                         bool
	timeout                     time.Duration
}

func checkCmd(_ *cli.Globals) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that hopseal can be installed on a Kubernetes cluster (--pre), or that it runs well there",
		Long: `check reports on hopseal in the current Kubernetes cluster, category by
category, with a hint under each warning (‼) and error (✘):

  kubernetes-api, kubernetes-version   the API server answers; Kubernetes is recent enough
  hopseal-crds, hopseal-control-plane  CRDs, namespace, RBAC, controller replicas ready
  hopseal-identity                     trust roots and the issuing CA: valid, days to expiry
  hopseal-webhook                      injection webhook configured (caBundle) with endpoints
  hopseal-data-plane                   namespaces with injection, their trust bundle, pods
                                       missing their proxy, workloads in permissive mode

With --pre it checks instead that hopseal can be installed: the API server
and its version, CRDs absent or compatible, and the caller's permission to
create each kind of object 'hopseal install' prints.

It exits 1 when any check fails; warnings do not fail.`,
		Example: `  hopseal check --pre
  hopseal check
  hopseal check -o json | jq '.categories[].checks[] | select(.result != "success")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default the current one)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.pre, "pre", false, "check that hopseal can be installed, instead of checking an installation")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each request to the API server")
	return cmd
}

func (o *checkOptions) run(cmd *cobra.Command) error {
	write := check.WriteText
	switch o.output {
	case "text":
	case "json":
		write = check.WriteJSON
	default:
		return fmt.Errorf("--output %q: use text or json", o.output)
	}
	// The checks read only the manifest's kinds and CRDs, not its image
	// tags: a fixed version keeps a build whose version is no image tag
	// (v1.2.3+dirty) working.
	manifest, err := install.Render("v0.0.0", nil)
	if err != nil {
		return err
	}
	env := &check.Env{}
	if env.Manifest, err = deploy.Objects(manifest); err != nil {
		return err
	}
	env.InitErr = o.clients(env)
	mode := check.Full
	if o.pre {
		mode = check.Pre
	}
	report := check.Run(cmd.Context(), env, mode)
	if err := write(cmd.OutOrStdout(), report); err != nil {
		return err
	}
	if !report.Success {
		return &cli.ExitError{Code: 1}
	}
	return nil
}

// clients fills env's clients from the kubeconfig.
func (o *checkOptions) clients(env *check.Env) error {
	cfg, err := restConfig(o.kubeconfig, o.context)
	if err != nil {
		return err
	}
	cfg.Timeout = o.timeout
	cfg.QPS, cfg.Burst = 50, 100 // a report is a few dozen requests; the default 5/s would pace them
	if env.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	env.Dynamic, err = dynamic.NewForConfig(cfg)
	return err
}
