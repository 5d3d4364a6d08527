package kube_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The TokenRequest API issues a token for audience hopseal, and TokenReview
// (what hopseal's CA will call) authenticates exactly that token: each case
// changes one thing from the valid one.
func TestTokenReview(t *testing.T) {
	_, cs := admin(t)
	ns := namespace(t, cs)
	serviceAccount(t, cs, ns, "payments")
	valid := token(t, cs, ns, "payments", "hopseal")
	if aud := claims(t, valid)["aud"]; !slices.Equal(toStrings(aud), []string{"hopseal"}) {
		t.Fatalf("token audience %v, want [hopseal]", aud)
	}

	cases := []struct {
		name      string
		token     string
		audiences []string
		wantOK    bool
	}{
		{"valid", valid, []string{"hopseal"}, true},
		{"forged: same claims signed by another key", forge(t, valid), []string{"hopseal"}, false},
		{"tampered: claims edited, signature kept", tamper(t, valid), []string{"hopseal"}, false},
		{"token for another audience", token(t, cs, ns, "payments", "vault"), []string{"hopseal"}, false},
		{"reviewed for another audience", valid, []string{"vault"}, false},
		{"not a token", "hopseal", []string{"hopseal"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := review(t, cs, c.token, c.audiences)
			if st.Authenticated != c.wantOK {
				t.Fatalf("authenticated = %v (error %q), want %v", st.Authenticated, st.Error, c.wantOK)
			}
			if !c.wantOK {
				return
			}
			if want := "system:serviceaccount:" + ns + ":payments"; st.User.Username != want {
				t.Fatalf("user %q, want %q", st.User.Username, want)
			}
			if !slices.Equal(st.Audiences, []string{"hopseal"}) {
				t.Fatalf("audiences %v, want [hopseal]", st.Audiences)
			}
			if !slices.Contains(st.User.Groups, "system:serviceaccounts:"+ns) {
				t.Fatalf("groups %v lack system:serviceaccounts:%s", st.User.Groups, ns)
			}
		})
	}
}

func review(t *testing.T, cs *kubernetes.Clientset, token string, audiences []string) authnv1.TokenReviewStatus {
	t.Helper()
	r, err := cs.AuthenticationV1().TokenReviews().Create(ctx(t), &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenReview: %v", err)
	}
	return r.Status
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func toStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, s := range v {
			out = append(out, s.(string))
		}
	}
	return out
}

// forge signs the token's own header and claims with a fresh ES256 key, as
// an attacker without the cluster's signing key would.
func forge(t *testing.T, jwt string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := jwt[:strings.LastIndex(jwt, ".")]
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if !strings.Contains(string(header), `"ES256"`) {
		t.Fatalf("token header %s: want ES256 (the harness's signing key is P-256)", header)
	}
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// tamper moves the token to another service account, keeping the signature.
func tamper(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	c := claims(t, jwt)
	c["sub"] = strings.Replace(c["sub"].(string), ":payments", ":admin", 1)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}
