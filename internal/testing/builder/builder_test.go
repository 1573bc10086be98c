package builder

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func TestEnvironmentKeepsAZeroSoakTime(t *testing.T) {
	env := Environment("shop", "staging").Deployment("web", "app").Direct().SoakTime(0).Build()
	if env.Spec.Verification.SoakTime == nil || env.Spec.Verification.SoakTime.Duration != 0 {
		t.Fatalf("soakTime %v: want an explicit zero, which verifies at once", env.Spec.Verification.SoakTime)
	}
	if env.Spec.Delivery.Direct == nil || env.Spec.Workload.Kind != batonv1alpha1.WorkloadKindDeployment {
		t.Fatalf("spec %+v: want direct delivery to a Deployment", env.Spec)
	}
}

func TestBuildReturnsAFreshObject(t *testing.T) {
	b := Environment("shop", "staging").Deployment("web", "app")
	first := b.Build()
	first.Spec.Workload.Name = "changed"
	if got := b.Build().Spec.Workload.Name; got != "web" {
		t.Errorf("a change to one built Environment reached the next: workload %q", got)
	}
	w := Deployment("shop", "web").Container("app", "registry.example.com/web:1")
	d := w.Build()
	d.Spec.Template.Spec.Containers[0].Image = "changed"
	d.Spec.Selector.MatchLabels["app"] = "changed"
	again := w.Build()
	if again.Spec.Template.Spec.Containers[0].Image != "registry.example.com/web:1" || again.Spec.Selector.MatchLabels["app"] != "web" {
		t.Errorf("a change to one built Deployment reached the next: %+v", again.Spec)
	}
}

func TestWorkloadKinds(t *testing.T) {
	for _, kind := range []batonv1alpha1.WorkloadKind{
		batonv1alpha1.WorkloadKindDeployment, batonv1alpha1.WorkloadKindStatefulSet, batonv1alpha1.WorkloadKindDaemonSet,
	} {
		obj := Workload(kind, "shop", "web").Replicas(2).Container("app", "img").Build()
		if got := obj.GetName(); got != "web" {
			t.Errorf("%s: name %q", kind, got)
		}
		switch w := obj.(type) {
		case *appsv1.Deployment:
			if kind != batonv1alpha1.WorkloadKindDeployment || *w.Spec.Replicas != 2 {
				t.Errorf("%s built a Deployment with %v replicas", kind, w.Spec.Replicas)
			}
		case *appsv1.StatefulSet:
			if kind != batonv1alpha1.WorkloadKindStatefulSet || *w.Spec.Replicas != 2 {
				t.Errorf("%s built a StatefulSet with %v replicas", kind, w.Spec.Replicas)
			}
		case *appsv1.DaemonSet:
			if kind != batonv1alpha1.WorkloadKindDaemonSet {
				t.Errorf("%s built a DaemonSet", kind)
			}
		}
	}
	if r := Deployment("shop", "web").Build().Spec.Replicas; r != nil {
		t.Errorf("replicas %d without Replicas: want nil, the API's default", *r)
	}
}
