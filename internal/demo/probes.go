package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// checkRefusals sends payments two callers it must refuse: a workload with a
// valid SVID that is not on the allow list, and a client without TLS.
func (d *Demo) checkRefusals(ctx context.Context, r *Report) {
	target := d.sidecars[Payments].Addr(Payments).String()
	served := d.apps[Payments].served.Load()

	intruder := Refusal{Name: Intruder, Caller: ServiceID(Intruder).String(), Target: Payments}
	local, err := d.probeIntruder(ctx, target, &intruder)
	d.judge(ctx, r, &intruder, local, err, proxy.Deny,
		fmt.Sprintf("%s (valid SVID %s) → payments: authenticated, then refused by the payments allow list", Intruder, intruder.Caller))

	plain := Refusal{Name: "plaintext client", Caller: "(no TLS)", Target: Payments}
	local, err = probe(ctx, target, nil, &plain)
	d.judge(ctx, r, &plain, local, err, proxy.Fail, "plaintext client → payments: refused before any byte reached the app")

	n := d.apps[Payments].served.Load() - served
	r.add(sectionRefusals, n == 0, "the payments app received none of the refused requests",
		fmt.Sprintf("it answered %d requests during the refusal probes", n))
}

// judge records a probe's outcome with the decision payments' proxy took.
func (d *Demo) judge(ctx context.Context, r *Report, ref *Refusal, local string, probeErr error, want proxy.Decision, text string) {
	var problems []string
	if probeErr != nil {
		problems = append(problems, probeErr.Error())
	}
	if ref.Answered {
		problems = append(problems, "the caller got an HTTP answer: "+ref.ClientSaw)
	}
	if local != "" {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		flows, err := d.flows.wait(ctx, 1, "the payments proxy, for the "+ref.Name+" connection", func(f ServiceFlow) bool {
			return f.Service == Payments && f.Direction == proxy.Inbound && f.Source == local
		})
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			ref.Decision, ref.Reason = string(flows[0].Decision), flows[0].Reason
		}
		if err == nil && flows[0].Decision != want {
			problems = append(problems, fmt.Sprintf("the payments proxy decided %s (%s), want %s", ref.Decision, ref.Reason, want))
		}
	}
	r.Refusals = append(r.Refusals, *ref)
	r.add(sectionRefusals, len(problems) == 0, text, strings.Join(problems, "; "))
}

// probeIntruder obtains a real SVID for the intruder from the CA and calls
// payments over mutual TLS with it.
func (d *Demo) probeIntruder(ctx context.Context, target string, ref *Refusal) (string, error) {
	tok, err := d.token(Intruder)
	if err != nil {
		return "", err
	}
	a, err := agent.New(agent.Config{
		TrustDomain: ServiceID(Intruder).TrustDomain(), ExpectedID: ServiceID(Intruder), CAAddress: d.caAddr,
		CARoots: d.roots, JoinToken: tok, Log: d.log.With("service", Intruder),
	})
	if err != nil {
		return "", err
	}
	defer a.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Start(sctx); err != nil {
		return "", fmt.Errorf("intruder SVID: %w", err)
	}
	conf := tlsconf.MTLSClient(a, a, tlsconf.AuthorizeID(ServiceID(Payments)), time.Now)
	return probe(ctx, target, conf, ref)
}

// chargeRequestBytes is a complete HTTP request to payments, card included.
func chargeRequestBytes() []byte {
	body := fmt.Sprintf(`{"order_id":%q,"card":%q,"amount_cents":1}`, OrderID, CardNumber)
	return fmt.Appendf(nil, "POST /charge HTTP/1.1\r\nHost: payments\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// probe dials target (over TLS when conf is set), sends a charge and records
// what came back. It returns the local address, which names the connection
// in the target proxy's flow report.
func probe(ctx context.Context, target string, conf *tls.Config, ref *Refusal) (string, error) {
	dialer := net.Dialer{Timeout: 5 * time.Second}
	raw, err := dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		return "", fmt.Errorf("dial payments' proxy: %w", err)
	}
	defer raw.Close()
	local := raw.LocalAddr().String()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn, saw := raw, "plaintext request sent; "
	if conf != nil {
		tc := tls.Client(raw, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			ref.ClientSaw = "TLS handshake failed: " + err.Error()
			return local, nil
		}
		v, _, g := tlsconf.Describe(tc.ConnectionState())
		conn, saw = tc, fmt.Sprintf("%s handshake completed (%s), request sent; ", v, g)
	}
	if _, err := conn.Write(chargeRequestBytes()); err != nil {
		ref.ClientSaw = saw + "sending the request failed: " + shortErr(err)
		return local, nil
	}
	resp, err := io.ReadAll(io.LimitReader(conn, 4096))
	switch {
	case bytes.HasPrefix(resp, []byte("HTTP/")):
		ref.Answered = true
		ref.ClientSaw = saw + "answered: " + strings.SplitN(string(resp), "\r\n", 2)[0]
	case err != nil:
		ref.ClientSaw = fmt.Sprintf("%s%s, %d bytes back", saw, shortErr(err), len(resp))
	default:
		ref.ClientSaw = fmt.Sprintf("%sconnection closed, %d bytes back", saw, len(resp))
	}
	return local, nil
}

// shortErr drops the address prefix of a net.OpError: the reader wants
// "connection reset by peer".
func shortErr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
