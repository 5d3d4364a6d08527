package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Service-account token issuers the test cluster accepts: its own (bound
// tokens from the TokenRequest API) and the fixed one of legacy
// Secret-based tokens.
const (
	KubeTokenIssuer       = kubeIssuer
	KubeLegacyTokenIssuer = "kubernetes/serviceaccount"
)

// PodToken asks the TokenRequest API, as the admin, for a token of pod's
// service account bound to pod (boundObjectRef), valid for an hour: what the
// kubelet mounts as a projected token. Deleting the pod revokes it.
func (k *Kube) PodToken(t testing.TB, pod *corev1.Pod, audiences ...string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ttl := int64(time.Hour / time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: &ttl,
			BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s bound to pod %s: %v", pod.Namespace, pod.Spec.ServiceAccountName, pod.Name, err)
	}
	return tr.Status.Token
}

// SignServiceAccountJWT signs claims with the cluster's real service-account
// signing key (ES256, with the key ID the API server derives from the key),
// so the API server verifies the token like one of its own. Tests use it for
// tokens the TokenRequest API never issues: expired ones, legacy
// Secret-based ones, or any claims of their choosing. "iss" defaults to
// KubeTokenIssuer.
func (k *Kube) SignServiceAccountJWT(t testing.TB, claims map[string]any) string {
	t.Helper()
	block, _ := pem.Decode(k.pki.saSigningKey)
	if block == nil {
		t.Fatal("test cluster: service-account signing key is not PEM")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("test cluster: service-account signing key: %v", err)
	}
	key := parsed.(*ecdsa.PrivateKey)
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	kid := sha256.Sum256(pub)
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = KubeTokenIssuer
	}
	header := map[string]string{"alg": "ES256", "kid": base64.RawURLEncoding.EncodeToString(kid[:])}
	return signES256(t, key, jwtPart(t, header)+"."+jwtPart(t, claims))
}

// signES256 appends the ES256 signature of signed (header.claims).
func signES256(t testing.TB, key *ecdsa.PrivateKey, signed string) string {
	t.Helper()
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// ForgeJWT signs a token's own header and claims with a fresh P-256 key, as
// someone without the cluster's signing key would.
func ForgeJWT(t testing.TB, jwt string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signES256(t, key, jwt[:strings.LastIndex(jwt, ".")])
}

// TamperJWT edits a token's claims and keeps its signature, which then no
// longer matches.
func TamperJWT(t testing.TB, jwt string, edit func(claims map[string]any)) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	claims := JWTClaims(t, jwt)
	edit(claims)
	return parts[0] + "." + jwtPart(t, claims) + "." + parts[2]
}

// JWTClaims decodes a JWT's claims without verifying it, e.g. to re-sign a
// real token with one claim changed.
func JWTClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	return c
}

func jwtPart(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
