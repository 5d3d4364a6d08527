package castate_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/kube/castate"
)

// The first start creates the Secret; later starts load it and never re-key.
func TestCreateAndReload(t *testing.T) {
	e := newEnv(t)
	first := e.mustLoad(e.opts())
	sec := e.secret(castate.DefaultName)
	if sec.Type != castate.SecretType {
		t.Fatalf("Secret type %q, want %q", sec.Type, castate.SecretType)
	}
	keys := slices.Sorted(maps.Keys(sec.Data))
	if want := []string{"ca.crt", "root.crt", "root.key", "tls.crt", "tls.key"}; !slices.Equal(keys, want) {
		t.Fatalf("Secret keys %v, want %v", keys, want)
	}
	if first.TrustDomain != td || len(first.Roots) != 1 || !first.Signing.IsCA || len(first.Intermediates) != 0 {
		t.Fatalf("created authority: td %s, %d roots, signing CA %v, %d intermediates", first.TrustDomain, len(first.Roots), first.Signing.IsCA, len(first.Intermediates))
	}
	if life := first.Signing.NotAfter.Sub(e.now); life < ca.DefaultSigningTTL-time.Minute || life > ca.DefaultSigningTTL {
		t.Fatalf("signing CA lives %s, want %s", life, ca.DefaultSigningTTL)
	}
	e.issue(first)

	second := e.mustLoad(e.opts())
	if !sameAuthority(first, second) {
		t.Fatal("a second start changed the CA's certificates or key")
	}
	if again := e.secret(castate.DefaultName); again.ResourceVersion != sec.ResourceVersion {
		t.Fatal("loading rewrote the Secret")
	}
}

// Two CAs starting together: one creates the Secret, the other loads the
// winner's instead of overwriting it or failing.
func TestCreateRace(t *testing.T) {
	t.Run("the other CA creates between Get and Create", func(t *testing.T) {
		e := newEnv(t)
		var winner *ca.Authority
		racer := &interposer{SecretsGetter: e.cs.CoreV1(), beforeCreate: func() { winner = e.mustLoad(e.opts()) }}
		o := e.opts()
		o.Secrets = racer
		loser := e.mustLoad(o)
		if !apierrors.IsAlreadyExists(racer.createErr) {
			t.Fatalf("the losing Create returned %v; the race did not happen", racer.createErr)
		}
		if !sameAuthority(winner, loser) {
			t.Fatal("the losing CA did not load the winner's state")
		}
	})
	t.Run("concurrent starts", func(t *testing.T) {
		e := newEnv(t)
		auths := make([]*ca.Authority, 4)
		errs := make([]error, len(auths))
		var wg sync.WaitGroup
		for i := range auths {
			wg.Go(func() { auths[i], errs[i] = castate.LoadOrCreate(kctx(t), e.opts()) })
		}
		wg.Wait()
		stored := e.mustLoad(e.opts())
		for i := range auths {
			if errs[i] != nil || !sameAuthority(auths[i], stored) {
				t.Fatalf("start %d: %v, or a state other than the stored one", i, errs[i])
			}
		}
	})
	t.Run("the other CA rotates between Get and Update", func(t *testing.T) {
		e := newEnv(t)
		e.mustLoad(e.opts())
		root := newCA(t, e.now, "user root", nil, nil)
		e.put("hopseal-ca-root", root.secretData(nil))
		o := withRoot(e.opts())
		plain := o
		var winner *ca.Authority
		racer := &interposer{SecretsGetter: e.cs.CoreV1(), beforeUpdate: func() { winner = e.mustLoad(plain) }}
		o.Secrets = racer
		loser := e.mustLoad(o)
		if !apierrors.IsConflict(racer.updateErr) {
			t.Fatalf("the losing Update returned %v; the race did not happen", racer.updateErr)
		}
		if !sameAuthority(winner, loser) {
			t.Fatal("the losing CA did not load the winner's rotation")
		}
	})
}

