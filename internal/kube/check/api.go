package check

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/util/version"
)

// MinKubernetes is the oldest Kubernetes hopseal supports: the proxy is a
// native sidecar (an init container with restartPolicy Always), on by
// default since 1.29.
const MinKubernetes = "1.29.0"

const kubeconfigHint = "check the kubeconfig (--kubeconfig, --context or $KUBECONFIG) and that the API server is up: kubectl get --raw /readyz"

var apiCategory = category{name: "kubernetes-api", checks: fixed(
	check{desc: "can initialize the client", fatal: true, run: func(_ context.Context, e *Env) outcome {
		if e.InitErr != nil {
			return fail(kubeconfigHint, "%v", e.InitErr)
		}
		return ok("")
	}},
	check{desc: "can query the Kubernetes API", fatal: true, run: func(_ context.Context, e *Env) outcome {
		v, err := e.Client.Discovery().ServerVersion()
		if err != nil {
			return fail(kubeconfigHint, "%v", err)
		}
		return ok("Kubernetes %s", v.GitVersion)
	}},
)}

var versionCategory = category{name: "kubernetes-version", checks: fixed(
	check{desc: "is running Kubernetes " + MinKubernetes + " or later", run: func(_ context.Context, e *Env) outcome {
		info, err := e.Client.Discovery().ServerVersion()
		if err != nil {
			return fail(kubeconfigHint, "%v", err)
		}
		got, err := version.ParseGeneric(info.GitVersion)
		if err != nil {
			return warn("hopseal needs Kubernetes "+MinKubernetes+" or later; check the version by hand",
				"cannot read the version %q: %v", info.GitVersion, err)
		}
		if got.LessThan(version.MustParseGeneric(MinKubernetes)) {
			return fail("upgrade the cluster: hopseal's proxy runs as a native sidecar container",
				"Kubernetes %s is older than %s", info.GitVersion, MinKubernetes)
		}
		return ok("Kubernetes %s", info.GitVersion)
	}},
)}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
