package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

const (
	serverID = "spiffe://example.org/ns/shop/sa/server"
	clientID = "spiffe://example.org/ns/shop/sa/client"
)

// handshakeSetup is everything one mTLS handshake case may change.
type handshakeSetup struct {
	serverSVID   *x509svid.SVID
	clientSVID   *x509svid.SVID // nil: the client sends an empty certificate list
	clientWants  spiffeid.ID    // the server identity the client authorizes
	serverAllows spiffeid.ID    // the client identity the server authorizes
	clientMaxVer uint16
}

func (s handshakeSetup) configs(ca *testpki.CA) (server, client *tls.Config) {
	server = tlsconf.MTLSServer(newSource(s.serverSVID), ca.Bundle(), tlsconf.AuthorizeID(s.serverAllows), time.Now)
	client = tlsconf.MTLSClient(newSource(s.clientSVID), ca.Bundle(), tlsconf.AuthorizeID(s.clientWants), time.Now)
	if s.clientSVID == nil {
		client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	}
	if s.clientMaxVer != 0 {
		// A client that cannot speak TLS 1.3 at all.
		client.MinVersion, client.MaxVersion = tls.VersionTLS12, s.clientMaxVer
	}
	return server, client
}

func TestMTLSHandshake(t *testing.T) {
	ca := testpki.New(t, "example.org")
	otherRoot := testpki.New(t, "example.org") // same trust domain, another key
	foreign := testpki.New(t, "other.org")
	withEKU := func(id string, eku x509.ExtKeyUsage) *x509svid.SVID {
		tmpl := ca.Leaf(id)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{eku}
		chain, key := ca.Sign(tmpl)
		return &x509svid.SVID{ID: spiffeid.RequireFromString(id), Certificates: chain, PrivateKey: key}
	}
	expired := func(id string) *x509svid.SVID {
		tmpl := ca.Leaf(id)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Minute)
		chain, key := ca.Sign(tmpl)
		return &x509svid.SVID{ID: spiffeid.RequireFromString(id), Certificates: chain, PrivateKey: key}
	}
	baseline := func() handshakeSetup {
		return handshakeSetup{
			serverSVID: ca.Issue(serverID, time.Hour), clientSVID: ca.Issue(clientID, time.Hour),
			clientWants: spiffeid.RequireFromString(serverID), serverAllows: spiffeid.RequireFromString(clientID),
		}
	}
	tests := []struct {
		name      string
		change    func(*handshakeSetup)
		refusedBy string // "", "client" or "server"
		wantErr   string // in the refusing side's error
	}{
		{name: "baseline", change: func(*handshakeSetup) {}},
		{name: "wrong server ID", refusedBy: "client", wantErr: "want spiffe://example.org/ns/shop/sa/other",
			change: func(s *handshakeSetup) {
				s.clientWants = spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/other")
			}},
		{name: "client not allowed", refusedBy: "server", wantErr: "want spiffe://example.org/ns/shop/sa/admin",
			change: func(s *handshakeSetup) {
				s.serverAllows = spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/admin")
			}},
		{name: "client without certificate", refusedBy: "server", wantErr: "didn't provide a certificate",
			change: func(s *handshakeSetup) { s.clientSVID = nil }},
		{name: "client cert from another root", refusedBy: "server", wantErr: "unknown authority",
			change: func(s *handshakeSetup) { s.clientSVID = otherRoot.Issue(clientID, time.Hour) }},
		{name: "client cert from a foreign trust domain", refusedBy: "server", wantErr: "no trust bundle",
			change: func(s *handshakeSetup) {
				s.clientSVID = foreign.Issue("spiffe://other.org/ns/shop/sa/client", time.Hour)
			}},
		{name: "client cert without clientAuth EKU", refusedBy: "server", wantErr: "incompatible key usage",
			change: func(s *handshakeSetup) { s.clientSVID = withEKU(clientID, x509.ExtKeyUsageServerAuth) }},
		{name: "server cert without serverAuth EKU", refusedBy: "client", wantErr: "incompatible key usage",
			change: func(s *handshakeSetup) { s.serverSVID = withEKU(serverID, x509.ExtKeyUsageClientAuth) }},
		{name: "server cert from another root", refusedBy: "client", wantErr: "unknown authority",
			change: func(s *handshakeSetup) { s.serverSVID = otherRoot.Issue(serverID, time.Hour) }},
		{name: "expired server cert", refusedBy: "client", wantErr: "expired",
			change: func(s *handshakeSetup) { s.serverSVID = expired(serverID) }},
		{name: "expired client cert", refusedBy: "server", wantErr: "expired",
			change: func(s *handshakeSetup) { s.clientSVID = expired(clientID) }},
		{name: "TLS 1.2-only client", refusedBy: "server", wantErr: "unsupported versions",
			change: func(s *handshakeSetup) { s.clientMaxVer = tls.VersionTLS12 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseline()
			tt.change(&s)
			serverConf, clientConf := s.configs(ca)
			srv := serve(t, serverConf)
			conn, clientErr := dial(t, srv.addr, clientConf)
			if clientErr == nil {
				clientErr = echo(conn, "ping")
			}
			serverErr := srv.next(t).err
			switch tt.refusedBy {
			case "":
				if clientErr != nil || serverErr != nil {
					t.Fatalf("handshake failed: client: %v; server: %v", clientErr, serverErr)
				}
				if id, err := tlsconf.PeerID(conn.ConnectionState()); err != nil || id.String() != serverID {
					t.Fatalf("client sees peer %v (%v), want %s", id, err, serverID)
				}
			case "client":
				if clientErr == nil || !strings.Contains(clientErr.Error(), tt.wantErr) {
					t.Fatalf("client error = %v, want it to contain %q", clientErr, tt.wantErr)
				}
				if serverErr == nil {
					t.Fatal("server completed a handshake the client refused")
				}
			case "server":
				if serverErr == nil || !strings.Contains(serverErr.Error(), tt.wantErr) {
					t.Fatalf("server error = %v, want it to contain %q", serverErr, tt.wantErr)
				}
				if clientErr == nil {
					t.Fatal("client exchanged data over a connection the server refused")
				}
			}
		})
	}
}

