package telemetry

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/proxy"
)

func TestRecentOpenThenEnded(t *testing.T) {
	r := NewRecent(3, 2)
	start := time.Now()
	key := func(i int) OpenKey {
		return OpenKey{Listener: "l", Source: "10.0.0.1:" + string(rune('0'+i)), Start: start}
	}
	a := r.Begin(key(1), Record{Kind: KindConnection, Route: "a"})
	b := r.Begin(key(2), Record{Kind: KindConnection, Route: "b"})
	c := r.Begin(key(3), Record{Kind: KindConnection, Route: "c"}) // past maxOpen: not listed while open
	if got := routes(r.Records()); got != "a+ b+" {
		t.Fatalf("open records %q, want a and b open", got)
	}
	if id := r.End(key(1), Record{Kind: KindConnection, Route: "a"}); id != a {
		t.Fatalf("End kept ID %d, want %d", id, a)
	}
	if id := r.End(key(3), Record{Kind: KindConnection, Route: "c"}); id == a || id == b || id == c {
		t.Fatalf("an untracked connection's End reused ID %d", id)
	}
	r.Add(Record{Kind: KindRequest, Route: "d"})
	r.Add(Record{Kind: KindRequest, Route: "e"}) // the ring holds 3: a falls out
	if got := routes(r.Records()); got != "b+ c d e" {
		t.Fatalf("records %q, want b open, then c d e ended, oldest first", got)
	}
}

func routes(recs []Record) string {
	s := ""
	for i, rec := range recs {
		if i > 0 {
			s += " "
		}
		s += rec.Route
		if rec.Open {
			s += "+"
		}
	}
	return s
}

// TestRecentServesFlows: as a proxy observer behind the admin endpoint,
// an open flow is listed with its peer and TLS, and ended once it ends.
func TestRecentServesFlows(t *testing.T) {
	r := NewRecent(DefaultRecentSize, DefaultRecentOpen)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		ServeAdmin(ctx, ln, Admin{Registry: NewRegistry(), Ready: func() error { return nil },
			Routes: map[string]http.Handler{"GET " + ConnectionsPath: r}})
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	peer := spiffeid.RequireFromString("spiffe://demo.local/ns/edge/sa/gateway")
	f := proxy.Flow{Listener: "inbound", Direction: proxy.Inbound, Source: "10.0.0.9:40000", Destination: "10.0.0.5:8080",
		Peer: proxy.Peer{ID: peer, TLS: proxy.TLSInfo{Version: "TLS 1.3"}}, Security: proxy.MutualTLS,
		Protocol: "http1", Decision: proxy.Allow, Start: time.Now()}
	r.FlowStarted(f)
	got := fetch(t, ln.Addr().String())
	if len(got) != 1 || !got[0].Open || got[0].PeerID != peer.String() || got[0].TLSVersion != "TLS 1.3" ||
		got[0].Security != "mutual_tls" || got[0].Source != f.Source {
		t.Fatalf("open flow listed as %+v", got)
	}
	f.BytesUp, f.Duration = 42, time.Millisecond
	r.FlowEnded(f)
	got = fetch(t, ln.Addr().String())
	if len(got) != 1 || got[0].Open || got[0].BytesUp != 42 || got[0].Result != "allow" {
		t.Fatalf("ended flow listed as %+v", got)
	}
}

func fetch(t *testing.T, addr string) []Record {
	t.Helper()
	resp, err := http.Get("http://" + addr + ConnectionsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc Connections
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Records
}
