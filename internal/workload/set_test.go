package workload

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

const (
	web1 = "registry.example.com/web:1.0"
	web2 = "registry.example.com/web:2.0"
)

// app is a web Deployment and a worker Deployment (with a second
// container of the app's image) running image, rolled out.
func app(image string) (web, worker *appsv1.Deployment) {
	web = deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
	worker = deployment(func(d *appsv1.Deployment) {
		d.Name = "worker"
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "worker", Image: image}, {Name: "beat", Image: image}}
	})
	web.ManagedFields, worker.ManagedFields = nil, nil
	return web, worker
}

func twoWorkloads() *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "production", UID: "prod-uid",
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))},
		Spec: batonv1alpha1.EnvironmentSpec{Workloads: []batonv1alpha1.WorkloadReference{
			{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
			{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "worker", Containers: []string{"worker", "beat"}},
		}},
	}
}

// TestSetStalls: a problem with any one workload stops the whole set, and
// the message names the field of that workload.
func TestSetStalls(t *testing.T) {
	older := &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "jobs", UID: "jobs-uid",
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
		Spec: batonv1alpha1.EnvironmentSpec{Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "worker", Container: "worker"}},
	}
	cases := []struct {
		name    string
		objs    func(web, worker *appsv1.Deployment) []client.Object
		reason  string
		message string
	}{
		{"the worker is missing", func(web, _ *appsv1.Deployment) []client.Object { return []client.Object{web} },
			batonv1alpha1.WorkloadNotFoundReason, "Deployment shop/worker does not exist; create it or fix spec.workloads[1]"},
		{"the worker lacks its second container", func(web, worker *appsv1.Deployment) []client.Object {
			worker.Spec.Template.Spec.Containers = worker.Spec.Template.Spec.Containers[:1]
			return []client.Object{web, worker}
		}, batonv1alpha1.ContainerNotFoundReason, `Deployment shop/worker has no container "beat" (it has: worker); fix spec.workloads[1].containers[1]`},
		{"an older Environment already names the worker", func(web, worker *appsv1.Deployment) []client.Object {
			return []client.Object{web, worker, older}
		}, batonv1alpha1.WorkloadClaimedReason, "Deployment shop/worker already belongs to Environment shop/jobs, which named it first"},
	}
	listedTwice := twoWorkloads()
	listedTwice.Spec.Workloads[1] = batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Namespace: "shop", Name: "web", Container: "web"}
	cases = append(cases, struct {
		name    string
		objs    func(web, worker *appsv1.Deployment) []client.Object
		reason  string
		message string
	}{"web listed twice, once with its namespace spelled out", func(web, worker *appsv1.Deployment) []client.Object { return []client.Object{web, worker} },
		batonv1alpha1.WorkloadListedTwiceReason, "spec.workloads[0] and spec.workloads[1] both name Deployment shop/web; list each workload once"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			web, worker := app(web1)
			c := fakeClient(tc.objs(web, worker)...)
			env := twoWorkloads()
			if tc.reason == batonv1alpha1.WorkloadListedTwiceReason {
				env = listedTwice
			}
			for name, get := range map[string]func(context.Context, *batonv1alpha1.Environment) (Set, error){
				"Get": NewLocal(c, c).Get, "GetUncached": NewLocal(c, c).GetUncached,
			} {
				_, err := get(context.Background(), env)
				s, ok := outcome.AsStalled(err)
				if !ok || s.Reason != tc.reason || !strings.Contains(s.Message, tc.message) {
					t.Errorf("%s: got %v, want Stalled %s saying %q", name, err, tc.reason, tc.message)
				}
			}
			// Nothing is changed either.
			if _, err := NewLocal(c, c).ApplyImage(context.Background(), env, web2); err == nil {
				t.Fatalf("ApplyImage succeeded")
			}
			got := &appsv1.Deployment{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(web), got); err != nil {
				t.Fatal(err)
			}
			if img := got.Spec.Template.Spec.Containers[0].Image; img != web1 {
				t.Errorf("web runs %s after a refused apply, want %s untouched", img, web1)
			}
		})
	}
}

