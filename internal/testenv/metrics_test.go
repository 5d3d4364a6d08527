package testenv

import "testing"

func TestMetricValue(t *testing.T) {
	text := `# HELP x_total help
# TYPE x_total counter
x_total{decision="allow",peer_id="spiffe://td/a",tls_version="TLS 1.3"} 2
x_total{decision="deny",peer_id="spiffe://td/b",tls_version="TLS 1.3"} 1
x_total{decision="deny",peer_id="spiffe://td/c",tls_version=""} 4
y_seconds 12.5
`
	cases := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
		found  bool
	}{
		{"one series", "x_total", map[string]string{"decision": "deny", "peer_id": "spiffe://td/b"}, 1, true},
		{"label with a space", "x_total", map[string]string{"tls_version": "TLS 1.3"}, 3, true},
		{"sum over a label", "x_total", map[string]string{"decision": "deny"}, 5, true},
		{"no labels", "y_seconds", nil, 12.5, true},
		{"no match", "x_total", map[string]string{"decision": "error"}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, found := MetricValue(text, c.metric, c.labels); got != c.want || found != c.found {
				t.Errorf("MetricValue = %v, %v; want %v, %v", got, found, c.want, c.found)
			}
		})
	}
}
