package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hopseal/hopseal/internal/yamlfile"
)

// ACMEFile is a route's `acme:` block: its certificate comes from an ACME
// directory (Let's Encrypt and the like) instead of files.
type ACMEFile struct {
	DirectoryURL string `yaml:"directory_url"`
	Email        string `yaml:"email"`
	CAFile       string `yaml:"ca_file"`
	StorageDir   string `yaml:"storage_dir"`
}

// ACME is a validated `acme:` block.
type ACME struct {
	DirectoryURL string
	Email        string // "": no contact for expiry notices
	CAFile       string // "": the system roots verify the directory's HTTPS
	StorageDir   string // account key, certificates and keys
}

// DefaultACMEStorage is where ACME state lives under data_dir.
const DefaultACMEStorage = "acme"

func (af ACMEFile) validate(errs *yamlfile.Problems, at, hostname string) *ACME {
	a := &ACME{DirectoryURL: af.DirectoryURL, Email: af.Email, CAFile: af.CAFile, StorageDir: af.StorageDir}
	u, err := url.Parse(af.DirectoryURL)
	switch {
	case af.DirectoryURL == "":
		errs.Add(at+".directory_url", "", "is required: the ACME directory, such as https://acme-v02.api.letsencrypt.org/directory")
	case err != nil || u.Scheme != "https" || u.Host == "":
		errs.Add(at+".directory_url", af.DirectoryURL, "is not an https:// URL; ACME directories are served over HTTPS")
	}
	if af.Email != "" {
		if addr, err := mail.ParseAddress(af.Email); err != nil || addr.Address != af.Email {
			errs.Add(at+".email", af.Email, "is not an email address; write a bare address such as ops@example.com, or leave it out")
		}
	}
	if strings.HasPrefix(hostname, "*.") {
		errs.Add(at, "", "is set on the wildcard route %s; ACME certificates for wildcards need the DNS-01 challenge, which hopseal does not do: list each hostname as a route, or use tls files", hostname)
	}
	return a
}

// defaultACMEStorage fills in each ACME route's storage directory: its own
// storage_dir, else data_dir/acme. Without either, the account and
// certificates would be lost at every restart and the CA's rate limits hit.
func defaultACMEStorage(errs *yamlfile.Problems, g *Gateway, dataDir string) {
	for i := range g.Listeners {
		for j := range g.Listeners[i].Routes {
			a := g.Listeners[i].Routes[j].ACME
			if a == nil || a.StorageDir != "" {
				continue
			}
			if dataDir == "" {
				errs.Add(fmt.Sprintf("listeners[%d].routes[%d].acme.storage_dir", i, j), "",
					"is required when data_dir is not set: the ACME account and certificates must survive restarts (CAs rate-limit new certificates); set data_dir or storage_dir")
				continue
			}
			a.StorageDir = filepath.Join(dataDir, DefaultACMEStorage)
		}
	}
}
