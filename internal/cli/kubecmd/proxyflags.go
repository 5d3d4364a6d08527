package kubecmd

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hopseal/hopseal/internal/kube/inject"
)

// proxyFlags set the injected containers: image and the proxy's resources.
// `hopseal inject` and `hopseal controller` (for its webhook) share them.
type proxyFlags struct {
	image, pullPolicy              string
	version                        string // of the image tag and the injected annotation
	cpuReq, memReq, cpuLim, memLim string
}

func (p *proxyFlags) register(f *pflag.FlagSet, imageFlag string, defaults inject.Config) {
	f.StringVar(&p.image, imageFlag, "", "image of the injected init container and proxy (default hopseal/proxy:<hopseal version>)")
	f.StringVar(&p.pullPolicy, "image-pull-policy", string(defaults.ImagePullPolicy), "Always, IfNotPresent or Never")
	res := defaults.ProxyResources
	f.StringVar(&p.cpuReq, "proxy-cpu-request", quantity(res.Requests, corev1.ResourceCPU), "the proxy's CPU request")
	f.StringVar(&p.memReq, "proxy-memory-request", quantity(res.Requests, corev1.ResourceMemory), "the proxy's memory request")
	f.StringVar(&p.cpuLim, "proxy-cpu-limit", quantity(res.Limits, corev1.ResourceCPU), `the proxy's CPU limit ("" for none)`)
	f.StringVar(&p.memLim, "proxy-memory-limit", quantity(res.Limits, corev1.ResourceMemory), `the proxy's memory limit ("" for none)`)
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := l[name]; ok {
		return q.String()
	}
	return ""
}

// apply sets the flags' values in c; errors name the flag.
func (p *proxyFlags) apply(c *inject.Config) error {
	c.Version = p.version
	c.Image = p.image
	if c.Image == "" {
		c.Image = "hopseal/proxy:" + p.version
	}
	c.ImagePullPolicy = corev1.PullPolicy(p.pullPolicy)
	c.ProxyResources = corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	var errs []error
	for _, q := range []struct {
		flag, value string
		list        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--proxy-cpu-request", p.cpuReq, c.ProxyResources.Requests, corev1.ResourceCPU},
		{"--proxy-memory-request", p.memReq, c.ProxyResources.Requests, corev1.ResourceMemory},
		{"--proxy-cpu-limit", p.cpuLim, c.ProxyResources.Limits, corev1.ResourceCPU},
		{"--proxy-memory-limit", p.memLim, c.ProxyResources.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a quantity: write for example 100m for CPU or 64Mi for memory", q.flag, q.value))
			continue
		}
		q.list[q.name] = v
	}
	return errors.Join(errs...)
}
