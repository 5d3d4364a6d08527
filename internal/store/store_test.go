package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hopseal.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestFileMode(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestJoinTokenSingleUse(t *testing.T) {
	s, _ := openTemp(t)
	now := time.Now()
	tok := JoinToken{Hash: "h1", SPIFFEID: "spiffe://example.org/a", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateJoinToken(tok, Event{Kind: EventTokenCreated}); err != nil {
		t.Fatal(err)
	}
	// Many racing redeemers: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UseJoinToken("h1", now); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrTokenUsed) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d callers redeemed a single-use token", wins)
	}
	if _, err := s.UseJoinToken("nope", now); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestJoinTokenReusableAndExpiry(t *testing.T) {
	s, _ := openTemp(t)
	now := time.Now()
	tok := JoinToken{Hash: "r", SPIFFEID: "spiffe://example.org/a", ExpiresAt: now.Add(time.Minute), Reusable: true}
	if err := s.CreateJoinToken(tok, Event{Kind: EventTokenCreated}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got, err := s.UseJoinToken("r", now)
		if err != nil || got.Uses != i+1 {
			t.Fatalf("use %d: %v uses=%d", i, err, got.Uses)
		}
	}
	if _, err := s.UseJoinToken("r", now.Add(time.Minute)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestAuditChain(t *testing.T) {
	s, path := openTemp(t)
	for i := 0; i < 5; i++ {
		if err := s.RecordIssued(CertRecord{Serial: string(rune('A' + i))}, Event{Kind: EventIssued, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(Event{Kind: EventDenied, Reason: "join token unknown"}); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events()
	if err != nil || len(events) != 6 {
		t.Fatalf("events: %d %v", len(events), err)
	}
	if err := VerifyChain(events); err != nil {
		t.Fatal(err)
	}
	certs, _ := s.Certificates()
	if len(certs) != 5 {
		t.Fatalf("certificates: %d", len(certs))
	}

	// Tampering with a stored entry breaks the chain.
	edited := append([]Event(nil), events...)
	edited[2].Reason = "edited"
	if err := VerifyChain(edited); err == nil || !strings.Contains(err.Error(), "modified") {
		t.Fatalf("edit not detected: %v", err)
	}
	if err := VerifyChain(append(events[:2:2], events[3:]...)); err == nil {
		t.Fatal("deletion not detected")
	}

	// The chain survives reopening.
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Append(Event{Kind: EventDenied}); err != nil {
		t.Fatal(err)
	}
	events, _ = s2.Events()
	if err := VerifyChain(events); err != nil || len(events) != 7 {
		t.Fatalf("after reopen: %d %v", len(events), err)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	_, path := openTemp(t)
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second open: %v", err)
	}
}
