package telemetry

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hopseal/hopseal/internal/proxy"
)

// ConnectionsPath is the admin endpoint that lists recent connections:
// those open now and the last ones that ended, so `hopseal trace` can
// show what each hop saw of one request.
const ConnectionsPath = "/connections"

// Record kinds.
const (
	KindConnection = "connection"
	KindRequest    = "request" // an HTTP exchange the gateway proxied
)

// Record is one connection or HTTP request as /connections lists it. It
// holds addresses, identities and negotiated protocols: never payload,
// keys, headers or query strings.
type Record struct {
	ID          uint64    `json:"id"`
	Kind        string    `json:"kind"`
	Open        bool      `json:"open,omitempty"` // still open
	Start       time.Time `json:"start"`
	DurationMS  float64   `json:"duration_ms,omitempty"`
	Listener    string    `json:"listener,omitempty"`
	Direction   string    `json:"direction,omitempty"` // a proxy's inbound or outbound
	Mode        string    `json:"mode,omitempty"`      // a gateway route's mode
	Route       string    `json:"route,omitempty"`
	Client      string    `json:"client,omitempty"` // the real client (from a PROXY header)
	Source      string    `json:"source,omitempty"` // the TCP peer
	Destination string    `json:"destination,omitempty"`
	SNI         string    `json:"sni,omitempty"`
	Protocol    string    `json:"protocol,omitempty"`
	Security    string    `json:"security,omitempty"` // mutual_tls, tls or none
	TLSVersion  string    `json:"tls_version,omitempty"`
	CipherSuite string    `json:"cipher_suite,omitempty"`
	// TLSBinding is a few bytes exported from the TLS session (RFC 8446
	// §7.5): the client of the same session derives the same value, so a
	// client can tell whether its TLS ended here or at a hop before.
	TLSBinding string    `json:"tls_binding,omitempty"`
	PeerID     string    `json:"peer_id,omitempty"`   // the SPIFFE ID the peer proved
	PeerCert   string    `json:"peer_cert,omitempty"` // a client certificate's subject (gateway client_ca_file)
	Result     string    `json:"result,omitempty"`    // a gateway result, a proxy decision
	Reason     string    `json:"reason,omitempty"`
	BytesUp    int64     `json:"bytes_up,omitempty"`
	BytesDown  int64     `json:"bytes_down,omitempty"`
	Upstream   *Upstream `json:"upstream,omitempty"` // the gateway's connection onwards

	// Requests only.
	Conn   uint64 `json:"conn,omitempty"`  // the ID of the request's connection
	Trace  string `json:"trace,omitempty"` // the client's trace header
	Method string `json:"method,omitempty"`
	Host   string `json:"host,omitempty"`
	Path   string `json:"path,omitempty"`
	Status int    `json:"status,omitempty"`
}

// Upstream is a connection the gateway opened to a backend.
type Upstream struct {
	Local      string `json:"local"`  // the gateway's end: the source the backend sees
	Remote     string `json:"remote"` // the backend's address
	Security   string `json:"security"`
	TLSVersion string `json:"tls_version,omitempty"`
	PeerID     string `json:"peer_id,omitempty"`   // mesh backends
	PeerName   string `json:"peer_name,omitempty"` // reencrypt backends: the certificate's subject
	ALPN       string `json:"alpn,omitempty"`
	Reused     bool   `json:"reused,omitempty"` // a pooled connection
}

// OpenKey names an open connection for Recent.End: its listener, its TCP
// peer and when it was accepted.
type OpenKey struct {
	Listener, Source string
	Start            time.Time
}

// Recent keeps the records /connections serves: every open connection (up
// to a limit) and a ring of the last ones that ended. Methods are safe for
// concurrent use and never block on I/O.
type Recent struct {
	mu      sync.Mutex // guards everything below
	seq     uint64
	open    map[OpenKey]Record
	maxOpen int
	size    int
	ring    []Record // ended records, grown to size; then next is the oldest
	next    int
}

// Default sizes. A record costs about 500 bytes: at most ~250 KiB of
// ended records and ~500 KiB of open ones, held only once there is that
// much traffic. Connections past the open cap are listed once they end.
const (
	DefaultRecentSize = 512
	DefaultRecentOpen = 1024
)

// NewRecent keeps size ended records and up to maxOpen open ones.
func NewRecent(size, maxOpen int) *Recent {
	return &Recent{open: map[OpenKey]Record{}, maxOpen: maxOpen, size: max(size, 1)}
}

// Begin lists an open connection and returns its record ID.
func (r *Recent) Begin(key OpenKey, rec Record) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rec.ID, rec.Open = r.seq, true
	if len(r.open) < r.maxOpen {
		r.open[key] = rec
	}
	return rec.ID
}

// End moves a connection from open to ended, with rec as its final
// record; one that was never begun (or not tracked) gets a new ID.
func (r *Recent) End(key OpenKey, rec Record) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.open[key]; ok {
		delete(r.open, key)
		rec.ID = old.ID
	} else if rec.ID == 0 {
		r.seq++
		rec.ID = r.seq
	}
	rec.Open = false
	r.push(rec)
	return rec.ID
}

// Add lists a record that is already over (a refusal, a request) and
// returns its ID.
func (r *Recent) Add(rec Record) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rec.ID, rec.Open = r.seq, false
	r.push(rec)
	return rec.ID
}

func (r *Recent) push(rec Record) {
	if len(r.ring) < r.size {
		r.ring = append(r.ring, rec)
		return
	}
	r.ring[r.next] = rec
	r.next = (r.next + 1) % r.size
}

// Records returns the open records, then the ended ones, each in ID order.
func (r *Recent) Records() []Record {
	r.mu.Lock()
	out := make([]Record, 0, len(r.open)+len(r.ring))
	for _, rec := range r.open {
		out = append(out, rec)
	}
	open := len(out)
	out = append(out, r.ring[r.next:]...)
	out = append(out, r.ring[:r.next]...)
	r.mu.Unlock()
	slices.SortFunc(out[:open], func(a, b Record) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Connections is the JSON document /connections serves.
type Connections struct {
	Records []Record `json:"records"`
}

// ServeHTTP serves the records as JSON.
func (r *Recent) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Connections{Records: r.Records()})
}

// FlowStarted and FlowEnded make Recent a proxy.Observer.
func (r *Recent) FlowStarted(f proxy.Flow) { r.Begin(flowKey(f), flowRecord(f)) }

func (r *Recent) FlowEnded(f proxy.Flow) {
	rec := flowRecord(f)
	rec.DurationMS = float64(f.Duration.Microseconds()) / 1000
	rec.BytesUp, rec.BytesDown, rec.Reason = f.BytesUp, f.BytesDown, f.Reason
	r.End(flowKey(f), rec)
}

func flowKey(f proxy.Flow) OpenKey {
	return OpenKey{Listener: f.Listener, Source: f.Source, Start: f.Start}
}

func flowRecord(f proxy.Flow) Record {
	return Record{
		Kind: KindConnection, Start: f.Start, Listener: f.Listener, Direction: string(f.Direction),
		Source: f.Source, Destination: f.Destination, SNI: f.SNI, Protocol: f.Protocol,
		Security: string(f.Security), TLSVersion: f.Peer.TLS.Version, CipherSuite: f.Peer.TLS.CipherSuite,
		PeerID: idString(f.Peer), Result: string(f.Decision),
	}
}
