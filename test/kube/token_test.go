package kube_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The TokenRequest API issues a token for audience hopseal, and TokenReview
// (what hopseal's CA will call) authenticates exactly that token: each case
// changes one thing from the valid one.
func TestTokenReview(t *testing.T) {
	_, cs := admin(t)
	ns := namespace(t)
	serviceAccount(t, cs, ns, "payments")
	valid := token(t, cs, ns, "payments", "hopseal")
	if aud := testenv.JWTClaims(t, valid)["aud"]; !slices.Equal(toStrings(aud), []string{"hopseal"}) {
		t.Fatalf("token audience %v, want [hopseal]", aud)
	}

	cases := []struct {
		name      string
		token     string
		audiences []string
		wantOK    bool
	}{
		{"valid", valid, []string{"hopseal"}, true},
		{"forged: same claims signed by another key", testenv.ForgeJWT(t, valid), []string{"hopseal"}, false},
		{"tampered: claims edited, signature kept", testenv.TamperJWT(t, valid, func(c map[string]any) {
			c["sub"] = strings.Replace(c["sub"].(string), ":payments", ":admin", 1)
		}), []string{"hopseal"}, false},
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
