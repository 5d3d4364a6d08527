package psat_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/kube/psat"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

// A token of a pod grants exactly the pod's namespace and service account;
// the audit evidence names them and the pod, never the token.
func TestK8sPSATGrant(t *testing.T) {
	c := newKube(t)
	ns := c.namespace(t)
	pod := c.pod(t, ns, "orders", "orders-1")
	token := c.k.PodToken(t, pod, attest.DefaultAudience)
	grant, err := c.attest(t, token)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	if want := "spiffe://example.org/ns/" + ns + "/sa/orders"; grant.ID.String() != want {
		t.Fatalf("granted %s, want %s", grant.ID, want)
	}
	want := "k8s_psat:ns/" + ns + "/sa/orders/pod/orders-1/uid/" + string(pod.UID)
	if grant.Evidence != want {
		t.Fatalf("evidence %q, want %q", grant.Evidence, want)
	}
	if sig := token[strings.LastIndex(token, ".")+1:]; strings.Contains(grant.Evidence, sig[:16]) {
		t.Fatal("evidence holds part of the token")
	}
}

// Each case changes one thing from a valid pod-bound token for hopseal.
func TestK8sPSATRefusals(t *testing.T) {
	c := newKube(t)
	ns := c.namespace(t)
	pod := c.pod(t, ns, "payments", "payments-1")
	valid := c.k.PodToken(t, pod, attest.DefaultAudience)
	if _, err := c.attest(t, valid); err != nil {
		t.Fatalf("baseline token refused: %v", err)
	}
	unbound := c.unboundToken(t, ns, "payments")
	legacy := c.legacyToken(t, ns, "payments")
	// The API server accepts the unbound token for hopseal: its refusal
	// below is the attestor's own rule, not TokenReview's. A legacy token
	// carries no audience, so TokenReview refuses it for hopseal unless the
	// cluster's default audiences include hopseal (they should not); the
	// attestor's pod-binding rule refuses it there too.
	if !c.reviewed(t, unbound) {
		t.Fatal("precondition: TokenReview does not authenticate the unbound token")
	}

	tests := []struct {
		name, token, reason string
	}{
		{"token for another audience", c.k.PodToken(t, pod, "vault"), "not authenticated"},
		{"token for the API server's audience", c.k.PodToken(t, pod, testenv.KubeTokenIssuer), "not authenticated"},
		{"tampered: moved to another namespace, signature kept", tamper(t, valid, "default"), "not authenticated"},
		{"signed by another key", testenv.ForgeJWT(t, valid), "not authenticated"},
		{"expired, signed by the cluster's key", c.expired(t, valid), "expired"},
		{"legacy Secret-based token", legacy, "not authenticated"},
		{"TokenRequest token bound to no pod", unbound, "not bound to a pod"},
		{"not a JWT", "hopseal", "not authenticated"},
		{"empty", "", "empty token"},
		{"oversized", strings.Repeat("a", attest.MaxTokenSize+1), "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grant, err := c.attest(t, tt.token)
			var d *attest.DeniedError
			if !errors.As(err, &d) {
				t.Fatalf("Attest = %v, %v; want a denial", grant.ID, err)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
			if strings.Contains(d.Public, ns) || strings.Contains(d.Public, "payments") || strings.Contains(d.Public, d.Reason) {
				t.Fatalf("public message %q leaks the reason %q", d.Public, d.Reason)
			}
		})
	}

	t.Run("AllowUnbound accepts the unbound token", func(t *testing.T) {
		open := c.psat
		open.AllowUnbound = true
		grant, err := open.Attest(kctx(t), attest.Request{Type: attest.TypeK8sPSAT, Payload: []byte(unbound)})
		if err != nil || grant.ID.String() != "spiffe://example.org/ns/"+ns+"/sa/payments" {
			t.Fatalf("Attest = %v, %v", grant.ID, err)
		}
	})
}