// TestClaimKeepsTheFirst: the older Environment keeps its workload; a
// younger one that names it too is the one refused.
func TestClaimKeepsTheFirst(t *testing.T) {
	web, worker := app(web1)
	younger := &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "zz-worker", UID: "young",
			CreationTimestamp: metav1.NewTime(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))},
		Spec: batonv1alpha1.EnvironmentSpec{Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "worker", Container: "worker"}},
	}
	prod := twoWorkloads()
	c := fakeClient(web, worker, younger, prod)
	// Created in the same second as the younger one, and first by name,
	// but without a history: the one that observed its workloads keeps it.
	sameSecond := younger.DeepCopy()
	sameSecond.Name, sameSecond.UID, sameSecond.CreationTimestamp = "aa-worker", "same", prod.CreationTimestamp
	established := prod.DeepCopy()
	established.Status.History = []batonv1alpha1.Revision{{Revision: 1, Image: web1, Result: batonv1alpha1.RevisionAdopted}}
	if first := FirstClaim([]batonv1alpha1.Environment{*sameSecond, *established}, worker); first == nil || first.Name != "production" {
		t.Errorf("FirstClaim = %v, want production, which has a history", first)
	}
	if _, err := NewLocal(c, c).Get(context.Background(), prod); err != nil {
		t.Fatalf("the first Environment to name the worker: %v", err)
	}
	_, err := NewLocal(c, c).Get(context.Background(), younger)
	if s, ok := outcome.AsStalled(err); !ok || s.Reason != batonv1alpha1.WorkloadClaimedReason || !strings.Contains(s.Message, "Environment shop/production") {
		t.Fatalf("the younger Environment: got %v, want WorkloadClaimed naming shop/production", err)
	}
}

func TestSetRollout(t *testing.T) {
	progressing := func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }
	failed := func(d *appsv1.Deployment) {
		d.Status.UpdatedReplicas = 1
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "too slow"}}
	}
	cases := []struct {
		name          string
		web, worker   func(*appsv1.Deployment)
		workerImage   string
		phase         Phase
		message       string
		disagreements string
	}{
		{"both complete", nil, nil, web1, PhaseComplete, "all 2 workloads rolled out", ""},
		{"the worker still rolling out", nil, progressing, web1, PhaseProgressing, "Deployment shop/worker: ", ""},
		{"the worker failed while web rolls out", progressing, failed, web1, PhaseFailed, "Deployment shop/worker: ", ""},
		{"both complete on different images", nil, nil, web2, PhaseProgressing, "the workloads do not all run one image: container \"worker\" of Deployment shop/worker runs " + web2,
			`container "worker" of Deployment shop/worker runs ` + web2 + `; container "beat" of Deployment shop/worker runs ` + web2 + `, not ` + web1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			web, worker := app(web1)
			if tc.web != nil {
				tc.web(web)
			}
			if tc.worker != nil {
				tc.worker(worker)
			}
			for i := range worker.Spec.Template.Spec.Containers {
				worker.Spec.Template.Spec.Containers[i].Image = tc.workerImage
			}
			set, err := NewLocal(fakeClient(web, worker), nil).Get(context.Background(), twoWorkloads())
			if err != nil {
				t.Fatal(err)
			}
			r, err := set.Rollout()
			if err != nil || r.Phase != tc.phase || !strings.Contains(r.Message, tc.message) {
				t.Errorf("Rollout = %+v, %v; want %s saying %q", r, err, tc.phase, tc.message)
			}
			if d := set.Disagreement(); !strings.Contains(d, tc.disagreements) || (tc.disagreements == "") != (d == "") {
				t.Errorf("Disagreement = %q, want %q", d, tc.disagreements)
			}
		})
	}
}

// TestSetImage: while the workloads disagree, the image stays the one the
// Environment recorded as long as one of them runs it, so that it does not
// flip between the two.
func TestSetImage(t *testing.T) {
	web, worker := app(web1)
	worker.Spec.Template.Spec.Containers[0].Image = web2
	set, err := NewLocal(fakeClient(web, worker), nil).Get(context.Background(), twoWorkloads())
	if err != nil {
		t.Fatal(err)
	}
	for current, want := range map[string]string{"": web1, web1: web1, web2: web2, "registry.example.com/web:0.9": web1} {
		if got := set.Image(current); got != want {
			t.Errorf("Image(%q) = %s, want %s", current, got, want)
		}
	}
}

// TestApplyImageSet: one apply per workload that does not run the image
// yet, so that a second call after a crash between two workloads changes
// only the rest.
func TestApplyImageSet(t *testing.T) {
	web, worker := app(web1)
	web.Spec.Template.Spec.Containers[0].Image = web2 // applied before a crash
	c := fakeClient(web, worker)
	changed, err := NewLocal(c, c).ApplyImage(context.Background(), twoWorkloads(), web2)
	if err != nil || len(changed) != 1 || changed[0] != "Deployment/shop/worker" {
		t.Fatalf("ApplyImage = %v, %v; want only the worker changed", changed, err)
	}
	got := &appsv1.Deployment{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(worker), got); err != nil {
		t.Fatal(err)
	}
	for _, ct := range got.Spec.Template.Spec.Containers {
		if ct.Image != web2 {
			t.Errorf("worker container %s runs %s, want %s", ct.Name, ct.Image, web2)
		}
	}
	changed, err = NewLocal(c, c).ApplyImage(context.Background(), twoWorkloads(), web2)
	if err != nil || len(changed) != 0 {
		t.Fatalf("ApplyImage again = %v, %v; want nothing changed", changed, err)
	}
}
