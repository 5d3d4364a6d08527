package castate_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/kube/castate"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }

var td = spiffeid.RequireTrustDomainFromString("example.org")

// env is a fresh namespace of the shared test cluster and the time the CA
// believes it is.
type env struct {
	t   *testing.T
	cs  *kubernetes.Clientset
	ns  string
	now time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	k := testenv.KubeAPI(t)
	cs, _ := k.Clients(t)
	return &env{t: t, cs: cs, ns: k.Namespace(t, "hopseal-castate-", nil), now: time.Now()}
}

func kctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) opts() castate.Options {
	return castate.Options{Secrets: e.cs.CoreV1(), Namespace: e.ns, TrustDomain: td, Now: func() time.Time { return e.now }}
}

func (e *env) load(o castate.Options) (*ca.Authority, error) {
	e.t.Helper()
	return castate.LoadOrCreate(kctx(e.t), o)
}

func (e *env) mustLoad(o castate.Options) *ca.Authority {
	e.t.Helper()
	auth, err := e.load(o)
	if err != nil {
		e.t.Fatalf("LoadOrCreate: %v", err)
	}
	return auth
}

func (e *env) secret(name string) *corev1.Secret {
	e.t.Helper()
	s, err := e.cs.CoreV1().Secrets(e.ns).Get(kctx(e.t), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) put(name string, data map[string][]byte) {
	e.t.Helper()
	_, err := e.cs.CoreV1().Secrets(e.ns).Create(kctx(e.t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data,
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
}

// issue signs an SVID with auth, as the CA does, and verifies the chain it
// would send against auth's bundle at e.now.
func (e *env) issue(auth *ca.Authority) []*x509.Certificate {
	e.t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		e.t.Fatal(err)
	}
	id := spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/orders")
	leaf, err := pki.NewLeaf(pki.LeafRequest{ID: id, PublicKey: key.Public(), TTL: time.Hour}, auth.Signing, auth.SigningKey, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	chain := append([]*x509.Certificate{leaf, auth.Signing}, auth.Intermediates...)
	if _, err := pki.VerifySVID(chain, x509bundle.FromX509Authorities(td, auth.Roots), x509.ExtKeyUsageClientAuth, e.now); err != nil {
		e.t.Fatalf("an SVID of the loaded CA does not verify against its bundle: %v", err)
	}
	return chain
}

func sameAuthority(a, b *ca.Authority) bool {
	if !a.Signing.Equal(b.Signing) || len(a.Roots) != len(b.Roots) || !pki.PublicKeysEqual(a.SigningKey.Public(), b.SigningKey.Public()) {
		return false
	}
	for i := range a.Roots {
		if !a.Roots[i].Equal(b.Roots[i]) {
			return false
		}
	}
	return true
}
