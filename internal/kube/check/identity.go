package check

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/pki"
)

const (
	// BundleKey is the trust bundle ConfigMap's key: PEM roots.
	BundleKey = "bundle.pem"
	// DefaultCASecret is where the controller keeps its CA unless its
	// --ca-secret says otherwise.
	DefaultCASecret = "hopseal-ca"
	// ExpiryWarning: a root or CA closer than this to its end is a warning.
	ExpiryWarning = 30 * 24 * time.Hour
)

const leaderHint = "the controller's leader writes it at start; " + logsHint

var identityCategory = category{name: "hopseal-identity", checks: fixed(
	check{desc: "trust roots are valid", run: func(ctx context.Context, e *Env) outcome {
		roots, o := trustRoots(ctx, e, Namespace)
		if roots == nil {
			return o
		}
		return validity("root", roots, e.Now())
	}},
	check{desc: "issuing CA is valid and chains to a trust root", run: issuingCA},
)}

// trustRoots reads the trust bundle of a namespace; nil and why on failure.
func trustRoots(ctx context.Context, e *Env, ns string) ([]*x509.Certificate, outcome) {
	cm, err := e.Client.CoreV1().ConfigMaps(ns).Get(ctx, inject.BundleConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fail(leaderHint, "ConfigMap %s/%s not found", ns, inject.BundleConfigMap)
	}
	if err != nil {
		return nil, fail(kubeconfigHint, "%v", err)
	}
	certs, err := pki.ParseCerts([]byte(cm.Data[BundleKey]))
	if err != nil {
		return nil, fail(leaderHint, "ConfigMap %s/%s, key %s: %v", ns, inject.BundleConfigMap, BundleKey, err)
	}
	return certs, outcome{}
}

// validity fails when any certificate is outside its validity period and
// warns when one ends within ExpiryWarning; the message gives days left.
func validity(what string, certs []*x509.Certificate, now time.Time) outcome {
	var bad, soon, fine []string
	for _, c := range certs {
		left := c.NotAfter.Sub(now)
		desc := fmt.Sprintf("%s %s", what, describe(c))
		switch {
		case now.After(c.NotAfter):
			bad = append(bad, fmt.Sprintf("%s expired %s (%d days ago)", desc, day(c.NotAfter), days(-left)))
		case now.Before(c.NotBefore):
			bad = append(bad, fmt.Sprintf("%s is not valid before %s", desc, c.NotBefore.UTC().Format(time.RFC3339)))
		case left < ExpiryWarning:
			soon = append(soon, fmt.Sprintf("%s expires in %d days (%s)", desc, days(left), day(c.NotAfter)))
		default:
			fine = append(fine, fmt.Sprintf("%s expires in %d days (%s)", desc, days(left), day(c.NotAfter)))
		}
	}
	all := strings.Join(append(append(bad, soon...), fine...), "; ")
	switch {
	case len(bad) > 0:
		return fail("rotate the CA now: workloads cannot verify certificates under an invalid "+what+"; see docs/kubernetes.md", "%s", all)
	case len(soon) > 0:
		return warn("rotate the CA before then; see docs/kubernetes.md", "%s", all)
	}
	return ok("%s", all)
}

func describe(c *x509.Certificate) string {
	if cn := c.Subject.CommonName; cn != "" {
		return fmt.Sprintf("%q", cn)
	}
	if len(c.URIs) > 0 {
		return c.URIs[0].String()
	}
	return "serial " + c.SerialNumber.Text(16)
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// issuingCA checks the controller's signing CA (tls.crt of its CA Secret).
func issuingCA(ctx context.Context, e *Env) outcome {
	name := caSecretName(ctx, e)
	sec, err := e.Client.CoreV1().Secrets(Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fail(leaderHint, "Secret %s/%s not found", Namespace, name)
	case apierrors.IsForbidden(err):
		return warn("run hopseal check as a user who may read Secrets in "+Namespace, "cannot read Secret %s/%s: %v", Namespace, name, err)
	case err != nil:
		return fail(kubeconfigHint, "%v", err)
	}
	chain, err := pki.ParseCerts(sec.Data["tls.crt"])
	if err != nil {
		return fail(leaderHint, "Secret %s/%s, key tls.crt: %v", Namespace, name, err)
	}
	if o := validity("issuing CA", chain[:1], e.Now()); o.status != Success {
		return o
	}
	roots, o := trustRoots(ctx, e, Namespace)
	if roots == nil {
		return o
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(),
		CurrentTime: e.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		return fail("workloads would reject the SVIDs it signs; "+leaderHint,
			"issuing CA %s does not chain to the trust bundle: %v", describe(chain[0]), err)
	}
	return validity("issuing CA", chain[:1], e.Now())
}

// caSecretName is the --ca-secret of the controller's Deployment, if set.
func caSecretName(ctx context.Context, e *Env) string {
	d, err := e.Client.AppsV1().Deployments(Namespace).Get(ctx, Controller, metav1.GetOptions{})
	if err != nil {
		return DefaultCASecret
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, a := range c.Args {
			if v, found := strings.CutPrefix(a, "--ca-secret="); found && v != "" {
				return v
			}
		}
	}
	return DefaultCASecret
}
