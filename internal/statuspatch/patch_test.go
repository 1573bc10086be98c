package statuspatch

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func TestChangedLooksAtStatusOnly(t *testing.T) {
	env := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "production"}}
	h := New(nil, env)
	env.Labels = map[string]string{"team": "shop"}
	env.Spec.Suspend = true
	if changed, err := h.Changed(env); err != nil || changed {
		t.Fatalf("Changed after metadata and spec edits = %v, %v; want false: only status is written", changed, err)
	}
	env.Status.ObservedGeneration = 2
	if changed, err := h.Changed(env); err != nil || !changed {
		t.Fatalf("Changed after a status edit = %v, %v; want true", changed, err)
	}
}
