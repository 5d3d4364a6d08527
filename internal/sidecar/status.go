package sidecar

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
)

// status is the proxy's JSON status: its identity, trust and configuration.
type status struct {
	SPIFFEID  string       `json:"spiffe_id,omitempty"`
	SVID      *svidStatus  `json:"svid,omitempty"`
	Bundle    []rootStatus `json:"bundle"`
	Listeners []string     `json:"listeners"`
	Mode      string       `json:"mode,omitempty"`
	Egress    string       `json:"egress,omitempty"`
	Policy    any          `json:"policy,omitempty"`
	Discovery any          `json:"discovery,omitempty"`
}

type svidStatus struct {
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	ExpiresIn string    `json:"expires_in"`
	Chain     []string  `json:"chain"`
}

type rootStatus struct {
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	SHA256   string    `json:"sha256"`
}

func (s *Sidecar) status() any {
	st := status{Listeners: []string{}}
	if svid, err := s.agent.GetX509SVID(); err == nil {
		leaf := svid.Certificates[0]
		st.SPIFFEID = svid.ID.String()
		st.SVID = &svidStatus{
			Serial: pki.SerialString(leaf.SerialNumber), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
			ExpiresIn: leaf.NotAfter.Sub(s.clock.Now()).Round(time.Second).String(),
		}
		for _, c := range svid.Certificates[1:] {
			st.SVID.Chain = append(st.SVID.Chain, c.Subject.String())
		}
	}
	for _, r := range s.agent.Bundle().X509Authorities() {
		sum := sha256.Sum256(r.Raw)
		st.Bundle = append(st.Bundle, rootStatus{Subject: r.Subject.String(), NotAfter: r.NotAfter, SHA256: hex.EncodeToString(sum[:])})
	}
	for name, l := range s.ln {
		st.Listeners = append(st.Listeners, name+" "+l.Addr().String())
	}
	slices.Sort(st.Listeners)
	if t := s.cfg.Transparent; t != nil {
		st.Mode, st.Egress = s.modeNow(), t.Egress
		st.Policy = s.policyNow()
		if s.discoveryTable != nil {
			st.Discovery = s.discoveryTable()
		}
	}
	return st
}
