package capture

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/audit"
)

// EvidenceKind is the kind of the evidence a capture gives.
const EvidenceKind = "capture"

// Evidence is the result as an evidence file's content.
func (r *Result) Evidence(taken time.Time) (audit.Evidence, error) {
	// Samples read better unescaped: "<redacted>", not "\u003credacted\u003e".
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return audit.Evidence{}, err
	}
	return audit.Evidence{
		Kind: EvidenceKind, Version: audit.EvidenceVersion, Source: strings.Join(r.Sources, ", "),
		Taken: taken.UTC().Format(time.RFC3339), Findings: r.Findings(), Hops: r.Hops(),
		Data: bytes.TrimSpace(data.Bytes()), Partial: strings.Join(r.Partial, "; "),
	}, nil
}

// Hops sums the flows between the same two ends (workloads when named)
// seen speaking the same protocol, for the report's service graph.
func (r *Result) Hops() []audit.Hop {
	var hops []audit.Hop
	at := map[[3]string]int{}
	for i := range r.Flows {
		f := &r.Flows[i]
		key := [3]string{f.Source(), f.Dest(), f.Protocol}
		if j, ok := at[key]; ok {
			hops[j].Flows += f.Connections
			hops[j].Encrypted = hops[j].Encrypted && f.Encrypted
			continue
		}
		at[key] = len(hops)
		hops = append(hops, audit.Hop{Source: key[0], Dest: key[1], Protocol: f.Protocol, Encrypted: f.Encrypted, Flows: f.Connections})
	}
	return hops
}

// rule is one check's conclusion about a flow.
type rule struct {
	id       string
	severity audit.Severity
	what     string // the title after "source → destination: "
	controls []audit.Control
	fix      string
}

// maxEvidence bounds the lines of one finding.
const maxEvidence = 12

// Findings turns flows into findings: one per rule and pair of endpoints
// (workloads when named), with the flows behind it as evidence.
func (r *Result) Findings() []audit.Finding {
	byKey := map[string]*audit.Finding{}
	var out []*audit.Finding
	for i := range r.Flows {
		f := &r.Flows[i]
		for _, ru := range rules(f) {
			k := strings.Join([]string{ru.id, ru.what, f.Source(), f.Dest(), fmt.Sprint(f.Port())}, "\x00")
			fd := byKey[k]
			if fd == nil {
				fd = newFinding(f, ru)
				byKey[k] = fd
				out = append(out, fd)
			}
			addEvidence(fd, f)
		}
	}
	res := make([]audit.Finding, 0, len(out))
	for _, f := range out {
		res = append(res, *f)
	}
	slices.SortStableFunc(res, func(a, b audit.Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.Title, b.Title))
	})
	return res
}

func newFinding(f *Flow, ru rule) *audit.Finding {
	src, dst := f.Source(), f.Dest()
	fd := &audit.Finding{
		Rule: ru.id, Severity: ru.severity, Title: src + " → " + dst + ": " + ru.what,
		Subject:  audit.Subject{Kind: "flow", Name: src + " → " + dst, Source: src, Dest: fmt.Sprintf("%s:%d", dst, f.Port())},
		Controls: ru.controls, Fix: ru.fix,
	}
	if f.ServerName != nil {
		fd.Subject.Namespace = f.ServerName.Namespace
	}
	return fd
}

func addEvidence(fd *audit.Finding, f *Flow) {
	switch n := len(fd.Evidence); {
	case n > maxEvidence:
		return
	case n == maxEvidence:
		fd.Evidence = append(fd.Evidence, "… more flows in the evidence file's data")
		return
	}
	line := fmt.Sprintf("%s → %s: %d connection(s), %d packets, %s, %s to %s", f.Client, f.Server, f.Connections,
		f.Packets, sizeString(f.Bytes), f.First.UTC().Format(time.RFC3339), f.Last.UTC().Format(time.RFC3339))
	if d := describe(&f.Verdict); d != "" {
		line += "; " + d
	}
	fd.Evidence = append(fd.Evidence, line)
	if f.Sample != "" {
		fd.Evidence = append(fd.Evidence, "sample (credentials masked): "+strings.ReplaceAll(f.Sample, "\n", " ⏎ "))
	}
	for _, n := range f.Notes {
		fd.Evidence = append(fd.Evidence, n)
	}
}

// describe sums up a verdict's parameters in one line.
func describe(v *Verdict) string {
	var parts []string
	if v.Upgrade != "" {
		parts = append(parts, "via "+v.Upgrade)
	}
	if t := v.TLS; t != nil {
		for _, kv := range [][2]string{{"", t.Version}, {"cipher ", t.CipherSuite}, {"group ", t.Group}, {"SNI ", t.SNI},
			{"ALPN ", t.ALPN}, {"client certificate ", t.ClientCert}, {"alert ", t.Alert}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+kv[1])
			}
		}
	}
	if v.Banner != "" {
		parts = append(parts, "banner "+v.Banner)
	}
	return strings.Join(parts, ", ")
}

// Fixes that recur.
const (
	fixMesh = "mesh both workloads with hopseal (sidecar or transparent mode) so this hop is mutual TLS 1.3"
)

