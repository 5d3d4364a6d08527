package gateway_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/wire"
)

// TestHopByHop sends requests carrying plaintext markers from a client
// pod through haproxy and the gateway to meshed apps, once with haproxy as
// a network load balancer (TCP, PROXY v2; a terminate route and a
// passthrough route to an app serving its own TLS) and once as an
// application load balancer (its own certificate, then TLS with a client
// certificate to the gateway). On every link of the capture, every byte is
// TLS and no marker shows; the marked bytes do show inside the web pod,
// between its proxy and its app, where they never touch a network. The
// identities are checked where each is decided, and `hopseal trace` must
// print the same chain.
func TestHopByHop(t *testing.T) {
	for _, mode := range []string{nlb, alb} {
		t.Run(mode, func(t *testing.T) {
			e := newEdge(t, mode)
			hosts := []string{shopHost}
			if mode == nlb {
				hosts = append(hosts, payHost)
			}
			var all [][]byte
			for _, host := range hosts {
				all = append(all, e.transfer(t, host)...)
			}
			e.checkRequestLog(t)
			for _, host := range hosts {
				out := e.trace(t, host)
				t.Logf("hopseal trace https://%s/ (%s):\n%s", host, mode, out)
				e.checkTrace(t, host, out)
			}
			// Connections end, and are logged, once the load balancer
			// (which keeps them for reuse) and then the gateway stop.
			e.haproxy.Stop()
			e.checkConnectionLogs(t)
			e.gateway.Stop()
			e.checkPeers(t)
			conns := e.capture.WaitConns(t, 20*time.Second, "every connection between pods ended", e.settled)
			e.capture.Stop(t)
			summary := e.checkWire(t, conns, all)
			t.Logf("the wire, link by link (%s):\n  %s", mode, strings.Join(summary, "\n  "))

			e.appLoopback.proc.Stop()
			if found := wire.FindMarkers(e.appLoopback.payload(t), all...); len(found) == 0 {
				t.Fatal("the web pod's loopback shows no marker: the capture cannot tell plaintext from ciphertext")
			}
		})
	}
}

// transfer posts marked bytes to host and checks the answer; it returns
// the markers that crossed (up and down).
func (e *edge) transfer(t *testing.T, host string) [][]byte {
	t.Helper()
	a := e.webApp
	if host == payHost {
		a = e.payApp
	}
	up := markers("UP-"+host, 4)
	body := markedBody(up)
	status, got := e.post(t, host, "/orders", body)
	down := downMarkers(a.name)
	if status != 200 || !bytes.HasSuffix(got, body) || len(wire.FindMarkers(got, down...)) != len(down) {
		t.Fatalf("POST to %s: %d, %d bytes; want 200 with the app's markers and the body echoed", host, status, len(got))
	}
	reqs := a.requests()
	last := reqs[len(reqs)-1]
	if !bytes.Equal(last.Body, body) {
		t.Fatalf("the %s app received %d bytes, want the %d sent", a.name, len(last.Body), len(body))
	}
	wantXFF := e.client.IP.String()
	if e.mode == alb { // the ALB's header, with the ALB appended
		wantXFF += ", " + e.lb.IP.String()
	}
	if host == shopHost && last.XFF != wantXFF {
		t.Errorf("the web app saw X-Forwarded-For %q, want %s", last.XFF, wantXFF)
	}
	return append(up, down...)
}

// checkRequestLog: the gateway logs the client pod's address (from the
// PROXY header, or the ALB's X-Forwarded-For), not the load balancer's.
func (e *edge) checkRequestLog(t *testing.T) {
	t.Helper()
	req := e.gateway.WaitLogMatch(t, "http request", 10*time.Second, func(l map[string]any) bool {
		return testenv.Str(l, "route") == shopHost && testenv.Str(l, "path") == "/orders"
	})
	if h := hostOf(testenv.Str(req, "client")); h != e.client.IP.String() {
		t.Errorf("the gateway's request line names client %q, want the client pod %s", testenv.Str(req, "client"), e.client.IP)
	}
}

// checkConnectionLogs: the gateway's connection lines name the load
// balancer as the TCP peer, and as the client the client pod behind the
// NLB (PROXY header) or the ALB itself (whose connections carry many
// clients' requests); behind the ALB, also its client certificate.
func (e *edge) checkConnectionLogs(t *testing.T) {
	t.Helper()
	conn := e.gateway.WaitLogMatch(t, "connection", 10*time.Second, func(l map[string]any) bool {
		return testenv.Str(l, "route") == shopHost
	})
	if h, _, _ := net.SplitHostPort(testenv.Str(conn, "source")); h != e.lb.IP.String() {
		t.Errorf("the gateway's connection line names source %q, want the load balancer %s", testenv.Str(conn, "source"), e.lb.IP)
	}
	if h, want := hostOf(testenv.Str(conn, "client")), map[string]string{nlb: e.client.IP.String(), alb: e.lb.IP.String()}[e.mode]; h != want {
		t.Errorf("the gateway's connection line names client %q, want %s", testenv.Str(conn, "client"), want)
	}
	if want := map[string]string{nlb: "", alb: e.lbCert}[e.mode]; testenv.Str(conn, "client_cert") != want {
		t.Errorf("the gateway's connection line has client_cert %q, want %q", testenv.Str(conn, "client_cert"), want)
	}
	if e.mode == nlb {
		pay := e.gateway.WaitLogMatch(t, "connection", 10*time.Second, testenv.Fields("route", payHost, "mode", "passthrough"))
		if h, _, _ := net.SplitHostPort(testenv.Str(pay, "client")); h != e.client.IP.String() || testenv.Str(pay, "peer_id") != e.pay.ID {
			t.Errorf("the gateway's passthrough line: %v; want client %s and peer %s", pay, e.client.IP, e.pay.ID)
		}
	}
}

