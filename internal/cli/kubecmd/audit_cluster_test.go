package kubecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/cluster"
	"github.com/hopseal/hopseal/internal/testenv"
)

// runAuditCluster runs `hopseal audit cluster args…` in process.
func runAuditCluster(args ...string) (stdout, stderr string, err error) {
	cmd := auditClusterCmd(nil)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestAuditClusterFlagErrors(t *testing.T) {
	bad := writeFile(t, "table.yaml", "source: https://example.test\nwritten: today\nfamilies: {general: [M6I]}\n")
	for _, tc := range []struct {
		name string
		args []string
		say  string
	}{
		{"lifetime not positive", []string{"--max-leaf-lifetime", "0s"}, "--max-leaf-lifetime 0s: give a positive duration"},
		{"no control plane namespace", []string{"--hopseal-namespace", ""}, "--hopseal-namespace is empty"},
		{"table missing", []string{"--instance-table", filepath.Join(t.TempDir(), "none.yaml")}, "--instance-table: open"},
		{"table invalid", []string{"--instance-table", bad}, `"M6I" is not a lower-case family`},
		{"argument", []string{"extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runAuditCluster(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("error %v, want one saying %q", err, tc.say)
			}
		})
	}
}

// TestAuditCluster runs the command on a cluster of its own (nodes are
// cluster-wide): once as admin into a file, once on stdout as a service
// account that may not read Secrets.
func TestAuditCluster(t *testing.T) {
	k := testenv.NewKubeAPI(t)
	cs, _ := k.Clients(t)
	ctx := context.Background()
	ns := k.Namespace(t, "shop-", nil)
	cp := k.Namespace(t, "hopseal-", nil)
	mustCreate(t, func() error {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1",
			Labels: map[string]string{corev1.LabelInstanceTypeStable: "t3.medium"}}}, metav1.CreateOptions{})
		return err
	})
	table := writeFile(t, "table.yaml", "source: https://example.test/list\nwritten: \"2026-01-01\"\nfamilies: {burstable: [t3]}\n")
	out := filepath.Join(t.TempDir(), "cluster.json")

	stdout, stderr, err := runAuditCluster("--kubeconfig", k.Kubeconfig, "-o", out, "-n", ns, "--hopseal-namespace", cp, "--instance-table", table)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" {
		t.Errorf("stdout %q with -o", stdout)
	}
	ev := readEvidence(t, out)
	if ev.Kind != cluster.EvidenceKind || ev.Version != audit.EvidenceVersion || ev.Source != k.Server || ev.Partial != "" {
		t.Errorf("evidence kind %q version %d source %q partial %q", ev.Kind, ev.Version, ev.Source, ev.Partial)
	}
	if !hasFinding(ev, cluster.RuleNamespaceNotMeshed, ns) || !hasFinding(ev, cluster.RuleCAMissing, cp) {
		t.Errorf("findings %+v lack %s for %s or %s for %s", ev.Findings, cluster.RuleNamespaceNotMeshed, ns, cluster.RuleCAMissing, cp)
	}
	var data cluster.Data
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Nodes.Nodes) != 1 || data.Nodes.Nodes[0].Hardware != cluster.HardwareCovered || data.Nodes.Table.Source != "https://example.test/list" {
		t.Errorf("nodes %+v: want n1 covered by the --instance-table", data.Nodes)
	}
	for _, want := range []string{"cluster evidence of " + k.Server, "high", ns + ": namespace not in the mesh", "evidence written to " + out} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}

	kubeconfig := k.TokenKubeconfig(t, readerToken(t, k, cs, cp))
	stdout, stderr, err = runAuditCluster("--kubeconfig", kubeconfig, "-n", ns, "--hopseal-namespace", cp)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("stdout is not evidence: %v\n%s", err, stdout)
	}
	if !strings.Contains(ev.Partial, "cannot read hopseal's CA Secrets") || !strings.Contains(stderr, "partial: ") {
		t.Errorf("partial %q, stderr:\n%s", ev.Partial, stderr)
	}
	if !hasFinding(ev, cluster.RuleNamespaceNotMeshed, ns) {
		t.Error("a reader without Secrets still sees the pods")
	}
}

func mustCreate(t *testing.T, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

func readEvidence(t *testing.T, path string) audit.Evidence {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev audit.Evidence
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ev
}

func hasFinding(ev audit.Evidence, rule, name string) bool {
	for _, f := range ev.Findings {
		if f.Rule == rule && f.Subject.Name == name {
			return true
		}
	}
	return false
}

// readerToken makes a service account that may read everything the scan
// lists except Secrets, and returns a token of it.
func readerToken(t *testing.T, k *testenv.Kube, cs *kubernetes.Clientset, ns string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	read := []string{"get", "list"}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "audit-reader-" + ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "pods", "services", "nodes", "configmaps"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: read},
		{APIGroups: []string{"hopseal.io"}, Resources: []string{"mtlspolicies"}, Verbs: read},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "auditor"}}}
	mustCreate(t, func() error {
		_, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
		return err
	})
	return k.ServiceAccountToken(t, ns, "auditor")
}
