package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	cav1 "github.com/hopseal/hopseal/api/ca/v1"
	"github.com/hopseal/hopseal/internal/ca/attest"
)

// How the agent proves who it is.
//
// Without a valid SVID it attests with what Config gives: a join token
// (join_token) or a projected service-account token file (k8s_psat).
//
// Renewal differs by kind. A join token is a bootstrap secret, often
// single-use, so a join-token agent renews with its current SVID
// (x509_svid). An agent with a token file re-attests with the token at
// every renewal instead: the CA then asks the Kubernetes API again each
// time, so a workload whose pod or service account was deleted stops
// getting certificates within one renewal period. Renewing with the SVID
// alone would let it, or anyone who copied its key, renew forever. The
// cost is one TokenReview per renewal, and no fallback to x509_svid: a
// refused token must not be worked around.

// attestation is the proof for an agent without a valid SVID. The token
// file is read at every call: the kubelet rotates it.
func (a *Agent) attestation() (*cav1.Attestation, error) {
	if a.cfg.TokenFile != "" {
		tok, err := readTokenFile(a.cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		return &cav1.Attestation{Type: attest.TypeK8sPSAT, Payload: tok}, nil
	}
	if a.cfg.JoinToken != "" {
		return &cav1.Attestation{Type: attest.TypeJoinToken, Payload: []byte(a.cfg.JoinToken)}, nil
	}
	return nil, errors.New("no SVID and no join token; create one with `hopseal ca token create` and set ca.join_token_file " +
		"(on Kubernetes: mount a projected service account token for audience hopseal)")
}

// renewal is the proof for renewing the SVID the agent holds.
func (a *Agent) renewal() (*cav1.Attestation, error) {
	if a.cfg.TokenFile != "" {
		return a.attestation()
	}
	svid, _ := a.GetX509SVID()
	if a.clock.Now().Before(svid.Certificates[0].NotAfter) {
		return &cav1.Attestation{Type: attest.TypeX509SVID}, nil
	}
	if a.cfg.JoinToken == "" {
		return nil, errors.New("SVID expired and there is no join token to re-attest with")
	}
	a.log.Warn("SVID expired; re-attesting with the join token")
	return a.attestation()
}

// readTokenFile reads a service-account token, refusing what cannot be one.
func readTokenFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("service account token: %w (mount a projected token for audience %q there)", err, attest.DefaultAudience)
	}
	defer f.Close()
	tok, err := io.ReadAll(io.LimitReader(f, attest.MaxTokenSize+1))
	if err != nil {
		return nil, fmt.Errorf("service account token: read %s: %w", path, err)
	}
	tok = bytes.TrimSpace(tok)
	switch {
	case len(tok) == 0:
		return nil, fmt.Errorf("service account token file %s is empty", path)
	case len(tok) > attest.MaxTokenSize:
		return nil, fmt.Errorf("service account token file %s is over %d bytes: not a token", path, attest.MaxTokenSize)
	}
	return tok, nil
}
