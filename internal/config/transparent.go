package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/hopseal/hopseal/internal/yamlfile"
)

// Transparent-mode defaults: the ports `hopseal init-net` redirects to and
// the UID it exempts.
const (
	DefaultInboundListen  = ":14006" // every address, IPv4 and IPv6
	DefaultOutboundListen = "127.0.0.1:14001"
	DefaultProxyUID       = 1443
	DefaultDetectTimeout  = 200 * time.Millisecond
)

// TransparentFile configures interception mode: init-net sends the pod's
// TCP to these listeners and the proxy recovers each original destination.
type TransparentFile struct {
	InboundListen  string   `yaml:"inbound_listen"`
	OutboundListen string   `yaml:"outbound_listen"`
	Mode           string   `yaml:"mode"`
	Egress         string   `yaml:"egress"`
	PolicyFile     string   `yaml:"policy_file"`
	DiscoveryFile  string   `yaml:"discovery_file"`
	DetectTimeout  string   `yaml:"protocol_detection_timeout"`
	OpaquePorts    []uint16 `yaml:"opaque_ports"`
	ProxyUID       *uint32  `yaml:"proxy_uid"`
}

// Inbound modes and egress settings.
const (
	Strict      = "strict"
	Permissive  = "permissive"
	EgressAllow = "allow"
	EgressDeny  = "deny"
)

// Transparent is a validated TransparentFile with defaults applied.
type Transparent struct {
	InboundListen  string
	OutboundListen string
	Mode           string // Strict or Permissive
	Egress         string // EgressAllow or EgressDeny
	PolicyFile     string // "" denies every inbound connection
	DiscoveryFile  string // "" puts no destination in the mesh
	DetectTimeout  time.Duration
	OpaquePorts    []uint16
	ProxyUID       uint32
}

// Opaque reports whether port skips protocol detection.
func (t *Transparent) Opaque(port uint16) bool { return slices.Contains(t.OpaquePorts, port) }

func (f *TransparentFile) validate(errs *yamlfile.Problems) *Transparent {
	t := &Transparent{
		InboundListen: or(f.InboundListen, DefaultInboundListen), OutboundListen: or(f.OutboundListen, DefaultOutboundListen),
		Mode: or(f.Mode, Strict), Egress: or(f.Egress, EgressAllow), PolicyFile: f.PolicyFile, DiscoveryFile: f.DiscoveryFile,
		DetectTimeout: DefaultDetectTimeout, OpaquePorts: f.OpaquePorts, ProxyUID: DefaultProxyUID,
	}
	checkAddr(errs, "transparent.inbound_listen", t.InboundListen, false)
	checkAddr(errs, "transparent.outbound_listen", t.OutboundListen, false)
	if t.Mode != Strict && t.Mode != Permissive {
		errs.Add("transparent.mode", t.Mode, "is not a mode; use strict (only mesh mTLS) or permissive (also plaintext, for migration)")
	}
	if t.Egress != EgressAllow && t.Egress != EgressDeny {
		errs.Add("transparent.egress", t.Egress, "is not an egress setting; use allow or deny")
	}
	if f.DetectTimeout != "" {
		d, err := time.ParseDuration(f.DetectTimeout)
		if err != nil || d <= 0 || d > 10*time.Second {
			errs.Add("transparent.protocol_detection_timeout", f.DetectTimeout, "is not a duration between 1ms and 10s; write e.g. 200ms")
		} else {
			t.DetectTimeout = d
		}
	}
	for i, p := range f.OpaquePorts {
		if p == 0 {
			errs.Add(fmt.Sprintf("transparent.opaque_ports[%d]", i), "0", "is not a port; use 1-65535")
		}
	}
	if f.ProxyUID != nil {
		t.ProxyUID = *f.ProxyUID
	}
	return t
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
