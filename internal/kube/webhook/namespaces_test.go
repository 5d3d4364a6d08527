package webhook

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"

	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/testenv"
)

// Both sources read a namespace's labels from the API server, and say when
// a namespace does not exist.
func TestNamespaceLabelSources(t *testing.T) {
	k := testenv.KubeAPI(t)
	c := &cluster{}
	var err error
	if c.cs, err = kubernetesClient(k); err != nil {
		t.Fatal(err)
	}
	ns := c.namespace(t, map[string]string{inject.LabelInject: inject.Enabled})

	factory := informers.NewSharedInformerFactory(c.cs, 0)
	lister := factory.Core().V1().Namespaces().Lister()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	for name, src := range map[string]NamespaceLabels{"client": FromClient(c.cs), "lister": FromLister(lister)} {
		t.Run(name, func(t *testing.T) {
			labels, err := src.Labels(context.Background(), ns)
			if err != nil || labels[inject.LabelInject] != inject.Enabled {
				t.Fatalf("labels of %s: %v, %v", ns, labels, err)
			}
			if _, err := src.Labels(context.Background(), "hopseal-no-such-namespace"); !apierrors.IsNotFound(err) {
				t.Fatalf("missing namespace: %v, want NotFound", err)
			}
		})
	}
}
