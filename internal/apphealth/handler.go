package apphealth

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Handler serves GET PathPrefix<container>/<kind> by running that probe.
// It is safe for concurrent use.
type Handler struct {
	probes Probes
	run    runner
}

// New returns a Handler for p, which it does not copy: callers must not
// change p afterwards. A nil p answers 404 to every path.
func New(p Probes) *Handler {
	return &Handler{probes: p, run: newRunner()}
}

// FromEnv builds a Handler from the EnvVar variable. Unset or empty, it is
// a Handler with no probes (the app declared none that needed rewriting).
func FromEnv() (*Handler, error) {
	v := os.Getenv(EnvVar)
	if v == "" {
		return New(nil), nil
	}
	p, err := Parse([]byte(v))
	if err != nil {
		return nil, err
	}
	return New(p), nil
}

// Probes returns the probes the Handler answers, for status pages.
func (h *Handler) Probes() Probes { return h.probes }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	container, kind, ok := splitPath(r.URL.Path)
	p, found := h.probes[container][kind]
	if !ok || !found {
		http.Error(w, "no app probe at "+r.URL.Path, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(p.TimeoutSeconds)*time.Second)
	defer cancel()
	if err := h.run.probe(ctx, p); err != nil {
		http.Error(w, fmt.Sprintf("%s probe of container %s failed: %v", kind, container, err), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// splitPath reads PathPrefix<container>/<kind>.
func splitPath(path string) (string, Kind, bool) {
	rest, ok := strings.CutPrefix(path, PathPrefix)
	if !ok {
		return "", "", false
	}
	container, kind, ok := strings.Cut(rest, "/")
	if !ok || container == "" || strings.Contains(kind, "/") {
		return "", "", false
	}
	return container, Kind(kind), true
}
