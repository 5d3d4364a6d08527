package pki

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// NewSerial returns a random, non-zero 128-bit certificate serial number.
func NewSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("pki: read random serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// SerialString formats a serial the way openssl prints it: upper-case hex.
func SerialString(n *big.Int) string { return fmt.Sprintf("%X", n) }
