package install

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hopseal/hopseal/internal/identity"
)

// ReadValuesFile reads a values file as `helm --values` does.
func ReadValuesFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read values file: %w", err)
	}
	v, err := chartutil.ReadValues(data)
	if err != nil {
		return nil, fmt.Errorf("values file %s is not YAML: %w", path, err)
	}
	return v, nil
}

// Set applies one `--set key=value[,key=value]` to values, with Helm's
// syntax (a.b=c, list[0]=x, escaped \, and \.).
func Set(values map[string]any, s string) error {
	if err := strvals.ParseInto(s, values); err != nil {
		return fmt.Errorf("--set %q: %w (write key=value, e.g. controller.replicas=3)", s, err)
	}
	return nil
}

// Merge merges src into dst as `helm --values` merges files: maps key by
// key, anything else replaced by src. It returns the merged map.
func Merge(dst, src map[string]any) map[string]any {
	out := make(map[string]any, len(dst)+len(src))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = Merge(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// imageTag is what a container image reference allows as a tag.
var imageTag = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)

// Validate checks what the chart's values.schema.json cannot: rules that
// relate values to each other or to hopseal's own parsers. v is the merged
// values, already valid under the schema. Each problem names its key.
func Validate(appVersion string, v chartutil.Values) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if td, _ := v["trustDomain"].(string); td != "" {
		if _, err := identity.ParseTrustDomain(td); err != nil {
			add("trustDomain: %v", err)
		}
	}
	for _, img := range []string{"controller", "proxy"} {
		if tag, _ := lookup(v, "images", img, "tag").(string); tag == "" && !imageTag.MatchString(appVersion) {
			add("images.%s.tag is empty and hopseal version %q is no image tag: set images.%s.tag", img, appVersion, img)
		}
	}
	if err := checkResources("controller.resources", lookup(v, "controller", "resources")); err != nil {
		errs = append(errs, err)
	}
	replicas, _ := toInt(lookup(v, "controller", "replicas"))
	if minAvail, ok := toInt(lookup(v, "controller", "podDisruptionBudget", "minAvailable")); ok && minAvail >= replicas {
		add("controller.podDisruptionBudget.minAvailable %d is not less than controller.replicas %d: node drains would wait forever (lower it, e.g. to %d)",
			minAvail, replicas, max(replicas-1, 0))
	}
	return errors.Join(errs...)
}

// checkResources checks that each quantity parses and no request exceeds
// its limit.
func checkResources(key string, r any) error {
	var errs []error
	q := func(kind, name string) (resource.Quantity, bool) {
		v := lookup(r, kind, name)
		if v == nil {
			return resource.Quantity{}, false
		}
		parsed, err := resource.ParseQuantity(fmt.Sprint(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s.%s %v is not a quantity: write e.g. 100m for CPU or 64Mi for memory", key, kind, name, v))
			return resource.Quantity{}, false
		}
		return parsed, true
	}
	for _, name := range []string{"cpu", "memory"} {
		req, hasReq := q("requests", name)
		lim, hasLim := q("limits", name)
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s.requests.%s %s is more than %s.limits.%s %s: raise the limit or lower the request",
				key, name, req.String(), key, name, lim.String()))
		}
	}
	return errors.Join(errs...)
}

// lookup walks nested maps; nil when a key is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			if cv, isValues := v.(chartutil.Values); isValues {
				m = cv
			} else {
				return nil
			}
		}
		v = m[k]
	}
	return v
}

// toInt reads a number from values (int64 from --set, float64 from YAML).
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}