var plaintextFixes = map[string]string{
	ProtoHTTP1:    "serve HTTPS, or " + fixMesh,
	ProtoHTTP2:    "serve HTTP/2 over TLS, or " + fixMesh,
	ProtoPostgres: "set ssl = on on the server, hostssl lines in pg_hba.conf and sslmode=verify-full in clients, or " + fixMesh,
	ProtoMySQL:    "set require_secure_transport = ON on the server and ssl-mode=VERIFY_IDENTITY in clients, or " + fixMesh,
	ProtoRedis:    "serve TLS (tls-port, and port 0 to close the plaintext one) with clients using --tls, or " + fixMesh,
	ProtoSMTP:     "require STARTTLS (or implicit TLS on port 465) on both sides, or " + fixMesh,
	ProtoText:     fixMesh + ", or use the protocol's TLS mode",
	ProtoDNS:      "use DNS over TLS (port 853) where names are sensitive, or " + fixMesh,
}

var encryptedControls = []audit.Control{audit.NISTSC8, audit.NISTSC8_1, audit.HIPAA312e1}

// rules lists what a flow's verdict means for an auditor.
func rules(f *Flow) []rule {
	v := &f.Verdict
	name := ProtocolName(v.Protocol)
	switch {
	case v.Protocol == ProtoNone:
		return nil
	case v.Protocol == ProtoOpaque:
		return []rule{{"capture/unrecognised", audit.Medium, "unrecognised protocol, encryption not proven", audit.InTransit,
			"find out what this port serves; if it is hopseal's mTLS, pass the port with --mesh-port; otherwise " + fixMesh}}
	case !v.Encrypted && v.Protocol == ProtoDNS:
		return []rule{{"capture/plaintext-dns", audit.Low, "plaintext DNS", []audit.Control{audit.NISTSC8}, plaintextFixes[ProtoDNS]}}
	case !v.Encrypted:
		ru := rule{"capture/plaintext-" + v.Protocol, audit.High, "plaintext " + name, audit.InTransit, plaintextFixes[v.Protocol]}
		if v.Cleartext {
			ru.severity, ru.what = audit.Critical, "plaintext "+name+" with credentials in the clear"
		}
		if ru.fix == "" {
			ru.fix = fixMesh
		}
		return []rule{ru}
	}
	return encryptedRules(v, name)
}

func encryptedRules(v *Verdict, name string) []rule {
	var out []rule
	what := name
	if d := strings.TrimSpace(strings.Join(nonEmpty(tlsVersion(v), groupOf(v)), ", ")); d != "" {
		what += " (" + d + ")"
	}
	controls := encryptedControls
	if v.Protocol == ProtoMesh {
		controls = append(slices.Clone(encryptedControls), audit.NISTSC23)
	}
	out = append(out, rule{"capture/encrypted", audit.Info, what, controls, ""})
	if v.Upgrade == "SSLRequest" || v.Upgrade == "STARTTLS" || v.Upgrade == "SSL" {
		out = append(out, rule{"capture/opportunistic-tls", audit.Low, name + " negotiates TLS in plaintext (" + v.Upgrade + ")",
			[]audit.Control{audit.NISTSC8_1, audit.PCI421},
			"make clients require TLS (sslmode=verify-full, ssl-mode=VERIFY_IDENTITY, smtp_tls_security_level=secure), so no one on the path can strip it, or " + fixMesh})
	}
	if strings.HasPrefix(v.Banner, "SSH-1.") && !strings.HasPrefix(v.Banner, "SSH-1.99") {
		out = append(out, rule{"capture/ssh-weak", audit.High, "SSH protocol 1", []audit.Control{audit.NISTSC8_1, audit.NISTSC13}, "allow only SSH 2 on the server"})
	}
	t := v.TLS
	if t == nil {
		return out
	}
	if len(t.Weak) > 0 {
		out = append(out, rule{"capture/tls-weak", audit.High, "weak TLS: " + strings.Join(t.Weak, "; "),
			[]audit.Control{audit.NISTSC8_1, audit.NISTSC13, audit.PCI421},
			"allow only TLS 1.2 with ECDHE and AEAD suites, or TLS 1.3, on the server; or " + fixMesh})
	}
	if t.ClientCert == certNotRequested && v.Protocol != ProtoMesh {
		out = append(out, rule{"capture/tls-no-client-auth", audit.Low, name + " without client authentication",
			[]audit.Control{audit.NISTSC23, audit.NISTIA3}, "require client certificates on the server, or " + fixMesh})
	}
	if t.Alert != "" {
		out = append(out, rule{"capture/tls-handshake-failed", audit.Info, name + " handshake refused (" + t.Alert + ")",
			[]audit.Control{audit.NISTSC8_1}, ""})
	}
	return out
}

func tlsVersion(v *Verdict) string {
	if v.TLS != nil {
		return v.TLS.Version
	}
	return ""
}

func groupOf(v *Verdict) string {
	if v.TLS != nil {
		return v.TLS.Group
	}
	return ""
}

func nonEmpty(s ...string) []string {
	return slices.DeleteFunc(s, func(x string) bool { return x == "" })
}
