package config

import (
	"regexp"

	"github.com/hopseal/hopseal/internal/yamlfile"
)

// dnsLabel is a Kubernetes namespace name; pod names are DNS subdomains.
var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
)

func (f *ControlPlaneFile) validate(errs *yamlfile.Problems, t *TransparentFile) *ControlPlane {
	checkAddr(errs, "control_plane.address", f.Address, true)
	if !dnsLabel.MatchString(f.Namespace) {
		errs.Add("control_plane.namespace", f.Namespace, "is not a Kubernetes namespace name (lowercase letters, digits and '-')")
	}
	if !dnsSubdomain.MatchString(f.Pod) {
		errs.Add("control_plane.pod", f.Pod, "is not a Kubernetes pod name (lowercase letters, digits, '-' and '.')")
	}
	switch {
	case t == nil:
		errs.Add("control_plane", "", "needs transparent mode: add a transparent block (the controller streams its policy, discovery and mode)")
	case t.PolicyFile != "":
		errs.Add("transparent.policy_file", t.PolicyFile, "is set next to control_plane, which streams the policy; remove one")
	case t.DiscoveryFile != "":
		errs.Add("transparent.discovery_file", t.DiscoveryFile, "is set next to control_plane, which streams discovery; remove one")
	case t.Mode != "":
		errs.Add("transparent.mode", t.Mode, "is set next to control_plane, which streams the mode (MTLSPolicy); remove it")
	}
	return &ControlPlane{Address: f.Address, Namespace: f.Namespace, Pod: f.Pod}
}
