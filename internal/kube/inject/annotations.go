package inject

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hopseal/hopseal/internal/netfilter"
)

// Namespace label and pod annotations; the package comment says what each does.
const (
	LabelInject      = "hopseal.io/inject"
	AnnotationInject = "hopseal.io/inject"
	// AnnotationInjected marks an injected pod with the hopseal version.
	AnnotationInjected = "hopseal.io/injected"

	AnnotationExcludeInboundPorts  = "hopseal.io/exclude-inbound-ports"
	AnnotationExcludeOutboundPorts = "hopseal.io/exclude-outbound-ports"
	AnnotationExcludeOutboundCIDRs = "hopseal.io/exclude-outbound-cidrs"
	AnnotationProxyCPURequest      = "hopseal.io/proxy-cpu-request"
	AnnotationProxyMemoryRequest   = "hopseal.io/proxy-memory-request"
	AnnotationProxyCPULimit        = "hopseal.io/proxy-cpu-limit"
	AnnotationProxyMemoryLimit     = "hopseal.io/proxy-memory-limit"

	Enabled  = "enabled"
	Disabled = "disabled"
)

// known are the annotations hopseal reads; others under hopseal.io/ draw a
// warning, since a misspelt one would silently do nothing.
var known = []string{
	AnnotationInject, AnnotationInjected, AnnotationExcludeInboundPorts, AnnotationExcludeOutboundPorts,
	AnnotationExcludeOutboundCIDRs, AnnotationProxyCPURequest, AnnotationProxyMemoryRequest,
	AnnotationProxyCPULimit, AnnotationProxyMemoryLimit,
}

// AnnotationError is a pod annotation hopseal cannot use.
type AnnotationError struct {
	Annotation, Value string
	Problem           string // what is wrong and how to fix it
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("annotation %s: %q %s", e.Annotation, e.Value, e.Problem)
}

// podOptions are a pod's annotations, parsed.
type podOptions struct {
	excludeIn, excludeOut []uint16
	excludeCIDRs          []netip.Prefix
	resources             corev1.ResourceRequirements
	warnings              []string
}

// parseAnnotations reads a pod's hopseal annotations over cfg's defaults and
// reports every bad value at once.
func parseAnnotations(cfg Config, ann map[string]string) (podOptions, error) {
	o := podOptions{resources: *cfg.ProxyResources.DeepCopy()}
	var errs []error
	bad := func(name, problem string) {
		errs = append(errs, &AnnotationError{Annotation: name, Value: ann[name], Problem: problem})
	}
	var err error
	if o.excludeIn, err = ports(ann, AnnotationExcludeInboundPorts, "22,8081"); err != nil {
		errs = append(errs, err)
	}
	if o.excludeOut, err = ports(ann, AnnotationExcludeOutboundPorts, "5432,6379"); err != nil {
		errs = append(errs, err)
	}
	if o.excludeCIDRs, err = prefixes(ann); err != nil {
		errs = append(errs, err)
	}
	for _, q := range []struct {
		name string
		list corev1.ResourceList
		res  corev1.ResourceName
	}{
		{AnnotationProxyCPURequest, o.resources.Requests, corev1.ResourceCPU},
		{AnnotationProxyMemoryRequest, o.resources.Requests, corev1.ResourceMemory},
		{AnnotationProxyCPULimit, o.resources.Limits, corev1.ResourceCPU},
		{AnnotationProxyMemoryLimit, o.resources.Limits, corev1.ResourceMemory},
	} {
		if v, ok := ann[q.name]; ok {
			qty, err := resource.ParseQuantity(v)
			switch {
			case err != nil:
				bad(q.name, "is not a quantity: write for example 100m for CPU or 64Mi for memory")
			case qty.Sign() <= 0:
				bad(q.name, "is not positive: give an amount such as 100m for CPU or 64Mi for memory")
			default:
				setResource(&o.resources, q.name, q.res, qty)
			}
		}
	}
	if len(errs) == 0 {
		if err := checkResources(o.resources, "hopseal.io/proxy-"); err != nil {
			errs = append(errs, fmt.Errorf("annotations: %w", err))
		}
	}
	o.warnings = unknownAnnotations(ann)
	return o, errors.Join(errs...)
}

func setResource(r *corev1.ResourceRequirements, annotation string, name corev1.ResourceName, q resource.Quantity) {
	list := &r.Requests
	if strings.HasSuffix(annotation, "-limit") {
		list = &r.Limits
	}
	if *list == nil {
		*list = corev1.ResourceList{}
	}
	(*list)[name] = q
}

func ports(ann map[string]string, name, example string) ([]uint16, error) {
	v, ok := ann[name]
	if !ok {
		return nil, nil
	}
	p, err := netfilter.ParsePorts(v)
	if err != nil {
		return nil, &AnnotationError{Annotation: name, Value: v,
			Problem: fmt.Sprintf("is not a list of ports: %v (for example %q)", trimExample(err), example)}
	}
	return p, nil
}

func prefixes(ann map[string]string) ([]netip.Prefix, error) {
	v, ok := ann[AnnotationExcludeOutboundCIDRs]
	if !ok {
		return nil, nil
	}
	bad := func(problem string) error {
		return &AnnotationError{Annotation: AnnotationExcludeOutboundCIDRs, Value: v, Problem: problem}
	}
	list, err := netfilter.ParsePrefixes(v)
	if err != nil {
		return nil, bad(fmt.Sprintf("is not a list of addresses and networks: %v", err))
	}
	for _, p := range list {
		switch {
		case p.Bits() == 0:
			return nil, bad(fmt.Sprintf("excludes every destination with %s, which turns outbound interception off: list only the networks the app reaches directly", p))
		case p.Addr().Is4In6():
			return nil, bad(fmt.Sprintf("has the IPv4-mapped network %s: write IPv4 networks in IPv4 form, such as 10.0.0.0/8", p))
		case p.Masked() != p:
			return nil, bad(fmt.Sprintf("has host bits set in %s: write the network address %s", p, p.Masked()))
		}
	}
	return list, nil
}

// trimExample drops netfilter's flag-flavoured example from a parse error.
func trimExample(err error) string {
	msg, _, _ := strings.Cut(err.Error(), ": list numbers")
	return msg
}

func unknownAnnotations(ann map[string]string) []string {
	var out []string
	for k := range ann {
		if strings.HasPrefix(k, "hopseal.io/") && !slices.Contains(known, k) {
			out = append(out, fmt.Sprintf("annotation %s is not one hopseal reads: did you mean %s?", k, closest(k)))
		}
	}
	slices.Sort(out)
	return out
}

// closest is the known annotation with the fewest edits from s.
func closest(s string) string {
	best, bestDist := known[0], -1
	for _, k := range known {
		if d := editDistance(s, k); bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
