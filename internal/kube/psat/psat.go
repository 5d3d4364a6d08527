// Package psat attests workloads on Kubernetes by their projected
// service-account tokens (attestation type k8s_psat), for the CA in
// cluster mode. It is apart from package attest so that only the control
// plane links Kubernetes' API types.
package psat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/identity"
)

// User extras of a pod-bound token, set by the API server.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

const saUserPrefix = "system:serviceaccount:"

// TokenReviews creates TokenReviews: what
// kubernetes.Interface.AuthenticationV1().TokenReviews() provides, so the CA
// needs no client-go of its own.
type TokenReviews interface {
	Create(ctx context.Context, review *authnv1.TokenReview, opts metav1.CreateOptions) (*authnv1.TokenReview, error)
}

// Attestor grants the identity of the service account a token belongs to,
// taken from the API server's answer and never from the request. Deleting
// the pod or the service account revokes its tokens, within the API server's
// token cache (10 s by default).
type Attestor struct {
	Reviews     TokenReviews
	TrustDomain spiffeid.TrustDomain
	// Audience defaults to attest.DefaultAudience.
	Audience string
	// AllowUnbound accepts tokens not bound to a pod, such as long-lived
	// Secret-based ones. Off by default: such a token outlives its pod and
	// cannot be revoked by deleting one.
	AllowUnbound bool
}

func (Attestor) Type() string { return attest.TypeK8sPSAT }

// psatPublic is all a refused caller learns: the rules a token must meet,
// never which one it broke.
const psatPublic = "service account token rejected: it must be a valid, unexpired projected token for audience %q bound to an existing pod"

// reviewTimeout bounds a review, whatever deadline the caller sent.
const reviewTimeout = 10 * time.Second

func (a Attestor) Attest(ctx context.Context, req attest.Request) (attest.Grant, error) {
	aud := a.audience()
	public := fmt.Sprintf(psatPublic, aud)
	token := string(req.Payload)
	switch {
	case token == "":
		return attest.Grant{}, denied("no service account token in the attestation payload", "empty token")
	case len(token) > attest.MaxTokenSize:
		return attest.Grant{}, denied(public, "token of %d bytes exceeds the %d-byte limit", len(token), attest.MaxTokenSize)
	}
	st, err := a.review(ctx, token, aud)
	if err != nil {
		return attest.Grant{}, err
	}
	return a.grant(st, aud, public)
}

func (a Attestor) audience() string {
	if a.Audience == "" {
		return attest.DefaultAudience
	}
	return a.Audience
}

// review asks the API server about token. Failures to ask are not denials.
func (a Attestor) review(ctx context.Context, token, aud string) (*authnv1.TokenReviewStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	tr, err := a.Reviews.Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{aud}},
	}, metav1.CreateOptions{})
	switch {
	case err == nil:
		return &tr.Status, nil
	case apierrors.IsBadRequest(err), apierrors.IsInvalid(err), apierrors.IsRequestEntityTooLargeError(err):
		// The API server refused the token itself, not the CA.
		return nil, denied(fmt.Sprintf(psatPublic, aud), "TokenReview rejected the request: %v", err)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return nil, &attest.UnavailableError{Public: "the CA cannot review tokens now; retry later",
			Err: fmt.Errorf("TokenReview: %w (the CA's service account needs create on tokenreviews.authentication.k8s.io, e.g. the system:auth-delegator ClusterRole)", err)}
	}
	return nil, &attest.UnavailableError{Public: "the CA cannot reach the Kubernetes API to review the token; retry later",
		Err: fmt.Errorf("TokenReview: %w", err)}
}

// grant checks the review's answer, rule by rule, and names the identity.
func (a Attestor) grant(st *authnv1.TokenReviewStatus, aud, public string) (attest.Grant, error) {
	if !st.Authenticated {
		return attest.Grant{}, denied(public, "token not authenticated: %s", orNone(st.Error))
	}
	if !slices.Contains(st.Audiences, aud) {
		return attest.Grant{}, denied(public, "token authenticated for audiences %q, not %q", st.Audiences, aud)
	}
	ns, sa, err := serviceAccountOf(st.User.Username)
	if err != nil {
		return attest.Grant{}, denied(public, "%v", err)
	}
	pod, podUID := single(st.User.Extra[extraPodName]), single(st.User.Extra[extraPodUID])
	if (pod == "" || podUID == "") && !a.AllowUnbound {
		return attest.Grant{}, denied(public, "token of %s/%s is not bound to a pod (a long-lived or unbound token); mount a projected service account token", ns, sa)
	}
	id, err := identity.Kubernetes(a.TrustDomain, ns, sa)
	if err != nil {
		return attest.Grant{}, denied(public, "service account %s/%s: %v", ns, sa, err)
	}
	// Names, never the token: enough to find the pod in the cluster's history.
	evidence := attest.TypeK8sPSAT + ":ns/" + ns + "/sa/" + sa
	if pod != "" {
		evidence += "/pod/" + pod + "/uid/" + podUID
	}
	return attest.Grant{ID: id, Evidence: evidence}, nil
}

// serviceAccountOf parses system:serviceaccount:<namespace>:<name>,
// validating both names as the API server does.
func serviceAccountOf(user string) (ns, sa string, err error) {
	rest, ok := strings.CutPrefix(user, saUserPrefix)
	if !ok {
		return "", "", fmt.Errorf("user %q is not a service account", user)
	}
	ns, sa, ok = strings.Cut(rest, ":")
	if !ok {
		return "", "", fmt.Errorf("user %q is not of the form %s<namespace>:<name>", user, saUserPrefix)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return "", "", fmt.Errorf("user %q: namespace %q: %s", user, ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(sa); len(errs) > 0 {
		return "", "", fmt.Errorf("user %q: service account %q: %s", user, sa, strings.Join(errs, "; "))
	}
	return ns, sa, nil
}

// single is the only value of an extra, or "" when there is not exactly one.
func single(v authnv1.ExtraValue) string {
	if len(v) != 1 {
		return ""
	}
	return v[0]
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

func denied(public, format string, args ...any) error {
	return &attest.DeniedError{Public: public, Reason: fmt.Sprintf(format, args...)}
}
