package capture

// Protocols a connection is classified as.
const (
	ProtoTLS      = "tls"
	ProtoMesh     = "hopseal-mtls"
	ProtoSSH      = "ssh"
	ProtoHTTP1    = "http1"
	ProtoHTTP2    = "http2"
	ProtoPostgres = "postgresql"
	ProtoMySQL    = "mysql"
	ProtoRedis    = "redis"
	ProtoSMTP     = "smtp"
	ProtoDNS      = "dns"
	ProtoText     = "text"   // readable text of no protocol recognised here
	ProtoOpaque   = "opaque" // bytes of no protocol recognised here
	ProtoNone     = "none"   // no payload either way (refused, or idle)
)

// protocolNames are the names findings use.
var protocolNames = map[string]string{
	ProtoTLS: "TLS", ProtoMesh: "hopseal mTLS", ProtoSSH: "SSH", ProtoHTTP1: "HTTP", ProtoHTTP2: "HTTP/2",
	ProtoPostgres: "PostgreSQL", ProtoMySQL: "MySQL", ProtoRedis: "Redis", ProtoSMTP: "SMTP", ProtoDNS: "DNS",
	ProtoText: "unrecognised text protocol", ProtoOpaque: "unrecognised protocol", ProtoNone: "no data",
}

// ProtocolName is how reports write a protocol.
func ProtocolName(p string) string {
	if n, ok := protocolNames[p]; ok {
		return n
	}
	return p
}

// Verdict is what a connection's first bytes show.
type Verdict struct {
	Protocol  string   `json:"protocol"`
	Encrypted bool     `json:"encrypted"`
	Upgrade   string   `json:"upgrade,omitempty"` // how a plaintext protocol switched to TLS: "STARTTLS", "SSLRequest"
	TLS       *TLSInfo `json:"tls,omitempty"`
	Banner    string   `json:"banner,omitempty"`      // SSH or SMTP server software, as announced
	Sample    string   `json:"sample,omitempty"`      // plaintext: the first messages, credentials masked
	Cleartext bool     `json:"credentials,omitempty"` // credentials were sent in the clear
	Notes     []string `json:"notes,omitempty"`
}

// state is how sure a detector is.
type state int

const (
	notThis state = iota // the bytes cannot be this protocol
	maybe                // a valid prefix: more bytes will tell
	yesMore              // it is this protocol; more bytes may add detail
	yesDone              // it is this protocol; more bytes add nothing
)

// connInfo is what a detector knows beside the bytes.
type connInfo struct {
	clientPort, serverPort uint16
	handshake              bool // the capture holds the connection's start (its SYN)
	meshPort               bool // the server port is one where hopseal's proxies listen
}

type detector func(c, s []byte, info *connInfo) (Verdict, state)

// detectors run in order; the first sure answer wins.
var detectors = []detector{
	detectTLS, detectSSH, detectHTTP2, detectHTTP1, detectPostgres, detectMySQL,
	detectSMTP, detectRedis, detectDNS, detectMidstreamTLS,
}

// classify decides what a connection is from the first bytes of its client
// (c) and server (s) directions. final says no more bytes will come; until
// then done is false while more bytes could change or add to the answer.
func classify(c, s []byte, info *connInfo, final bool) (v Verdict, done bool) {
	if len(c) == 0 && len(s) == 0 {
		return Verdict{Protocol: ProtoNone}, final
	}
	undecided := false
	for _, d := range detectors {
		v, st := d(c, s, info)
		switch {
		case st == yesDone, st == yesMore && final:
			return v, true
		case st == yesMore:
			return v, false
		case st == maybe:
			undecided = true
		}
	}
	if undecided && !final {
		return Verdict{}, false
	}
	return unrecognised(c, s), final
}

// unrecognised tells readable text from other bytes: text is plaintext
// whatever its protocol, other bytes may or may not be encrypted.
func unrecognised(c, s []byte) Verdict {
	for _, b := range [][]byte{c, s} {
		if isText(b) {
			sample, found := redactSecrets(printable(b, 1024))
			return Verdict{Protocol: ProtoText, Sample: clip(sample, 160), Cleartext: found}
		}
	}
	v := Verdict{Protocol: ProtoOpaque}
	v.Notes = append(v.Notes, entropyNote("client", c), entropyNote("server", s))
	return v
}

// isText reports whether b's first bytes are mostly printable ASCII.
func isText(b []byte) bool {
	b = b[:min(len(b), 256)]
	if len(b) < 8 {
		return false
	}
	printable := 0
	for _, c := range b {
		if c >= 0x20 && c < 0x7f || c == '\r' || c == '\n' || c == '\t' {
			printable++
		}
	}
	return printable*100 >= len(b)*95
}
