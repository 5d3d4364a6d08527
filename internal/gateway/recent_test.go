package gateway_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptrace"
	"testing"

	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/telemetry"
)

// TestConnections: /connections lists each traced request with the mesh
// connection it took (HTTP/1 and cleartext HTTP/2 backends alike) and its
// client connection, whose TLS binding is the one the client derives from
// the same session; a header that is not a short token is not recorded.
func TestConnections(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	api := e.meshServer("spiffe://demo.local/ns/shop/sa/api", gwID, nil, echo("api"))
	g := e.start(terminateFile(e, web, api, ""))
	c := e.client(g.addr("https"), false, nil)
	tests := []struct {
		path, trace, want, peer string
	}{
		{"/orders", "trace-http1", "trace-http1", "spiffe://demo.local/ns/shop/sa/web"},
		{"/api/items", "trace-h2c", "trace-h2c", "spiffe://demo.local/ns/shop/sa/api"},
		{"/orders", "not a token!", "", "spiffe://demo.local/ns/shop/sa/web"},
	}
	for _, tc := range tests {
		var binding, local string
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			binding = gateway.TLSBinding(info.Conn.(*tls.Conn).ConnectionState())
			local = info.Conn.LocalAddr().String()
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, "https://shop.example.com"+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(gateway.TraceHeader, tc.trace)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.CloseIdleConnections()

		recs := connections(t, g)
		var rq, conn *telemetry.Record
		for i := range recs {
			if recs[i].Kind == telemetry.KindRequest && recs[i].Path == tc.path && recs[i].Client == local {
				rq = &recs[i]
			}
		}
		if rq == nil || rq.Trace != tc.want || rq.Status != 200 || rq.Upstream == nil {
			t.Fatalf("%s: request record %+v, want trace %q and the backend connection", tc.path, rq, tc.want)
		}
		if u := rq.Upstream; u.Security != "mutual_tls" || u.PeerID != tc.peer || u.TLSVersion != "TLS 1.3" || u.Local == "" {
			t.Errorf("%s: backend connection %+v, want mutual TLS to %s", tc.path, u, tc.peer)
		}
		for i := range recs {
			if recs[i].ID == rq.Conn {
				conn = &recs[i]
			}
		}
		if conn == nil || conn.Kind != telemetry.KindConnection || conn.TLSBinding == "" || conn.TLSBinding != binding || conn.Security != "tls" {
			t.Errorf("%s: connection record %+v, want this client's TLS binding %s", tc.path, conn, binding)
		}
	}
}

func connections(t *testing.T, g *running) []telemetry.Record {
	t.Helper()
	admin := g.gw.AdminAddr().String()
	resp, body := get(t, plainClient(t, admin), "http://"+admin+telemetry.ConnectionsPath)
	var doc telemetry.Connections
	if err := json.Unmarshal([]byte(body), &doc); resp.StatusCode != 200 || err != nil {
		t.Fatalf("%s: %d %v", telemetry.ConnectionsPath, resp.StatusCode, err)
	}
	return doc.Records
}