// checkPeers, once the gateway has stopped and so ended its pooled
// connections: each pod's proxy verified the gateway's SPIFFE ID over
// mutual TLS and let it in.
func (e *edge) checkPeers(t *testing.T) {
	t.Helper()
	pods := []*testenv.MeshPod{e.web}
	if e.mode == nlb {
		pods = append(pods, e.pay)
	}
	for _, p := range pods {
		line := p.WaitConnection(t, testenv.Fields("direction", "inbound", "peer_id", e.gatewayID))
		for k, v := range map[string]string{"security": "mutual_tls", "decision": "allow", "tls_version": "TLS 1.3"} {
			if testenv.Str(line, k) != v {
				t.Errorf("pod %s: the proxy's line for the gateway has %s=%q, want %q: %v", p.Name, k, testenv.Str(line, k), v, line)
			}
		}
		if h, _, _ := net.SplitHostPort(testenv.Str(line, "source")); h != e.gw.IP.String() {
			t.Errorf("pod %s: the gateway's connection came from %q, want the gateway pod %s", p.Name, testenv.Str(line, "source"), e.gw.IP)
		}
	}
}

// trace runs `hopseal trace` in the client pod, reaching the admin
// endpoints (each on its pod's loopback) through port forwards.
func (e *edge) trace(t *testing.T, host string) string {
	t.Helper()
	args := []string{"trace", "https://" + host + "/",
		"--resolve", fmt.Sprintf("%s:%d:%s", host, lbPort, e.lb.IP), "--cacert", e.roots[host],
		"--gateway-admin", portForward(t, e.client.Pod, e.gw.Pod, gatewayAdm),
		"--proxy-admin", portForward(t, e.client.Pod, e.web.Pod, testenv.MeshAdminAddr),
		"--proxy-admin", portForward(t, e.client.Pod, e.pay.Pod, testenv.MeshAdminAddr)}
	out, err := e.client.Run(t, testenv.Binary(t), args...)
	if err != nil {
		t.Fatalf("hopseal trace: %v\n%s", err, out)
	}
	return out
}

// checkTrace asserts the printed chain, part by part in order.
func (e *edge) checkTrace(t *testing.T, host, out string) {
	t.Helper()
	client, lb, gw := "client "+e.client.IP.String()+":", e.lb.Addr(lbPort), e.gw.Addr(gatewayPort)
	dest, destID := e.web.Addr(webPort), e.web.ID
	if host == payHost {
		dest, destID = e.pay.Addr(payPort), e.pay.ID
	}
	want := []string{"hop 1: " + client, "→ load balancer " + lb, "TLS 1.3", "TLS (encrypted)"}
	switch {
	case host == payHost:
		want = append(want, "server "+payHost, "whether the load balancer opens it is not visible to hopseal",
			"hop 2: load balancer "+e.lb.IP.String()+":", "→ gateway "+gw+" (https)", "TLS (relayed) (encrypted)")
	case e.mode == nlb:
		want = append(want, "server "+shopHost, "the gateway holds the same TLS session: the load balancer does not decrypt",
			"hop 2: load balancer "+e.lb.IP.String()+":", "→ gateway "+gw+" (https)", "TLS (relayed) (encrypted)")
	default:
		want = append(want, "server "+shopHost, "TLS ends at the load balancer",
			"hop 2: load balancer "+e.lb.IP.String()+":", "→ gateway "+gw+" (https)", "TLS 1.3, http1", "mTLS (encrypted)",
			"server "+shopHost+"; client certificate "+e.lbCert)
	}
	hint := map[string]string{shopHost: "http1", payHost: "tls"}[host]
	if e.mode == nlb || host == payHost {
		want = append(want, client, "(PROXY header)")
	} else {
		want = append(want, "client "+e.client.IP.String()+" (X-Forwarded-For from a trusted forwarder)")
	}
	want = append(want,
		"hop 3: gateway "+e.gw.IP.String()+":", "→ "+dest, "TLS 1.3, hopseal/1-"+hint, "mTLS (encrypted)",
		e.gatewayID+" → "+destID+", both verified", "the proxy of "+destID+" saw peer "+e.gatewayID+" over TLS 1.3",
		"hop 4: proxy "+destID+" → app "+dest)
	if host == payHost {
		want = append(want, "TLS (the client's own, end to end) (encrypted)")
	} else {
		want = append(want, "plaintext (local: never on a network)")
	}
	want = append(want, "every hop that crosses a network is encrypted")
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("hopseal trace for %s lacks %q (or has it out of order)", host, w)
		}
		rest = rest[i+len(w):]
	}
}

// hostOf is an address's host, with or without a port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
