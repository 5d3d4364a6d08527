package demo

import (
	"fmt"
	"time"

	"github.com/hopseal/hopseal/internal/proxy"
)

// Report is what a check run found. Its fields come from the proxies' own
// flow reports and from the bytes the taps kept.
type Report struct {
	Services  []Service
	Checkouts Checkouts
	Hops      []Hop
	Refusals  []Refusal
	Checks    []Check
	Elapsed   time.Duration
}

// Service is a workload and the SVID its proxy holds.
type Service struct {
	Name, ID, Serial string
	NotAfter         time.Time
}

// Checkouts are the orders placed through the whole chain.
type Checkouts struct {
	Want, OK int
	Sample   string   // one response, as the user would see it
	Errors   []string // distinct failures
}

// Hop is one proxy-to-proxy leg.
type Hop struct {
	From, To string
	// ClientID is the identity the server's proxy verified; ServerID the one
	// the client's proxy verified.
	ClientID, ServerID   string
	ClientTLS, ServerTLS proxy.TLSInfo // as each proxy negotiated it
	Flows                int           // flows seen by both proxies
	AppUp, AppDown       int64         // plaintext bytes relayed by the client's proxy
	Wire                 WireCapture   // between the proxies
	Plain                PlainCapture  // between the client's app and its proxy
}

// WireCapture summarises the bytes kept between two proxies.
type WireCapture struct {
	Connections     int
	Up, Down        int // bytes each way
	Records         int
	Handshake, Data int      // records of each content type
	Leaked          []string // markers found: must be empty
	Problems        []string // framing or capture problems: must be empty
}

// PlainCapture summarises the bytes kept on an app ↔ proxy leg.
type PlainCapture struct {
	Connections, Bytes int
	Found              []string // markers found: all of them, or the wire check proves nothing
}

// Refusal is a caller that must not reach a service.
type Refusal struct {
	Name, Caller, Target string
	ClientSaw            string // what the caller observed
	Answered             bool   // the caller got an HTTP response: a failure
	Decision, Reason     string // from the target's proxy
}

// Check is one verdict, with the section of the report it belongs to.
type Check struct {
	Section, Text string
	OK            bool
	Hint          string // for a failure: what went wrong
}

// Err is nil when every check passed.
func (r *Report) Err() error {
	failed := 0
	for _, c := range r.Checks {
		if !c.OK {
			failed++
		}
	}
	if failed == 0 && len(r.Checks) > 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d failed; see the ✘ lines above", ErrChecksFailed, failed, len(r.Checks))
}

func (r *Report) add(section string, ok bool, text, hint string) {
	if ok {
		hint = ""
	}
	r.Checks = append(r.Checks, Check{Section: section, Text: text, OK: ok, Hint: hint})
}
