// Package store is the CA's embedded database (bbolt): issued certificates,
// join tokens (hashed) and an append-only, hash-chained audit log.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketCerts  = []byte("certificates")
	bucketTokens = []byte("join_tokens")
	bucketAudit  = []byte("audit")
	bucketMeta   = []byte("meta")
	keyAuditHead = []byte("audit_head")
)

// Decision errors for join tokens; callers report them without detail to peers.
var (
	ErrTokenUnknown = errors.New("join token unknown")
	ErrTokenExpired = errors.New("join token expired")
	ErrTokenUsed    = errors.New("join token already used")
)

// CertRecord is one issued certificate.
type CertRecord struct {
	Serial      string    `json:"serial"`
	SPIFFEID    string    `json:"spiffe_id"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	IssuedAt    time.Time `json:"issued_at"`
	Requester   string    `json:"requester"`
	Attestation string    `json:"attestation"`
}

// JoinToken is a stored join token; the secret itself is never stored.
type JoinToken struct {
	Hash      string    `json:"hash"`
	SPIFFEID  string    `json:"spiffe_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Reusable  bool      `json:"reusable"`
	Uses      int       `json:"uses"`
}

// Store is safe for concurrent use; bbolt serialises writers.
type Store struct {
	db *bolt.DB
}

// Open opens or creates the database at path with mode 0600.
func Open(path string) (*Store, error) { return open(path, false) }

// OpenReadOnly opens an existing database for reading.
func OpenReadOnly(path string) (*Store, error) { return open(path, true) }

func open(path string, readOnly bool) (*Store, error) {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("store: %w (has `hopseal ca serve` been started with this state directory?)", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: readOnly})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is locked by another process: a running `hopseal ca serve` holds it; use its admin socket or stop it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !readOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketCerts, bucketTokens, bucketAudit, bucketMeta} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store: initialise %s: %w", path, err)
		}
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// CreateJoinToken stores a token and audits its creation in one transaction.
func (s *Store) CreateJoinToken(tok JoinToken, ev Event) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(tok.Hash)) != nil {
			return errors.New("store: join token collision")
		}
		if err := putJSON(b, []byte(tok.Hash), tok); err != nil {
			return err
		}
		return appendEvent(tx, ev)
	})
}

// UseJoinToken redeems a token by hash at now. A single-use token is spent
// by the first caller; concurrent callers cannot both redeem it.
func (s *Store) UseJoinToken(hash string, now time.Time) (JoinToken, error) {
	var tok JoinToken
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		raw := b.Get([]byte(hash))
		if raw == nil {
			return ErrTokenUnknown
		}
		if err := json.Unmarshal(raw, &tok); err != nil {
			return fmt.Errorf("store: decode join token: %w", err)
		}
		switch {
		case !now.Before(tok.ExpiresAt):
			return ErrTokenExpired
		case !tok.Reusable && tok.Uses > 0:
			return ErrTokenUsed
		}
		tok.Uses++
		return putJSON(b, []byte(hash), tok)
	})
	return tok, err
}

// RecordIssued stores an issued certificate and its audit event together.
func (s *Store) RecordIssued(rec CertRecord, ev Event) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bucketCerts), []byte(rec.Serial), rec); err != nil {
			return err
		}
		return appendEvent(tx, ev)
	})
}

// Append adds an event to the audit log.
func (s *Store) Append(ev Event) error {
	return s.db.Update(func(tx *bolt.Tx) error { return appendEvent(tx, ev) })
}

// Certificates returns every issued certificate, ordered by serial.
func (s *Store) Certificates() ([]CertRecord, error) {
	out := []CertRecord{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCerts).ForEach(func(_, v []byte) error {
			var r CertRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("store: decode certificate record: %w", err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// Events returns the audit log in order.
func (s *Store) Events() ([]Event, error) {
	out := []Event{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode audit event: %w", err)
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	return b.Put(key, raw)
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}
