package config

import (
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/yamlfile"
)

// Identity is the validated identity part of a proxy or gateway file: who
// the process is and how its agent reaches the CA. File paths are not read
// yet.
type Identity struct {
	ID            spiffeid.ID // zero: whatever the join token grants
	TrustDomain   spiffeid.TrustDomain
	CAAddress     string
	BundleFile    string
	JoinTokenFile string
	TokenFile     string
	SVIDTTL       time.Duration
	DataDir       string
}

// validateIdentity checks the keys spiffe_id, trust_domain, ca and data_dir,
// which the proxy and gateway files share.
func validateIdentity(errs *yamlfile.Problems, spiffeID, trustDomain string, ca CAFile, dataDir string) Identity {
	p := Identity{CAAddress: ca.Address, BundleFile: ca.BundleFile, JoinTokenFile: ca.JoinTokenFile, TokenFile: ca.TokenFile, DataDir: dataDir}
	if spiffeID != "" {
		id, err := spiffeid.FromString(spiffeID)
		switch {
		case err != nil:
			errs.Add("spiffe_id", spiffeID, "%v; write spiffe://<trust-domain>/<path>", err)
		case id.Path() == "":
			errs.Add("spiffe_id", spiffeID, "has no path; write e.g. spiffe://%s/ns/shop/sa/orders", id.TrustDomain())
		default:
			p.ID, p.TrustDomain = id, id.TrustDomain()
		}
	}
	if trustDomain != "" {
		td, err := spiffeid.TrustDomainFromString(trustDomain)
		switch {
		case err != nil:
			errs.Add("trust_domain", trustDomain, "%v; write a name such as example.org", err)
		case !p.TrustDomain.IsZero() && td != p.TrustDomain:
			errs.Add("trust_domain", trustDomain, "differs from spiffe_id's trust domain %s; drop one or make them agree", p.TrustDomain)
		default:
			p.TrustDomain = td
		}
	}
	if p.TrustDomain.IsZero() && spiffeID == "" && trustDomain == "" {
		errs.Add("trust_domain", "", "is required (or set spiffe_id)")
	}
	checkAddr(errs, "ca.address", ca.Address, true)
	if ca.BundleFile == "" {
		errs.Add("ca.bundle_file", "", "is required: the CA's bundle.pem, from `hopseal ca bundle`")
	}
	switch {
	case ca.JoinTokenFile != "" && ca.TokenFile != "":
		errs.Add("ca.token_file", ca.TokenFile, "is set next to ca.join_token_file; attest with one of them")
	case ca.JoinTokenFile == "" && ca.TokenFile == "" && dataDir == "":
		errs.Add("ca.join_token_file", "", "is required unless data_dir holds a valid SVID; create a token with `hopseal ca token create` (on Kubernetes, set ca.token_file to a projected service-account token)")
	}
	if ca.SVIDTTL != "" {
		d, err := time.ParseDuration(ca.SVIDTTL)
		switch {
		case err != nil:
			errs.Add("ca.svid_ttl", ca.SVIDTTL, "is not a duration; write e.g. 24h or 90m")
		case d < 5*time.Minute:
			errs.Add("ca.svid_ttl", ca.SVIDTTL, "is below the 5m minimum")
		default:
			p.SVIDTTL = d
		}
	}
	return p
}