// Each case damages one thing in a valid Secret; errors name the Secret and
// the key, and never hold key material.
func TestLoadRejects(t *testing.T) {
	e := newEnv(t)
	e.mustLoad(e.opts())
	valid := e.secret(castate.DefaultName).Data
	other := newEnv(t)
	other.mustLoad(other.opts())
	otherData := other.secret(castate.DefaultName).Data
	tests := []struct {
		name    string
		damage  func(d map[string][]byte, o *castate.Options)
		wantErr string
	}{
		{"signing key missing", func(d map[string][]byte, _ *castate.Options) { delete(d, "tls.key") }, "key tls.key: missing"},
		{"signing key not PEM", func(d map[string][]byte, _ *castate.Options) { d["tls.key"] = []byte("garbage") }, "key tls.key: no PEM block"},
		{"signing key of another CA", func(d map[string][]byte, _ *castate.Options) { d["tls.key"] = otherData["tls.key"] }, "key tls.key: does not match"},
		{"bundle of another CA", func(d map[string][]byte, _ *castate.Options) { d["ca.crt"] = otherData["ca.crt"] }, "key tls.crt: does not chain to a root in ca.crt"},
		{"bundle missing", func(d map[string][]byte, _ *castate.Options) { delete(d, "ca.crt") }, "key ca.crt: missing"},
		{"root key without root certificate", func(d map[string][]byte, _ *castate.Options) { delete(d, "root.crt") }, "key root.crt: missing"},
		{"root key of another CA", func(d map[string][]byte, _ *castate.Options) { d["root.key"] = otherData["root.key"] }, "key root.key: does not match"},
		{"another trust domain", func(_ map[string][]byte, o *castate.Options) {
			o.TrustDomain = spiffeid.RequireTrustDomainFromString("other.org")
		}, `a CA of trust domain "example.org", not "other.org"`},
		{"signing CA expired", func(_ map[string][]byte, o *castate.Options) {
			o.Now = func() time.Time { return e.now.Add(2 * ca.DefaultSigningTTL) }
		}, "the signing CA expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newEnv(t)
			d := maps.Clone(valid)
			o := te.opts()
			tt.damage(d, &o)
			te.put(castate.DefaultName, d)
			_, err := te.load(o)
			t.Log(err)
			ref := "Secret " + te.ns + "/hopseal-ca"
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), ref) {
				t.Fatalf("LoadOrCreate = %v, want an error naming %s and containing %q", err, ref, tt.wantErr)
			}
			noKeyMaterial(t, err, valid["tls.key"], valid["root.key"], otherData["tls.key"])
			if got := te.secret(castate.DefaultName).Data; !maps.EqualFunc(got, d, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Fatal("a refused Secret was changed")
			}
		})
	}
}

// noKeyMaterial fails if err quotes any part of the PEM keys.
func noKeyMaterial(t *testing.T, err error, keys ...[]byte) {
	t.Helper()
	for _, k := range keys {
		body := strings.Split(strings.TrimSpace(string(k)), "\n")
		if len(body) < 3 {
			continue // no PEM body to look for
		}
		for _, line := range body[1 : len(body)-1] {
			if len(line) >= 16 && strings.Contains(err.Error(), line[:16]) {
				t.Fatalf("error quotes key material: %v", err)
			}
		}
	}
	if strings.Contains(err.Error(), "PRIVATE KEY-----") {
		t.Fatalf("error quotes a PEM key: %v", err)
	}
}

// interposer lets the test run another CA at the worst moment: between
// this CA's read of the Secret and its Create or Update.
type interposer struct {
	corev1client.SecretsGetter
	beforeCreate, beforeUpdate func()
	createErr, updateErr       error
	once                       sync.Once
}

func (p *interposer) Secrets(ns string) corev1client.SecretInterface {
	return interposed{p.SecretsGetter.Secrets(ns), p}
}

type interposed struct {
	corev1client.SecretInterface
	p *interposer
}

func (s interposed) Create(ctx context.Context, sec *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error) {
	if s.p.beforeCreate != nil {
		s.p.once.Do(s.p.beforeCreate)
	}
	out, err := s.SecretInterface.Create(ctx, sec, opts)
	s.p.createErr = err
	return out, err
}

func (s interposed) Update(ctx context.Context, sec *corev1.Secret, opts metav1.UpdateOptions) (*corev1.Secret, error) {
	if s.p.beforeUpdate != nil {
		s.p.once.Do(s.p.beforeUpdate)
	}
	out, err := s.SecretInterface.Update(ctx, sec, opts)
	if s.p.updateErr == nil {
		s.p.updateErr = err
	}
	return out, err
}
