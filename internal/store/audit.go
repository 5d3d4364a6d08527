package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kinds of audit events.
const (
	EventIssued       = "issued"
	EventDenied       = "denied"
	EventTokenCreated = "token_created"
)

// Event is one audit log entry. Each entry's Hash covers its content and the
// previous entry's hash, so an edit or deletion breaks the chain.
type Event struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	SPIFFEID    string    `json:"spiffe_id,omitempty"`
	Serial      string    `json:"serial,omitempty"`
	Requester   string    `json:"requester,omitempty"`
	Attestation string    `json:"attestation,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Prev        string    `json:"prev"`
	Hash        string    `json:"hash"`
}

func appendEvent(tx *bolt.Tx, ev Event) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	ev.Seq = seq
	ev.Prev = string(meta.Get(keyAuditHead))
	ev.Hash = ev.digest()
	if err := putJSON(b, seqKey(seq), ev); err != nil {
		return err
	}
	return meta.Put(keyAuditHead, []byte(ev.Hash))
}

func (e Event) digest() string {
	e.Hash = ""
	raw, _ := json.Marshal(e) // a struct of strings and times always marshals
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// VerifyChain checks that events form an unbroken hash chain from the start.
func VerifyChain(events []Event) error {
	prev := ""
	for i, e := range events {
		if e.Seq != uint64(i+1) {
			return fmt.Errorf("audit log: entry %d has sequence %d: an entry is missing", i+1, e.Seq)
		}
		if e.Prev != prev {
			return fmt.Errorf("audit log: entry %d does not follow entry %d", e.Seq, e.Seq-1)
		}
		if e.digest() != e.Hash {
			return fmt.Errorf("audit log: entry %d was modified", e.Seq)
		}
		prev = e.Hash
	}
	return nil
}
