package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/telemetry"
)

// Observed is everything gathered about one request.
type Observed struct {
	URL     string
	TraceID string // the X-Hopseal-Trace header the request carried
	Client  ClientSide
	Gateway *GatewayView // nil when no gateway admin was given
	Proxies []ProxyView
}

// GatewayView is what the gateway's admin endpoint told.
type GatewayView struct {
	Admin   string
	Status  gateway.Status
	Records []telemetry.Record
	Err     error // the admin endpoint could not be read
}

// ProxyView is what a proxy's admin endpoint told.
type ProxyView struct {
	Admin    string
	SPIFFEID string
	Records  []telemetry.Record
	Err      error
}

// Complete reports whether every record the chain needs has been found:
// the gateway's request (or connection) and, for its backend connection,
// the proxy that received it, when proxies were given.
func (o Observed) Complete() bool {
	if o.Gateway == nil {
		return true
	}
	conn, req := o.gatewayRecords()
	if conn == nil || (o.Client.TLS != nil && conn.Mode != "passthrough" && req == nil) {
		return false
	}
	up := upstreamOf(conn, req)
	if up == nil || up.Security != "mutual_tls" || len(o.Proxies) == 0 {
		return true // no mesh backend: no proxy to wait for
	}
	_, flow := o.proxyFlow(up.Local)
	return flow != nil
}

func fetchGateway(ctx context.Context, c *http.Client, admin string) GatewayView {
	v := GatewayView{Admin: admin}
	if v.Err = getJSON(ctx, c, admin, "/status", &v.Status); v.Err != nil {
		return v
	}
	v.Records, v.Err = fetchRecords(ctx, c, admin)
	return v
}

// FetchProxy reads what a proxy's admin endpoint (host:port) says of
// itself and of its recent connections; Err says why it could not.
func FetchProxy(ctx context.Context, c *http.Client, admin string) ProxyView {
	return fetchProxy(ctx, c, admin)
}

func fetchProxy(ctx context.Context, c *http.Client, admin string) ProxyView {
	v := ProxyView{Admin: admin}
	var st struct {
		SPIFFEID string `json:"spiffe_id"`
	}
	if v.Err = getJSON(ctx, c, admin, "/status", &st); v.Err != nil {
		return v
	}
	v.SPIFFEID = st.SPIFFEID
	v.Records, v.Err = fetchRecords(ctx, c, admin)
	return v
}

func fetchRecords(ctx context.Context, c *http.Client, admin string) ([]telemetry.Record, error) {
	var doc telemetry.Connections
	err := getJSON(ctx, c, admin, telemetry.ConnectionsPath, &doc)
	return doc.Records, err
}

// getJSON decodes the JSON at path on an admin endpoint (host:port, or a
// URL's scheme and host).
func getJSON(ctx context.Context, c *http.Client, admin, path string, v any) error {
	base := admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("admin endpoint %q: %w", admin, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("admin endpoint %s: %w", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin endpoint %s: GET %s answered %s (is this a hopseal admin endpoint of a version with %s?)", admin, path, resp.Status, path)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("admin endpoint %s: GET %s: %w", admin, path, err)
	}
	return nil
}

// gatewayRecords finds the gateway's records of this request: the request
// by its trace header, its connection by ID; or, without a request (a
// passthrough route, where the gateway never sees HTTP), the connection
// whose client is this client's address.
func (o Observed) gatewayRecords() (conn, req *telemetry.Record) {
	recs := o.Gateway.Records
	for i := range recs {
		if recs[i].Kind == telemetry.KindRequest && recs[i].Trace == o.TraceID {
			req = &recs[i]
		}
	}
	for i := range recs {
		r := &recs[i]
		if r.Kind != telemetry.KindConnection {
			continue
		}
		if req != nil && r.ID == req.Conn || req == nil && (r.Client == o.Client.Local || r.Source == o.Client.Local) {
			conn = r
		}
	}
	return conn, req
}

// upstreamOf is the gateway's connection to the backend: a request's, or
// a passthrough connection's.
func upstreamOf(conn, req *telemetry.Record) *telemetry.Upstream {
	if req != nil && req.Upstream != nil {
		return req.Upstream
	}
	if conn != nil {
		return conn.Upstream
	}
	return nil
}

// proxyFlow finds the inbound flow a proxy saw from source.
func (o Observed) proxyFlow(source string) (*ProxyView, *telemetry.Record) {
	for i := range o.Proxies {
		p := &o.Proxies[i]
		for j := range p.Records {
			r := &p.Records[j]
			if r.Direction == "inbound" && r.Source == source {
				return p, r
			}
		}
	}
	return nil, nil
}
