package check

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestControllerFlag(t *testing.T) {
	deploy := func(args ...string) *appsv1.Deployment {
		d := &appsv1.Deployment{}
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "other"}, {Name: "controller", Args: args}}
		return d
	}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want string
	}{
		{"no Deployment", nil, ""},
		{"flag=value", deploy("controller", "--svid-ttl=2h"), "2h"},
		{"flag value", deploy("controller", "--svid-ttl", "3h"), "3h"},
		{"flag last, without value", deploy("controller", "--svid-ttl"), ""},
		{"other flag with the same prefix", deploy("controller", "--svid-ttl-max=4h"), ""},
		{"absent", deploy("controller"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ControllerFlag(tc.d, "--svid-ttl"); got != tc.want {
				t.Errorf("ControllerFlag = %q, want %q", got, tc.want)
			}
		})
	}
}
