package mesh_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

// App ports in every pod.
const (
	httpPort = 8080
	echoPort = 9000
)

// allowRule is a policy rule, as a YAML list item, letting ids reach ports
// (every port when none are given).
func allowRule(name string, ports []int, ids ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n", name)
	if len(ports) > 0 {
		ps := make([]string, len(ports))
		for i, p := range ports {
			ps[i] = strconv.Itoa(p)
		}
		fmt.Fprintf(&b, "    ports: [%s]\n", strings.Join(ps, ", "))
	}
	b.WriteString("    from:\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "      - spiffe_id: %s\n", id)
	}
	return b.String()
}

// policy joins rules into a policy file.
func policy(rules ...string) string {
	if len(rules) == 0 {
		return "rules: []\n"
	}
	return "rules:\n" + strings.Join(rules, "")
}

// serveApps starts the HTTP app and the echo app in each pod.
func serveApps(t *testing.T, pods ...*testenv.MeshPod) (http, echo map[string]*testenv.App) {
	http, echo = map[string]*testenv.App{}, map[string]*testenv.App{}
	for _, p := range pods {
		http[p.Name] = p.RunHTTPApp(t, httpPort)
		echo[p.Name] = p.RunEchoApp(t, echoPort)
	}
	return http, echo
}

// logged asserts a connection line's fields.
func logged(t *testing.T, who string, line map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := testenv.Str(line, k); got != v {
			t.Errorf("%s: connection line has %s=%q, want %q\n%v", who, k, got, v, line)
		}
	}
}

// mutualPair starts a mesh with pods a and b whose policies let each call
// the other, and their apps.
func mutualPair(t *testing.T) (m *testenv.Mesh, a, b *testenv.MeshPod, apps, echoes map[string]*testenv.App) {
	t.Helper()
	m = testenv.NewMesh(t, testenv.MeshConfig{})
	pods := m.AddPods(t,
		testenv.PodSpec{Name: "a", Policy: policy(allowRule("b-calls-a", nil, m.ID("b")))},
		testenv.PodSpec{Name: "b", Policy: policy(allowRule("a-calls-b", nil, m.ID("a")))})
	a, b = pods[0], pods[1]
	apps, echoes = serveApps(t, a, b)
	return m, a, b, apps, echoes
}
