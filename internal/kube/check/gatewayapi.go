package check

import (
	"context"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hopseal/hopseal/internal/kube/gateways"
)

// gatewayCRDCheck reports the Gateway API CRDs hopseal's gateway reads:
// an error when the controller follows Gateway API (--gateway-api) and
// they are missing or do not serve v1, a warning when they are half
// there, success when they are all there or none is and the gateway is
// off.
var gatewayCRDCheck = check{desc: "Gateway API CRDs are installed", run: gatewayCRDs}

const gatewayCRDHint = "install the standard channel of Gateway API v1.6 (the CRDs in config/crd/standard of the sigs.k8s.io/gateway-api module); " +
	"hopseal's gateway reads GatewayClass, Gateway, HTTPRoute, TLSRoute and ReferenceGrant v1"

func gatewayCRDs(ctx context.Context, e *Env) outcome {
	on := followsGatewayAPI(ctx, e)
	var missing, unfit, versions []string
	for _, r := range gateways.Resources {
		name := r.Resource + "." + r.Group
		crd, err := e.Dynamic.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
			continue
		case err != nil:
			return fail(kubeconfigHint, "get CRD %s: %v", name, err)
		case !established(crd):
			unfit = append(unfit, name+" (not established)")
		case !servesV1(crd):
			unfit = append(unfit, name+" (does not serve v1)")
		}
		ann := crd.GetAnnotations()
		if v := ann["gateway.networking.k8s.io/bundle-version"] + " " + ann["gateway.networking.k8s.io/channel"]; !slices.Contains(versions, v) {
			versions = append(versions, v)
		}
	}
	bad := func(format string, args ...any) outcome {
		if on {
			return fail(gatewayCRDHint, format, args...)
		}
		return warn(gatewayCRDHint+" (or remove them: hopseal's gateway is off)", format, args...)
	}
	switch {
	case len(missing) == len(gateways.Resources) && !on:
		return ok("not installed; hopseal's gateway is off (chart value gateway.enabled)")
	case len(missing) > 0:
		return bad("missing: %s", strings.Join(missing, ", "))
	case len(unfit) > 0:
		return bad("%s", strings.Join(unfit, ", "))
	}
	return ok("%s", strings.Join(versions, ", "))
}

func servesV1(crd *unstructured.Unstructured) bool {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range vs {
		if m, ok := v.(map[string]any); ok && m["name"] == "v1" && m["served"] == true {
			return true
		}
	}
	return false
}

// followsGatewayAPI: the controller Deployment runs with --gateway-api.
func followsGatewayAPI(ctx context.Context, e *Env) bool {
	d, err := e.Client.AppsV1().Deployments(Namespace).Get(ctx, Controller, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if slices.Contains(c.Args, "--gateway-api") || slices.Contains(c.Args, "--gateway-api=true") {
			return true
		}
	}
	return false
}
