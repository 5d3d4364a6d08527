package sidecar

import (
	"log/slog"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/config"
)

// NewAgent reads the CA bundle and join token a configuration file names
// and returns the agent that will hold the process's SVID; the gateway gets
// its identity this way, exactly as a sidecar does.
func NewAgent(id config.Identity, c clock.Clock, log *slog.Logger) (*agent.Agent, error) {
	roots, err := readRoots(id.BundleFile)
	if err != nil {
		return nil, err
	}
	token, err := readToken(id.JoinTokenFile)
	if err != nil {
		return nil, err
	}
	return agent.New(agent.Config{
		TrustDomain: id.TrustDomain, ExpectedID: id.ID, CAAddress: id.CAAddress, CARoots: roots,
		JoinToken: token, TokenFile: id.TokenFile, TTL: id.SVIDTTL, DataDir: id.DataDir, Clock: c, Log: log,
	})
}
