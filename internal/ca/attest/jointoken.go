package attest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/store"
)

// TypeJoinToken is a one-time (or reusable) secret created by an operator.
const TypeJoinToken = "join_token"

// tokenPrefix makes leaked tokens recognisable to secret scanners.
const tokenPrefix = "hsjt_"

// NewJoinToken returns a new random token and the hash under which it is stored.
func NewJoinToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashJoinToken(token), nil
}

// HashJoinToken is the stored form of a token.
func HashJoinToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenStore redeems join tokens.
type TokenStore interface {
	UseJoinToken(hash string, now time.Time) (store.JoinToken, error)
}

// JoinToken grants the SPIFFE ID a token was created for.
type JoinToken struct {
	Store       TokenStore
	TrustDomain spiffeid.TrustDomain
	Now         func() time.Time
}

func (JoinToken) Type() string { return TypeJoinToken }

func (j JoinToken) Attest(_ context.Context, req Request) (Grant, error) {
	token := string(req.Payload)
	const public = "join token rejected: unknown, expired or already used"
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return Grant{}, denied("join token malformed", "join token malformed")
	}
	hash := HashJoinToken(token)
	tok, err := j.Store.UseJoinToken(hash, j.Now())
	switch {
	case errors.Is(err, store.ErrTokenUnknown), errors.Is(err, store.ErrTokenExpired), errors.Is(err, store.ErrTokenUsed):
		return Grant{}, denied(public, "%v (token %s)", err, hash[:8])
	case err != nil:
		return Grant{}, err
	}
	id, err := spiffeid.FromString(tok.SPIFFEID)
	if err != nil || !id.MemberOf(j.TrustDomain) {
		return Grant{}, denied(public, "token %s grants %q outside trust domain %s", hash[:8], tok.SPIFFEID, j.TrustDomain)
	}
	return Grant{ID: id, Evidence: "join_token:" + hash[:8]}, nil
}
