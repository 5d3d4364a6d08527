// Package kubecmd holds hopseal's Kubernetes subcommands. They link
// Kubernetes' client libraries, so they live apart from package cli, whose
// data-plane commands hopseal-proxy runs without them.
package kubecmd

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hopseal/hopseal/internal/cli"
)

// Commands are the subcommands `hopseal` adds to package cli's.
func Commands() []cli.Command {
	return []cli.Command{controllerCmd, injectCmd}
}

// restConfig: the kubeconfig file if given (or in $KUBECONFIG), else the
// pod's service account when running in a cluster.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, errors.New("not running in a cluster: pass --kubeconfig (or set KUBECONFIG)")
	}
	return cfg, err
}
