// Package castate keeps the cluster-mode CA's keys in a Kubernetes Secret,
// as a state directory does on one machine (internal/ca/state.go), and
// takes a root from the user when one is supplied (bring your own CA).
//
// Secret hopseal-ca in hopseal-system, type hopseal.io/ca, holds:
//
//	ca.crt    the trust bundle: every trusted root, PEM (the state
//	          directory's bundle.pem). During a rotation the old roots stay
//	          until they expire, so SVIDs issued under them still verify.
//	tls.crt   the signing CA certificate, then any intermediates between it
//	          and a root (signing.crt)
//	tls.key   the signing CA's private key, PKCS#8 PEM (signing.key)
//	root.crt  the root hopseal generated, and root.key its private key;
//	root.key  both absent when the root is the user's
//
// A user-supplied root is a Secret in the same namespace (e.g.
// hopseal-ca-root) holding:
//
//	tls.crt   a CA certificate, optionally followed by intermediates up to a
//	          root; hopseal signs its own signing CA with it
//	tls.key   its private key (PKCS#8, EC or PKCS#1 RSA PEM)
//	ca.crt    optional: the root(s) the chain ends at, which become the trust
//	          bundle; without it the last certificate of tls.crt must be a
//	          self-signed root
//
// cert-manager's CA Certificates produce exactly these keys. hopseal never
// copies the user's key into its own Secret. The CA's service account needs
// get, create and update on Secret hopseal-ca and get on the root Secret.
// Keys never appear in logs or errors.
package castate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/hopseal/hopseal/internal/ca"
)

// Defaults of Options.
const (
	DefaultNamespace = "hopseal-system"
	DefaultName      = "hopseal-ca"
)

// SecretType marks hopseal's CA Secret.
const SecretType = "hopseal.io/ca"

// Keys of the Secrets.
const (
	KeyBundle  = "ca.crt"
	KeyCert    = "tls.crt"
	KeyKey     = "tls.key"
	KeyRootCrt = "root.crt"
	KeyRootKey = "root.key"
)

// Options say where the CA state lives and how a new one is made.
type Options struct {
	Secrets     corev1client.SecretsGetter
	Namespace   string // DefaultNamespace if empty
	Name        string // DefaultName if empty
	TrustDomain spiffeid.TrustDomain
	// RootSecret names the user's root Secret in Namespace; empty: hopseal
	// generates its own root.
	RootSecret string
	RootTTL    time.Duration // ca.DefaultRootTTL if 0; generated roots only
	SigningTTL time.Duration // ca.DefaultSigningTTL if 0
	Now        func() time.Time
	Log        *slog.Logger
}

// maxAttempts bounds retries after losing a create or update race.
const maxAttempts = 5

// LoadOrCreate returns the CA authority kept in the Secret, creating the
// Secret on first start. Of CAs starting together one creates it and the
// others load the winner's. With a user root that did not sign the stored
// signing CA, it rotates to that root, keeping the earlier roots in the
// bundle until they expire.
func LoadOrCreate(ctx context.Context, o Options) (*ca.Authority, error) {
	o = o.withDefaults()
	var root *userRoot
	if o.RootSecret != "" {
		var err error
		if root, err = loadUserRoot(ctx, o); err != nil {
			return nil, err
		}
	}
	for range maxAttempts {
		sec, err := o.Secrets.Secrets(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		var auth *ca.Authority
		switch {
		case apierrors.IsNotFound(err):
			auth, err = create(ctx, o, root)
		case err != nil:
			return nil, fmt.Errorf("castate: read Secret %s: %w", o.ref(), err)
		default:
			auth, err = load(ctx, o, root, sec)
		}
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			continue // lost a race with another CA: start again from what is stored
		}
		return auth, err
	}
	return nil, fmt.Errorf("castate: Secret %s kept changing during %d attempts to load it; is another CA rotating it?", o.ref(), maxAttempts)
}

// create makes a new state and stores it, failing with AlreadyExists if
// another CA stored one first.
func create(ctx context.Context, o Options, root *userRoot) (*ca.Authority, error) {
	st, err := newState(o, root)
	if err != nil {
		return nil, err
	}
	_, err = o.Secrets.Secrets(o.Namespace).Create(ctx, st.secret(o), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("castate: create Secret %s: %w", o.ref(), err)
	}
	o.Log.Info("created CA Secret", "secret", o.ref(), "trust_domain", o.TrustDomain.Name(),
		"user_root", o.RootSecret != "", "signing_not_after", st.signing.NotAfter)
	return st.authority(o.TrustDomain), nil
}

// load checks the stored Secret. With a user root the Secret only holds
// what hopseal derived from it, so it is remade (failing with Conflict if
// another CA changed it first) when it holds no working signing CA of that
// root: the root's first use, a rotation, expiry or damage.
func load(ctx context.Context, o Options, root *userRoot, sec *corev1.Secret) (*ca.Authority, error) {
	st, err := parseState(sec.Data, o)
	var otherTD *trustDomainError
	if root == nil || errors.As(err, &otherTD) {
		if err != nil {
			return nil, err
		}
		return st.authority(o.TrustDomain), nil
	}
	if err == nil && root.signed(st.signing) {
		return st.authority(o.TrustDomain), nil
	}
	why := "its signing CA was issued by another CA"
	if err != nil {
		why = err.Error()
	}
	next, err := rotated(o, root, sec.Data)
	if err != nil {
		return nil, err
	}
	sec.Data = next.data()
	_, err = o.Secrets.Secrets(o.Namespace).Update(ctx, sec, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("castate: update Secret %s: %w", o.ref(), err)
	}
	o.Log.Warn("CA Secret remade under the user-supplied root; earlier roots stay in the bundle until they expire",
		"secret", o.ref(), "root_secret", o.rootRef(), "reason", why, "roots", len(next.roots), "signing_not_after", next.signing.NotAfter)
	return next.authority(o.TrustDomain), nil
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.RootTTL == 0 {
		o.RootTTL = ca.DefaultRootTTL
	}
	if o.SigningTTL == 0 {
		o.SigningTTL = ca.DefaultSigningTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) ref() string { return o.Namespace + "/" + o.Name }

func (o Options) rootRef() string { return o.Namespace + "/" + o.RootSecret }
