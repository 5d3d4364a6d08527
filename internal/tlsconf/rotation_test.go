package tlsconf_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// Certificates come from the source at every handshake: after a renewal new
// connections present the new SVID, and open ones are not disturbed.
func TestRotation(t *testing.T) {
	ca := testpki.New(t, "example.org")
	serverSVIDs := newSource(ca.Issue(serverID, time.Hour))
	clientSVIDs := newSource(ca.Issue(clientID, time.Hour))
	srv := serve(t, tlsconf.MTLSServer(serverSVIDs, ca.Bundle(), tlsconf.AuthorizeAny(), time.Now))
	clientConf := tlsconf.MTLSClient(clientSVIDs, ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(serverID)), time.Now)

	first, err := dial(t, srv.addr, clientConf)
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(first, "before"); err != nil {
		t.Fatal(err)
	}
	oldServer := first.ConnectionState().PeerCertificates[0]
	if srv.next(t).err != nil {
		t.Fatal("first handshake failed on the server")
	}

	newServer, newClient := ca.Issue(serverID, time.Hour), ca.Issue(clientID, time.Hour)
	serverSVIDs.Set(newServer)
	clientSVIDs.Set(newClient)

	second, err := dial(t, srv.addr, clientConf)
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(second, "after"); err != nil {
		t.Fatal(err)
	}
	got := second.ConnectionState().PeerCertificates[0]
	if !got.Equal(newServer.Certificates[0]) || got.Equal(oldServer) {
		t.Errorf("after rotation the server presented serial %X, want the new %X", got.SerialNumber, newServer.Certificates[0].SerialNumber)
	}
	seen := srv.next(t)
	if seen.err != nil || !seen.state.PeerCertificates[0].Equal(newClient.Certificates[0]) {
		t.Errorf("after rotation the server saw another client certificate (%v)", seen.err)
	}
	if err := echo(first, "still open"); err != nil {
		t.Errorf("connection made before rotation broke: %v", err)
	}
}

// Every mesh connection is a full handshake: resumption would skip the peer
// verification after trust or policy changed.
func TestNoSessionResumption(t *testing.T) {
	ca := testpki.New(t, "example.org")
	tests := []struct {
		name       string
		tickets    bool // re-enable server tickets: proves the check can see resumption
		wantResume bool
	}{
		{name: "hopseal server"},
		{name: "control: tickets enabled", tickets: true, wantResume: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverConf := tlsconf.MTLSServer(newSource(ca.Issue(serverID, time.Hour)), ca.Bundle(), tlsconf.AuthorizeAny(), time.Now)
			serverConf.SessionTicketsDisabled = !tt.tickets
			srv := serve(t, serverConf)
			clientConf := tlsconf.MTLSClient(newSource(ca.Issue(clientID, time.Hour)), ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(serverID)), time.Now)
			// A client that would resume if the server let it.
			clientConf.SessionTicketsDisabled = false
			clientConf.ClientSessionCache = tls.NewLRUClientSessionCache(8)
			for i := range 2 {
				conn, err := dial(t, srv.addr, clientConf)
				if err != nil {
					t.Fatal(err)
				}
				// A round trip makes the client read any session ticket.
				if err := echo(conn, "ticket?"); err != nil {
					t.Fatal(err)
				}
				if srv.next(t).err != nil {
					t.Fatal("server handshake failed")
				}
				if resumed := conn.ConnectionState().DidResume; i == 1 && resumed != tt.wantResume {
					t.Fatalf("second connection DidResume = %v, want %v", resumed, tt.wantResume)
				}
				conn.Close()
			}
		})
	}
}

// Client presents a certificate only when it has one; OptionalClientCert
// accepts both, leaving the decision to the CA's attestors.
func TestOptionalClientCertificate(t *testing.T) {
	ca := testpki.New(t, "example.org")
	caID := spiffeid.RequireFromString("spiffe://example.org/hopseal/ca")
	srv := serve(t, tlsconf.OptionalClientCert(newSource(ca.Issue(caID.String(), time.Hour)), time.Now))
	tests := []struct {
		name      string
		svids     *source
		wantCerts int
	}{
		{name: "new workload without SVID", svids: nil, wantCerts: 0},
		{name: "source with no SVID yet", svids: newSource(nil), wantCerts: 0},
		{name: "renewing workload", svids: newSource(ca.Issue(clientID, time.Hour)), wantCerts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conf *tls.Config
			if tt.svids == nil {
				conf = tlsconf.Client(nil, ca.Bundle(), tlsconf.AuthorizeID(caID), time.Now)
			} else {
				conf = tlsconf.Client(tt.svids, ca.Bundle(), tlsconf.AuthorizeID(caID), time.Now)
			}
			conn, err := dial(t, srv.addr, conf)
			if err != nil {
				t.Fatal(err)
			}
			if err := echo(conn, "hello"); err != nil {
				t.Fatal(err)
			}
			seen := srv.next(t)
			if seen.err != nil || len(seen.state.PeerCertificates) != tt.wantCerts {
				t.Fatalf("server saw %d certificates (%v), want %d", len(seen.state.PeerCertificates), seen.err, tt.wantCerts)
			}
		})
	}
	// The client still verifies the server: a CA with another identity is refused.
	other := tlsconf.Client(nil, ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(serverID)), time.Now)
	if _, err := dial(t, srv.addr, other); err == nil {
		t.Fatal("client accepted a server with the wrong identity")
	}
	srv.next(t)
}
