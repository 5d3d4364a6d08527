package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/store"
	"github.com/hopseal/hopseal/internal/telemetry"
)

const defaultStateDir = "/var/lib/hopseal/ca"

func caCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "Run and administer the certificate authority"}
	cmd.AddCommand(caInitCmd(), caServeCmd(g), caTokenCmd(), caListCmd(), caAuditCmd(), caBundleCmd())
	return cmd
}

func caInitCmd() *cobra.Command {
	var o struct {
		stateDir, trustDomain, rootKeyOut string
		rootTTL, signingTTL               time.Duration
	}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA: a root and a signing intermediate (optionally keep the root key elsewhere)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			td, err := identity.ParseTrustDomain(o.trustDomain)
			if err != nil {
				return fmt.Errorf("--trust-domain: %w", err)
			}
			err = ca.Init(o.stateDir, ca.InitOptions{TrustDomain: td, RootTTL: o.rootTTL, SigningTTL: o.signingTTL, RootKeyPath: o.rootKeyOut, Now: time.Now()})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created CA for trust domain %s in %s\n", td, o.stateDir)
			if o.rootKeyOut != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "root key written to %s: store it offline; the CA server never needs it\n", o.rootKeyOut)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.stateDir, "state-dir", defaultStateDir, "CA state directory (created with mode 0700)")
	cmd.Flags().StringVar(&o.trustDomain, "trust-domain", "", "trust domain, e.g. example.org (required)")
	cmd.Flags().StringVar(&o.rootKeyOut, "root-key-out", "", "write the root key to this file instead of the state directory")
	cmd.Flags().DurationVar(&o.rootTTL, "root-ttl", ca.DefaultRootTTL, "root certificate lifetime")
	cmd.Flags().DurationVar(&o.signingTTL, "signing-ttl", ca.DefaultSigningTTL, "signing (intermediate) certificate lifetime")
	cmd.MarkFlagRequired("trust-domain")
	return cmd
}

func caServeCmd(g *globals) *cobra.Command {
	var o struct {
		stateDir, trustDomain, listen, bundleListen, adminSocket, metricsListen string
		svidTTL                                                                 time.Duration
	}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the issuance API (gRPC over TLS), the trust bundle and the admin socket",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger("json")
			if err != nil {
				return err
			}
			if !ca.Exists(o.stateDir) {
				if o.trustDomain == "" {
					return fmt.Errorf("--trust-domain is required to create a new CA in %s", o.stateDir)
				}
				td, err := identity.ParseTrustDomain(o.trustDomain)
				if err != nil {
					return fmt.Errorf("--trust-domain: %w", err)
				}
				if err := ca.Init(o.stateDir, ca.InitOptions{TrustDomain: td, Now: time.Now()}); err != nil {
					return err
				}
				log.Info("created new CA", "trust_domain", td.Name(), "state_dir", o.stateDir)
			}
			auth, err := ca.Load(o.stateDir)
			if err != nil {
				return err
			}
			if o.trustDomain != "" && o.trustDomain != auth.TrustDomain.Name() {
				return fmt.Errorf("--trust-domain %s differs from the CA in %s (%s); drop the flag or use another --state-dir", o.trustDomain, o.stateDir, auth.TrustDomain)
			}
			st, err := store.Open(filepath.Join(o.stateDir, ca.FileDB))
			if err != nil {
				return err
			}
			defer st.Close()
			reg := telemetry.NewRegistry()
			authority, err := ca.New(ca.Config{Authority: auth, Store: st, SVIDTTL: o.svidTTL, Events: telemetry.NewCAMetrics(reg), Log: log})
			if err != nil {
				return fmt.Errorf("--svid-ttl: %w", err)
			}
			ls, err := caListeners(o.listen, o.bundleListen, adminSocketPath(o.stateDir, o.adminSocket))
			if err != nil {
				return err
			}
			if o.metricsListen != "" {
				ml, err := net.Listen("tcp", o.metricsListen)
				if err != nil {
					return fmt.Errorf("--metrics-listen: %w", err)
				}
				go telemetry.ServeAdmin(cmd.Context(), ml, telemetry.Admin{Registry: reg, Ready: func() error { return nil }})
				log.Info("metrics listening", "addr", ml.Addr().String())
			}
			attrs := []any{"trust_domain", auth.TrustDomain.Name(), "issuer_addr", ls.Issuer.Addr().String(), "admin_socket", ls.Admin.Addr().String(),
				"signing_ca_expires", auth.Signing.NotAfter}
			if ls.Bundle != nil {
				attrs = append(attrs, "bundle_addr", ls.Bundle.Addr().String())
			}
			log.Info("CA serving", attrs...)
			return ca.NewServer(authority, ca.LocalAdmin{Store: st, TrustDomain: auth.TrustDomain, Clock: clock.Real{}}, log).Serve(cmd.Context(), ls)
		},
	}
	cmd.Flags().StringVar(&o.stateDir, "state-dir", defaultStateDir, "CA state directory; created on first start")
	cmd.Flags().StringVar(&o.trustDomain, "trust-domain", "", "trust domain of a new CA, e.g. example.org")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8443", "issuance API (gRPC over TLS) address")
	cmd.Flags().StringVar(&o.bundleListen, "bundle-listen", "127.0.0.1:8444", "SPIFFE bundle endpoint (HTTPS) address; empty to disable")
	cmd.Flags().StringVar(&o.adminSocket, "admin-socket", "", "admin unix socket (default <state-dir>/admin.sock)")
	cmd.Flags().StringVar(&o.metricsListen, "metrics-listen", "", "address for /metrics, /ready and /live; empty to disable")
	cmd.Flags().DurationVar(&o.svidTTL, "svid-ttl", ca.DefaultSVIDTTL, "default and maximum SVID lifetime (at least 5m)")
	return cmd
}