// Deleting the pod or the service account revokes its tokens, and so does
// replacing the pod by one of the same name.
func TestK8sPSATRevoked(t *testing.T) {
	c := newKube(t)
	ns := c.namespace(t)
	tests := []struct {
		name   string
		revoke func(t *testing.T, pod *corev1.Pod)
	}{
		{"pod deleted", func(t *testing.T, pod *corev1.Pod) { c.deletePod(t, pod) }},
		{"service account deleted", func(t *testing.T, pod *corev1.Pod) {
			if err := c.cs.CoreV1().ServiceAccounts(ns).Delete(kctx(t), pod.Spec.ServiceAccountName, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"pod replaced under the same name", func(t *testing.T, pod *corev1.Pod) {
			c.deletePod(t, pod)
			again := c.pod(t, ns, pod.Spec.ServiceAccountName, pod.Name)
			if _, err := c.attest(t, c.k.PodToken(t, again, attest.DefaultAudience)); err != nil {
				t.Fatalf("token of the new pod refused: %v", err)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sa := []string{"a", "b", "c"}[i]
			pod := c.pod(t, ns, sa, sa+"-1")
			token := c.k.PodToken(t, pod, attest.DefaultAudience)
			if _, err := c.attest(t, token); err != nil {
				t.Fatalf("token refused before the revocation: %v", err)
			}
			tt.revoke(t, pod)
			// The API server caches each review's answer for 10 s and reads
			// pods and accounts through informers.
			testenv.Eventually(t, 30*time.Second, "the token to be refused", func() bool {
				_, err := c.attest(t, token)
				var d *attest.DeniedError
				return errors.As(err, &d)
			})
		})
	}
}

// The identity comes from the token alone: nothing else in a request, such
// as a client certificate of another namespace, can change it.
func TestK8sPSATNamespaceFromToken(t *testing.T) {
	c := newKube(t)
	nsA, nsB := c.namespace(t), c.namespace(t)
	token := c.k.PodToken(t, c.pod(t, nsA, "orders", "orders-1"), attest.DefaultAudience)
	svidB := testpki.New(t, td.Name()).Issue("spiffe://example.org/ns/"+nsB+"/sa/orders", time.Hour)
	grant, err := c.psat.Attest(kctx(t), attest.Request{Type: attest.TypeK8sPSAT, Payload: []byte(token), PeerCertificates: svidB.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://example.org/ns/" + nsA + "/sa/orders"; grant.ID.String() != want {
		t.Fatalf("granted %s, want %s", grant.ID, want)
	}
	if _, err := c.attest(t, tamper(t, token, nsB)); err == nil {
		t.Fatal("a token edited to name namespace B was accepted")
	}
}

// A review that cannot be made is not a denial: the caller may retry.
func TestK8sPSATUnavailable(t *testing.T) {
	c := newKube(t)
	ns := c.namespace(t)
	token := c.k.PodToken(t, c.pod(t, ns, "orders", "orders-1"), attest.DefaultAudience)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "https://" + ln.Addr().String()
	ln.Close()
	// A service account without RBAC for tokenreviews.
	noRBAC := c.k.PodToken(t, c.pod(t, ns, "norbac", "norbac-1"))

	tests := []struct {
		name  string
		cfg   *rest.Config
		cause string
	}{
		{"API server down", &rest.Config{Host: down, Timeout: 5 * time.Second, TLSClientConfig: rest.TLSClientConfig{CAData: c.k.CAPEM}}, "connection refused"},
		{"CA not allowed to review tokens", c.k.TokenConfig(noRBAC), "tokenreviews.authentication.k8s.io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := kubernetes.NewForConfig(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			a := psat.Attestor{Reviews: cs.AuthenticationV1().TokenReviews(), TrustDomain: td}
			_, err = a.Attest(kctx(t), attest.Request{Type: attest.TypeK8sPSAT, Payload: []byte(token)})
			var u *attest.UnavailableError
			var d *attest.DeniedError
			if !errors.As(err, &u) || errors.As(err, &d) {
				t.Fatalf("Attest = %v, want an unavailable error", err)
			}
			if !strings.Contains(u.Err.Error(), tt.cause) || strings.Contains(u.Public, tt.cause) {
				t.Fatalf("cause %q (public %q), want the cause to name %q and the public message not", u.Err, u.Public, tt.cause)
			}
		})
	}
}

// deletePod deletes pod at once; an unscheduled pod has nothing to drain.
func (c *kube) deletePod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if err := c.cs.CoreV1().Pods(pod.Namespace).Delete(kctx(t), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the pod to be gone", func() bool {
		_, err := c.cs.CoreV1().Pods(pod.Namespace).Get(kctx(t), pod.Name, metav1.GetOptions{})
		return err != nil
	})
}

// reviewed reports whether the API server authenticates token for hopseal.
func (c *kube) reviewed(t *testing.T, token string) bool {
	t.Helper()
	r, err := c.cs.AuthenticationV1().TokenReviews().Create(kctx(t), &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{attest.DefaultAudience}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Authenticated
}

// unboundToken is a TokenRequest token for hopseal bound to no object.
func (c *kube) unboundToken(t *testing.T, ns, sa string) string {
	t.Helper()
	ttl := int64(3600)
	tr, err := c.cs.CoreV1().ServiceAccounts(ns).CreateToken(kctx(t), sa, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{Audiences: []string{attest.DefaultAudience}, ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// legacyToken is a long-lived Secret-based token of ns/sa, as the token
// controller used to make them: signed by the cluster's key, stored in a
// kubernetes.io/service-account-token Secret, with no audience or expiry.
func (c *kube) legacyToken(t *testing.T, ns, sa string) string {
	t.Helper()
	acct, err := c.cs.CoreV1().ServiceAccounts(ns).Get(kctx(t), sa, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "legacy-token"
	token := c.k.SignServiceAccountJWT(t, map[string]any{
		"iss":                                    testenv.KubeLegacyTokenIssuer,
		"sub":                                    "system:serviceaccount:" + ns + ":" + sa,
		"kubernetes.io/serviceaccount/namespace": ns,
		"kubernetes.io/serviceaccount/secret.name":          secret,
		"kubernetes.io/serviceaccount/service-account.name": sa,
		"kubernetes.io/serviceaccount/service-account.uid":  string(acct.UID),
	})
	_, err = c.cs.CoreV1().Secrets(ns).Create(kctx(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret, Annotations: map[string]string{
			corev1.ServiceAccountNameKey: sa, corev1.ServiceAccountUIDKey: string(acct.UID),
		}},
		Type: corev1.SecretTypeServiceAccountToken,
		Data: map[string][]byte{corev1.ServiceAccountTokenKey: []byte(token)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// expired re-signs a real token's claims with the cluster's own key, an
// hour past its expiry.
func (c *kube) expired(t *testing.T, jwt string) string {
	t.Helper()
	claims := testenv.JWTClaims(t, jwt)
	past := time.Now().Add(-2 * time.Hour).Unix()
	claims["iat"], claims["nbf"], claims["exp"] = past, past, past+int64(time.Hour/time.Second)
	return c.k.SignServiceAccountJWT(t, claims)
}

// tamper moves a token to namespace ns, keeping its signature.
func tamper(t *testing.T, jwt, ns string) string {
	return testenv.TamperJWT(t, jwt, func(c map[string]any) {
		sub := strings.Split(c["sub"].(string), ":")
		sub[2] = ns
		c["sub"] = strings.Join(sub, ":")
		c["kubernetes.io"].(map[string]any)["namespace"] = ns
	})
}

// fixedReview answers every review with one status and records the request:
// for answers a real API server never gives, to check each rule on its own.
type fixedReview struct {
	status authnv1.TokenReviewStatus
	got    *authnv1.TokenReview
}

func (f *fixedReview) Create(_ context.Context, r *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	f.got = r
	return &authnv1.TokenReview{Status: f.status}, nil
}

// Each case changes one thing in a review's valid answer.
func TestK8sPSATReviewAnswer(t *testing.T) {
	valid := func() authnv1.TokenReviewStatus {
		return authnv1.TokenReviewStatus{
			Authenticated: true,
			Audiences:     []string{"hopseal"},
			User: authnv1.UserInfo{Username: "system:serviceaccount:shop:orders", Extra: map[string]authnv1.ExtraValue{
				"authentication.kubernetes.io/pod-name": {"orders-1"}, "authentication.kubernetes.io/pod-uid": {"0f9e"},
			}},
		}
	}
	tests := []struct {
		name   string
		change func(s *authnv1.TokenReviewStatus)
		reason string // "" for a grant of shop/orders
	}{
		{"valid", func(*authnv1.TokenReviewStatus) {}, ""},
		{"not authenticated", func(s *authnv1.TokenReviewStatus) { s.Authenticated, s.Error = false, "token expired" }, "token expired"},
		{"no audiences in the answer", func(s *authnv1.TokenReviewStatus) { s.Audiences = nil }, "not \"hopseal\""},
		{"another audience", func(s *authnv1.TokenReviewStatus) { s.Audiences = []string{"vault"} }, "not \"hopseal\""},
		{"not a service account", func(s *authnv1.TokenReviewStatus) { s.User.Username = "alice" }, "not a service account"},
		{"no account name", func(s *authnv1.TokenReviewStatus) { s.User.Username = "system:serviceaccount:shop" }, "not of the form"},
		{"invalid namespace", func(s *authnv1.TokenReviewStatus) { s.User.Username = "system:serviceaccount:Shop:orders" }, "namespace \"Shop\""},
		{"invalid account name", func(s *authnv1.TokenReviewStatus) { s.User.Username = "system:serviceaccount:shop:a:b" }, "service account \"a:b\""},
		{"dot segment account name", func(s *authnv1.TokenReviewStatus) { s.User.Username = "system:serviceaccount:shop:.." }, "service account \"..\""},
		{"pod name without UID", func(s *authnv1.TokenReviewStatus) {
			delete(s.User.Extra, "authentication.kubernetes.io/pod-uid")
		}, "not bound to a pod"},
		{"two pod names", func(s *authnv1.TokenReviewStatus) {
			s.User.Extra["authentication.kubernetes.io/pod-name"] = authnv1.ExtraValue{"a", "b"}
		}, "not bound to a pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := valid()
			tt.change(&st)
			rev := &fixedReview{status: st}
			a := psat.Attestor{Reviews: rev, TrustDomain: td}
			grant, err := a.Attest(context.Background(), attest.Request{Type: attest.TypeK8sPSAT, Payload: []byte("tok")})
			if spec := rev.got.Spec; spec.Token != "tok" || len(spec.Audiences) != 1 || spec.Audiences[0] != "hopseal" {
				t.Fatalf("review sent %+v, want the token for audience hopseal", spec)
			}
			if tt.reason == "" {
				if err != nil || grant.ID.String() != "spiffe://example.org/ns/shop/sa/orders" {
					t.Fatalf("Attest = %v, %v", grant.ID, err)
				}
				return
			}
			var d *attest.DeniedError
			if !errors.As(err, &d) || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("Attest = %v, %v; want a denial with reason containing %q", grant.ID, err, tt.reason)
			}
		})
	}
}
