// Package kubecmd holds hopseal's Kubernetes subcommands. They link
// Kubernetes' client libraries, so they live apart from package cli, whose
// data-plane commands hopseal-proxy runs without them.
package kubecmd

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hopseal/hopseal/internal/cli"
)

// Commands are the subcommands `hopseal` adds to package cli's.
func Commands() []cli.Command {
	return []cli.Command{controllerCmd, injectCmd, installCmd, checkCmd, auditCmd}
}

// restConfig loads a kubeconfig as kubectl does (--kubeconfig, else
// $KUBECONFIG, else ~/.kube/config; context: the current one unless given),
// and falls back to the pod's service account inside a cluster.
func restConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w (pass --kubeconfig, or run in a cluster)", err)
	}
	return cfg, nil
}
