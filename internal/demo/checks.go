package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/proxy"
)

// What every proxy-to-proxy hop must negotiate.
const (
	WantTLSVersion = "TLS 1.3"
	WantGroup      = "X25519MLKEM768"
)

// Check drives traffic through the demo and checks every hop. It only reads
// the demo, so a failed check never stops the run: the report says it all.
func (d *Demo) Check(ctx context.Context) *Report {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := &Report{}
	d.checkIdentities(r)
	d.checkTraffic(ctx, r)
	for _, h := range d.hops {
		d.checkHop(ctx, r, h)
	}
	d.checkRefusals(ctx, r)
	r.Elapsed = time.Since(start)
	return r
}

func (d *Demo) checkIdentities(r *Report) {
	var problems []string
	for _, name := range services {
		svid, err := d.sidecars[name].Agent().GetX509SVID()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		leaf := svid.Certificates[0]
		r.Services = append(r.Services, Service{Name: name, ID: svid.ID.String(), Serial: pki.SerialString(leaf.SerialNumber), NotAfter: leaf.NotAfter})
		if svid.ID != ServiceID(name) {
			problems = append(problems, fmt.Sprintf("%s holds %s, want %s", name, svid.ID, ServiceID(name)))
		}
	}
	r.add(sectionIdentities, len(problems) == 0,
		fmt.Sprintf("each proxy attested with a single-use join token and holds its own SVID (P-256, valid %s)", strings.TrimSuffix(svidTTL.String(), "0m0s")),
		strings.Join(problems, "; "))
}

// checkTraffic places orders through the frontend app, as a user would.
func (d *Demo) checkTraffic(ctx context.Context, r *Report) {
	client := httpClient()
	url := "http://" + d.apps[Frontend].addr() + "/checkout"
	r.Checkouts.Want = d.opts.Checkouts
	for range d.opts.Checkouts {
		body, err := get(ctx, client, url)
		switch {
		case err != nil:
			r.Checkouts.Errors = appendNew(r.Checkouts.Errors, err.Error())
		case !strings.Contains(body, Authorized):
			r.Checkouts.Errors = appendNew(r.Checkouts.Errors, "unexpected answer: "+body)
		default:
			r.Checkouts.OK++
			r.Checkouts.Sample = strings.TrimSpace(body)
		}
	}
	c := r.Checkouts
	r.add(sectionTraffic, c.OK == c.Want,
		fmt.Sprintf("%d of %d checkouts answered %s through frontend → orders → payments", c.OK, c.Want, Authorized),
		strings.Join(c.Errors, "; "))
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

func (d *Demo) checkHop(ctx context.Context, r *Report, h *hop) {
	// Flows and captures complete as the responses do: a few milliseconds.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	section := hopSection(h.From, h.To)
	out := Hop{From: h.From, To: h.To}
	problems := d.checkHopFlows(ctx, &out, h)
	r.add(section, len(problems) == 0,
		fmt.Sprintf("mutual %s with %s on every connection; each proxy verified the other's SPIFFE ID", WantTLSVersion, WantGroup),
		strings.Join(problems, "; "))

	var wireErr, plainErr error
	if wireErr = h.wire.Wait(ctx, d.opts.Checkouts); wireErr == nil {
		out.Wire = SummariseWire(h.wire.Captures(), Markers())
	}
	if plainErr = h.plain.Wait(ctx, d.opts.Checkouts); plainErr == nil {
		out.Plain = SummarisePlain(h.plain.Captures(), Markers())
	}
	w := out.Wire
	r.add(section, wireErr == nil && w.Connections > 0 && len(w.Leaked) == 0 && len(w.Problems) == 0,
		fmt.Sprintf("wire tap between the proxies: %d connections, %d bytes, all TLS records (%d handshake, %d application data); none of the %d plaintext markers",
			w.Connections, w.Up+w.Down, w.Handshake, w.Data, len(Markers())),
		joinErrs(wireErr, w.Problems, ""))
	p := out.Plain
	r.add(section, plainErr == nil && len(p.Found) == len(Markers()),
		fmt.Sprintf("contrast, app → proxy on loopback: %d of %d markers in plaintext (e.g. %q), so the wire check would catch a leak",
			len(p.Found), len(Markers()), CardNumber),
		joinErrs(plainErr, nil, "the app leg should carry every marker; without them the wire check proves nothing"))
	r.Hops = append(r.Hops, out)
}

// checkHopFlows compares what the client's outbound proxy and the server's
// inbound proxy each reported for the hop's connections.
func (d *Demo) checkHopFlows(ctx context.Context, out *Hop, h *hop) []string {
	n := d.opts.Checkouts
	client, err1 := d.flows.wait(ctx, n, "the "+h.From+" proxy (outbound)", func(f ServiceFlow) bool {
		return f.Service == h.From && f.Direction == proxy.Outbound && f.Listener == h.To
	})
	server, err2 := d.flows.wait(ctx, n, "the "+h.To+" proxy (inbound)", func(f ServiceFlow) bool {
		return f.Service == h.To && f.Direction == proxy.Inbound
	})
	var problems []string
	for _, err := range []error{err1, err2} {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	problems = append(problems, checkFlows(client, ServiceID(h.To).String(), "the "+h.From+" proxy")...)
	problems = append(problems, checkFlows(server, ServiceID(h.From).String(), "the "+h.To+" proxy")...)
	if len(client) > 0 {
		out.ServerID, out.ClientTLS = client[0].Peer.ID.String(), client[0].Peer.TLS
	}
	if len(server) > 0 {
		out.ClientID, out.ServerTLS = server[0].Peer.ID.String(), server[0].Peer.TLS
	}
	out.Flows = min(len(client), len(server))
	for _, f := range client {
		out.AppUp += f.BytesUp
		out.AppDown += f.BytesDown
	}
	return problems
}

// checkFlows wants every flow allowed, with the expected peer, TLS 1.3 and
// the hybrid post-quantum key exchange.
func checkFlows(flows []ServiceFlow, wantPeer, who string) []string {
	var problems []string
	for _, f := range flows {
		switch {
		case f.Decision != proxy.Allow:
			problems = appendNew(problems, fmt.Sprintf("%s: decision %s (%s)", who, f.Decision, f.Reason))
		case f.Peer.ID.String() != wantPeer:
			problems = appendNew(problems, fmt.Sprintf("%s verified %s, want %s", who, f.Peer.ID, wantPeer))
		case f.Peer.TLS.Version != WantTLSVersion:
			problems = appendNew(problems, fmt.Sprintf("%s negotiated %s, want %s", who, f.Peer.TLS.Version, WantTLSVersion))
		case f.Peer.TLS.Group != WantGroup:
			problems = appendNew(problems, fmt.Sprintf("%s negotiated key exchange %s, want %s", who, f.Peer.TLS.Group, WantGroup))
		}
	}
	return problems
}

func joinErrs(err error, problems []string, hint string) string {
	var all []string
	if err != nil {
		all = append(all, err.Error())
	}
	all = append(all, problems...)
	if hint != "" {
		all = append(all, hint)
	}
	return strings.Join(all, "; ")
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
