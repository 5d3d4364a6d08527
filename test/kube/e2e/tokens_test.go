package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/testenv"
)

// An injected proxy whose token is forged or expired gets no certificate,
// and one in namespace A that claims to be in namespace B never gets B's
// identity: each proxy exits without serving, saying why.
func TestTokensOnKubernetes(t *testing.T) {
	c := startCluster(t)
	labelled := map[string]string{inject.LabelInject: inject.Enabled}
	a, b := c.namespace(t, labelled), c.namespace(t, labelled)
	for _, ns := range []string{a, b} {
		c.serviceAccount(t, ns, "web")
	}
	for i, tt := range []struct {
		name   string
		attack func(*running)
		want   string
	}{
		{"forged signature", func(r *running) {
			tok := r.RequestToken(t, attest.DefaultAudience, nil)
			r.Token = tok[:len(tok)-4] + flip(tok[len(tok)-4:])
		}, "rejected"},
		{"expired", func(r *running) {
			claims := testenv.JWTClaims(t, r.RequestToken(t, attest.DefaultAudience, nil))
			past := time.Now().Add(-2 * time.Hour).Unix()
			claims["iat"], claims["nbf"], claims["exp"] = past, past, past+600
			r.Token = c.k.SignServiceAccountJWT(t, claims)
		}, "rejected"},
		{"namespace A claims B", func(r *running) { r.Env = map[string]string{config.EnvPodNamespace: b} }, "/ns/" + a + "/sa/web"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.prepare(t, appPod(a, fmt.Sprintf("web-%d", i), "web"))
			tt.attack(r)
			proxy := r.Start(t, "hopseal-proxy")
			if err := proxy.Wait(60 * time.Second); err == nil {
				t.Fatal("the proxy exited cleanly; want a failure")
			}
			out := proxy.Output()
			if strings.Contains(out, "proxy ready") {
				t.Fatalf("the proxy became ready:\n%s", out)
			}
			t.Logf("the proxy said: %s", lastLine(out))
			if !strings.Contains(out, tt.want) {
				t.Errorf("the proxy's output does not say %q:\n%s", tt.want, out)
			}
		})
	}
}

// flip changes every character of s, keeping it base64url.
func flip(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