func adminSocketPath(stateDir, flag string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(stateDir, ca.FileAdminSock)
}

func caListeners(issuer, bundle, adminSock string) (ls ca.Listeners, err error) {
	if ls.Issuer, err = net.Listen("tcp", issuer); err != nil {
		return ls, fmt.Errorf("--listen: %w", err)
	}
	if bundle != "" {
		if ls.Bundle, err = net.Listen("tcp", bundle); err != nil {
			return ls, fmt.Errorf("--bundle-listen: %w", err)
		}
	}
	if err := os.Remove(adminSock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ls, fmt.Errorf("--admin-socket: %w", err)
	}
	if ls.Admin, err = net.Listen("unix", adminSock); err != nil {
		return ls, fmt.Errorf("--admin-socket: %w", err)
	}
	return ls, os.Chmod(adminSock, 0o600)
}

// openAdmin reaches a running CA through its admin socket, or the store
// directly when no CA runs.
func openAdmin(stateDir, sock string) (ca.Admin, func(), error) {
	sock = adminSocketPath(stateDir, sock)
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		r, err := ca.DialAdmin(sock)
		if err != nil {
			return nil, nil, err
		}
		return r, func() { r.Close() }, nil
	}
	auth, err := ca.Load(stateDir)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(filepath.Join(stateDir, ca.FileDB))
	if err != nil {
		return nil, nil, err
	}
	return ca.LocalAdmin{Store: st, TrustDomain: auth.TrustDomain, Clock: clock.Real{}}, func() { st.Close() }, nil
}

func caTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage join tokens"}
	var o struct {
		stateDir, adminSocket, spiffeID string
		ttl                             time.Duration
		reusable                        bool
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a join token that grants one SPIFFE ID; prints the token on stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := identity.Parse(o.spiffeID)
			if err != nil {
				return fmt.Errorf("--spiffe-id: %w", err)
			}
			admin, done, err := openAdmin(o.stateDir, o.adminSocket)
			if err != nil {
				return err
			}
			defer done()
			token, expires, err := admin.CreateJoinToken(cmd.Context(), id, o.ttl, o.reusable)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			kind := "single-use"
			if o.reusable {
				kind = "reusable"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s join token for %s, expires %s\n", kind, id, expires.UTC().Format(time.RFC3339))
			return nil
		},
	}
	create.Flags().StringVar(&o.stateDir, "state-dir", defaultStateDir, "CA state directory")
	create.Flags().StringVar(&o.adminSocket, "admin-socket", "", "admin socket of a running CA (default <state-dir>/admin.sock)")
	create.Flags().StringVar(&o.spiffeID, "spiffe-id", "", "identity the token grants, e.g. spiffe://example.org/ns/shop/sa/orders (required)")
	create.Flags().DurationVar(&o.ttl, "ttl", ca.DefaultTokenTTL, "how long the token can be redeemed")
	create.Flags().BoolVar(&o.reusable, "reusable", false, "allow many redemptions until it expires (single use by default)")
	create.MarkFlagRequired("spiffe-id")
	cmd.AddCommand(create)
	return cmd
}

