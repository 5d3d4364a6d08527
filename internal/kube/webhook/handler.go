// Package webhook is hopseal's mutating admission webhook: it injects the
// proxy into pods as the API server creates them (see package inject for
// what is injected and which annotations count).
//
// It fails closed: a pod that asks for injection but cannot have it (a bad
// annotation, a namespace that cannot be read) is refused with a message
// saying why, rather than run without mutual TLS.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/kube/inject"
)

// Path is where the API server posts AdmissionReviews.
const Path = "/inject"

// maxReview caps a request body: the API server refuses objects over 3 MiB.
const maxReview = 8 << 20

// Handler answers AdmissionReview v1 requests for pod creation. Check
// Config with Validate before serving: a bad one refuses every pod that
// asks for injection.
type Handler struct {
	Config     inject.Config
	Namespaces NamespaceLabels
	Log        *slog.Logger // nil: no logs
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "post an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReview))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	if gv := admissionv1.SchemeGroupVersion.String(); review.APIVersion != gv {
		http.Error(w, "hopseal answers "+gv+" AdmissionReviews only: list only v1 in admissionReviewVersions", http.StatusBadRequest)
		return
	}
	resp := h.review(r.Context(), review.Request)
	resp.UID = review.Request.UID
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.log().Warn("write admission response", "error", err)
	}
}

// review decides on one request; every refusal says why.
func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	log := h.log().With("namespace", req.Namespace, "uid", req.UID)
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create || req.SubResource != "" {
		log.Warn("admission request hopseal does not handle: the webhook configuration should send only pod creation",
			"kind", req.Kind.String(), "operation", req.Operation, "subresource", req.SubResource)
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return deny(http.StatusBadRequest, "hopseal: the request's object is not a pod")
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "*"
	}
	log = log.With("pod", name)
	want, reason, err := h.wanted(ctx, req.Namespace, pod.Annotations)
	var ae *inject.AnnotationError
	switch {
	case errors.As(err, &ae):
		return deny(http.StatusBadRequest, "hopseal: "+err.Error())
	case err != nil:
		log.Error("cannot read the pod's namespace to decide on injection; refusing the pod", "error", err)
		return deny(http.StatusInternalServerError, fmt.Sprintf("hopseal: cannot read namespace %s to decide whether to inject this pod, so it is refused rather than run without mutual TLS; the hopseal-controller logs say why", req.Namespace))
	case !want:
		log.Debug("pod not injected", "reason", reason)
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	return h.inject(log, &pod, reason)
}

func (h *Handler) wanted(ctx context.Context, namespace string, annotations map[string]string) (bool, string, error) {
	if _, ok := annotations[inject.AnnotationInject]; ok {
		return inject.Wanted(nil, annotations) // the pod decides; no need to ask
	}
	labels, err := h.Namespaces.Labels(ctx, namespace)
	if err != nil {
		return false, "", err
	}
	return inject.Wanted(labels, annotations)
}

func (h *Handler) inject(log *slog.Logger, pod *corev1.Pod, why string) *admissionv1.AdmissionResponse {
	before := &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}
	after, outcome, err := inject.Pod(h.Config, before)
	if err != nil {
		log.Info("pod refused: it asks for injection but cannot have it", "error", err)
		return deny(http.StatusBadRequest, "hopseal: cannot inject this pod: "+err.Error())
	}
	warnings := prefixed(outcome.Warnings)
	if !outcome.Injected {
		log.Info("pod left alone", "reason", outcome.Reason)
		if !outcome.Already { // it asked for injection: say why it runs without
			warnings = append(warnings, "hopseal: pod not injected: "+outcome.Reason)
		}
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}
	}
	ops, err := inject.Patch(before, after, "")
	if err == nil {
		var patch []byte
		if patch, err = json.Marshal(ops); err == nil {
			log.Info("pod injected", "because", why)
			pt := admissionv1.PatchTypeJSONPatch
			return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt, Warnings: warnings}
		}
	}
	log.Error("cannot build the injection patch; refusing the pod", "error", err)
	return deny(http.StatusInternalServerError, "hopseal: cannot build the injection patch for this pod; the hopseal-controller logs say why")
}

func deny(code int32, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Message: msg,
	}}
}

func prefixed(warnings []string) []string {
	var out []string
	for _, w := range warnings {
		out = append(out, "hopseal: "+w)
	}
	return out
}
