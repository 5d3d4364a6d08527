package attest_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/store"
)

const orders = "spiffe://example.org/ns/shop/sa/orders"

var td = spiffeid.RequireTrustDomainFromString("example.org")

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "hopseal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addToken stores a new token for id and returns its secret.
func addToken(t *testing.T, s *store.Store, id string, now time.Time, ttl time.Duration) string {
	t.Helper()
	token, hash, err := attest.NewJoinToken()
	if err != nil {
		t.Fatal(err)
	}
	tok := store.JoinToken{Hash: hash, SPIFFEID: id, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.CreateJoinToken(tok, store.Event{Time: now, Kind: store.EventTokenCreated}); err != nil {
		t.Fatal(err)
	}
	return token
}

func TestJoinToken(t *testing.T) {
	now := time.Now()
	const public = "join token rejected: unknown, expired or already used"
	tests := []struct {
		name    string
		token   func(t *testing.T, s *store.Store) string
		at      time.Duration // attest this long after creation
		want    string        // granted ID, or "" for a denial
		public  string        // the caller's message
		private string        // in the audit reason
	}{
		{name: "valid", want: orders, token: func(t *testing.T, s *store.Store) string { return addToken(t, s, orders, now, time.Hour) }},
		{name: "malformed", public: "join token malformed", private: "malformed", token: func(*testing.T, *store.Store) string { return "letmein" }},
		{name: "too long", public: "join token malformed", private: "malformed", token: func(t *testing.T, s *store.Store) string {
			return addToken(t, s, orders, now, time.Hour) + strings.Repeat("A", 100)
		}},
		{name: "unknown", public: public, private: "unknown", token: func(t *testing.T, s *store.Store) string {
			tok, _, _ := attest.NewJoinToken()
			return tok
		}},
		{name: "expired", at: time.Hour, public: public, private: "expired", token: func(t *testing.T, s *store.Store) string {
			return addToken(t, s, orders, now, time.Hour)
		}},
		{name: "used", public: public, private: "already used", token: func(t *testing.T, s *store.Store) string {
			tok := addToken(t, s, orders, now, time.Hour)
			if _, err := s.UseJoinToken(attest.HashJoinToken(tok), now); err != nil {
				t.Fatal(err)
			}
			return tok
		}},
		{name: "outside trust domain", public: public, private: "outside trust domain", token: func(t *testing.T, s *store.Store) string {
			return addToken(t, s, "spiffe://other.org/ns/shop/sa/orders", now, time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			token := tt.token(t, s)
			a := attest.JoinToken{Store: s, TrustDomain: td, Now: func() time.Time { return now.Add(tt.at) }}
			grant, err := a.Attest(context.Background(), attest.Request{Type: attest.TypeJoinToken, Payload: []byte(token)})
			if tt.want != "" {
				if err != nil || grant.ID.String() != tt.want {
					t.Fatalf("Attest = %v, %v; want %s", grant.ID, err, tt.want)
				}
				if want := "join_token:" + attest.HashJoinToken(token)[:8]; grant.Evidence != want {
					t.Fatalf("evidence %q, want %q", grant.Evidence, want)
				}
				return
			}
			var denied *attest.DeniedError
			if !errors.As(err, &denied) {
				t.Fatalf("Attest = %v, %v; want a DeniedError", grant, err)
			}
			// Unknown, expired and used look alike to the caller: no oracle.
			if denied.Public != tt.public || !strings.Contains(denied.Reason, tt.private) {
				t.Fatalf("denied public %q reason %q, want %q / %q", denied.Public, denied.Reason, tt.public, tt.private)
			}
			if strings.Contains(denied.Reason, token) {
				t.Fatal("audit reason contains the token secret")
			}
		})
	}
}

func TestNewJoinToken(t *testing.T) {
	a, ha, err := attest.NewJoinToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := attest.NewJoinToken()
	switch {
	case a == b:
		t.Fatal("two tokens are equal")
	case !strings.HasPrefix(a, "hsjt_") || len(a) < 40:
		t.Fatalf("token %q lacks the prefix or entropy", a)
	case ha != attest.HashJoinToken(a) || strings.Contains(ha, a):
		t.Fatal("hash is not the stored form of the token")
	}
}
