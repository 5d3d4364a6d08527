package capture

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Result is what an analysis found: the evidence's Data.
type Result struct {
	Sources []string `json:"sources"`
	Filter  string   `json:"filter,omitempty"`
	Stats   Stats    `json:"stats"`
	// Flows group the connections between the same two endpoints (client
	// address, server address and port) that look alike.
	Flows        []Flow   `json:"flows"`
	FlowsDropped int      `json:"flows_dropped,omitempty"` // connections not grouped: too many flows
	Conns        []Conn   `json:"connections,omitempty"`   // the first MaxDetails connections, one by one
	ConnsDropped int      `json:"connections_dropped,omitempty"`
	Partial      []string `json:"partial,omitempty"` // why the result is incomplete
}

// Conn is one TCP connection.
type Conn struct {
	Index   int       `json:"index"` // order of its first packet in the capture, as tshark's tcp.stream
	Client  string    `json:"client"`
	Server  string    `json:"server"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Packets int       `json:"packets"`
	Bytes   int64     `json:"bytes"` // payload bytes, both ways
	Verdict
}

// Flow is the connections from one client address to one server port
// with the same verdict.
type Flow struct {
	Client      string    `json:"client"` // address
	ClientName  *Workload `json:"client_workload,omitempty"`
	Server      string    `json:"server"` // address:port
	ServerName  *Workload `json:"server_workload,omitempty"`
	Connections int       `json:"connections"`
	Packets     int64     `json:"packets"`
	Bytes       int64     `json:"bytes"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
	Verdict
}

// Source names the client end: its workload, else its address.
func (f *Flow) Source() string { return endName(f.ClientName, f.Client) }

// Dest names the server end: its workload, else its address.
func (f *Flow) Dest() string {
	ap, _ := netip.ParseAddrPort(f.Server)
	return endName(f.ServerName, ap.Addr().String())
}

// Port is the server port.
func (f *Flow) Port() uint16 {
	ap, _ := netip.ParseAddrPort(f.Server)
	return ap.Port()
}

func endName(w *Workload, addr string) string {
	if w != nil {
		return w.Name
	}
	return addr
}

// aggregate groups connections into flows as they leave the table.
type aggregate struct {
	opts    *Options
	flows   map[string]*Flow
	order   []*Flow
	conns   []Conn
	dropped int
	extra   int // connections past MaxDetails
}

func newAggregate(o *Options) *aggregate {
	return &aggregate{opts: o, flows: map[string]*Flow{}}
}

func (g *aggregate) add(c *conn) {
	packets, bytes := c.c.packets+c.s.packets, c.c.bytes+c.s.bytes
	if len(g.conns) < g.opts.MaxDetails {
		g.conns = append(g.conns, Conn{Index: c.index, Client: c.client.String(), Server: c.server.String(),
			First: c.first, Last: c.last, Packets: packets, Bytes: bytes, Verdict: c.verdict})
	} else {
		g.extra++
	}
	k := flowKey(c)
	f := g.flows[k]
	if f == nil {
		if len(g.flows) >= g.opts.MaxConnections {
			g.dropped++
			return
		}
		f = &Flow{Client: c.client.Addr().String(), Server: c.server.String(), First: c.first, Verdict: c.verdict}
		f.ClientName, f.ServerName = g.lookup(c.client.Addr()), g.lookup(c.server.Addr())
		g.flows[k] = f
		g.order = append(g.order, f)
	}
	f.Connections++
	f.Packets += int64(packets)
	f.Bytes += bytes
	if c.first.Before(f.First) {
		f.First = c.first
	}
	if c.last.After(f.Last) {
		f.Last = c.last
	}
	f.Cleartext = f.Cleartext || c.verdict.Cleartext
}

func (g *aggregate) lookup(a netip.Addr) *Workload {
	if g.opts.Names == nil {
		return nil
	}
	if w, ok := g.opts.Names.Lookup(a); ok {
		return &w
	}
	return nil
}

// flowKey groups connections whose verdicts an auditor would not tell apart.
func flowKey(c *conn) string {
	v := &c.verdict
	k := []string{c.client.Addr().String(), c.server.String(), v.Protocol, fmt.Sprint(v.Encrypted), v.Upgrade, v.Banner}
	if t := v.TLS; t != nil {
		k = append(k, t.Version, t.CipherSuite, t.Group, t.ALPN, t.ClientCert, t.Alert, t.SNI)
	}
	return strings.Join(k, "\x00")
}

func (g *aggregate) result() *Result {
	r := &Result{FlowsDropped: g.dropped, Conns: g.conns, ConnsDropped: g.extra}
	slices.SortFunc(r.Conns, func(a, b Conn) int { return cmp.Compare(a.Index, b.Index) })
	for _, f := range g.order {
		r.Flows = append(r.Flows, *f)
	}
	slices.SortStableFunc(r.Flows, func(a, b Flow) int {
		return cmp.Or(cmp.Compare(a.Source(), b.Source()), cmp.Compare(a.Dest(), b.Dest()), cmp.Compare(a.Port(), b.Port()))
	})
	if g.dropped > 0 {
		r.Partial = append(r.Partial, fmt.Sprintf("%d connections were not grouped into flows: over %d flows", g.dropped, g.opts.MaxConnections))
	}
	return r
}
