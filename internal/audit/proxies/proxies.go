// Package proxies turns what hopseal's proxies and gateways saw into audit
// evidence: their recent connections, read from their admin endpoints,
// become hops (who talked to whom, encrypted or not) and findings for the
// plaintext ones they let through (permissive mode, allowed egress).
package proxies

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/telemetry"
	"github.com/hopseal/hopseal/internal/trace"
)

// EvidenceKind is the kind of the evidence proxies give.
const EvidenceKind = "telemetry"

// Collect reads each admin endpoint (host:port) through c (nil: a client
// with a 10 s timeout) and returns the evidence. An endpoint that cannot be
// read makes the evidence partial, not wrong.
func Collect(ctx context.Context, c *http.Client, admins []string, now time.Time) audit.Evidence {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	views := make([]trace.ProxyView, 0, len(admins))
	for _, a := range admins {
		views = append(views, trace.FetchProxy(ctx, c, a))
	}
	return FromViews(views, now)
}

// FromViews is Collect's judgement, apart from its I/O.
func FromViews(views []trace.ProxyView, now time.Time) audit.Evidence {
	ev := audit.Evidence{Kind: EvidenceKind, Version: audit.EvidenceVersion, Taken: now.UTC().Format(time.RFC3339)}
	var sources, partial []string
	hops := map[[3]string]int{}
	findings := map[string]int{}
	for _, v := range views {
		sources = append(sources, v.Admin)
		if v.Err != nil {
			partial = append(partial, v.Err.Error())
			continue
		}
		self := cmp.Or(v.SPIFFEID, v.Admin)
		for _, r := range v.Records {
			if r.Kind != telemetry.KindConnection || r.Result == "deny" || r.Result == "error" {
				continue // refused connections carried nothing
			}
			src, dst := ends(self, r)
			encrypted := r.Security == "mutual_tls" || r.Security == "tls"
			proto := protocol(r)
			key := [3]string{src, dst, proto}
			if i, ok := hops[key]; ok {
				ev.Hops[i].Flows++
			} else {
				hops[key] = len(ev.Hops)
				ev.Hops = append(ev.Hops, audit.Hop{Source: src, Dest: dst, Protocol: proto, Encrypted: encrypted, Flows: 1})
			}
			if encrypted {
				continue
			}
			f := plaintextFinding(v.Admin, self, src, dst, r)
			if i, ok := findings[f.Rule+f.Title]; ok {
				if len(ev.Findings[i].Evidence) < 10 {
					ev.Findings[i].Evidence = append(ev.Findings[i].Evidence, f.Evidence...)
				}
				continue
			}
			findings[f.Rule+f.Title] = len(ev.Findings)
			ev.Findings = append(ev.Findings, f)
		}
	}
	ev.Source = strings.Join(sources, ", ")
	ev.Partial = strings.Join(partial, "; ")
	return ev
}

// ends names a connection's two ends from the proxy's side: the peer by
// its SPIFFE ID when it proved one, else by address.
func ends(self string, r telemetry.Record) (src, dst string) {
	peer := r.PeerID
	if r.Direction == "outbound" {
		return self, cmp.Or(peer, r.Destination)
	}
	return cmp.Or(peer, r.Client, hostOf(r.Source)), self
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

func protocol(r telemetry.Record) string {
	app := cmp.Or(r.Protocol, "tcp")
	switch r.Security {
	case "mutual_tls":
		return strings.TrimSpace("hopseal mTLS " + r.TLSVersion + " (" + app + ")")
	case "tls":
		return "app TLS (" + app + ")"
	}
	return "plaintext " + app
}

func plaintextFinding(admin, self, src, dst string, r telemetry.Record) audit.Finding {
	f := audit.Finding{
		Severity: audit.High, Controls: audit.InTransit,
		Subject: audit.Subject{Kind: "flow", Name: src + " → " + dst, Source: src, Dest: dst},
		Evidence: []string{fmt.Sprintf("%s (admin %s) saw a plaintext %s connection from %s to %s at %s, protocol %s",
			self, admin, cmp.Or(r.Direction, "gateway"), r.Source, r.Destination, r.Start.UTC().Format(time.RFC3339), cmp.Or(r.Protocol, "tcp"))},
	}
	if r.Direction == "outbound" {
		f.Rule = "telemetry/plaintext-egress"
		f.Severity = audit.Medium
		f.Title = fmt.Sprintf("%s → %s: plaintext egress allowed by the proxy", src, dst)
		f.Fix = "bring the destination into the mesh, or have the app use TLS to it; to forbid plaintext egress set transparent.egress: deny"
		return f
	}
	f.Rule = "telemetry/plaintext-accepted"
	f.Title = fmt.Sprintf("%s → %s: plaintext accepted (permissive mode)", src, dst)
	f.Fix = "mesh the client (inject its proxy), then set the workload's mTLS mode to strict"
	return f
}