type listFlags struct {
	stateDir, adminSocket, output string
}

func (f *listFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", defaultStateDir, "CA state directory")
	cmd.Flags().StringVar(&f.adminSocket, "admin-socket", "", "admin socket of a running CA (default <state-dir>/admin.sock)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

// withAdmin checks the flags and runs fn against the CA's admin API.
func (f *listFlags) withAdmin(fn func(ca.Admin) error) error {
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("--output %q: use table or json", f.output)
	}
	admin, done, err := openAdmin(f.stateDir, f.adminSocket)
	if err != nil {
		return err
	}
	defer done()
	return fn(admin)
}

func caListCmd() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List issued certificates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.withAdmin(func(admin ca.Admin) error {
				certs, err := admin.Certificates(cmd.Context())
				if err != nil {
					return err
				}
				if f.output == "json" {
					return writeJSON(cmd.OutOrStdout(), certs)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "SERIAL\tSPIFFE ID\tNOT AFTER\tREQUESTER\tATTESTATION")
				for _, c := range certs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Serial, c.SPIFFEID, c.NotAfter.UTC().Format(time.RFC3339), c.Requester, c.Attestation)
				}
				return w.Flush()
			})
		},
	}
	f.register(cmd)
	return cmd
}

func caAuditCmd() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the audit log of issuance and denials and verify its hash chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.withAdmin(func(admin ca.Admin) error {
				events, err := admin.AuditEvents(cmd.Context())
				chainErr := err
				if err == nil {
					if _, local := admin.(ca.LocalAdmin); local {
						chainErr = store.VerifyChain(events)
					}
				} else if events == nil {
					return err
				}
				if f.output == "json" {
					if err := writeJSON(cmd.OutOrStdout(), events); err != nil {
						return err
					}
				} else {
					printEvents(cmd.OutOrStdout(), events)
				}
				if chainErr != nil {
					return fmt.Errorf("audit log integrity check failed: %w", chainErr)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "audit log: %d entries, hash chain intact\n", len(events))
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

func printEvents(out io.Writer, events []store.Event) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tTIME\tKIND\tSPIFFE ID\tSERIAL\tREQUESTER\tATTESTATION\tREASON")
	for _, e := range events {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Kind, e.SPIFFEID, e.Serial, e.Requester, e.Attestation, e.Reason)
	}
	w.Flush()
}

func caBundleCmd() *cobra.Command {
	var stateDir, format string
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Print the trust bundle (PEM, or SPIFFE JWKS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(filepath.Join(stateDir, ca.FileBundle))
			if err != nil {
				return fmt.Errorf("read bundle: %w (is --state-dir right?)", err)
			}
			roots, err := pki.ParseCerts(data)
			if err != nil {
				return err
			}
			switch format {
			case "pem":
				_, err = cmd.OutOrStdout().Write(pki.EncodeCerts(roots...))
				return err
			case "jwks":
				if len(roots[0].URIs) != 1 {
					return fmt.Errorf("%s: the root has no trust domain URI SAN", ca.FileBundle)
				}
				td, err := spiffeid.TrustDomainFromURI(roots[0].URIs[0])
				if err != nil {
					return err
				}
				b, err := ca.SPIFFEBundleOf(&ca.Authority{TrustDomain: td, Roots: roots}).Marshal()
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return err
			}
			return fmt.Errorf("--format %q: use pem or jwks", format)
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultStateDir, "CA state directory")
	cmd.Flags().StringVar(&format, "format", "pem", "pem or jwks (SPIFFE bundle format)")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