func TestNegotiatedParameters(t *testing.T) {
	ca := testpki.New(t, "example.org")
	srv := serve(t, tlsconf.MTLSServer(newSource(ca.Issue(serverID, time.Hour)), ca.Bundle(), tlsconf.AuthorizeAny(), time.Now))
	conn, err := dial(t, srv.addr, tlsconf.MTLSClient(newSource(ca.Issue(clientID, time.Hour)), ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(serverID)), time.Now))
	if err != nil {
		t.Fatal(err)
	}
	server := srv.next(t)
	if server.err != nil {
		t.Fatal(server.err)
	}
	for side, cs := range map[string]tls.ConnectionState{"client": conn.ConnectionState(), "server": server.state} {
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("%s: version %s, want TLS 1.3", side, tls.VersionName(cs.Version))
		}
		if cs.CurveID != tls.X25519MLKEM768 {
			t.Errorf("%s: key exchange group %s, want X25519MLKEM768", side, cs.CurveID)
		}
		if cs.NegotiatedProtocol != tlsconf.NextProto {
			t.Errorf("%s: ALPN %q, want %q", side, cs.NegotiatedProtocol, tlsconf.NextProto)
		}
	}
	if id, err := tlsconf.PeerID(server.state); err != nil || id.String() != clientID {
		t.Errorf("server sees peer %v (%v), want %s", id, err, clientID)
	}
	if v, c, g := tlsconf.Describe(conn.ConnectionState()); v != "TLS 1.3" || c == "" || g != "X25519MLKEM768" {
		t.Errorf("Describe = %q %q %q", v, c, g)
	}
}

func TestAuthorizeOneOf(t *testing.T) {
	a := spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/a")
	b := spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/b")
	c := spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/c")
	for _, tt := range []struct {
		name string
		want []spiffeid.ID
		peer spiffeid.ID
		ok   bool
	}{
		{"one, match", []spiffeid.ID{a}, a, true},
		{"one, other", []spiffeid.ID{a}, b, false},
		{"two, second", []spiffeid.ID{a, b}, b, true},
		{"two, neither", []spiffeid.ID{a, b}, c, false},
		{"none", nil, a, false},
	} {
		if err := tlsconf.AuthorizeOneOf(tt.want...)(tt.peer); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}
