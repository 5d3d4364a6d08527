// Package audit holds what every kind of evidence turns into: findings,
// each with a severity, the controls it bears on, the evidence itself and
// the fix. Its subpackages gather evidence (capture: traffic; cluster:
// configuration) and write reports.
package audit

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Severity orders findings; a CI gate fails at or above a chosen one.
type Severity int

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, as flags and files write it.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(name, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("severity %q: use one of %s", name, strings.Join(severityNames[:], ", "))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Control is a requirement of a compliance framework.
type Control string

// The controls hopseal's evidence bears on.
const (
	NISTSC8     Control = "NIST 800-53 SC-8"        // transmission confidentiality and integrity
	NISTSC8_1   Control = "NIST 800-53 SC-8(1)"     // cryptographic protection in transit
	NISTSC12    Control = "NIST 800-53 SC-12"       // key establishment and management
	NISTSC13    Control = "NIST 800-53 SC-13"       // cryptographic protection (approved algorithms)
	PCI421      Control = "PCI DSS 4.0 4.2.1"       // strong cryptography, trusted unexpired certificates
	PCI4211     Control = "PCI DSS 4.0 4.2.1.1"     // inventory of trusted keys and certificates
	HIPAA312e1  Control = "HIPAA 164.312(e)(1)"     // transmission security
	NISTAC4     Control = "NIST 800-53 AC-4"        // information flow enforcement (network policy)
	NISTSC7     Control = "NIST 800-53 SC-7"        // boundary protection
	NISTSC23    Control = "NIST 800-53 SC-23"       // session authenticity (mutual authentication)
	NISTIA3     Control = "NIST 800-53 IA-3"        // device identification and authentication
	NISTSC17    Control = "NIST 800-53 SC-17"       // PKI certificates
	PCI131      Control = "PCI DSS 4.0 1.3.1"       // inbound traffic restricted
	HIPAA312e2i Control = "HIPAA 164.312(e)(2)(ii)" // encryption in transit
)

// InTransit are the controls every unencrypted hop fails.
var InTransit = []Control{NISTSC8, NISTSC8_1, PCI421, HIPAA312e1, HIPAA312e2i}

// Finding is one thing an auditor should know: a problem, or (at Info) a
// fact the report records, such as an encrypted hop.
type Finding struct {
	// Rule names the check that produced it, stable across runs
	// (e.g. "capture/plaintext-http", "cluster/lb-plaintext-backend").
	Rule     string    `json:"rule"`
	Severity Severity  `json:"severity"`
	Title    string    `json:"title"`   // one line: "orders → payments: plaintext HTTP"
	Subject  Subject   `json:"subject"` // what it is about
	Controls []Control `json:"controls,omitempty"`
	Evidence []string  `json:"evidence,omitempty"` // facts, each a line a person can check
	Fix      string    `json:"fix,omitempty"`      // what to do, concretely
}

// Subject locates a finding: a hop between two endpoints, or one object.
type Subject struct {
	Kind      string `json:"kind"`                // "flow", "Service", "Namespace", "Node", "Certificate", ...
	Name      string `json:"name"`                // the object's name, or "source → destination" for a flow
	Namespace string `json:"namespace,omitempty"` // Kubernetes namespace, when it has one
	Source    string `json:"source,omitempty"`    // flows: workload or address
	Dest      string `json:"destination,omitempty"`
}

// AtLeast reports whether any finding is at or above min.
func AtLeast(fs []Finding, min Severity) bool {
	for _, f := range fs {
		if f.Severity >= min {
			return true
		}
	}
	return false
}

// Evidence files: each evidence command writes one, `hopseal audit report`
// reads any number of them. Kind says which fields are set.
type Evidence struct {
	Kind     string          `json:"kind"`              // "capture", "cluster", "telemetry"
	Version  int             `json:"version"`           // EvidenceVersion
	Source   string          `json:"source"`            // a file name, an interface, a cluster's server URL
	Taken    string          `json:"taken"`             // RFC 3339 time the evidence was gathered
	Findings []Finding       `json:"findings"`          // what the evidence shows
	Hops     []Hop           `json:"hops,omitempty"`    // traffic seen between workloads, for the service graph
	Data     json.RawMessage `json:"data,omitempty"`    // the kind's own detail (flows, inventory, ...)
	Partial  string          `json:"partial,omitempty"` // why the evidence is incomplete, if it is
}

// Hop is traffic seen from one workload (or address) to another.
type Hop struct {
	Source    string `json:"source"`
	Dest      string `json:"destination"`
	Protocol  string `json:"protocol"`  // what was seen: "hopseal mTLS", "TLS 1.3", "HTTP/1.1", ...
	Encrypted bool   `json:"encrypted"` // the payload was ciphertext
	Flows     int    `json:"flows"`     // connections seen
}

// EvidenceVersion is the format of Evidence written by this hopseal.
const EvidenceVersion = 1
