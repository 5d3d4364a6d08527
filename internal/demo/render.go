package demo

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/proxy"
)

func writeHeader(w io.Writer, lines []string) {
	fmt.Fprintln(w, "hopseal demo: frontend → orders → payments, every hop over mutual TLS")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
	fmt.Fprintf(w, "  trust domain %s; a CA, three services and their proxies on 127.0.0.1\n", TrustDomain)
}

// Write prints the report section by section, each check under its section.
func (r *Report) Write(w io.Writer) {
	section := func(title string, info ...string) {
		fmt.Fprintf(w, "\n%s\n", title)
		for _, l := range info {
			fmt.Fprintf(w, "    %s\n", l)
		}
		r.writeChecks(w, title)
	}
	width := 0
	for _, s := range r.Services {
		width = max(width, len(s.ID))
	}
	var ids []string
	for _, s := range r.Services {
		ids = append(ids, fmt.Sprintf("%-9s %-*s  serial %.12s…, expires %s", s.Name, width, s.ID, s.Serial, s.NotAfter.Local().Format(time.TimeOnly)))
	}
	section(sectionIdentities, ids...)
	var traffic []string
	if r.Checkouts.Sample != "" {
		traffic = append(traffic, "GET /checkout → "+r.Checkouts.Sample)
	}
	section(sectionTraffic, traffic...)
	for _, h := range r.Hops {
		section(hopSection(h.From, h.To), hopInfo(h)...)
	}
	var refusals []string
	for _, f := range r.Refusals {
		refusals = append(refusals, fmt.Sprintf("%s → %s: %s", f.Name, f.Target, f.ClientSaw))
		if f.Decision != "" {
			refusals = append(refusals, fmt.Sprintf("  %s proxy: %s: %s", f.Target, f.Decision, f.Reason))
		}
	}
	section(sectionRefusals, refusals...)

	if err := r.Err(); err != nil {
		fmt.Fprintf(w, "\n✘ FAIL: %v\n", err)
		return
	}
	fmt.Fprintf(w, "\n✔ PASS: all %d checks passed in %s: every proxy-to-proxy hop is mutual TLS 1.3 and carries no plaintext; unauthorized callers are refused\n",
		len(r.Checks), r.Elapsed.Round(time.Millisecond))
}

func (r *Report) writeChecks(w io.Writer, section string) {
	for _, c := range r.Checks {
		if c.Section != section {
			continue
		}
		mark := "✔"
		if !c.OK {
			mark = "✘"
		}
		fmt.Fprintf(w, "  %s %s\n", mark, c.Text)
		if c.Hint != "" {
			fmt.Fprintf(w, "      %s\n", c.Hint)
		}
	}
}

const (
	sectionIdentities = "Identities (X.509-SVIDs issued by the CA)"
	sectionTraffic    = "Traffic"
	sectionRefusals   = "Refusals (payments admits only orders)"
)

func hopSection(from, to string) string { return fmt.Sprintf("Hop %s → %s", from, to) }

func hopInfo(h Hop) []string {
	w := max(len(h.ClientID), len(h.ServerID))
	return []string{
		fmt.Sprintf("client  %-*s  verified by the %s proxy", w, h.ClientID, h.To),
		fmt.Sprintf("server  %-*s  verified by the %s proxy", w, h.ServerID, h.From),
		fmt.Sprintf("%s · %s · key exchange %s", h.ClientTLS.Version, h.ClientTLS.CipherSuite, h.ClientTLS.Group),
		fmt.Sprintf("%d connections · app bytes %d → %d ← · wire bytes %d → %d ← in %d TLS records",
			h.Flows, h.AppUp, h.AppDown, h.Wire.Up, h.Wire.Down, h.Wire.Records),
	}
}

// writeEndpoints tells the user what to try while the demo keeps running.
func (d *Demo) writeEndpoints(w io.Writer) {
	fmt.Fprintln(w, "\nRunning until Ctrl-C. Try:")
	fmt.Fprintf(w, "  curl http://%s/checkout          (the frontend app: the edge, plaintext on loopback)\n", d.apps[Frontend].addr())
	fmt.Fprintf(w, "  CA issuer (gRPC over TLS)     %s\n", d.caAddr)
	fmt.Fprintf(w, "  CA trust bundle               https://%s/bundle.pem  (curl -k: the CA's certificate names a SPIFFE ID, not a host)\n", d.bundleAddr)
	for _, name := range services {
		if a := d.sidecars[name].AdminAddr(); a != nil {
			fmt.Fprintf(w, "  %-9s proxy metrics       http://%s/metrics\n", name, a)
		}
	}
	for _, h := range d.hops {
		fmt.Fprintf(w, "  %s → %s wire tap  %s (relays to the %s proxy)\n", h.From, h.To, h.wire.Addr(), h.To)
	}
	fmt.Fprintln(w, "Each connection a proxy accepts is printed below; --verbose shows the CA's and the proxies' logs.")
}

// follow prints every flow an inbound proxy reports from now on.
func (d *Demo) follow(w io.Writer) {
	for _, h := range d.hops {
		h.wire.StopRecording()
		h.plain.StopRecording()
	}
	// Called with the flow log's lock held, so lines never interleave.
	d.flows.follow(func(f ServiceFlow) {
		if f.Direction == proxy.Inbound {
			fmt.Fprintln(w, flowLine(f))
		}
	})
}

func flowLine(f ServiceFlow) string {
	peer := "(no identity)"
	if !f.Peer.ID.IsZero() {
		peer = f.Peer.ID.String()
	}
	line := fmt.Sprintf("%s %s ← %s: %s", time.Now().Format(time.TimeOnly), f.Service, peer, f.Decision)
	if f.Decision == proxy.Allow {
		return line + fmt.Sprintf(" · %s %s %s · %d bytes in, %d out", f.Peer.TLS.Version, f.Peer.TLS.CipherSuite, f.Peer.TLS.Group, f.BytesUp, f.BytesDown)
	}
	return line + " · " + strings.TrimSpace(f.Reason)
}
