package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// The proxy's admin port and logs, read from the test. The admin port is on
// the pod's loopback, so requests are made from inside the pod.

// AdminClient is an HTTP client whose connections start inside the pod,
// for the proxy's admin port.
func (p *MeshPod) AdminClient() *http.Client {
	return &http.Client{Timeout: meshClientTimeout, Transport: &http.Transport{
		DialContext: p.dialContext, DisableKeepAlives: true,
	}}
}

// AdminGet fetches path from the proxy's admin port inside the pod.
func (p *MeshPod) AdminGet(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := p.AdminClient().Get("http://" + MeshAdminAddr + path)
	if err != nil {
		t.Fatalf("pod %s: GET %s from the proxy's admin port: %v", p.Name, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("pod %s: read %s: %v", p.Name, path, err)
	}
	return resp.StatusCode, string(body)
}

// Metrics scrapes the proxy's /metrics.
func (p *MeshPod) Metrics(t testing.TB) string {
	t.Helper()
	code, body := p.AdminGet(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("pod %s: /metrics answered %d: %s", p.Name, code, body)
	}
	return body
}

// Metric scrapes /metrics and sums the samples of name with these labels.
func (p *MeshPod) Metric(t testing.TB, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	return MetricValue(p.Metrics(t), name, labels)
}

// MeshStatus is the part of the proxy's /status JSON the tests read.
type MeshStatus struct {
	SPIFFEID string `json:"spiffe_id"`
	SVID     *struct {
		Serial   string    `json:"serial"`
		NotAfter time.Time `json:"not_after"`
		Chain    []string  `json:"chain"`
	} `json:"svid"`
	Bundle []struct {
		Subject string `json:"subject"`
		SHA256  string `json:"sha256"`
	} `json:"bundle"`
	Listeners []string `json:"listeners"`
	Mode      string   `json:"mode"`
	Egress    string   `json:"egress"`
	Policy    struct {
		Default string `json:"default"`
		Rules   []struct {
			Name  string `json:"name"`
			Ports []int  `json:"ports"`
		} `json:"rules"`
	} `json:"policy"`
	Discovery struct {
		Workloads []struct {
			SPIFFEID  string   `json:"spiffe_id"`
			Addresses []string `json:"addresses"`
		} `json:"workloads"`
	} `json:"discovery"`
}

// Status fetches and decodes the proxy's /status.
func (p *MeshPod) Status(t testing.TB) MeshStatus {
	t.Helper()
	code, body := p.AdminGet(t, "/status")
	var st MeshStatus
	if code != http.StatusOK {
		t.Fatalf("pod %s: /status answered %d: %s", p.Name, code, body)
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("pod %s: /status is not the expected JSON: %v\n%s", p.Name, err, body)
	}
	return st
}

// Connections are the proxy's "connection" log lines so far.
func (p *MeshPod) Connections() []map[string]any { return p.Proxy.LogLines("connection") }

// WaitConnection waits for a "connection" line for which match holds.
func (p *MeshPod) WaitConnection(t testing.TB, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return p.Proxy.WaitLogMatch(t, "connection", 10*time.Second, match)
}

// WaitHTTPRequest waits for an "http request" line for which match holds.
func (p *MeshPod) WaitHTTPRequest(t testing.TB, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return p.Proxy.WaitLogMatch(t, "http request", 10*time.Second, match)
}

// Fields is a match for WaitConnection and WaitHTTPRequest: every key has
// this string value.
func Fields(kv ...string) func(map[string]any) bool {
	return func(l map[string]any) bool {
		for i := 0; i+1 < len(kv); i += 2 {
			if Str(l, kv[i]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}
