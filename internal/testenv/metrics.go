package testenv

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scrape fetches http://addr/metrics in the Prometheus text format.
func Scrape(t testing.TB, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, %v", addr, resp.StatusCode, err)
	}
	return string(body)
}

// MetricValue sums the samples of name whose labels include every pair in
// labels; found is false when no sample matches.
func MetricValue(text, name string, labels map[string]string) (sum float64, found bool) {
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value := splitSample(line)
		n, ls := parseSeries(series)
		if n != name || !hasLabels(ls, labels) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	return sum, found
}

// splitSample splits a sample line into series and value; label values may
// hold spaces ("TLS 1.3"), so the value starts after the closing brace.
func splitSample(line string) (series, value string) {
	if i := strings.LastIndexByte(line, '}'); i >= 0 {
		return line[:i+1], strings.TrimSpace(line[i+1:])
	}
	series, value, _ = strings.Cut(line, " ")
	return series, strings.TrimSpace(value)
}

// parseSeries splits `name{a="x",b="y"}`; label values here hold no quotes
// or commas (SPIFFE IDs, TLS versions, directions).
func parseSeries(s string) (string, map[string]string) {
	name, rest, ok := strings.Cut(s, "{")
	ls := map[string]string{}
	if !ok {
		return s, ls
	}
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			ls[k] = strings.Trim(v, `"`)
		}
	}
	return name, ls
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// Metric scrapes the proxy's admin endpoint and returns MetricValue.
func (p *Proxy) Metric(t testing.TB, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	if p.Admin == "" {
		t.Fatalf("proxy %s has no admin listener", p.Name)
	}
	v, ok := MetricValue(Scrape(t, p.Admin), name, labels)
	return v, ok
}
